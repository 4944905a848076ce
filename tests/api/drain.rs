//! The drain covers every request that holds credits, not only streams: a real SIGTERM to a
//! child server while a non-streamed completion, a stream, an image generation and a chat turn
//! without streaming are at their provider. Those that finish inside the grace period are
//! answered and charged in full; one the provider never answers is cut at the end of it, answered
//! 503 and released, with nothing left for the sweeper (holds here would expire only after an
//! hour).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::chats::{add_key, add_model, usage_records};
use crate::crash::{data_dir, start_with};
use crate::fake_upstream::{Behavior, FakeUpstream};
use crate::helpers::{Session, TestApp, expect_error, expect_status, fresh_database};
use crate::smtp_sink::SmtpSink;

/// Holds outlive the test: whatever is released was released by the drain.
const SETTINGS: [(&str, &str); 3] = [
    ("CONFAB__SERVER__SHUTDOWN_TIMEOUT_SECS", "4"),
    ("CONFAB__CREDITS__HOLD_TTL_SECS", "3600"),
    ("CONFAB__CREDITS__SWEEP_SECS", "3600"),
];

/// A priced model served only by its own fake, which behaves as told.
async fn model_on_own_fake(
    app: &TestApp,
    admin: &Session,
    name: &str,
    modality: &str,
    behavior: Behavior,
) -> FakeUpstream {
    let prices = if modality == "image" {
        json!({"name": name, "modality": "image", "price_per_image": 40})
    } else {
        json!({"name": name, "modality": "chat", "price_per_1k_prompt_tokens": 1000,
               "price_per_1k_completion_tokens": 1000, "max_output_tokens": 100})
    };
    add_model(app, admin, prices).await;
    let fake = FakeUpstream::start().await;
    fake.behave(behavior);
    add_key(
        app,
        admin,
        json!({"name": name, "kind": "openai", "base_url": fake.url,
               "api_key": format!("sk-{name}-0123456789"), "models": [name]}),
    )
    .await;
    fake
}

fn completion(app: &TestApp, user: &Session, model: &str, stream: bool) -> reqwest::RequestBuilder {
    app.client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&user.access)
        .json(&json!({"model": model, "stream": stream,
                      "messages": [{"role": "user", "content": "tell me a story"}]}))
}

