//! Setup, registration, email codes, login, profile and passwords.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn setup_creates_the_first_admin_once() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/api/v1/setup",
            json!({"username": "root", "password": "x"}),
            None,
        )
        .await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_password").await;

    let body = expect_status(
        app.post(
            "/api/v1/setup",
            json!({"username": "Root", "password": ADMIN_PASSWORD}),
            None,
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(body["role"], "admin");
    assert_eq!(body["username"], "Root");
    assert!(body.get("password_hash").is_none());

    let again = app
        .post(
            "/api/v1/setup",
            json!({"username": "second", "password": ADMIN_PASSWORD}),
            None,
        )
        .await;
    expect_error(again, StatusCode::CONFLICT, "already_initialized").await;
}

#[tokio::test]
async fn concurrent_setups_make_exactly_one_admin() {
    let app = spawn_app().await;
    let attempts = (0..8).map(|i| {
        app.post(
            "/api/v1/setup",
            json!({"username": format!("admin{i}"), "password": ADMIN_PASSWORD}),
            None,
        )
    });
    let statuses: Vec<_> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT)
    );
}

#[tokio::test]
async fn setup_is_refused_once_anyone_registered() {
    let app = spawn_app().await;
    app.register("early").await;
    let response = app
        .post(
            "/api/v1/setup",
            json!({"username": "admin", "password": ADMIN_PASSWORD}),
            None,
        )
        .await;
    expect_error(response, StatusCode::CONFLICT, "already_initialized").await;
}

#[tokio::test]
async fn registration_validates_every_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"username": "ab", "password": USER_PASSWORD}),
            "invalid_username",
            "username",
        ),
        (
            json!({"username": "a".repeat(33), "password": USER_PASSWORD}),
            "invalid_username",
            "username",
        ),
        (
            json!({"username": "bad name", "password": USER_PASSWORD}),
            "invalid_username",
            "username",
        ),
        (
            json!({"username": "alice", "password": "short"}),
            "invalid_password",
            "password",
        ),
        (
            json!({"username": "alice", "password": "x".repeat(129)}),
            "invalid_password",
            "password",
        ),
        (
            json!({"username": "alice", "password": "password123"}),
            "password_too_common",
            "password",
        ),
        (
            json!({"username": "alice", "password": "iloveyou123"}),
            "password_too_common",
            "password",
        ),
        (
            json!({"username": "alice", "password": USER_PASSWORD, "email": "not-an-email"}),
            "invalid_email",
            "email",
        ),
    ];
    for (body, code, param) in cases {
        let response = app.post("/api/v1/auth/register", body.clone(), None).await;
        let error = expect_error(response, StatusCode::BAD_REQUEST, code).await;
        assert_eq!(error["error"]["param"], param, "{body}");
    }
    // Nothing was created by any of them.
    app.register("alice").await;
}

#[tokio::test]
async fn names_and_emails_are_unique_ignoring_case() {
    let app = spawn_app().await;
    app.register("alice").await;
    let response = app
        .post(
            "/api/v1/auth/register",
            json!({"username": "ALICE", "password": USER_PASSWORD}),
            None,
        )
        .await;
    expect_error(response, StatusCode::CONFLICT, "username_taken").await;
    let response = app
        .post(
            "/api/v1/auth/register",
            json!({"username": "alice2", "password": USER_PASSWORD, "email": "Alice@Example.com"}),
            None,
        )
        .await;
    expect_error(response, StatusCode::CONFLICT, "email_taken").await;
}

