//! Tiers: a model's minimum tier against the caller's tier as it is now (paid tiers lapse).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chats::{add_key, add_model, app, new_chat, send};
use crate::fake_upstream::FakeUpstream;
use crate::helpers::{Session, TestApp, expect_error, expect_status};

async fn model_names(app: &TestApp, user: &Session) -> Vec<String> {
    let body = expect_status(
        app.get("/api/v1/models", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn complete(app: &TestApp, user: &Session, model: &str) -> reqwest::Response {
    app.post(
        "/v1/chat/completions",
        json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
        Some(&user.access),
    )
    .await
}

async fn set_tier(app: &TestApp, admin: &Session, user_id: i64, body: Value) -> reqwest::Response {
    app.put(
        &format!("/api/v1/admin/users/{user_id}/tier"),
        body,
        Some(&admin.access),
    )
    .await
}

#[tokio::test]
async fn models_above_the_callers_tier_are_refused_until_the_tier_is_granted() {
    let app = app().await;
    let admin = app.setup_admin().await;
    for (name, tier) in [("gpt-4o-mini", 0), ("gpt-4o", 1), ("o1", 2)] {
        add_model(
            &app,
            &admin,
            json!({"name": name, "modality": "chat", "min_tier": tier}),
        )
        .await;
    }
    add_model(
        &app,
        &admin,
        json!({"name": "dall-e-3", "modality": "image", "min_tier": 1}),
    )
    .await;
    let error = expect_error(
        app.post(
            "/api/v1/admin/models",
            json!({"name": "x", "modality": "chat", "min_tier": 5}),
            Some(&admin.access),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(error["error"]["param"], "min_tier");
    let fake = FakeUpstream::start().await;
    add_key(
        &app,
        &admin,
        json!({"name": "oa", "kind": "openai", "base_url": fake.url,
        "api_key": "sk-tiers-0123456789", "models": ["gpt-4o-mini", "gpt-4o", "o1", "dall-e-3"]}),
    )
    .await;
    let user = app.user("climber").await;

    // Free: only the free model is listed or served.
    assert_eq!(model_names(&app, &user).await, ["gpt-4o-mini"]);
    let listed = expect_status(
        app.get("/v1/models", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    expect_error(
        app.get("/v1/models/gpt-4o", Some(&user.access)).await,
        StatusCode::NOT_FOUND,
        "model_not_found",
    )
    .await;
    expect_status(complete(&app, &user, "gpt-4o-mini").await, StatusCode::OK).await;
    let error = expect_error(
        complete(&app, &user, "gpt-4o").await,
        StatusCode::FORBIDDEN,
        "tier_required",
    )
    .await;
    assert_eq!(error["error"]["param"], "model");
    assert_eq!(error["error"]["type"], "permission_error");
    let chat = new_chat(&app, &user).await;
    expect_error(
        send(
            &app,
            &user,
            chat,
            json!({"content": "hi", "model": "gpt-4o"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "tier_required",
    )
    .await;
    expect_error(
        app.post(
            "/api/v1/images/generations",
            json!({"model": "dall-e-3", "prompt": "x"}),
            Some(&user.access),
        )
        .await,
        StatusCode::FORBIDDEN,
        "tier_required",
    )
    .await;
    assert_eq!(fake.hits(), 1, "refused requests never reach the provider");

    // Bad changes.
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let error = expect_error(
        set_tier(
            &app,
            &admin,
            user.user_id,
            json!({"tier": "vip", "expires_at": past}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(error["error"]["param"], "expires_at");
    expect_error(
        set_tier(&app, &admin, user.user_id, json!({"tier": "gold"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    expect_error(
        set_tier(&app, &admin, 999_999, json!({"tier": "vip"})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        set_tier(&app, &user, user.user_id, json!({"tier": "svip"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // VIP for two seconds: the vip models open, svip's stay closed, then it lapses.
    let expiry = chrono::Utc::now() + chrono::Duration::seconds(2);
    let credits = expect_status(
        set_tier(
            &app,
            &admin,
            user.user_id,
            json!({"tier": "vip", "expires_at": expiry.to_rfc3339()}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(credits["tier"], "vip");
    assert!(credits["tier_expires_at"].is_string());
    assert_eq!(
        model_names(&app, &user).await,
        ["dall-e-3", "gpt-4o", "gpt-4o-mini"]
    );
    expect_status(complete(&app, &user, "gpt-4o").await, StatusCode::OK).await;
    expect_error(
        complete(&app, &user, "o1").await,
        StatusCode::FORBIDDEN,
        "tier_required",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let credits = expect_status(
        app.get("/api/v1/credits", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(credits["tier"], "free");
    assert_eq!(credits["tier_expires_at"], Value::Null);
    expect_error(
        complete(&app, &user, "gpt-4o").await,
        StatusCode::FORBIDDEN,
        "tier_required",
    )
    .await;

    // SVIP for good opens everything.
    expect_status(
        set_tier(&app, &admin, user.user_id, json!({"tier": "svip"})).await,
        StatusCode::OK,
    )
    .await;
    expect_status(complete(&app, &user, "o1").await, StatusCode::OK).await;
    assert_eq!(model_names(&app, &user).await.len(), 4);
}

#[tokio::test]
async fn tier_multipliers_set_what_each_tier_pays_and_holds() {
    let app = app().await;
    let admin = app.setup_admin().await;
    add_model(
        &app,
        &admin,
        json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_request": 100}),
    )
    .await;
    let fake = FakeUpstream::start().await;
    add_key(
        &app,
        &admin,
        json!({"name": "main", "kind": "openai", "base_url": fake.url, "api_key": "sk-main-secret-0123456789",
               "models": ["gpt-4o-mini"]}),
    )
    .await;

    // Out-of-range and malformed multipliers change nothing.
    let error = expect_error(
        app.put(
            "/api/v1/admin/settings",
            json!({"tier_multipliers": {"free": 100, "vip": 1001, "svip": 0}}),
            Some(&admin.access),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(error["error"]["param"], "tier_multipliers");
    expect_error(
        app.put(
            "/api/v1/admin/settings",
            json!({"tier_multipliers": {"free": 100, "vip": -5, "svip": 0}}),
            Some(&admin.access),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    app.set_settings(
        &admin,
        json!({"tier_multipliers": {"free": 100, "vip": 50, "svip": 0}}),
    )
    .await;
    let public = expect_status(app.get("/api/v1/settings", None).await, StatusCode::OK).await;
    assert_eq!(
        public["tier_multipliers"],
        json!({"free": 100, "vip": 50, "svip": 0})
    );

    // 60 credits: a free user cannot afford the 100 hold; as vip the hold is 50 and fits.
    let user = app.funded_user(&admin, "member", 60).await;
    expect_error(
        complete(&app, &user, "gpt-4o-mini").await,
        StatusCode::PAYMENT_REQUIRED,
        "insufficient_credits",
    )
    .await;
    expect_status(
        set_tier(&app, &admin, user.user_id, json!({"tier": "vip"})).await,
        StatusCode::OK,
    )
    .await;
    expect_status(complete(&app, &user, "gpt-4o-mini").await, StatusCode::OK).await;
    let credits = expect_status(
        app.get("/api/v1/credits", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(credits["balance"], 10);
    assert_eq!(credits["held"], 0);

    // svip at 0%: free of charge, and no usage entry in the ledger.
    expect_status(
        set_tier(&app, &admin, user.user_id, json!({"tier": "svip"})).await,
        StatusCode::OK,
    )
    .await;
    expect_status(complete(&app, &user, "gpt-4o-mini").await, StatusCode::OK).await;
    let ledger = expect_status(
        app.get("/api/v1/credits/ledger?kind=usage", Some(&user.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ledger["total"], 1);
    assert_eq!(ledger["items"][0]["amount"], -50);
}

/// One answer to "may this caller use this model", wherever it is asked: a free user's key
/// that allows only the vip chat model and an image model sees the same models in both lists,
/// is told "not found" by the one-model view for the others, and gets the same refusals on
/// every request path.
#[tokio::test]
async fn every_list_and_request_path_gives_the_same_answer_about_a_model() {
    let app = app().await;
    let admin = app.setup_admin().await;
    for (name, modality, tier) in [
        ("free-chat", "chat", 0),
        ("vip-chat", "chat", 1),
        ("free-image", "image", 0),
    ] {
        add_model(
            &app,
            &admin,
            json!({"name": name, "modality": modality, "min_tier": tier}),
        )
        .await;
    }
    let fake = FakeUpstream::start().await;
    add_key(
        &app,
        &admin,
        json!({"name": "oa", "kind": "openai", "base_url": fake.url,
               "api_key": "sk-oa-0123456789", "models": ["free-chat", "vip-chat", "free-image"]}),
    )
    .await;
    let user = app.user("scoped").await;
    let key = expect_status(
        app.post(
            "/api/v1/keys",
            json!({"name": "scoped", "allowed_models": ["vip-chat", "free-image"]}),
            Some(&user.access),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let scoped = Session {
        access: key["secret"].as_str().unwrap().to_owned(),
        ..user.clone()
    };
    assert_eq!(model_names(&app, &scoped).await, ["free-image"]);
    let openai = expect_status(
        app.get("/v1/models", Some(&scoped.access)).await,
        StatusCode::OK,
    )
    .await;
    let ids: Vec<&str> = openai["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["free-image"]);
    for hidden in ["free-chat", "vip-chat"] {
        expect_error(
            app.get(&format!("/v1/models/{hidden}"), Some(&scoped.access))
                .await,
            StatusCode::NOT_FOUND,
            "model_not_found",
        )
        .await;
    }
    expect_error(
        complete(&app, &scoped, "free-chat").await,
        StatusCode::FORBIDDEN,
        "model_not_allowed",
    )
    .await;
    expect_error(
        complete(&app, &scoped, "vip-chat").await,
        StatusCode::FORBIDDEN,
        "tier_required",
    )
    .await;
    // The same refusals in a chat, and without the key only the tier decides.
    let chat = crate::chats::new_chat_on(&app, &user, "free-chat").await;
    expect_error(
        send(
            &app,
            &user,
            chat,
            json!({"content": "hi", "model": "vip-chat", "stream": false}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "tier_required",
    )
    .await;
    assert_eq!(model_names(&app, &user).await, ["free-chat", "free-image"]);
    assert_eq!(fake.hits(), 0);
}