async fn until_hit(fake: &FakeUpstream) {
    for _ in 0..200 {
        if fake.hits() > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the request never reached its provider");
}

#[tokio::test]
async fn sigterm_lets_every_request_holding_credits_finish_and_settles_what_it_cuts() {
    let data_dir = data_dir();
    let database_url = fresh_database().await;
    let (mut server, port, _logs) = start_with(&data_dir, &database_url, &SETTINGS).await;
    let mut app = TestApp::at(format!("http://127.0.0.1:{port}"), SmtpSink::start().await);
    let admin = app.setup_admin().await;
    let pause = Duration::from_millis(1500);
    let slow = model_on_own_fake(&app, &admin, "slow", "chat", Behavior::Delay(pause)).await;
    let paused = Behavior::PauseAfterChunks(1, pause);
    let _streamed = model_on_own_fake(&app, &admin, "paused", "chat", paused).await;
    let painter =
        model_on_own_fake(&app, &admin, "dall-e-3", "image", Behavior::Delay(pause)).await;
    let talker = model_on_own_fake(&app, &admin, "talker", "chat", Behavior::Delay(pause)).await;
    let hung = model_on_own_fake(&app, &admin, "hung", "chat", Behavior::Hang).await;
    let stalled = Behavior::HangAfterChunks(1);
    let _stalled = model_on_own_fake(&app, &admin, "stalled", "chat", stalled).await;
    let user = app.funded_user(&admin, "drained", 100_000).await;
    let chat = crate::chats::new_chat_on(&app, &user, "talker").await;

    let plain = tokio::spawn(completion(&app, &user, "slow", false).send());
    let mut stream = completion(&app, &user, "paused", true)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let mut seen = String::new();
    while !seen.contains("\"content\"") {
        seen.push_str(&String::from_utf8_lossy(
            &stream.chunk().await.unwrap().unwrap(),
        ));
    }
    let image = tokio::spawn(
        app.client
            .post(app.url("/v1/images/generations"))
            .bearer_auth(&user.access)
            .json(&json!({"model": "dall-e-3", "prompt": "a lighthouse"}))
            .send(),
    );
    let turn = tokio::spawn(
        app.client
            .post(app.url(&format!("/api/v1/chats/{chat}/messages")))
            .bearer_auth(&user.access)
            .json(&json!({"content": "hello", "model": "talker", "stream": false}))
            .send(),
    );
    let cut = tokio::spawn(completion(&app, &user, "hung", false).send());
    let mut stalled = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&user.access)
        .json(
            &json!({"model": "stalled", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "tell me a story"}]}),
        )
        .send()
        .await
        .unwrap();
    let mut stalled_seen = String::new();
    while stalled_seen.matches("\"content\"").count() < 2 {
        stalled_seen.push_str(&String::from_utf8_lossy(
            &stalled.chunk().await.unwrap().unwrap(),
        ));
    }
    for fake in [&slow, &painter, &talker, &hung] {
        until_hit(fake).await;
    }

    let pid = server.id().expect("the server runs").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());

    // Inside the grace period: answered in full.
    let plain = expect_status(plain.await.unwrap().unwrap(), StatusCode::OK).await;
    assert!(
        !plain["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    while let Some(chunk) = stream.chunk().await.unwrap() {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"finish_reason\":\"stop\""), "{seen}");
    assert!(seen.trim_end().ends_with("data: [DONE]"), "{seen}");
    let image = expect_status(image.await.unwrap().unwrap(), StatusCode::OK).await;
    assert_eq!(image["data"].as_array().unwrap().len(), 1);
    let turn = expect_status(turn.await.unwrap().unwrap(), StatusCode::OK).await;
    assert_eq!(turn["message"]["status"], "complete", "{turn}");
    assert!(turn["cost"].as_i64().unwrap() > 0, "{turn}");
    // Past it: cut, and told to try again (elsewhere).
    let cut = cut.await.unwrap().unwrap();
    expect_error(cut, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    // A stream cut there: its usage (it is charged), then the error, and no [DONE].
    while let Some(chunk) = stalled.chunk().await.unwrap() {
        stalled_seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let frames = crate::cut_streams::data_frames(&stalled_seen);
    let n = frames.len();
    assert_eq!(
        frames[n - 1]["error"]["code"],
        "service_unavailable",
        "{stalled_seen}"
    );
    assert!(
        frames[n - 2]["usage"]["completion_tokens"]
            .as_i64()
            .unwrap()
            > 0,
        "{stalled_seen}"
    );
    assert!(!stalled_seen.contains("[DONE]"), "{stalled_seen}");
    let exited = tokio::time::timeout(Duration::from_secs(20), server.wait())
        .await
        .expect("the server exits after draining")
        .unwrap();
    assert!(exited.success(), "{exited:?}");

    let (_server, port, _logs) = start_with(&data_dir, &database_url, &SETTINGS).await;
    app.move_to(format!("http://127.0.0.1:{port}"));
    let records = usage_records(&app, &admin, "status=complete", 4).await;
    assert_eq!(records.len(), 4, "{records:?}");
    assert!(
        records.iter().all(|r| r["cost"].as_i64().unwrap() > 0),
        "{records:?}"
    );
    let interrupted = usage_records(&app, &admin, "model=stalled", 1).await;
    assert_eq!(interrupted[0]["status"], "interrupted");
    let charged_stalled = interrupted[0]["cost"].as_i64().unwrap();
    assert!(charged_stalled > 0);
    let failed = usage_records(&app, &admin, "model=hung", 1).await;
    assert_eq!(failed[0]["status"], "failed");
    assert_eq!(failed[0]["error_code"], "service_unavailable");
    assert_eq!(failed[0]["cost"], 0);
    let charged: i64 = records
        .iter()
        .map(|r| r["cost"].as_i64().unwrap())
        .sum::<i64>()
        + charged_stalled;
    let credits = expect_status(
        app.get("/api/v1/credits", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        credits["held"], 0,
        "settled by the drain, not the sweeper: {credits}"
    );
    assert_eq!(credits["balance"], 100_000 - charged, "{credits}");
    let sum = crate::crash::ledger_sum(&app, &user.access).await;
    assert_eq!(sum, 100_000 - charged);
}
