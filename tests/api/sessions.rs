//! Refresh rotation, reuse detection, logout and the token check.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.post(
        "/api/v1/auth/refresh",
        json!({"refresh_token": token}),
        None,
    )
    .await
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    let first = app.user("nina").await;

    let second =
        session_of(expect_status(refresh(&app, &first.refresh).await, StatusCode::OK).await);
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    expect_status(
        app.get("/api/v1/me", Some(&second.access)).await,
        StatusCode::OK,
    )
    .await;

    let third =
        session_of(expect_status(refresh(&app, &second.refresh).await, StatusCode::OK).await);

    // Replaying an old token: refused, and the whole family ends.
    expect_error(
        refresh(&app, &first.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
    expect_error(
        refresh(&app, &third.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
    let me = app.get("/api/v1/me", Some(&third.access)).await;
    expect_error(me, StatusCode::UNAUTHORIZED, "token_revoked").await;

    // Other sessions of the same user are untouched.
    let other = app.login("nina", USER_PASSWORD).await;
    expect_status(refresh(&app, &other.refresh).await, StatusCode::OK).await;
}

#[tokio::test]
async fn unknown_and_malformed_refresh_tokens() {
    let app = spawn_app().await;
    expect_error(
        refresh(&app, "not-a-token").await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
    expect_error(
        refresh(&app, "").await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
    let missing = app.post("/api/v1/auth/refresh", json!({}), None).await;
    expect_error(missing, StatusCode::BAD_REQUEST, "invalid_body").await;
}

#[tokio::test]
async fn twenty_concurrent_refreshes_at_most_one_wins_and_the_family_ends() {
    twenty_concurrent_refreshes_at_most_one_wins_and_the_family_ends_on(spawn_app().await).await;
}

/// What [`twenty_concurrent_refreshes_at_most_one_wins_and_the_family_ends`] checks, on any app (one instance, or a pair sharing one database).
pub(crate) async fn twenty_concurrent_refreshes_at_most_one_wins_and_the_family_ends_on(
    app: TestApp,
) {
    let session = app.user("olga").await;
    let attempts = (0..20).map(|_| refresh(&app, &session.refresh));
    let responses = futures_util::future::join_all(attempts).await;
    let mut winners = Vec::new();
    for response in responses {
        match response.status() {
            StatusCode::OK => winners.push(session_of(response.json().await.unwrap())),
            StatusCode::UNAUTHORIZED => {
                expect_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
            }
            other => panic!(
                "unexpected status {other}: {}",
                response.text().await.unwrap()
            ),
        }
    }
    assert!(winners.len() <= 1, "{} refreshes succeeded", winners.len());
    // The reuse revoked the family: whatever the winner got no longer works.
    for winner in &winners {
        expect_error(
            refresh(&app, &winner.refresh).await,
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
        )
        .await;
        let me = app.get("/api/v1/me", Some(&winner.access)).await;
        expect_error(me, StatusCode::UNAUTHORIZED, "token_revoked").await;
    }
    let original = app.get("/api/v1/me", Some(&session.access)).await;
    expect_error(original, StatusCode::UNAUTHORIZED, "token_revoked").await;
}

#[tokio::test]
async fn logout_ends_the_access_token_and_its_refresh_family_at_once() {
    let app = spawn_app().await;
    let session = app.user("paul").await;
    let other = app.login("paul", USER_PASSWORD).await;

    let check = expect_status(
        app.get("/api/v1/auth/check", Some(&session.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(check["active"], true);
    assert_eq!(check["user_id"], session.user_id);
    assert_eq!(check["role"], "user");
    assert!(check["expires_at"].as_i64().unwrap() > chrono::Utc::now().timestamp());

    let out = app
        .post("/api/v1/auth/logout", json!({}), Some(&session.access))
        .await;
    expect_status(out, StatusCode::NO_CONTENT).await;

    expect_error(
        app.get("/api/v1/me", Some(&session.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    expect_error(
        app.get("/api/v1/auth/check", Some(&session.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    expect_error(
        refresh(&app, &session.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
    let again = app
        .post("/api/v1/auth/logout", json!({}), Some(&session.access))
        .await;
    expect_error(again, StatusCode::UNAUTHORIZED, "token_revoked").await;

    // Only that session ended.
    expect_status(
        app.get("/api/v1/me", Some(&other.access)).await,
        StatusCode::OK,
    )
    .await;
    let anonymous = app.post("/api/v1/auth/logout", json!({}), None).await;
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn refresh_keeps_the_absolute_session_lifetime() {
    let app = spawn_app_with(|s| {
        s.auth.access_ttl_secs = 60;
        s.auth.refresh_ttl_secs = 60;
    })
    .await;
    let session = app.user("quinn").await;
    let body = expect_status(refresh(&app, &session.refresh).await, StatusCode::OK).await;
    assert_eq!(body["expires_in"], 60);
}
