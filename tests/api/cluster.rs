//! Several instances on one PostgreSQL database and one Redis: the concurrency scenarios of
//! the other files with their requests spread over two instances, changes made through one
//! instance seen by the other at once, and an instance whose Redis is gone (fails closed where
//! a limit guards money or credentials, keeps serving the rest, says so in `/readyz`).
//! The pairs need `CONFAB_TEST_DATABASE_URL` and a `redis-server` (see `redis_server.rs`).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chats::{add_model, chat_settings, openai_key};
use crate::fake_upstream::{Behavior, FakeUpstream};
use crate::helpers::{
    Session, TestApp, USER_PASSWORD, expect_error, expect_status, spawn_app_with_redis, spawn_pair,
    spawn_pair_with,
};

#[tokio::test]
async fn debits_over_two_instances_never_overdraw() {
    let Some(app) = spawn_pair().await else {
        return;
    };
    crate::credits::concurrent_debits_never_overdraw_and_the_ledger_sums_to_the_balance_on(app)
        .await;
}

#[tokio::test]
async fn metered_requests_over_two_instances_never_overspend() {
    let Some(app) = spawn_pair_with(chat_settings).await else {
        return;
    };
    crate::metering::fifty_concurrent_requests_never_overspend_a_balance_on(app).await;
}

#[tokio::test]
async fn one_card_code_redeemed_over_two_instances_is_redeemed_once() {
    let Some(app) = spawn_pair_with(chat_settings).await else {
        return;
    };
    crate::redemptions::fifty_users_redeeming_one_code_at_once_get_it_once_on(app).await;
}

#[tokio::test]
async fn check_ins_over_two_instances_reward_once() {
    let Some(app) = spawn_pair().await else {
        return;
    };
    crate::check_ins::twenty_concurrent_check_ins_reward_once_on(app).await;
}

#[tokio::test]
async fn refreshes_over_two_instances_let_at_most_one_win() {
    let Some(app) = spawn_pair().await else {
        return;
    };
    crate::sessions::twenty_concurrent_refreshes_at_most_one_wins_and_the_family_ends_on(app).await;
}

#[tokio::test]
async fn notifies_over_two_instances_fulfil_once() {
    let Some(app) = spawn_pair_with(crate::payments::payment_settings).await else {
        return;
    };
    crate::payments::the_same_notify_ten_times_in_a_row_and_at_once_fulfils_once_on(app).await;
}

#[tokio::test]
async fn the_login_limit_is_reached_across_two_instances() {
    let Some(app) = spawn_pair().await else {
        return;
    };
    crate::throttles::a_burst_of_wrong_passwords_gets_exactly_the_limit_checked_on(app).await;
}

/// A token each instance has already accepted (so both have its session cached).
async fn used_on_both(app: &TestApp, session: &Session) {
    for index in 0..2 {
        expect_status(
            app.only(index)
                .get("/api/v1/me", Some(&session.access))
                .await,
            StatusCode::OK,
        )
        .await;
    }
}