#[tokio::test]
async fn passwords_are_taken_exactly_as_sent() {
    let app = spawn_app().await;
    let password = "  spaced out pässwörd  ";
    expect_status(
        app.post(
            "/api/v1/auth/register",
            json!({"username": "spacey", "password": password}),
            None,
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    app.login("spacey", password).await;
    let trimmed = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "spacey", "password": password.trim()}),
            None,
        )
        .await;
    expect_error(trimmed, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn login_by_username_or_email_and_records_last_login() {
    let app = spawn_app().await;
    app.register("carol").await;
    let by_name = expect_status(
        app.post(
            "/api/v1/auth/login",
            json!({"username": "CAROL", "password": USER_PASSWORD}),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_name["token_type"], "bearer");
    assert_eq!(by_name["expires_in"], 900);
    assert_eq!(by_name["user"]["username"], "carol");
    assert_eq!(by_name["user"]["last_login_ip"], "127.0.0.1");
    assert!(by_name["user"]["last_login_at"].is_string());

    let by_email = app
        .post(
            "/api/v1/auth/login",
            json!({"email": "carol@example.com", "password": USER_PASSWORD}),
            None,
        )
        .await;
    expect_status(by_email, StatusCode::OK).await;
}

#[tokio::test]
async fn unknown_user_and_wrong_password_answer_alike() {
    let app = spawn_app().await;
    app.register("dave").await;
    let wrong = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "dave", "password": "not-the-password"}),
            None,
        )
        .await;
    let wrong = expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let unknown = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "nobody", "password": "not-the-password"}),
            None,
        )
        .await;
    let unknown = expect_error(unknown, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn login_needs_a_complete_credential() {
    let app = spawn_app().await;
    let cases = [
        json!({"username": "dave"}),
        json!({"password": USER_PASSWORD}),
        json!({"code": "123456"}),
        json!({"email": "a@example.com", "code": "123456", "password": "x"}),
    ];
    for body in cases {
        let response = app.post("/api/v1/auth/login", body.clone(), None).await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}

#[tokio::test]
async fn oauth2_password_form_logs_in() {
    let app = spawn_app().await;
    app.register("erin").await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "erin"),
            ("password", USER_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let body = expect_status(response, StatusCode::OK).await;
    assert_eq!(body["token_type"], "bearer");
    let me = app.get("/api/v1/me", body["access_token"].as_str()).await;
    assert_eq!(expect_status(me, StatusCode::OK).await["username"], "erin");

    let wrong_grant = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("username", "erin"),
            ("password", USER_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    expect_error(wrong_grant, StatusCode::BAD_REQUEST, "invalid_request").await;
    let missing = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .form(&[("username", "erin")])
        .send()
        .await
        .unwrap();
    expect_error(missing, StatusCode::BAD_REQUEST, "invalid_body").await;
}

#[tokio::test]
async fn email_verification_when_the_site_requires_it() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    app.set_settings(&admin, json!({"require_email_verification": true}))
        .await;

    let no_email = app
        .post(
            "/api/v1/auth/register",
            json!({"username": "frank", "password": USER_PASSWORD}),
            None,
        )
        .await;
    expect_error(no_email, StatusCode::BAD_REQUEST, "email_code_required").await;
    let no_code = app
        .post(
            "/api/v1/auth/register",
            json!({"username": "frank", "password": USER_PASSWORD, "email": "frank@example.com"}),
            None,
        )
        .await;
    expect_error(no_code, StatusCode::BAD_REQUEST, "email_code_required").await;

    let code = app.emailed_code("frank@example.com", "register").await;
    assert_eq!(code.len(), 6);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let bad = app
        .post(
            "/api/v1/auth/register",
            json!({"username": "frank", "password": USER_PASSWORD, "email": "frank@example.com", "code": wrong}),
            None,
        )
        .await;
    expect_error(bad, StatusCode::BAD_REQUEST, "invalid_code").await;

    let created = app
        .post(
            "/api/v1/auth/register",
            json!({"username": "frank", "password": USER_PASSWORD, "email": "FRANK@example.com", "code": code}),
            None,
        )
        .await;
    let created = expect_status(created, StatusCode::CREATED).await;
    assert_eq!(created["email_verified"], true);

    // A code works once.
    let reuse = app
        .post(
            "/api/v1/auth/register",
            json!({"username": "frank2", "password": USER_PASSWORD, "email": "frank@example.com", "code": code}),
            None,
        )
        .await;
    expect_error(reuse, StatusCode::CONFLICT, "email_taken").await;
}

#[tokio::test]
async fn codes_have_a_resend_cooldown_and_a_purpose() {
    let app = spawn_app().await;
    app.register("gina").await;
    let code = app.emailed_code("gina@example.com", "login").await;
    let again = app
        .post(
            "/api/v1/auth/verification-codes",
            json!({"email": "gina@example.com", "purpose": "login"}),
            None,
        )
        .await;
    let retry_after: u64 = again
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("retry-after");
    assert!((1..=60).contains(&retry_after));
    expect_error(again, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // A login code cannot reset a password.
    let reset = app
        .post(
            "/api/v1/auth/password-reset",
            json!({"email": "gina@example.com", "code": code, "new_password": "brand new passphrase"}),
            None,
        )
        .await;
    expect_error(reset, StatusCode::BAD_REQUEST, "invalid_code").await;

    let bad_email = app
        .post(
            "/api/v1/auth/verification-codes",
            json!({"email": "nope", "purpose": "login"}),
            None,
        )
        .await;
    expect_error(bad_email, StatusCode::BAD_REQUEST, "invalid_email").await;
}

#[tokio::test]
async fn unknown_addresses_get_the_same_answer_and_no_mail() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/api/v1/auth/verification-codes",
            json!({"email": "ghost@example.com", "purpose": "login"}),
            None,
        )
        .await;
    let body = expect_status(response, StatusCode::ACCEPTED).await;
    assert_eq!(body, json!({"expires_in": 600, "resend_after": 60}));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(app.smtp.messages().is_empty());
}

#[tokio::test]
async fn login_with_an_emailed_code() {
    let app = spawn_app().await;
    app.register("hank").await;
    let code = app.emailed_code("hank@example.com", "login").await;
    let body = expect_status(
        app.post(
            "/api/v1/auth/login",
            json!({"email": "Hank@Example.com", "code": code}),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["user"]["username"], "hank");
    assert_eq!(body["user"]["email_verified"], true);
    let reuse = app
        .post(
            "/api/v1/auth/login",
            json!({"email": "hank@example.com", "code": code}),
            None,
        )
        .await;
    expect_error(reuse, StatusCode::BAD_REQUEST, "invalid_code").await;
}

#[tokio::test]
async fn a_code_dies_after_five_wrong_guesses() {
    let app = spawn_app_with(|s| s.auth.login_failures_per_account_and_ip = 100).await;
    app.register("ivan").await;
    let code = app.emailed_code("ivan@example.com", "login").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let response = app
            .post(
                "/api/v1/auth/login",
                json!({"email": "ivan@example.com", "code": wrong}),
                None,
            )
            .await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_code").await;
    }
    let right = app
        .post(
            "/api/v1/auth/login",
            json!({"email": "ivan@example.com", "code": code}),
            None,
        )
        .await;
    expect_error(right, StatusCode::BAD_REQUEST, "invalid_code").await;
}

#[tokio::test]
async fn password_reset_with_a_code_ends_every_session() {
    let app = spawn_app().await;
    app.register("judy").await;
    let session = app.login("judy", USER_PASSWORD).await;
    let code = app.emailed_code("judy@example.com", "password_reset").await;

    let weak = app
        .post(
            "/api/v1/auth/password-reset",
            json!({"email": "judy@example.com", "code": code, "new_password": "12345678"}),
            None,
        )
        .await;
    expect_error(weak, StatusCode::BAD_REQUEST, "password_too_common").await;

    let done = app
        .post(
            "/api/v1/auth/password-reset",
            json!({"email": "judy@example.com", "code": code, "new_password": "judy's new passphrase"}),
            None,
        )
        .await;
    expect_status(done, StatusCode::NO_CONTENT).await;
    let old = app.get("/api/v1/me", Some(&session.access)).await;
    expect_error(old, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let old_password = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "judy", "password": USER_PASSWORD}),
            None,
        )
        .await;
    expect_error(
        old_password,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    app.login("judy", "judy's new passphrase").await;
}

