//! Metering: a request's worst case is held before any provider is called, the real cost is
//! charged when it ends (from the provider's token counts, or estimates when there are none),
//! failures are free, and no concurrency overspends a balance.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chats::{
    add_model, app, messages, new_chat, openai_key, send, sse_events, usage_records,
};
use crate::fake_upstream::{Behavior, FakeUpstream};
use crate::helpers::{Session, TestApp, expect_error, expect_status, spawn_app_with};

async fn credits(app: &TestApp, user: &Session) -> Value {
    expect_status(
        app.get("/api/v1/credits", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await
}

async fn own_ledger(app: &TestApp, user: &Session) -> Vec<Value> {
    let body = expect_status(
        app.get("/api/v1/credits/ledger?page_size=100", Some(&user.access))
            .await,
        StatusCode::OK,
    )
    .await;
    body["items"].as_array().unwrap().clone()
}

/// The balance equals the sum of the ledger, nothing stays held, and it is what we expect.
async fn settled_at(app: &TestApp, user: &Session, balance: i64) {
    let now = credits(app, user).await;
    assert_eq!(now["balance"], balance, "{now}");
    assert_eq!(now["held"], 0, "{now}");
    let sum: i64 = own_ledger(app, user)
        .await
        .iter()
        .map(|e| e["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, balance);
}

/// One credit per prompt token and per completion token; at most 100 completion tokens.
async fn token_priced_model(app: &TestApp, admin: &Session) {
    add_model(
        app,
        admin,
        json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_1k_prompt_tokens": 1000,
               "price_per_1k_completion_tokens": 1000, "context_window": 4096, "max_output_tokens": 100}),
    )
    .await;
}

#[tokio::test]
async fn fifty_concurrent_requests_never_overspend_a_balance() {
    fifty_concurrent_requests_never_overspend_a_balance_on(app().await).await;
}

/// What [`fifty_concurrent_requests_never_overspend_a_balance`] checks, on any app (one instance, or a pair sharing one database).
pub(crate) async fn fifty_concurrent_requests_never_overspend_a_balance_on(app: TestApp) {
    let admin = app.setup_admin().await;
    let fake = FakeUpstream::start().await;
    openai_key(&app, &admin, "main", &fake, 0).await;
    add_model(
        &app,
        &admin,
        json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_request": 100}),
    )
    .await;
    let user = app.funded_user(&admin, "crowd", 1000).await;
    app.until_every_instance_lists(&user, "gpt-4o-mini").await;

    let requests = (0..50).map(|_| {
        let app = &app;
        let user = &user;
        async move {
            let response = app
                .post(
                    "/v1/chat/completions",
                    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
                    Some(&user.access),
                )
                .await;
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            (status, body)
        }
    });
    let results = futures_util::future::join_all(requests).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let refused: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::PAYMENT_REQUIRED)
        .map(|(_, body)| body)
        .collect();
    assert_eq!((ok, refused.len()), (10, 40), "{results:?}");
    assert!(
        refused
            .iter()
            .all(|b| b["error"]["code"] == "insufficient_credits")
    );
    // Refused requests never reached the provider.
    assert_eq!(fake.hits(), 10);
    settled_at(&app, &user, 0).await;
    let usage: Vec<Value> = own_ledger(&app, &user)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "usage")
        .collect();
    assert_eq!(usage.len(), 10);
    assert!(usage.iter().all(|e| e["amount"] == -100));
}

