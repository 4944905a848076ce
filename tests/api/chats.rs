//! Chats, provider keys, the catalog and the OpenAI-compatible API, against fake upstreams
//! speaking each provider's wire format.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fake_upstream::{Behavior, DEFAULT_REPLY, FakeUpstream};
use confab_server::Settings;

use crate::helpers::{Session, TestApp, expect_error, expect_status, spawn_app_with};

/// Short provider timeouts and rests, frequent keep-alives: what the chat tests wait for.
pub(crate) fn chat_settings(settings: &mut Settings) {
    settings.providers.first_byte_timeout_secs = 2;
    settings.providers.idle_timeout_secs = 2;
    settings.providers.request_timeout_secs = 5;
    settings.providers.cooldown_base_ms = 100;
    settings.server.sse_keepalive_ms = 100;
}

pub(crate) async fn app() -> TestApp {
    spawn_app_with(chat_settings).await
}

pub(crate) async fn add_key(app: &TestApp, admin: &Session, body: Value) -> Value {
    expect_status(
        app.post("/api/v1/admin/provider-keys", body, Some(&admin.access))
            .await,
        StatusCode::CREATED,
    )
    .await
}

pub(crate) async fn openai_key(
    app: &TestApp,
    admin: &Session,
    name: &str,
    fake: &FakeUpstream,
    priority: i32,
) -> i64 {
    add_key(
        app,
        admin,
        json!({"name": name, "kind": "openai", "base_url": fake.url, "api_key": format!("sk-{name}-secret-0123456789"),
               "models": ["gpt-4o-mini"], "priority": priority}),
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

pub(crate) async fn add_model(app: &TestApp, admin: &Session, body: Value) -> Value {
    expect_status(
        app.post("/api/v1/admin/models", body, Some(&admin.access))
            .await,
        StatusCode::CREATED,
    )
    .await
}

pub(crate) async fn chat_model(app: &TestApp, admin: &Session) {
    add_model(
        app,
        admin,
        json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_1k_prompt_tokens": 10,
               "price_per_1k_completion_tokens": 30, "context_window": 4096, "max_output_tokens": 1024}),
    )
    .await;
}

pub(crate) async fn new_chat(app: &TestApp, user: &Session) -> i64 {
    new_chat_on(app, user, "gpt-4o-mini").await
}

