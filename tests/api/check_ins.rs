//! Rewards from settings: the registration reward and daily check-ins (once per calendar day
//! in the site's time zone, under any concurrency).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, expect_error, expect_status, spawn_app};

#[tokio::test]
async fn rewards_come_from_settings_and_apply_at_once() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    for (body, param) in [
        (json!({"check_in_reward": -1}), "check_in_reward"),
        (
            json!({"registration_reward": 2_000_000_000}),
            "registration_reward",
        ),
        (json!({"time_zone": "Mars/Olympus_Mons"}), "time_zone"),
    ] {
        let error = expect_error(
            app.put("/api/v1/admin/settings", body, Some(&admin.access))
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert_eq!(error["error"]["param"], param);
    }
    app.set_settings(
        &admin,
        json!({"registration_reward": 50, "check_in_reward": 10, "time_zone": "Asia/Shanghai"}),
    )
    .await;
    let public = expect_status(app.get("/api/v1/settings", None).await, StatusCode::OK).await;
    assert_eq!(public["registration_reward"], 50);
    assert_eq!(public["check_in_reward"], 10);
    assert_eq!(public["time_zone"], "Asia/Shanghai");

    // A new account starts with the reward, as a ledger entry.
    let user = app.user("newcomer").await;
    let credits = expect_status(
        app.get("/api/v1/credits", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(credits["balance"], 50);
    let ledger = expect_status(
        app.get("/api/v1/credits/ledger", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ledger["items"][0]["kind"], "registration_reward");
    assert_eq!(ledger["items"][0]["amount"], 50);

    // Checking in: today in Shanghai, a streak of one, the reward on the balance.
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m-%d")
        .to_string();
    let checked = expect_status(
        app.post("/api/v1/check-ins", json!({}), Some(&user.access))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        checked,
        json!({"day": today, "streak": 1, "reward": 10, "balance": 60})
    );
    expect_error(
        app.post("/api/v1/check-ins", json!({}), Some(&user.access))
            .await,
        StatusCode::CONFLICT,
        "already_checked_in",
    )
    .await;
    let month = expect_status(
        app.get("/api/v1/check-ins", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(month["month"], today[..7]);
    assert_eq!(month["days"], json!([today]));
    assert_eq!(month["checked_in_today"], true);
    assert_eq!(month["streak"], 1);
    let other_month = expect_status(
        app.get("/api/v1/check-ins?month=2001-02", Some(&user.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(other_month["days"], json!([]));
    for bad in ["2026-13", "2026-1", "yesterday"] {
        let error = expect_error(
            app.get(
                &format!("/api/v1/check-ins?month={bad}"),
                Some(&user.access),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert_eq!(error["error"]["param"], "month");
    }
    // A fresh account has not checked in.
    let other = app.user("other").await;
    let month = expect_status(
        app.get("/api/v1/check-ins", Some(&other.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(month["checked_in_today"], false);
    assert_eq!(month["streak"], 0);
}

#[tokio::test]
async fn twenty_concurrent_check_ins_reward_once() {
    twenty_concurrent_check_ins_reward_once_on(spawn_app().await).await;
}

/// What [`twenty_concurrent_check_ins_reward_once`] checks, on any app (one instance, or a pair sharing one database).
pub(crate) async fn twenty_concurrent_check_ins_reward_once_on(app: TestApp) {
    let admin = app.setup_admin().await;
    app.set_settings(&admin, json!({"check_in_reward": 7}))
        .await;
    let user = app.user("eager").await;
    let attempts = (0..20).map(|_| {
        let app = &app;
        let user = &user;
        async move {
            app.post("/api/v1/check-ins", json!({}), Some(&user.access))
                .await
                .status()
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 19), "{statuses:?}");
    let credits = expect_status(
        app.get("/api/v1/credits", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(credits["balance"], 7);
}
