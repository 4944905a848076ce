//! Usage reports: the usage records summed by the database, grouped by day, model, key or user.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chats::{add_key, add_model, app};
use crate::fake_upstream::FakeUpstream;
use crate::helpers::{Session, TestApp, expect_error, expect_status};

async fn complete(app: &TestApp, user: &Session, model: &str) {
    expect_status(
        app.post(
            "/v1/chat/completions",
            json!({"model": model, "messages": [{"role": "user", "content": "hello there"}]}),
            Some(&user.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
}

/// Usage records are written in batches: wait until the report counts `requests`.
async fn report(app: &TestApp, token: &str, path: &str, requests: i64) -> Value {
    for _ in 0..100 {
        let body = expect_status(app.get(path, Some(token)).await, StatusCode::OK).await;
        if body["total"]["requests"] == requests {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!("{path} never counted {requests} requests");
}

fn group<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["group"] == name)
        .unwrap_or_else(|| panic!("no group {name} in {report}"))
}

#[tokio::test]
async fn reports_sum_usage_by_day_model_and_user() {
    let app = app().await;
    let admin = app.setup_admin().await;
    add_model(
        &app,
        &admin,
        json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_request": 3}),
    )
    .await;
    add_model(
        &app,
        &admin,
        json!({"name": "gpt-4o", "modality": "chat", "price_per_request": 20}),
    )
    .await;
    let fake = FakeUpstream::start().await;
    add_key(
        &app,
        &admin,
        json!({"name": "oa", "kind": "openai", "base_url": fake.url,
        "api_key": "sk-reports-0123456789", "models": ["gpt-4o-mini", "gpt-4o"]}),
    )
    .await;
    let alice = app.funded_user(&admin, "alice", 1000).await;
    let bob = app.funded_user(&admin, "bob", 1000).await;
    for _ in 0..3 {
        complete(&app, &alice, "gpt-4o-mini").await;
    }
    complete(&app, &alice, "gpt-4o").await;
    complete(&app, &bob, "gpt-4o").await;

    let by_model = report(&app, &alice.access, "/api/v1/usage?group_by=model", 4).await;
    let mini = group(&by_model, "gpt-4o-mini");
    assert_eq!(mini["requests"], 3);
    assert_eq!(mini["credits"], 9);
    assert!(mini["prompt_tokens"].as_i64().unwrap() > 0);
    assert_eq!(group(&by_model, "gpt-4o")["credits"], 20);
    assert_eq!(by_model["total"]["credits"], 29);
    // What the report says was spent is what the ledger took.
    let credits = expect_status(
        app.get("/api/v1/credits", Some(&alice.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(credits["balance"], 1000 - 29);

    let by_day = report(&app, &alice.access, "/api/v1/usage", 4).await;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(by_day["group_by"], "day");
    assert_eq!(by_day["time_zone"], "UTC");
    assert_eq!(by_day["to"], today);
    assert_eq!(by_day["rows"].as_array().unwrap().len(), 1);
    assert_eq!(group(&by_day, &today)["requests"], 4);
    let by_key = report(&app, &alice.access, "/api/v1/usage?group_by=key", 4).await;
    assert_eq!(group(&by_key, "none")["requests"], 4);

    let by_user = report(&app, &admin.access, "/api/v1/admin/usage?group_by=user", 5).await;
    assert_eq!(group(&by_user, &alice.user_id.to_string())["credits"], 29);
    assert_eq!(group(&by_user, &bob.user_id.to_string())["credits"], 20);
    let one = report(
        &app,
        &admin.access,
        &format!("/api/v1/admin/usage?group_by=model&user_id={}", bob.user_id),
        1,
    )
    .await;
    assert_eq!(group(&one, "gpt-4o")["requests"], 1);
    // A range with nothing in it.
    let empty = expect_status(
        app.get(
            "/api/v1/usage?from=2001-01-01&to=2001-01-31",
            Some(&alice.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(empty["rows"], json!([]));
    assert_eq!(empty["total"]["requests"], 0);

    for (path, status, code, param) in [
        (
            "/api/v1/usage?from=2026-02-01&to=2026-01-01",
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("from"),
        ),
        (
            "/api/v1/usage?from=2020-01-01&to=2026-01-01",
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("from"),
        ),
        (
            "/api/v1/usage?group_by=user",
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("group_by"),
        ),
        (
            "/api/v1/usage?group_by=week",
            StatusCode::BAD_REQUEST,
            "invalid_query",
            Some("group_by"),
        ),
        (
            "/api/v1/usage?from=yesterday",
            StatusCode::BAD_REQUEST,
            "invalid_query",
            Some("from"),
        ),
    ] {
        let error = expect_error(app.get(path, Some(&alice.access)).await, status, code).await;
        assert_eq!(error["error"]["param"], json!(param), "{path}");
    }
    expect_error(
        app.get("/api/v1/admin/usage", Some(&alice.access)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}
