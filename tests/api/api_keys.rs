//! Users' API keys: shown once and stored hashed, usable on /v1, chat and image routes only,
//! every limit refused with its own error, counters that hold under concurrency.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chats::{add_model, app, new_chat, openai_key, usage_records};
use crate::fake_upstream::FakeUpstream;
use crate::helpers::{Session, TestApp, USER_PASSWORD, expect_error, expect_status};

async fn create_key(app: &TestApp, user: &Session, body: Value) -> Value {
    expect_status(
        app.post("/api/v1/keys", body, Some(&user.access)).await,
        StatusCode::CREATED,
    )
    .await
}

fn secret(key: &Value) -> String {
    key["secret"].as_str().unwrap().to_owned()
}

async fn key_view(app: &TestApp, user: &Session, id: i64) -> Value {
    expect_status(
        app.get(&format!("/api/v1/keys/{id}"), Some(&user.access))
            .await,
        StatusCode::OK,
    )
    .await
}

fn completion() -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
}

/// A chat model at 100 credits a request, served by a fake OpenAI.
async fn priced_setup(app: &TestApp, admin: &Session) -> FakeUpstream {
    add_model(
        app,
        admin,
        json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_request": 100}),
    )
    .await;
    let fake = FakeUpstream::start().await;
    openai_key(app, admin, "main", &fake, 0).await;
    fake
}