#[tokio::test]
async fn a_logout_on_one_instance_is_refused_at_once_on_the_other() {
    let Some(app) = spawn_pair().await else {
        return;
    };
    let (first, second) = (app.only(0), app.only(1));
    let session = first.user("leaver").await;
    used_on_both(&app, &session).await;
    expect_status(
        first
            .post("/api/v1/auth/logout", json!({}), Some(&session.access))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        second.get("/api/v1/me", Some(&session.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;

    // Revoking every session of an account, and changing its password, likewise.
    let one = first.login("leaver", USER_PASSWORD).await;
    let two = second.login("leaver", USER_PASSWORD).await;
    used_on_both(&app, &one).await;
    used_on_both(&app, &two).await;
    expect_status(
        second
            .put(
                "/api/v1/me/password",
                json!({"current_password": USER_PASSWORD, "new_password": "another-passphrase-2"}),
                Some(&two.access),
            )
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        first.get("/api/v1/me", Some(&one.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

#[tokio::test]
async fn disabling_or_promoting_on_one_instance_applies_at_once_on_the_other() {
    let Some(app) = spawn_pair().await else {
        return;
    };
    let (first, second) = (app.only(0), app.only(1));
    let admin = first.setup_admin().await;
    let user = first.user("moved").await;
    used_on_both(&app, &user).await;
    expect_error(
        second.get("/api/v1/admin/users", Some(&user.access)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let path = format!("/api/v1/admin/users/{}", user.user_id);
    expect_status(
        first
            .patch(&path, json!({"role": "admin"}), Some(&admin.access))
            .await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        second.get("/api/v1/admin/users", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        first
            .patch(&path, json!({"status": "disabled"}), Some(&admin.access))
            .await,
        StatusCode::OK,
    )
    .await;
    expect_error(
        second.get("/api/v1/me", Some(&user.access)).await,
        StatusCode::FORBIDDEN,
        "account_disabled",
    )
    .await;
}

#[tokio::test]
async fn a_provider_key_one_instance_finds_failing_rests_on_the_other() {
    let Some(app) = spawn_pair_with(|settings| {
        chat_settings(settings);
        // Long enough that only a shared rest can explain the other instance skipping it.
        settings.providers.cooldown_base_ms = 120_000;
    })
    .await
    else {
        return;
    };
    let (first, second) = (app.only(0), app.only(1));
    let admin = first.setup_admin().await;
    let failing = FakeUpstream::start().await;
    let spare = FakeUpstream::start().await;
    let failing_id = openai_key(&first, &admin, "failing", &failing, 10).await;
    openai_key(&first, &admin, "spare", &spare, 0).await;
    add_model(
        &first,
        &admin,
        json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_request": 1}),
    )
    .await;
    let user = first.funded_user(&admin, "rested", 100).await;
    app.until_every_instance_lists(&user, "gpt-4o-mini").await;

    // One 500 from the preferred key, on the first instance: the spare answers.
    failing.then(Behavior::Status(500));
    expect_status(complete(&first, &user).await, StatusCode::OK).await;
    assert_eq!((failing.hits(), spare.hits()), (1, 1));

    // The second instance rests it too (it hears within a second), without trying it.
    let key_path = format!("/api/v1/admin/provider-keys/{failing_id}");
    let mut waited = 0;
    loop {
        let key = expect_status(
            second.get(&key_path, Some(&admin.access)).await,
            StatusCode::OK,
        )
        .await;
        if key["cooling_until"].is_string() {
            break;
        }
        waited += 1;
        assert!(waited < 100, "never rested on the second instance: {key}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..3 {
        expect_status(complete(&second, &user).await, StatusCode::OK).await;
    }
    assert_eq!((failing.hits(), spare.hits()), (1, 4));
}

async fn complete(app: &TestApp, user: &Session) -> reqwest::Response {
    app.post(
        "/v1/chat/completions",
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
        Some(&user.access),
    )
    .await
}

#[tokio::test]
async fn without_redis_logins_and_redemptions_are_refused_and_the_rest_goes_on() {
    let Some(app) = spawn_app_with_redis(|settings| settings.redis.timeout_ms = 300).await else {
        return;
    };
    let admin = app.setup_admin().await;
    let user = app.user("stranded").await;
    expect_status(app.get("/readyz", None).await, StatusCode::OK).await;

    app.redis.as_ref().expect("a redis").stop();
    let login = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "stranded", "password": USER_PASSWORD}),
            None,
        )
        .await;
    expect_error(
        login,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    let redeem = app
        .post(
            "/api/v1/redemptions",
            json!({"code": "ANY-CODE-AT-ALL"}),
            Some(&user.access),
        )
        .await;
    expect_error(
        redeem,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    let ready = expect_error(
        app.get("/readyz", None).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    assert_eq!(ready["error"]["message"], "redis unreachable");
    expect_status(app.get("/healthz", None).await, StatusCode::OK).await;

    // Signed-in users go on (their sessions read from the database while caches cannot be
    // trusted), and admin changes still apply at once.
    let me: Value = expect_status(
        app.get("/api/v1/me", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["username"], "stranded");
    expect_status(
        app.post("/api/v1/auth/logout", json!({}), Some(&user.access))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        app.get("/api/v1/me", Some(&user.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    expect_status(
        app.get("/api/v1/admin/users", Some(&admin.access)).await,
        StatusCode::OK,
    )
    .await;
}

/// A provider key limited to 4 requests a minute serves exactly 4 of 8 sent at once, however
/// many instances they are spread over; the rest are refused with the wait.
pub(crate) async fn a_key_rpm_limit_holds_on(app: TestApp) {
    let admin = app.setup_admin().await;
    let fake = FakeUpstream::start().await;
    crate::chats::add_key(
        &app,
        &admin,
        json!({"name": "limited", "kind": "openai", "base_url": fake.url,
               "api_key": "sk-limited-secret-0123456789", "models": ["gpt-4o-mini"], "rpm_limit": 4}),
    )
    .await;
    add_model(
        &app,
        &admin,
        json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_request": 1}),
    )
    .await;
    let user = app.funded_user(&admin, "hurried", 100).await;
    app.until_every_instance_lists(&user, "gpt-4o-mini").await;
    let answers = futures_util::future::join_all((0..8).map(|_| complete(&app, &user))).await;
    let mut served = 0;
    for response in answers {
        if response.status() == StatusCode::OK {
            served += 1;
            continue;
        }
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        expect_error(
            response,
            StatusCode::SERVICE_UNAVAILABLE,
            "no_provider_available",
        )
        .await;
    }
    assert_eq!(served, 4);
    assert_eq!(fake.hits(), 4);
}

#[tokio::test]
async fn a_key_rpm_limit_holds_on_one_instance() {
    a_key_rpm_limit_holds_on(crate::helpers::spawn_app_with(chat_settings).await).await;
}

#[tokio::test]
async fn a_key_rpm_limit_holds_across_two_instances() {
    let Some(app) = spawn_pair_with(chat_settings).await else {
        return;
    };
    a_key_rpm_limit_holds_on(app).await;
}
