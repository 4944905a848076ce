//! Numbers that cannot overflow: balances, amounts and prices have documented maxima; a value
//! beyond one is a 400 naming the field (or a 409 when a balance would pass its maximum),
//! never a 500, a wrapped number or a free request.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chats::{add_model, app, new_chat, openai_key, send};
use crate::fake_upstream::FakeUpstream;
use crate::helpers::*;

const MAX_CREDITS: i64 = 1_000_000_000_000_000;
const MAX_PRICE: i64 = 1_000_000_000;

async fn adjust(app: &TestApp, admin: &Session, user_id: i64, amount: Value) -> reqwest::Response {
    app.post(
        &format!("/api/v1/admin/users/{user_id}/credits"),
        json!({"amount": amount, "reason": "limits"}),
        Some(&admin.access),
    )
    .await
}

async fn balance(app: &TestApp, user: &Session) -> i64 {
    let credits = expect_status(
        app.get("/api/v1/credits", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    credits["balance"].as_i64().unwrap()
}

#[tokio::test]
async fn adjustments_beyond_the_maximum_are_refused_by_field() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let user = app.user("wealthy").await;
    for amount in [i64::MAX, MAX_CREDITS + 1, -MAX_CREDITS - 1, i64::MIN] {
        let response = adjust(&app, &admin, user.user_id, json!(amount)).await;
        let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(body["error"]["param"], "amount", "{amount}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&MAX_CREDITS.to_string()),
            "{body}"
        );
    }
    assert_eq!(balance(&app, &user).await, 0);
}

#[tokio::test]
async fn a_balance_never_passes_the_maximum() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let user = app.user("capped").await;
    expect_status(
        adjust(&app, &admin, user.user_id, json!(MAX_CREDITS - 10)).await,
        StatusCode::CREATED,
    )
    .await;
    for amount in [11, MAX_CREDITS] {
        let response = adjust(&app, &admin, user.user_id, json!(amount)).await;
        let body = expect_error(response, StatusCode::CONFLICT, "balance_limit_exceeded").await;
        assert_eq!(body["error"]["param"], "amount");
    }
    expect_status(
        adjust(&app, &admin, user.user_id, json!(10)).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(balance(&app, &user).await, MAX_CREDITS);
    let response = adjust(&app, &admin, user.user_id, json!(1)).await;
    expect_error(response, StatusCode::CONFLICT, "balance_limit_exceeded").await;
    // Taking credits still works at the maximum.
    expect_status(
        adjust(&app, &admin, user.user_id, json!(-MAX_CREDITS)).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(balance(&app, &user).await, 0);
}

#[tokio::test]
async fn prices_and_limits_beyond_their_maximum_are_refused_by_field() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    for field in [
        "price_per_request",
        "price_per_1k_prompt_tokens",
        "price_per_1k_completion_tokens",
        "price_per_image",
    ] {
        for price in [i64::MAX, MAX_PRICE + 1, -1] {
            let mut model = json!({"name": "pricey", "modality": "chat"});
            model[field] = json!(price);
            let response = app
                .post("/api/v1/admin/models", model, Some(&admin.access))
                .await;
            let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
            assert_eq!(body["error"]["param"], field, "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(field) && message.contains(&MAX_PRICE.to_string()),
                "{message}"
            );
        }
    }
    let model = add_model(
        &app,
        &admin,
        json!({"name": "pricey", "modality": "chat", "price_per_request": MAX_PRICE}),
    )
    .await;
    let response = app
        .patch(
            &format!("/api/v1/admin/models/{}", model["id"]),
            json!({"price_per_1k_completion_tokens": i64::MAX}),
            Some(&admin.access),
        )
        .await;
    let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["param"], "price_per_1k_completion_tokens");

    let user = app.user("keyholder").await;
    let response = app
        .post(
            "/api/v1/keys",
            json!({"name": "big", "credit_limit": i64::MAX}),
            Some(&user.access),
        )
        .await;
    let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["param"], "credit_limit");
    let response = app
        .post(
            "/api/v1/admin/redemption-codes",
            json!({"kind": "credits", "amount": i64::MAX, "quantity": 1}),
            Some(&admin.access),
        )
        .await;
    let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["param"], "amount");
}

#[tokio::test]
async fn the_most_expensive_model_is_charged_in_full_never_free() {
    let app = app().await;
    let admin = app.setup_admin().await;
    add_model(
        &app,
        &admin,
        json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_1k_completion_tokens": MAX_PRICE,
               "price_per_1k_prompt_tokens": MAX_PRICE, "max_output_tokens": 10_000_000,
               "context_window": 10_000_000}),
    )
    .await;
    let fake = FakeUpstream::start().await;
    openai_key(&app, &admin, "main", &fake, 0).await;

    // Its worst case is more than a modest balance: refused before the provider is called.
    let poor = app.funded_user(&admin, "poor", 1_000).await;
    let chat = new_chat(&app, &poor).await;
    let response = send(&app, &poor, chat, json!({"content": "q", "stream": false})).await;
    expect_error(
        response,
        StatusCode::PAYMENT_REQUIRED,
        "insufficient_credits",
    )
    .await;
    assert_eq!(fake.hits(), 0);

    let rich = app.funded_user(&admin, "rich", MAX_CREDITS).await;
    let chat = new_chat(&app, &rich).await;
    let response = send(&app, &rich, chat, json!({"content": "q", "stream": false})).await;
    let body = expect_status(response, StatusCode::OK).await;
    let cost = body["cost"]
        .as_i64()
        .unwrap_or_else(|| panic!("no cost: {body}"));
    assert!(cost >= MAX_PRICE / 1000, "{body}");
    assert_eq!(balance(&app, &rich).await, MAX_CREDITS - cost);
}

#[tokio::test]
async fn the_maxima_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc = expect_status(app.get("/openapi.json", None).await, StatusCode::OK).await;
    let schemas = &doc["components"]["schemas"];
    // Never zero: a range on each side of it.
    let amount = &schemas["Adjustment"]["properties"]["amount"]["oneOf"];
    let range = |i: usize| {
        let side = &amount[i];
        (side["minimum"].as_f64(), side["maximum"].as_f64())
    };
    assert_eq!(
        range(0),
        (Some(-MAX_CREDITS as f64), Some(-1.0)),
        "{amount}"
    );
    assert_eq!(range(1), (Some(1.0), Some(MAX_CREDITS as f64)), "{amount}");
    for schema in ["NewModel", "ModelPatch"] {
        let price = &schemas[schema]["properties"]["price_per_1k_completion_tokens"];
        assert_eq!(
            price["maximum"].as_f64(),
            Some(MAX_PRICE as f64),
            "{schema}: {price}"
        );
    }
    let limit = &schemas["NewApiKey"]["properties"]["credit_limit"];
    assert!(limit["maximum"].is_number(), "{limit}");
}
