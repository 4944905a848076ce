//! The credits ledger: balances, admin adjustments, idempotency, and concurrency that can never
//! take a balance below zero.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, expect_error, expect_status, spawn_app};

async fn adjust(app: &TestApp, admin: &Session, user_id: i64, body: Value) -> reqwest::Response {
    app.post(
        &format!("/api/v1/admin/users/{user_id}/credits"),
        body,
        Some(&admin.access),
    )
    .await
}

async fn credits(app: &TestApp, user: &Session) -> Value {
    expect_status(
        app.get("/api/v1/credits", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await
}

/// Every entry of a user, newest first.
async fn ledger(app: &TestApp, admin: &Session, user_id: i64) -> Vec<Value> {
    let body = expect_status(
        app.get(
            &format!("/api/v1/admin/ledger?user_id={user_id}&page_size=100"),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn adjustments_are_entries_and_replays_change_nothing() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let user = app.user("saver").await;
    let start = credits(&app, &user).await;
    assert_eq!(
        start,
        json!({"balance": 0, "held": 0, "available": 0, "tier": "free", "tier_expires_at": null})
    );

    let body = expect_status(
        adjust(
            &app,
            &admin,
            user.user_id,
            json!({"amount": 1000, "reason": "welcome gift",
            "idempotency_key": "gift-1"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(body["entry"]["amount"], 1000);
    assert_eq!(body["entry"]["balance_after"], 1000);
    assert_eq!(body["entry"]["kind"], "adjustment");
    assert_eq!(body["entry"]["actor_id"], admin.user_id);
    assert_eq!(body["credits"]["balance"], 1000);
    let first_id = body["entry"]["id"].clone();

    // The same key again: the first entry, 200, nothing changes.
    let replay = expect_status(
        adjust(
            &app,
            &admin,
            user.user_id,
            json!({"amount": 1000, "reason": "welcome gift",
            "idempotency_key": "gift-1"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(replay["entry"]["id"], first_id);
    assert_eq!(credits(&app, &user).await["balance"], 1000);
    // The same key for another change is a conflict.
    let error = expect_error(
        adjust(
            &app,
            &admin,
            user.user_id,
            json!({"amount": 5, "reason": "x",
            "idempotency_key": "gift-1"}),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_eq!(error["error"]["param"], "idempotency_key");

    expect_status(
        adjust(
            &app,
            &admin,
            user.user_id,
            json!({"amount": -300, "reason": "correction"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let error = expect_error(
        adjust(
            &app,
            &admin,
            user.user_id,
            json!({"amount": -701, "reason": "too much"}),
        )
        .await,
        StatusCode::PAYMENT_REQUIRED,
        "insufficient_credits",
    )
    .await;
    assert_eq!(error["error"]["type"], "insufficient_quota");
    assert_eq!(credits(&app, &user).await["balance"], 700);

    for (body, status, code, param) in [
        (
            json!({"amount": 0, "reason": "nothing"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("amount"),
        ),
        (
            json!({"amount": 5, "reason": "  "}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("reason"),
        ),
        (
            json!({"amount": 5}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            Some("reason"),
        ),
        (
            json!({"amount": "5", "reason": "x"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            Some("amount"),
        ),
        (
            json!({"amount": 5, "reason": "x", "idempotency_key": "k".repeat(200)}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("idempotency_key"),
        ),
    ] {
        let error = expect_error(
            adjust(&app, &admin, user.user_id, body.clone()).await,
            status,
            code,
        )
        .await;
        assert_eq!(error["error"]["param"], json!(param), "{body}");
    }
    expect_error(
        adjust(&app, &admin, 999_999, json!({"amount": 5, "reason": "x"})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Users cannot adjust, not even their own balance.
    expect_error(
        adjust(
            &app,
            &user,
            user.user_id,
            json!({"amount": 5, "reason": "x"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.get("/api/v1/admin/ledger", Some(&user.access)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // The user's own ledger, newest first, with balances that add up.
    let own = expect_status(
        app.get("/api/v1/credits/ledger", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    let items = own["items"].as_array().unwrap();
    let amounts: Vec<i64> = items
        .iter()
        .map(|e| e["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [-300, 1000]);
    assert_eq!(items[0]["balance_after"], 700);
    assert_eq!(own["total"], 2);
    let other = app.user("other").await;
    let theirs = expect_status(
        app.get("/api/v1/credits/ledger", Some(&other.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(theirs["total"], 0);

    let filtered = expect_status(
        app.get(
            &format!(
                "/api/v1/admin/ledger?user_id={}&kind=adjustment&from=2000-01-01T00:00:00Z",
                user.user_id
            ),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(filtered["total"], 2);
    let error = expect_error(
        app.get("/api/v1/admin/ledger?kind=gift", Some(&admin.access))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert_eq!(error["error"]["param"], "kind");
}

#[tokio::test]
async fn concurrent_debits_never_overdraw_and_the_ledger_sums_to_the_balance() {
    concurrent_debits_never_overdraw_and_the_ledger_sums_to_the_balance_on(spawn_app().await).await;
}

/// What [`concurrent_debits_never_overdraw_and_the_ledger_sums_to_the_balance`] checks, on any app (one instance, or a pair sharing one database).
pub(crate) async fn concurrent_debits_never_overdraw_and_the_ledger_sums_to_the_balance_on(
    app: TestApp,
) {
    let admin = app.setup_admin().await;
    let user = app.user("spender").await;
    expect_status(
        adjust(
            &app,
            &admin,
            user.user_id,
            json!({"amount": 1000, "reason": "budget"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;

    // 50 debits of 100 at once against 1,000: exactly 10 go through.
    let debits = (0..50).map(|i| {
        let app = &app;
        let admin = &admin;
        async move {
            adjust(
                app,
                admin,
                user.user_id,
                json!({"amount": -100, "reason": format!("debit {i}")}),
            )
            .await
            .status()
        }
    });
    let statuses = futures_util::future::join_all(debits).await;
    let ok = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::PAYMENT_REQUIRED)
        .count();
    assert_eq!((ok, refused), (10, 40), "{statuses:?}");
    assert_eq!(credits(&app, &user).await["balance"], 0);

    // 20 replays of one key at once: credited once.
    let replays = (0..20).map(|_| {
        let app = &app;
        let admin = &admin;
        async move {
            adjust(
                app,
                admin,
                user.user_id,
                json!({"amount": 250, "reason": "refund",
                "idempotency_key": "refund-7"}),
            )
            .await
            .status()
        }
    });
    let statuses = futures_util::future::join_all(replays).await;
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses.iter().all(|s| s.is_success()), "{statuses:?}");

    let entries = ledger(&app, &admin, user.user_id).await;
    let sum: i64 = entries.iter().map(|e| e["amount"].as_i64().unwrap()).sum();
    let balance = credits(&app, &user).await["balance"].as_i64().unwrap();
    assert_eq!(balance, 250);
    assert_eq!(sum, balance);
    assert_eq!(entries.len(), 12);
    // Each entry's balance_after follows from the one before it.
    let mut running = 0;
    for entry in entries.iter().rev() {
        running += entry["amount"].as_i64().unwrap();
        assert_eq!(entry["balance_after"].as_i64().unwrap(), running);
    }
}