#[tokio::test]
async fn streams_are_charged_for_what_they_used() {
    let app = app().await;
    let admin = app.setup_admin().await;
    token_priced_model(&app, &admin).await;
    let fake = FakeUpstream::start().await;
    openai_key(&app, &admin, "main", &fake, 0).await;
    let user = app.funded_user(&admin, "reader", 100_000).await;
    let chat = new_chat(&app, &user).await;
    let mut balance = 100_000;

    // Ends normally: charged the provider's counts exactly.
    let events = sse_events(
        &send(&app, &user, chat, json!({"content": "tell me a story"}))
            .await
            .text()
            .await
            .unwrap(),
    );
    let (name, done) = events.last().unwrap();
    assert_eq!(name, "done", "{events:?}");
    let sent = fake.requests().last().unwrap().json();
    let prompt = i64::from(crate::fake_upstream::prompt_tokens_for(&sent));
    assert_eq!(done["usage"]["prompt_tokens"], prompt);
    let cost = prompt + done["usage"]["completion_tokens"].as_i64().unwrap();
    assert_eq!(done["cost"], cost);
    assert_eq!(done["message"]["cost"], cost);
    balance -= cost;
    settled_at(&app, &user, balance).await;
    let entry = &own_ledger(&app, &user).await[0];
    assert_eq!(entry["kind"], "usage");
    assert_eq!(entry["amount"], -cost);
    assert_eq!(
        entry["reference"],
        format!("message:{}", done["message"]["id"])
    );

    // Fails before the first token: nothing charged.
    fake.then(Behavior::Status(500));
    let response = send(&app, &user, chat, json!({"content": "again"})).await;
    expect_error(response, StatusCode::BAD_GATEWAY, "upstream_error").await;
    settled_at(&app, &user, balance).await;

    // Usage missing from the stream: charged on tiktoken estimates.
    tokio::time::sleep(Duration::from_millis(250)).await;
    fake.omit_usage();
    let events = sse_events(
        &send(&app, &user, chat, json!({"content": "one more"}))
            .await
            .text()
            .await
            .unwrap(),
    );
    let (name, done) = events.last().unwrap();
    assert_eq!(name, "done", "{events:?}");
    let estimated = done["usage"]["prompt_tokens"].as_i64().unwrap()
        + done["usage"]["completion_tokens"].as_i64().unwrap();
    assert!(estimated > 0);
    assert_eq!(done["cost"], estimated);
    balance -= estimated;
    settled_at(&app, &user, balance).await;

    // The client goes away mid-stream: charged the tokens produced so far.
    fake.then(Behavior::HangAfterChunks(2));
    let mut response = send(&app, &user, chat, json!({"content": "long story"})).await;
    let mut seen = String::new();
    while !seen.contains("event: delta") {
        seen.push_str(&String::from_utf8_lossy(
            &response.chunk().await.unwrap().unwrap(),
        ));
    }
    drop(response);
    let mut answer = Value::Null;
    for _ in 0..100 {
        let stored = messages(&app, &user, chat).await;
        if stored.last().unwrap()["status"] == "interrupted" {
            answer = stored.last().unwrap().clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(answer["status"], "interrupted", "never interrupted");
    let produced =
        answer["prompt_tokens"].as_i64().unwrap() + answer["completion_tokens"].as_i64().unwrap();
    assert!(answer["completion_tokens"].as_i64().unwrap() > 0);
    assert_eq!(answer["cost"], produced);
    balance -= produced;
    settled_at(&app, &user, balance).await;
    let records = usage_records(&app, &admin, "status=interrupted", 1).await;
    assert_eq!(records[0]["cost"], produced);
}

#[tokio::test]
async fn a_request_that_may_cost_more_than_the_balance_is_refused_up_front() {
    let app = app().await;
    let admin = app.setup_admin().await;
    token_priced_model(&app, &admin).await;
    add_model(
        &app,
        &admin,
        json!({"name": "dall-e-3", "modality": "image", "price_per_image": 40}),
    )
    .await;
    let fake = FakeUpstream::start().await;
    crate::chats::add_key(
        &app,
        &admin,
        json!({"name": "oa", "kind": "openai", "base_url": fake.url,
        "api_key": "sk-meter-0123456789", "models": ["gpt-4o-mini", "dall-e-3"]}),
    )
    .await;
    // Enough for the prompt, not for the prompt and 100 completion tokens.
    let user = app.funded_user(&admin, "thrifty", 60).await;
    let chat = new_chat(&app, &user).await;

    let response = send(&app, &user, chat, json!({"content": "hello there"})).await;
    expect_error(
        response,
        StatusCode::PAYMENT_REQUIRED,
        "insufficient_credits",
    )
    .await;
    // Nothing was asked of the provider, nothing was stored.
    assert_eq!(fake.hits(), 0);
    assert!(messages(&app, &user, chat).await.is_empty());
    // Asking for fewer tokens makes it fit.
    let response = send(
        &app,
        &user,
        chat,
        json!({"content": "hello there", "max_tokens": 20}),
    )
    .await;
    let events = sse_events(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap().0, "done", "{events:?}");
    let left = credits(&app, &user).await["balance"].as_i64().unwrap();
    assert!(left < 60);

    let error = expect_error(
        app.post(
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}]}),
            Some(&user.access),
        )
        .await,
        StatusCode::PAYMENT_REQUIRED,
        "insufficient_credits",
    )
    .await;
    assert_eq!(error["error"]["type"], "insufficient_quota");
    // Two images cost 80.
    expect_error(
        app.post(
            "/api/v1/images/generations",
            json!({"model": "dall-e-3", "prompt": "x", "n": 2}),
            Some(&user.access),
        )
        .await,
        StatusCode::PAYMENT_REQUIRED,
        "insufficient_credits",
    )
    .await;
    assert_eq!(fake.hits(), 1);
    settled_at(&app, &user, left).await;
}

#[tokio::test]
async fn holds_outliving_their_expiry_are_released_uncharged() {
    let app = spawn_app_with(|settings| {
        settings.providers.first_byte_timeout_secs = 4;
        settings.providers.request_timeout_secs = 4;
        settings.credits.hold_ttl_secs = 1;
        settings.credits.sweep_secs = 1;
    })
    .await;
    let admin = app.setup_admin().await;
    token_priced_model(&app, &admin).await;
    let fake = FakeUpstream::start().await;
    openai_key(&app, &admin, "main", &fake, 0).await;
    let user = app.funded_user(&admin, "patient", 1000).await;
    fake.behave(Behavior::Hang);

    let pending = {
        let app = &app;
        let user = &user;
        async move {
            app.post(
                "/v1/chat/completions",
                json!({"model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "hi"}]}),
                Some(&user.access),
            )
            .await
        }
    };
    let watch = async {
        // Held while the provider is silent...
        let mut saw_hold = false;
        for _ in 0..40 {
            let now = credits(&app, &user).await;
            if now["held"].as_i64().unwrap() > 0 {
                saw_hold = true;
            } else if saw_hold {
                // ...then released by the sweeper once the hold expired.
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    let (response, released) = tokio::join!(pending, watch);
    assert!(released, "the hold was never released");
    expect_error(response, StatusCode::GATEWAY_TIMEOUT, "upstream_timeout").await;
    settled_at(&app, &user, 1000).await;
}