/// A new chat whose default model is `model`.
pub(crate) async fn new_chat_on(app: &TestApp, user: &Session, model: &str) -> i64 {
    expect_status(
        app.post("/api/v1/chats", json!({"model": model}), Some(&user.access))
            .await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

pub(crate) use confab_tests::soak::sse_events;

pub(crate) async fn send(
    app: &TestApp,
    user: &Session,
    chat: i64,
    body: Value,
) -> reqwest::Response {
    app.post(
        &format!("/api/v1/chats/{chat}/messages"),
        body,
        Some(&user.access),
    )
    .await
}

pub(crate) async fn messages(app: &TestApp, user: &Session, chat: i64) -> Vec<Value> {
    let body = expect_status(
        app.get(
            &format!("/api/v1/chats/{chat}/messages"),
            Some(&user.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    body["items"].as_array().unwrap().clone()
}

/// Usage records are written in the background: wait until `n` exist.
pub(crate) async fn usage_records(
    app: &TestApp,
    admin: &Session,
    query: &str,
    n: usize,
) -> Vec<Value> {
    for _ in 0..100 {
        let body = expect_status(
            app.get(
                &format!("/api/v1/admin/messages?{query}"),
                Some(&admin.access),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        let items = body["items"].as_array().unwrap().clone();
        if items.len() >= n {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!("fewer than {n} usage records for {query}");
}

#[tokio::test]
async fn provider_keys_are_masked_validated_and_checked() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let fake = FakeUpstream::start().await;
    let key = add_key(
        &app,
        &admin,
        json!({"name": "main", "kind": "openai", "base_url": fake.url, "api_key": "sk-proj-abcdefghijklmnop",
               "models": ["gpt-4o-mini"]}),
    )
    .await;
    assert_eq!(key["api_key"], "sk-p…mnop");
    assert_eq!(key["status"], "enabled");
    assert_eq!(key["weight"], 1);
    let listed = expect_status(
        app.get("/api/v1/admin/provider-keys", Some(&admin.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(!listed.to_string().contains("abcdefghijklmnop"));

    let id = key["id"].as_i64().unwrap();
    let check = expect_status(
        app.post(
            &format!("/api/v1/admin/provider-keys/{id}/check"),
            json!({}),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(check["reachable"], true);
    assert!(
        check["models"]
            .as_array()
            .unwrap()
            .contains(&json!("gpt-4o-mini"))
    );
    assert_eq!(check["balance"], 15.5);
    // The secret went upstream decrypted.
    assert_eq!(
        fake.requests()[0].bearer().as_deref(),
        Some("sk-proj-abcdefghijklmnop")
    );

    let stability = FakeUpstream::start().await;
    let stability_key = add_key(
        &app,
        &admin,
        json!({"name": "sd", "kind": "stability", "base_url": stability.url, "api_key": "sk-stability-0123456789", "models": ["sd3"]}),
    )
    .await;
    let check = expect_status(
        app.post(
            &format!("/api/v1/admin/provider-keys/{}/check", stability_key["id"]),
            json!({}),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(check["balance"], 25.5);

    fake.behave(Behavior::Status(401));
    let check = expect_status(
        app.post(
            &format!("/api/v1/admin/provider-keys/{id}/check"),
            json!({}),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(check["reachable"], false);
    assert_eq!(check["error_code"], "upstream_error");
    let key = expect_status(
        app.get(
            &format!("/api/v1/admin/provider-keys/{id}"),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(key["status"], "disabled");
    assert!(key["disabled_reason"].as_str().unwrap().contains("401"));

    // Bad input.
    let bad = app
        .post(
            "/api/v1/admin/provider-keys",
            json!({"name": "x", "kind": "nope", "api_key": "k", "models": ["m"]}),
            Some(&admin.access),
        )
        .await;
    expect_error(bad, StatusCode::BAD_REQUEST, "invalid_body").await;
    let bad = app
        .post(
            "/api/v1/admin/provider-keys",
            json!({"name": "az", "kind": "azure_openai", "api_key": "k", "models": ["m"]}),
            Some(&admin.access),
        )
        .await;
    let body = expect_error(bad, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["param"], "base_url");
    let bad = app
        .post(
            "/api/v1/admin/provider-keys",
            json!({"name": "main", "kind": "openai", "api_key": "k", "models": ["m"]}),
            Some(&admin.access),
        )
        .await;
    expect_error(bad, StatusCode::CONFLICT, "conflict").await;
    let bad = app
        .post(
            "/api/v1/admin/provider-keys",
            json!({"name": "e", "kind": "openai", "api_key": "k", "models": []}),
            Some(&admin.access),
        )
        .await;
    let body = expect_error(bad, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["param"], "models");
    let user = app.funded_user(&admin, "bob", 1_000_000).await;
    let denied = app
        .get("/api/v1/admin/provider-keys", Some(&user.access))
        .await;
    expect_error(denied, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn catalog_lists_models_with_prices() {
    let app = app().await;
    let admin = app.setup_admin().await;
    chat_model(&app, &admin).await;
    let hidden = add_model(
        &app,
        &admin,
        json!({"name": "old", "modality": "chat", "enabled": false}),
    )
    .await;
    let user = app.funded_user(&admin, "carol", 1_000_000).await;
    let list = expect_status(
        app.get("/api/v1/models", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["gpt-4o-mini"]);
    assert_eq!(list["items"][0]["prices"]["per_1k_completion_tokens"], 30);
    let v1 = expect_status(
        app.get("/v1/models", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v1["object"], "list");
    assert_eq!(v1["data"][0]["id"], "gpt-4o-mini");
    assert_eq!(v1["data"][0]["object"], "model");

    let id = hidden["id"].as_i64().unwrap();
    let changed = expect_status(
        app.patch(
            &format!("/api/v1/admin/models/{id}"),
            json!({"enabled": true, "price_per_request": 2}),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["prices"]["per_request"], 2);
    let list = expect_status(
        app.get("/api/v1/models", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);

    let bad = app
        .post(
            "/api/v1/admin/models",
            json!({"name": "gpt-4o-mini", "modality": "chat"}),
            Some(&admin.access),
        )
        .await;
    expect_error(bad, StatusCode::CONFLICT, "conflict").await;
    let bad = app
        .post(
            "/api/v1/admin/models",
            json!({"name": "m2", "modality": "chat", "price_per_request": -1}),
            Some(&admin.access),
        )
        .await;
    expect_error(bad, StatusCode::BAD_REQUEST, "invalid_request").await;
    let bad = app
        .post(
            "/api/v1/admin/models",
            json!({"name": "m3", "modality": "chat", "upstream_names": {"bogus": "x"}}),
            Some(&admin.access),
        )
        .await;
    expect_error(bad, StatusCode::BAD_REQUEST, "invalid_request").await;
    let gone = app
        .delete("/api/v1/admin/models/99999", Some(&admin.access))
        .await;
    expect_error(gone, StatusCode::NOT_FOUND, "model_not_found").await;
}

#[tokio::test]
async fn chats_are_private_renamed_and_soft_deleted() {
    let app = app().await;
    let admin = app.setup_admin().await;
    chat_model(&app, &admin).await;
    let alice = app.funded_user(&admin, "alice", 1_000_000).await;
    let bob = app.funded_user(&admin, "bob", 1_000_000).await;
    let chat = new_chat(&app, &alice).await;
    let renamed = expect_status(
        app.patch(
            &format!("/api/v1/chats/{chat}"),
            json!({"title": "Trip plans"}),
            Some(&alice.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(renamed["title"], "Trip plans");
    for response in [
        app.get(&format!("/api/v1/chats/{chat}"), Some(&bob.access))
            .await,
        app.patch(
            &format!("/api/v1/chats/{chat}"),
            json!({"title": "mine"}),
            Some(&bob.access),
        )
        .await,
        app.delete(&format!("/api/v1/chats/{chat}"), Some(&bob.access))
            .await,
        app.get(&format!("/api/v1/chats/{chat}/messages"), Some(&bob.access))
            .await,
        send(&app, &bob, chat, json!({"content": "hi"})).await,
    ] {
        expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let list = expect_status(
        app.get("/api/v1/chats", Some(&alice.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["total"], 1);
    let bad = app
        .patch(
            &format!("/api/v1/chats/{chat}"),
            json!({"title": ""}),
            Some(&alice.access),
        )
        .await;
    expect_error(bad, StatusCode::BAD_REQUEST, "invalid_request").await;
    let bad = app
        .post(
            "/api/v1/chats",
            json!({"model": "nope"}),
            Some(&alice.access),
        )
        .await;
    expect_error(bad, StatusCode::NOT_FOUND, "model_not_found").await;
    expect_status(
        app.delete(&format!("/api/v1/chats/{chat}"), Some(&alice.access))
            .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let gone = app
        .get(&format!("/api/v1/chats/{chat}"), Some(&alice.access))
        .await;
    expect_error(gone, StatusCode::NOT_FOUND, "not_found").await;
    let list = expect_status(
        app.get("/api/v1/chats", Some(&alice.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn a_message_streams_and_is_stored_with_its_history() {
    let app = app().await;
    let admin = app.setup_admin().await;
    chat_model(&app, &admin).await;
    let fake = FakeUpstream::start().await;
    let key_id = openai_key(&app, &admin, "main", &fake, 0).await;
    let user = app.funded_user(&admin, "dave", 1_000_000).await;
    let chat = new_chat(&app, &user).await;

    let response = send(
        &app,
        &user,
        chat,
        json!({"content": "Hello there", "temperature": 0.5}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = sse_events(&response.text().await.unwrap());
    assert_eq!(events[0].0, "message");
    assert_eq!(events[0].1["user_message"]["content"], "Hello there");
    let answer_id = events[0].1["assistant_message_id"].as_i64().unwrap();
    let deltas: String = events
        .iter()
        .filter(|(name, _)| name == "delta")
        .map(|(_, data)| data["content"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, DEFAULT_REPLY);
    assert!(
        events.iter().filter(|(n, _)| n == "delta").count() > 1,
        "streamed in pieces"
    );
    let (name, done) = events.last().unwrap();
    assert_eq!(name, "done");
    assert_eq!(done["message"]["id"], answer_id);
    assert_eq!(done["message"]["status"], "complete");
    assert_eq!(done["message"]["content"], DEFAULT_REPLY);
    assert_eq!(done["message"]["provider_key_id"], key_id);
    let usage = &done["usage"];
    let prompt = usage["prompt_tokens"].as_i64().unwrap();
    let completion = usage["completion_tokens"].as_i64().unwrap();
    assert!(prompt > 0 && completion > 0);
    // 10 per 1k prompt, 30 per 1k completion, rounded up.
    assert_eq!(
        done["cost"],
        (prompt * 10 + 999) / 1000 + (completion * 30 + 999) / 1000
    );

    let upstream = fake.requests().last().unwrap().json();
    assert_eq!(upstream["model"], "gpt-4o-mini");
    assert_eq!(upstream["stream"], true);
    assert_eq!(upstream["stream_options"]["include_usage"], true);
    assert_eq!(upstream["temperature"], 0.5);

    // The follow-up carries the history along the parent chain.
    let second = send(
        &app,
        &user,
        chat,
        json!({"content": "And again", "stream": false}),
    )
    .await;
    let reply = expect_status(second, StatusCode::OK).await;
    assert_eq!(reply["message"]["content"], DEFAULT_REPLY);
    assert_eq!(reply["user_message"]["parent_id"], answer_id);
    let upstream = fake.requests().last().unwrap().json();
    let roles: Vec<&str> = upstream["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, vec!["user", "assistant", "user"]);

    // Regenerate: a branch from the first question's parent (none) sends only the new text.
    let branch = send(&app, &user, chat, json!({"content": "Hello there", "parent_id": events[0].1["user_message"]["id"], "stream": false})).await;
    let reply = expect_status(branch, StatusCode::OK).await;
    let upstream = fake.requests().last().unwrap().json();
    assert_eq!(upstream["messages"].as_array().unwrap().len(), 2);
    assert_eq!(
        reply["user_message"]["parent_id"],
        events[0].1["user_message"]["id"]
    );

    let stored = messages(&app, &user, chat).await;
    assert_eq!(stored.len(), 6);
    assert!(stored.iter().all(|m| m["status"] == "complete"));
    let answer = &stored[1];
    assert_eq!(answer["role"], "assistant");
    assert_eq!(answer["params"]["temperature"], 0.5);
    assert!(answer["ttft_ms"].is_i64() && answer["total_ms"].is_i64());
    let chat_view = expect_status(
        app.get(&format!("/api/v1/chats/{chat}"), Some(&user.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(chat_view["title"], "Hello there");

    let records = usage_records(&app, &admin, &format!("chat_id={chat}"), 3).await;
    assert!(
        records
            .iter()
            .all(|r| r["status"] == "complete" && r["provider_key_id"] == key_id)
    );
    let key = expect_status(
        app.get(
            &format!("/api/v1/admin/provider-keys/{key_id}"),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(key["request_count"], 3);
}

#[tokio::test]
async fn bad_message_inputs_get_exact_errors() {
    let app = app().await;
    let admin = app.setup_admin().await;
    chat_model(&app, &admin).await;
    let fake = FakeUpstream::start().await;
    openai_key(&app, &admin, "main", &fake, 0).await;
    let user = app.funded_user(&admin, "erin", 1_000_000).await;
    let chat = new_chat(&app, &user).await;
    let cases = [
        (
            json!({"content": "   "}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("content"),
        ),
        (
            json!({"content": "hi", "model": "nope"}),
            StatusCode::NOT_FOUND,
            "model_not_found",
            Some("model"),
        ),
        (
            json!({"content": "hi", "temperature": 2.5}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("temperature"),
        ),
        (
            json!({"content": "hi", "top_p": -0.1}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("top_p"),
        ),
        (
            json!({"content": "hi", "max_tokens": 5000}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("max_tokens"),
        ),
        (
            json!({"content": "hi", "parent_id": 999999}),
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
        (
            json!({"content": "hi", "temperature": "hot"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
            None,
        ),
        (
            json!({"content": "word ".repeat(5000)}),
            StatusCode::BAD_REQUEST,
            "context_length_exceeded",
            Some("messages"),
        ),
    ];
    for (body, status, code, param) in cases {
        let response = send(&app, &user, chat, body.clone()).await;
        let error = expect_error(response, status, code).await;
        if let Some(param) = param {
            assert_eq!(error["error"]["param"], param, "{body}");
        }
    }
    assert_eq!(fake.hits(), 0, "no bad input reaches the provider");
    assert!(
        messages(&app, &user, chat).await.is_empty(),
        "bad input stores nothing"
    );
    let no_key_model = add_model(&app, &admin, json!({"name": "lonely", "modality": "chat"})).await;
    let response = send(
        &app,
        &user,
        chat,
        json!({"content": "hi", "model": no_key_model["name"]}),
    )
    .await;
    expect_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "no_provider_available",
    )
    .await;
}

#[tokio::test]
async fn a_rejected_key_is_disabled_and_the_next_key_answers() {
    let app = app().await;
    let admin = app.setup_admin().await;
    chat_model(&app, &admin).await;
    let bad = FakeUpstream::start().await;
    let good = FakeUpstream::start().await;
    let bad_id = openai_key(&app, &admin, "bad", &bad, 10).await;
    let good_id = openai_key(&app, &admin, "good", &good, 0).await;
    bad.behave(Behavior::Status(401));
    let user = app.funded_user(&admin, "frank", 1_000_000).await;
    let chat = new_chat(&app, &user).await;
    let reply = expect_status(
        send(&app, &user, chat, json!({"content": "hi", "stream": false})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(reply["message"]["provider_key_id"], good_id);
    assert_eq!(bad.hits(), 1);
    let key = expect_status(
        app.get(
            &format!("/api/v1/admin/provider-keys/{bad_id}"),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(key["status"], "disabled");
    // Disabled keys are not tried again.
    expect_status(
        send(
            &app,
            &user,
            chat,
            json!({"content": "again", "stream": false}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(bad.hits(), 1);
    assert_eq!(good.hits(), 2);
}

#[tokio::test]
async fn rate_limited_and_failing_keys_rest_then_return() {
    let app = app().await;
    let admin = app.setup_admin().await;
    chat_model(&app, &admin).await;
    let first = FakeUpstream::start().await;
    let second = FakeUpstream::start().await;
    let first_id = openai_key(&app, &admin, "first", &first, 10).await;
    let second_id = openai_key(&app, &admin, "second", &second, 0).await;
    first.then(Behavior::Status(429));
    let user = app.funded_user(&admin, "gina", 1_000_000).await;
    let chat = new_chat(&app, &user).await;
    let reply = expect_status(
        send(&app, &user, chat, json!({"content": "hi", "stream": false})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(reply["message"]["provider_key_id"], second_id);
    let key = expect_status(
        app.get(
            &format!("/api/v1/admin/provider-keys/{first_id}"),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(key["status"], "enabled");
    assert!(key["cooling_until"].is_string(), "resting after 429: {key}");
    // While it rests the other key serves; after Retry-After (1 s) it is tried again.
    let reply = expect_status(
        send(&app, &user, chat, json!({"content": "hi", "stream": false})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(reply["message"]["provider_key_id"], second_id);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = expect_status(
        send(&app, &user, chat, json!({"content": "hi", "stream": false})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(reply["message"]["provider_key_id"], first_id);

    // Both failing with 500: 502 after trying each once; nothing charged, a failed answer stored.
    first.behave(Behavior::Status(500));
    second.behave(Behavior::Status(500));
    let response = send(
        &app,
        &user,
        chat,
        json!({"content": "fail", "stream": false}),
    )
    .await;
    expect_error(response, StatusCode::BAD_GATEWAY, "upstream_error").await;
    // Now every key rests: 503 with Retry-After (asked at once: the rest is 100 ms here).
    let response = send(
        &app,
        &user,
        chat,
        json!({"content": "fail", "stream": false}),
    )
    .await;
    assert!(response.headers().contains_key("retry-after"));
    expect_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "no_provider_available",
    )
    .await;
    // The 502's answer is stored as failed, and its usage record charged nothing.
    let stored = messages(&app, &user, chat).await;
    let answer = &stored[stored.len() - 3];
    assert_eq!(answer["status"], "failed");
    assert_eq!(answer["error_code"], "upstream_error");
    let records = usage_records(&app, &admin, "status=failed", 1).await;
    assert_eq!(records[0]["cost"], 0);
}

#[tokio::test]
async fn failures_mid_stream_end_with_an_error_event_and_a_failed_message() {
    let app = app().await;
    let admin = app.setup_admin().await;
    chat_model(&app, &admin).await;
    let fake = FakeUpstream::start().await;
    openai_key(&app, &admin, "main", &fake, 0).await;
    let user = app.funded_user(&admin, "hank", 1_000_000).await;
    let chat = new_chat(&app, &user).await;
    for behavior in [Behavior::MalformedChunk(2), Behavior::DropAfterChunks(2)] {
        // Let the key's rest from the previous failure end.
        tokio::time::sleep(Duration::from_millis(150)).await;
        fake.then(behavior.clone());
        let response = send(&app, &user, chat, json!({"content": "go"})).await;
        assert_eq!(response.status(), StatusCode::OK);
        let events = sse_events(&response.text().await.unwrap());
        let (name, data) = events.last().unwrap();
        assert_eq!(name, "error", "{behavior:?}: {events:?}");
        assert_eq!(data["error"]["code"], "upstream_error");
        let stored = messages(&app, &user, chat).await;
        let answer = stored.last().unwrap();
        assert_eq!(answer["status"], "failed", "{behavior:?}");
        assert!(
            !answer["content"].as_str().unwrap().is_empty(),
            "the partial text is kept"
        );
    }
    // Before the first token, the same failure is retried (here on the same, only key after
    // its rest is over would be too slow: a second key answers instead).
    let other = FakeUpstream::start().await;
    openai_key(&app, &admin, "other", &other, -1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    fake.behave(Behavior::DropAfterChunks(0));
    let response = send(
        &app,
        &user,
        chat,
        json!({"content": "retry me", "stream": false}),
    )
    .await;
    let reply = expect_status(response, StatusCode::OK).await;
    assert_eq!(reply["message"]["content"], DEFAULT_REPLY);
}

#[tokio::test]
async fn a_client_that_disconnects_interrupts_the_answer() {
    let app = app().await;
    let admin = app.setup_admin().await;
    chat_model(&app, &admin).await;
    let fake = FakeUpstream::start().await;
    openai_key(&app, &admin, "main", &fake, 0).await;
    let user = app.funded_user(&admin, "ivy", 1_000_000).await;
    let chat = new_chat(&app, &user).await;
    fake.then(Behavior::HangAfterChunks(2));
    let mut response = send(&app, &user, chat, json!({"content": "long story"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut seen = String::new();
    while !seen.contains("event: delta") {
        seen.push_str(&String::from_utf8_lossy(
            &response.chunk().await.unwrap().unwrap(),
        ));
    }
    drop(response);
    for _ in 0..100 {
        let stored = messages(&app, &user, chat).await;
        if stored.last().unwrap()["status"] == "interrupted" {
            let answer = stored.last().unwrap();
            assert!(!answer["content"].as_str().unwrap().is_empty());
            assert!(answer["completion_tokens"].as_i64().unwrap() > 0);
            let records = usage_records(&app, &admin, "status=interrupted", 1).await;
            assert_eq!(records[0]["chat_id"], chat);
            return;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!("the answer was never marked interrupted");
}

#[tokio::test]
async fn ollama_and_azure_speak_their_own_wire_formats() {
    let app = app().await;
    let admin = app.setup_admin().await;
    add_model(
        &app,
        &admin,
        json!({"name": "qwen2.5-7b", "modality": "chat", "upstream_names": {"ollama": "qwen2.5:7b"}}),
    )
    .await;
    chat_model(&app, &admin).await;
    let ollama = FakeUpstream::start().await;
    let azure = FakeUpstream::start().await;
    add_key(&app, &admin, json!({"name": "local", "kind": "ollama", "base_url": ollama.url, "api_key": "proxy-token-123", "models": ["qwen2.5-7b"]})).await;
    add_key(
        &app,
        &admin,
        json!({"name": "az", "kind": "azure_openai", "base_url": azure.url, "api_key": "azure-secret-0123456789",
               "api_version": "2024-10-21", "models": ["gpt-4o-mini"], "deployments": {"gpt-4o-mini": "chat-deploy"}}),
    )
    .await;
    let user = app.funded_user(&admin, "jack", 1_000_000).await;
    let chat = new_chat(&app, &user).await;

    let response = send(
        &app,
        &user,
        chat,
        json!({"content": "ni hao", "model": "qwen2.5-7b", "max_tokens": 100}),
    )
    .await;
    let events = sse_events(&response.text().await.unwrap());
    let (name, done) = events.last().unwrap();
    assert_eq!(name, "done", "{events:?}");
    assert_eq!(done["message"]["content"], DEFAULT_REPLY);
    let sent = ollama.requests().last().unwrap().clone();
    assert_eq!(sent.path, "/api/chat");
    let body = sent.json();
    assert_eq!(body["model"], "qwen2.5:7b");
    assert_eq!(body["options"]["num_predict"], 100);
    // Counts come from Ollama's prompt_eval_count / eval_count.
    assert_eq!(
        done["usage"]["prompt_tokens"],
        crate::fake_upstream::prompt_tokens_for(&body)
    );

    let response = send(
        &app,
        &user,
        chat,
        json!({"content": "hello", "model": "gpt-4o-mini"}),
    )
    .await;
    let events = sse_events(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap().0, "done", "{events:?}");
    let sent = azure.requests().last().unwrap().clone();
    assert_eq!(
        sent.path,
        "/openai/deployments/chat-deploy/chat/completions"
    );
    assert!(sent.query.contains("api-version=2024-10-21"));
    assert_eq!(sent.header("api-key"), Some("azure-secret-0123456789"));
    assert!(sent.header("authorization").is_none());
}

#[tokio::test]
async fn the_openai_compatible_api_speaks_openais_shapes() {
    let app = app().await;
    let admin = app.setup_admin().await;
    chat_model(&app, &admin).await;
    let fake = FakeUpstream::start().await;
    let key_id = openai_key(&app, &admin, "main", &fake, 0).await;
    let user = app.funded_user(&admin, "kate", 1_000_000).await;

    let body = expect_status(
        app.post(
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
                  "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}),
            Some(&user.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["choices"][0]["message"]["content"], DEFAULT_REPLY);
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["usage"]["total_tokens"].as_i64().unwrap() > 0);
    let upstream = fake.requests().last().unwrap().json();
    assert_eq!(
        upstream["tools"][0]["function"]["name"], "f",
        "unknown fields pass through"
    );

    let response = app
        .post(
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
               "stream": true, "stream_options": {"include_usage": true}}),
            Some(&user.access),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let chunks: Vec<Value> = text
        .split("\n\n")
        .filter_map(|b| b.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk" && c["model"] == "gpt-4o-mini")
    );
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, DEFAULT_REPLY);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert!(last["usage"]["completion_tokens"].as_i64().unwrap() > 0);
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop")
    );

    // Without include_usage there is no usage chunk (but the provider was still asked for it).
    let response = app
        .post("/v1/chat/completions", json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": true}), Some(&user.access))
        .await;
    let text = response.text().await.unwrap();
    assert!(!text.contains("\"usage\""), "{text}");
    assert_eq!(
        fake.requests().last().unwrap().json()["stream_options"]["include_usage"],
        true
    );

    let cases = [
        (
            json!({"messages": [{"role": "user", "content": "hi"}]}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "model",
        ),
        (
            json!({"model": "nope", "messages": [{"role": "user", "content": "hi"}]}),
            StatusCode::NOT_FOUND,
            "model_not_found",
            "model",
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": []}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "messages",
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "hi"}]}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "messages",
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "n": 3}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "n",
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 7}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "temperature",
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": 7}]}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "messages",
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": [{"role": "assistant", "content": null, "tool_calls": {}}]}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "messages",
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stop": 7}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "stop",
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stop": ["a", "b", "c", "d", "e"]}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "stop",
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "seed": 1e30}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "seed",
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream_options": [true]}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "stream_options",
        ),
        (
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": "yes"}}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "stream_options",
        ),
    ];
    for (body, status, code, param) in cases {
        let error = expect_error(
            app.post("/v1/chat/completions", body.clone(), Some(&user.access))
                .await,
            status,
            code,
        )
        .await;
        assert_eq!(error["error"]["param"], param, "{body}");
    }
    let unauthenticated = app
        .post(
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": []}),
            None,
        )
        .await;
    expect_error(unauthenticated, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // JSON Schema counts 2.0 as an integer, and so does the server.
    let whole = app
        .post(
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2.0}),
            Some(&user.access),
        )
        .await;
    expect_status(whole, StatusCode::OK).await;

    let records = usage_records(&app, &admin, "endpoint=completions", 4).await;
    assert!(
        records
            .iter()
            .all(|r| r["provider_key_id"] == key_id && r["status"] == "complete")
    );
}

#[tokio::test]
async fn a_hanging_provider_times_out_with_504() {
    let app = app().await;
    let admin = app.setup_admin().await;
    chat_model(&app, &admin).await;
    let fake = FakeUpstream::start().await;
    openai_key(&app, &admin, "main", &fake, 0).await;
    fake.behave(Behavior::Hang);
    let user = app.funded_user(&admin, "liam", 1_000_000).await;
    let response = app
        .post("/v1/chat/completions", json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": true}), Some(&user.access))
        .await;
    expect_error(response, StatusCode::GATEWAY_TIMEOUT, "upstream_timeout").await;
}