#[tokio::test]
async fn a_key_is_shown_once_works_where_keys_may_and_counts_its_use() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let _fake = priced_setup(&app, &admin).await;
    let user = app.funded_user(&admin, "keyholder", 1000).await;

    let created = create_key(&app, &user, json!({"name": "laptop"})).await;
    let sk = secret(&created);
    assert!(sk.starts_with("sk-") && sk.len() >= 3 + 32, "{sk}");
    assert!(sk[3..].chars().all(|c| c.is_ascii_hexdigit()));
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["name"], "laptop");
    assert_eq!(created["request_total"], 0);
    assert!(created["hint"].as_str().unwrap().starts_with("sk-"));

    // The secret is never shown again.
    let listed = expect_status(
        app.get("/api/v1/keys", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["total"], 1);
    assert!(listed["items"][0].get("secret").is_none());
    assert!(!listed.to_string().contains(&sk));

    // /v1, models and chat routes work with the key; the request is charged to the owner.
    expect_status(
        app.post("/v1/chat/completions", completion(), Some(&sk))
            .await,
        StatusCode::OK,
    )
    .await;
    let models = expect_status(app.get("/v1/models", Some(&sk)).await, StatusCode::OK).await;
    assert_eq!(models["data"][0]["id"], "gpt-4o-mini");
    let chat = expect_status(
        app.post("/api/v1/chats", json!({"model": "gpt-4o-mini"}), Some(&sk))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let reply = expect_status(
        app.post(
            &format!("/api/v1/chats/{}/messages", chat["id"]),
            json!({"content": "hello", "stream": false}),
            Some(&sk),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(reply["cost"], 100);

    let view = key_view(&app, &user, id).await;
    assert_eq!(view["request_total"], 4, "{view}");
    assert_eq!(view["request_today"], 4);
    assert_eq!(view["credits_used"], 200);
    assert!(view["last_used_at"].is_string());
    assert_eq!(view["last_used_ip"], "127.0.0.1");
    let credits = expect_status(
        app.get("/api/v1/credits", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(credits["balance"], 800);
    assert_eq!(credits["held"], 0);
    // Usage records name the key.
    let records = usage_records(&app, &admin, &format!("user_id={}", user.user_id), 2).await;
    assert!(records.iter().all(|r| r["api_key_id"] == id), "{records:?}");

    // Rotation: the old secret stops at once, the new one works, counters stay.
    let rotated = expect_status(
        app.post(
            &format!("/api/v1/keys/{id}/rotate"),
            json!({}),
            Some(&user.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let new_sk = secret(&rotated);
    assert_ne!(new_sk, sk);
    assert_eq!(rotated["request_total"], 4);
    expect_error(
        app.get("/v1/models", Some(&sk)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
    )
    .await;
    expect_status(app.get("/v1/models", Some(&new_sk)).await, StatusCode::OK).await;

    // Disabled, then deleted.
    expect_status(
        app.patch(
            &format!("/api/v1/keys/{id}"),
            json!({"enabled": false}),
            Some(&user.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_error(
        app.get("/v1/models", Some(&new_sk)).await,
        StatusCode::UNAUTHORIZED,
        "api_key_disabled",
    )
    .await;
    expect_status(
        app.delete(&format!("/api/v1/keys/{id}"), Some(&user.access))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        app.get("/v1/models", Some(&new_sk)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
    )
    .await;
    expect_error(
        app.get(&format!("/api/v1/keys/{id}"), Some(&user.access))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn keys_cannot_manage_keys_the_account_or_the_site() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let admin_key = secret(&create_key(&app, &admin, json!({"name": "ops"})).await);
    let cases: [(&str, &str); 8] = [
        ("GET", "/api/v1/keys"),
        ("POST", "/api/v1/keys"),
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/auth/check"),
        ("GET", "/api/v1/credits"),
        ("GET", "/api/v1/admin/users"),
        ("GET", "/api/v1/admin/keys"),
        ("PUT", "/api/v1/admin/settings"),
    ];
    for (method, path) in cases {
        let response = match method {
            "GET" => app.get(path, Some(&admin_key)).await,
            "POST" => app.post(path, json!({"name": "x"}), Some(&admin_key)).await,
            _ => app.put(path, json!({}), Some(&admin_key)).await,
        };
        expect_error(response, StatusCode::FORBIDDEN, "api_key_not_allowed").await;
    }
    // An unknown or malformed key is a 401.
    expect_error(
        app.get(
            "/v1/models",
            Some("sk-0000000000000000000000000000000000000000000000000"),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
    )
    .await;
    // The admin sees every key, filtered by user.
    let user = app.user("other").await;
    create_key(&app, &user, json!({"name": "theirs"})).await;
    let all = expect_status(
        app.get("/api/v1/admin/keys", Some(&admin.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all["total"], 2);
    let theirs = expect_status(
        app.get(
            &format!("/api/v1/admin/keys?user_id={}", user.user_id),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(theirs["total"], 1);
    assert_eq!(theirs["items"][0]["name"], "theirs");
    expect_error(
        app.get("/api/v1/admin/keys", Some(&user.access)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Another user's key is not found for its non-owner.
    let mine = create_key(&app, &admin, json!({"name": "mine"})).await;
    expect_error(
        app.delete(&format!("/api/v1/keys/{}", mine["id"]), Some(&user.access))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn bad_key_settings_are_refused_field_by_field() {
    let app = app().await;
    let admin = app.setup_admin().await;
    add_model(
        &app,
        &admin,
        json!({"name": "gpt-4o-mini", "modality": "chat"}),
    )
    .await;
    let user = app.user("picky").await;
    let stranger = app.user("stranger").await;
    let strangers_chat = new_chat(&app, &stranger).await;
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(65)}), "name"),
        (
            json!({"name": "k", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (json!({"name": "k", "credit_limit": -1}), "credit_limit"),
        (
            json!({"name": "k", "daily_request_limit": 0}),
            "daily_request_limit",
        ),
        (json!({"name": "k", "allowed_models": []}), "allowed_models"),
        (
            json!({"name": "k", "allowed_models": ["gpt-9"]}),
            "allowed_models",
        ),
        (
            json!({"name": "k", "allowed_ips": ["10.0.0.300"]}),
            "allowed_ips",
        ),
        (
            json!({"name": "k", "allowed_ips": ["10.0.0.0/33"]}),
            "allowed_ips",
        ),
        (json!({"name": "k", "chat_id": strangers_chat}), "chat_id"),
    ];
    for (body, param) in cases {
        let error = expect_error(
            app.post("/api/v1/keys", body.clone(), Some(&user.access))
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert_eq!(error["error"]["param"], param, "{body}");
    }
    expect_error(
        app.post(
            "/api/v1/keys",
            json!({"name": "k", "colour": "red"}),
            Some(&user.access),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    let keys = expect_status(
        app.get("/api/v1/keys", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(keys["total"], 0);

    // PATCH validates the same way, and null clears a limit.
    let key = create_key(&app, &user, json!({"name": "k", "daily_request_limit": 5})).await;
    let path = format!("/api/v1/keys/{}", key["id"]);
    let error = expect_error(
        app.patch(&path, json!({"allowed_ips": ["nope"]}), Some(&user.access))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(error["error"]["param"], "allowed_ips");
    let cleared = expect_status(
        app.patch(
            &path,
            json!({"daily_request_limit": null, "allowed_ips": ["10.1.2.3", "192.168.9.9/16"]}),
            Some(&user.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(cleared["daily_request_limit"].is_null());
    assert_eq!(
        cleared["allowed_ips"],
        json!(["10.1.2.3/32", "192.168.0.0/16"])
    );
}

#[tokio::test]
async fn every_key_limit_is_refused_with_its_own_error() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let _fake = priced_setup(&app, &admin).await;
    add_model(
        &app,
        &admin,
        json!({"name": "other-model", "modality": "chat"}),
    )
    .await;
    let user = app.funded_user(&admin, "limited", 10_000).await;

    // Expiry.
    let expiring = create_key(
        &app,
        &user,
        json!({"name": "brief", "expires_at": (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339()}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    expect_error(
        app.get("/v1/models", Some(&secret(&expiring))).await,
        StatusCode::UNAUTHORIZED,
        "api_key_expired",
    )
    .await;

    // Daily requests: the third of the day is refused until tomorrow.
    let daily = secret(
        &create_key(
            &app,
            &user,
            json!({"name": "daily", "daily_request_limit": 2}),
        )
        .await,
    );
    for _ in 0..2 {
        expect_status(app.get("/v1/models", Some(&daily)).await, StatusCode::OK).await;
    }
    let response = app.get("/v1/models", Some(&daily)).await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry_after));
    expect_error(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "daily_limit_reached",
    )
    .await;

    // Credits: 100 a request against a limit of 250.
    let capped =
        secret(&create_key(&app, &user, json!({"name": "capped", "credit_limit": 250})).await);
    for _ in 0..2 {
        expect_status(
            app.post("/v1/chat/completions", completion(), Some(&capped))
                .await,
            StatusCode::OK,
        )
        .await;
    }
    expect_error(
        app.post("/v1/chat/completions", completion(), Some(&capped))
            .await,
        StatusCode::PAYMENT_REQUIRED,
        "credit_limit_reached",
    )
    .await;

    // Models: only the listed ones, and only they are listed.
    let narrow = secret(
        &create_key(
            &app,
            &user,
            json!({"name": "narrow", "allowed_models": ["other-model"]}),
        )
        .await,
    );
    let error = expect_error(
        app.post("/v1/chat/completions", completion(), Some(&narrow))
            .await,
        StatusCode::FORBIDDEN,
        "model_not_allowed",
    )
    .await;
    assert_eq!(error["error"]["param"], "model");
    let listed = expect_status(app.get("/v1/models", Some(&narrow)).await, StatusCode::OK).await;
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["other-model"]);

    // Client addresses.
    let elsewhere = secret(
        &create_key(
            &app,
            &user,
            json!({"name": "office", "allowed_ips": ["10.0.0.0/8"]}),
        )
        .await,
    );
    expect_error(
        app.get("/v1/models", Some(&elsewhere)).await,
        StatusCode::FORBIDDEN,
        "ip_not_allowed",
    )
    .await;
    let local = secret(
        &create_key(
            &app,
            &user,
            json!({"name": "local", "allowed_ips": ["127.0.0.0/8", "::1"]}),
        )
        .await,
    );
    expect_status(app.get("/v1/models", Some(&local)).await, StatusCode::OK).await;

    // A disabled account's keys stop too.
    let victim = app.funded_user(&admin, "victim", 100).await;
    let victims_key = secret(&create_key(&app, &victim, json!({"name": "v"})).await);
    expect_status(
        app.patch(
            &format!("/api/v1/admin/users/{}", victim.user_id),
            json!({"status": "disabled"}),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_error(
        app.get("/v1/models", Some(&victims_key)).await,
        StatusCode::FORBIDDEN,
        "account_disabled",
    )
    .await;
}

#[tokio::test]
async fn a_key_bound_to_a_chat_cannot_reach_another() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let _fake = priced_setup(&app, &admin).await;
    let user = app.funded_user(&admin, "embedder", 1000).await;
    let home = new_chat(&app, &user).await;
    let other = new_chat(&app, &user).await;
    let embed = secret(&create_key(&app, &user, json!({"name": "widget", "chat_id": home})).await);

    expect_status(
        app.post(
            &format!("/api/v1/chats/{home}/messages"),
            json!({"content": "hello", "stream": false}),
            Some(&embed),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        app.get(&format!("/api/v1/chats/{home}/messages"), Some(&embed))
            .await,
        StatusCode::OK,
    )
    .await;
    let refused = [
        app.get(&format!("/api/v1/chats/{other}"), Some(&embed))
            .await,
        app.get(&format!("/api/v1/chats/{other}/messages"), Some(&embed))
            .await,
        app.post(
            &format!("/api/v1/chats/{other}/messages"),
            json!({"content": "sneak", "stream": false}),
            Some(&embed),
        )
        .await,
        app.get("/api/v1/chats", Some(&embed)).await,
        app.post("/api/v1/chats", json!({}), Some(&embed)).await,
        app.delete(&format!("/api/v1/chats/{home}"), Some(&embed))
            .await,
        app.post("/v1/chat/completions", completion(), Some(&embed))
            .await,
        app.post(
            "/api/v1/images/generations",
            json!({"model": "dall-e-3", "prompt": "a cat"}),
            Some(&embed),
        )
        .await,
    ];
    for response in refused {
        expect_error(response, StatusCode::FORBIDDEN, "chat_not_allowed").await;
    }
    // Nothing was sent in the other chat.
    let others = expect_status(
        app.get(
            &format!("/api/v1/chats/{other}/messages"),
            Some(&user.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(others["total"], 0);
}

#[tokio::test]
async fn key_limits_hold_under_concurrency() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let _fake = priced_setup(&app, &admin).await;
    let user = app.funded_user(&admin, "busy", 100_000).await;
    let key = create_key(&app, &user, json!({"name": "shared", "credit_limit": 500})).await;
    let sk = secret(&key);

    let outcomes = futures_util::future::join_all((0..20).map(|_| {
        let app = &app;
        let sk = &sk;
        async move {
            app.post("/v1/chat/completions", completion(), Some(sk))
                .await
                .status()
        }
    }))
    .await;
    let ok = outcomes.iter().filter(|s| **s == StatusCode::OK).count();
    assert!(
        outcomes
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::PAYMENT_REQUIRED),
        "{outcomes:?}"
    );
    assert_eq!(ok, 5, "{outcomes:?}");
    let view = key_view(&app, &user, key["id"].as_i64().unwrap()).await;
    assert_eq!(view["credits_used"], 100 * ok as i64, "{view}");
    assert_eq!(view["request_total"], 20);

    let daily = create_key(
        &app,
        &user,
        json!({"name": "daily", "daily_request_limit": 5}),
    )
    .await;
    let daily_sk = secret(&daily);
    let outcomes = futures_util::future::join_all((0..20).map(|_| {
        let app = &app;
        let sk = &daily_sk;
        async move { app.get("/v1/models", Some(sk)).await.status() }
    }))
    .await;
    let ok = outcomes.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 5, "{outcomes:?}");
    assert_eq!(
        outcomes
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        15
    );
    let view = key_view(&app, &user, daily["id"].as_i64().unwrap()).await;
    assert_eq!(view["request_today"], 5);
}

/// On a single instance a key's check is remembered after its first use; every change to the
/// key, its owner or the site's calendar must still apply to the very next request.
#[tokio::test]
async fn a_used_key_follows_every_change_at_once() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let user = app.funded_user(&admin, "changing", 100).await;
    let key = create_key(&app, &user, json!({"name": "k"})).await;
    let id = key["id"].as_i64().unwrap();
    let sk = secret(&key);
    let models = |sk: String| {
        let app = &app;
        async move { app.get("/v1/models", Some(&sk)).await }
    };
    let patch = |body: Value| {
        let app = &app;
        let user = &user;
        async move {
            expect_status(
                app.patch(&format!("/api/v1/keys/{id}"), body, Some(&user.access))
                    .await,
                StatusCode::OK,
            )
            .await
        }
    };
    expect_status(models(sk.clone()).await, StatusCode::OK).await;

    patch(json!({"enabled": false})).await;
    expect_error(
        models(sk.clone()).await,
        StatusCode::UNAUTHORIZED,
        "api_key_disabled",
    )
    .await;
    patch(json!({"enabled": true, "allowed_ips": ["10.0.0.0/8"]})).await;
    expect_error(
        models(sk.clone()).await,
        StatusCode::FORBIDDEN,
        "ip_not_allowed",
    )
    .await;
    patch(json!({"allowed_ips": null, "daily_request_limit": 2})).await;
    expect_status(models(sk.clone()).await, StatusCode::OK).await;
    expect_error(
        models(sk.clone()).await,
        StatusCode::TOO_MANY_REQUESTS,
        "daily_limit_reached",
    )
    .await;
    let view = patch(json!({"daily_request_limit": null})).await;
    assert_eq!(view["request_total"], 2, "{view}");
    assert_eq!(view["request_today"], 2, "{view}");

    // A rotated secret replaces the old one at once; a deleted key stops.
    let rotated = expect_status(
        app.post(
            &format!("/api/v1/keys/{id}/rotate"),
            json!({}),
            Some(&user.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rotated["request_total"], 2, "{rotated}");
    expect_error(
        models(sk.clone()).await,
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
    )
    .await;
    let new_sk = secret(&rotated);
    expect_status(models(new_sk.clone()).await, StatusCode::OK).await;

    let view = key_view(&app, &user, id).await;
    assert_eq!(view["request_total"], 3, "{view}");

    // A new time zone moves the key to that zone's day at once. UTC-11 and UTC+14 are 25 hours
    // apart, so their dates differ at every instant.
    let set_zone = |zone: &'static str| {
        let app = &app;
        let admin = &admin;
        async move {
            expect_status(
                app.put(
                    "/api/v1/admin/settings",
                    json!({"time_zone": zone}),
                    Some(&admin.access),
                )
                .await,
                StatusCode::OK,
            )
            .await;
        }
    };
    set_zone("Pacific/Pago_Pago").await;
    expect_status(models(new_sk.clone()).await, StatusCode::OK).await;
    let today = key_view(&app, &user, id).await["request_today"].clone();
    patch(json!({"daily_request_limit": today})).await;
    expect_error(
        models(new_sk.clone()).await,
        StatusCode::TOO_MANY_REQUESTS,
        "daily_limit_reached",
    )
    .await;
    set_zone("Pacific/Kiritimati").await;
    expect_status(models(new_sk.clone()).await, StatusCode::OK).await;
    let view = key_view(&app, &user, id).await;
    assert_eq!(view["request_today"], 1, "{view}");
    assert_eq!(view["request_total"], 5, "{view}");
    patch(json!({"daily_request_limit": null})).await;

    // The owner's account.
    let user_path = format!("/api/v1/admin/users/{}", user.user_id);
    for (status, expected) in [
        ("disabled", StatusCode::FORBIDDEN),
        ("active", StatusCode::OK),
    ] {
        expect_status(
            app.patch(&user_path, json!({"status": status}), Some(&admin.access))
                .await,
            StatusCode::OK,
        )
        .await;
        let response = models(new_sk.clone()).await;
        if expected == StatusCode::OK {
            expect_status(response, expected).await;
        } else {
            expect_error(response, expected, "account_disabled").await;
        }
    }

    let user = app.login("changing", USER_PASSWORD).await;

    expect_status(
        app.delete(&format!("/api/v1/keys/{id}"), Some(&user.access))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        models(new_sk).await,
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
    )
    .await;
}
