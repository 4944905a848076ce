//! Limits that must hold however many instances serve the site: the verification-code resend
//! cooldown, the per-address login limit, a provider key's daily token limit and its failure
//! streak (whose length sets the backoff). Each runs on one instance and on a pair sharing
//! PostgreSQL and Redis (skipped on SQLite, or without a redis-server).

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chats::{add_key, add_model, chat_settings};
use crate::fake_upstream::{Behavior, FakeUpstream};
use crate::helpers::{
    Session, TestApp, expect_error, expect_status, spawn_app, spawn_app_with, spawn_pair,
    spawn_pair_with,
};

/// Ten requests at once for a code to one address: one is sent, the rest wait the cooldown.
async fn a_burst_of_code_requests_sends_one_code_on(app: TestApp) {
    app.register("eager").await;
    let answers = join_all((0..10).map(|_| {
        app.post(
            "/api/v1/auth/verification-codes",
            json!({"email": "eager@example.com", "purpose": "login"}),
            None,
        )
    }))
    .await;
    let mut accepted = 0;
    for response in answers {
        if response.status() == StatusCode::ACCEPTED {
            accepted += 1;
            continue;
        }
        let wait: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        expect_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
    assert_eq!(accepted, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.smtp.messages().len(), 1);
}

#[tokio::test]
async fn a_burst_of_code_requests_sends_one_code() {
    a_burst_of_code_requests_sends_one_code_on(spawn_app().await).await;
}

#[tokio::test]
async fn a_burst_of_code_requests_over_two_instances_sends_one_code() {
    let Some(app) = spawn_pair().await else {
        return;
    };
    a_burst_of_code_requests_sends_one_code_on(app).await;
}

/// Thirty wrong passwords at once from one address, each for another name (so no account
/// limit applies): the address's twenty are checked, the rest refused.
async fn the_address_login_limit_holds_on(app: TestApp) {
    let answers = join_all((0..30).map(|n| {
        app.post(
            "/api/v1/auth/login",
            json!({"username": format!("nobody{n}"), "password": "a wrong password"}),
            None,
        )
    }))
    .await;
    let mut checked = 0;
    for response in answers {
        match response.status() {
            StatusCode::UNAUTHORIZED => {
                checked += 1;
                expect_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
            }
            _ => {
                expect_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
            }
        }
    }
    assert_eq!(checked, 20);
}

#[tokio::test]
async fn the_address_login_limit_holds_on_one_instance() {
    the_address_login_limit_holds_on(spawn_app().await).await;
}

#[tokio::test]
async fn the_address_login_limit_holds_across_two_instances() {
    let Some(app) = spawn_pair().await else {
        return;
    };
    the_address_login_limit_holds_on(app).await;
}

/// A preferred provider key with limits, a spare, and who uses them.
struct Keys {
    admin: Session,
    user: Session,
    key_id: i64,
    limited: FakeUpstream,
    spare: FakeUpstream,
}

/// A preferred key `limited` (set up by `limits`) and a spare, both serving gpt-4o-mini at one
/// credit a request; a funded user every instance lists the model for.
async fn preferred_and_spare(app: &TestApp, limits: Value) -> Keys {
    let admin = app.setup_admin().await;
    let (limited, spare) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let mut key = json!({"name": "limited", "kind": "openai", "base_url": limited.url,
        "api_key": "sk-limited-0123456789", "models": ["gpt-4o-mini"], "priority": 10});
    key.as_object_mut()
        .unwrap()
        .extend(limits.as_object().unwrap().clone());
    let key_id = add_key(app, &admin, key).await["id"].as_i64().unwrap();
    add_key(
        app,
        &admin,
        json!({"name": "spare", "kind": "openai", "base_url": spare.url,
               "api_key": "sk-spare-0123456789", "models": ["gpt-4o-mini"]}),
    )
    .await;
    add_model(
        app,
        &admin,
        json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_request": 1}),
    )
    .await;
    let user = app.funded_user(&admin, "steady", 100).await;
    app.until_every_instance_lists(&user, "gpt-4o-mini").await;
    Keys {
        admin,
        user,
        key_id,
        limited,
        spare,
    }
}

/// A completion of 9 tokens by the fake's count (4 for the prompt, 5 for its reply).
async fn complete(app: &TestApp, user: &Session) {
    let answer = expect_status(
        app.post(
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
            Some(&user.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answer["usage"]["total_tokens"], 9, "{answer}");
}

/// The key as `app` sees it, once `ready` says it is as expected (within five seconds).
async fn key_once(app: &TestApp, admin: &Session, key_id: i64, ready: fn(&Value) -> bool) -> Value {
    let path = format!("/api/v1/admin/provider-keys/{key_id}");
    for _ in 0..100 {
        let key = expect_status(app.get(&path, Some(&admin.access)).await, StatusCode::OK).await;
        if ready(&key) {
            return key;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("key {key_id} never got as expected");
}

/// A daily limit of 18 tokens: the first instance's request and the second's use it up
/// together (9 each), after which both send everything to the spare.
async fn a_daily_token_limit_counts_every_instance_on(app: TestApp) {
    let limit = json!({"daily_token_limit": 18});
    let Keys {
        admin,
        user,
        key_id,
        limited,
        spare,
    } = preferred_and_spare(&app, limit).await;
    let instances = app.instances();
    complete(&app.only(0), &user).await;
    complete(&app.only(instances - 1), &user).await;
    assert_eq!((limited.hits(), spare.hits()), (2, 0));
    for index in 0..instances {
        // Used up for the day on every instance: it rests until the day ends.
        let key = key_once(&app.only(index), &admin, key_id, |k| {
            k["cooling_until"].is_string()
        })
        .await;
        let until: chrono::DateTime<chrono::Utc> =
            key["cooling_until"].as_str().unwrap().parse().unwrap();
        assert_eq!(until.timestamp().rem_euclid(86_400), 0, "{key}");
        complete(&app.only(index), &user).await;
    }
    assert_eq!((limited.hits(), spare.hits()), (2, instances));
}

#[tokio::test]
async fn a_daily_token_limit_holds_on_one_instance() {
    a_daily_token_limit_counts_every_instance_on(spawn_app_with(chat_settings).await).await;
}

#[tokio::test]
async fn a_daily_token_limit_counts_every_instance() {
    let Some(app) = spawn_pair_with(chat_settings).await else {
        return;
    };
    a_daily_token_limit_counts_every_instance_on(app).await;
}

/// A key that fails on one instance, then (once rested) on the other: the second failure is
/// the streak's second, so the key rests twice as long, on both.
#[tokio::test]
async fn a_failure_streak_spans_instances() {
    let Some(app) = spawn_pair_with(|settings| {
        chat_settings(settings);
        settings.providers.cooldown_base_ms = 1500;
    })
    .await
    else {
        return;
    };
    let Keys {
        admin,
        user,
        key_id,
        limited,
        spare,
    } = preferred_and_spare(&app, json!({})).await;
    limited.behave(Behavior::Status(500));
    complete(&app.only(0), &user).await;
    // Rested 1.5 s (the first failure) on both; once that is over the second instance tries it.
    key_once(&app.only(1), &admin, key_id, |k| {
        k["cooling_until"].is_string()
    })
    .await;
    key_once(&app.only(1), &admin, key_id, |k| {
        k["cooling_until"].is_null()
    })
    .await;
    complete(&app.only(1), &user).await;
    assert_eq!((limited.hits(), spare.hits()), (2, 2));
    let key = key_once(&app.only(1), &admin, key_id, |k| {
        k["cooling_until"].is_string()
    })
    .await;
    let until: chrono::DateTime<chrono::Utc> =
        key["cooling_until"].as_str().unwrap().parse().unwrap();
    let rest = until - chrono::Utc::now();
    // 3 s for the streak's second failure (1.5 s, were it counted alone), less the time since.
    assert!(
        rest > chrono::Duration::milliseconds(2200),
        "rests only {rest}"
    );
}