#[tokio::test]
async fn me_shows_and_updates_only_the_profile() {
    let app = spawn_app().await;
    let session = app.user("kate").await;
    let me = expect_status(
        app.get("/api/v1/me", Some(&session.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["username"], "kate");
    assert_eq!(me["role"], "user");
    assert_eq!(me["email"], "kate@example.com");

    let updated = expect_status(
        app.patch(
            "/api/v1/me",
            json!({"nickname": "  Kate K.  ", "avatar_url": "https://img.example.com/k.png", "role": "admin", "credits": 1000000, "username": "root"}),
            Some(&session.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["nickname"], "Kate K.");
    assert_eq!(updated["avatar_url"], "https://img.example.com/k.png");
    assert_eq!(updated["role"], "user");
    assert_eq!(updated["username"], "kate");
    assert!(updated.get("credits").is_none());

    let bad_url = app
        .patch(
            "/api/v1/me",
            json!({"avatar_url": "javascript:alert(1)"}),
            Some(&session.access),
        )
        .await;
    let error = expect_error(bad_url, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(error["error"]["param"], "avatar_url");
    let long_name = app
        .patch(
            "/api/v1/me",
            json!({"nickname": "n".repeat(65)}),
            Some(&session.access),
        )
        .await;
    expect_error(long_name, StatusCode::BAD_REQUEST, "invalid_request").await;

    let cleared = expect_status(
        app.patch("/api/v1/me", json!({"nickname": ""}), Some(&session.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cleared["nickname"], serde_json::Value::Null);
    assert_eq!(cleared["avatar_url"], "https://img.example.com/k.png");

    let anonymous = app.get("/api/v1/me", None).await;
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    let app = spawn_app().await;
    app.register("liam").await;
    let here = app.login("liam", USER_PASSWORD).await;
    let elsewhere = app.login("liam", USER_PASSWORD).await;

    let wrong = app
        .put(
            "/api/v1/me/password",
            json!({"current_password": "not mine at all", "new_password": "liam's new passphrase"}),
            Some(&here.access),
        )
        .await;
    expect_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let short = app
        .put(
            "/api/v1/me/password",
            json!({"current_password": USER_PASSWORD, "new_password": "short"}),
            Some(&here.access),
        )
        .await;
    expect_error(short, StatusCode::BAD_REQUEST, "invalid_password").await;

    let changed = app
        .put(
            "/api/v1/me/password",
            json!({"current_password": USER_PASSWORD, "new_password": "liam's new passphrase"}),
            Some(&here.access),
        )
        .await;
    expect_status(changed, StatusCode::NO_CONTENT).await;
    expect_status(
        app.get("/api/v1/me", Some(&here.access)).await,
        StatusCode::OK,
    )
    .await;
    let other = app.get("/api/v1/me", Some(&elsewhere.access)).await;
    expect_error(other, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let other_refresh = app
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": elsewhere.refresh}),
            None,
        )
        .await;
    expect_error(
        other_refresh,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
    app.login("liam", "liam's new passphrase").await;
}
