//! A `/v1` stream Confab cannot finish ends the way OpenAI's API reports a failed stream: the
//! usage chunk when the client asked for it (what was generated is charged), then an error
//! object, and no `[DONE]`, so no client takes a truncated answer for a complete one. A complete
//! stream ends with its finish reason, its usage (if asked for) and `[DONE]`. The drain's cut
//! is checked in `drain.rs`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chats::{add_model, chat_settings, openai_key, usage_records};
use crate::fake_upstream::{Behavior, FakeUpstream};
use crate::helpers::{Session, TestApp, expect_status, spawn_app_with};

/// The `data:` payloads of an OpenAI stream, in order (`[DONE]` as a string).
pub(crate) fn data_frames(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|frame| frame.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap_or_else(|_| Value::String(data.to_owned())))
        .collect()
}

/// One stream's frames; first waits out the rest a failed stream gives the only key.
async fn streamed(app: &TestApp, user: &Session, include_usage: bool) -> Vec<Value> {
    for _ in 0..200 {
        let response = app
            .post(
                "/v1/chat/completions",
                json!({"model": "gpt-4o-mini", "stream": true,
                       "stream_options": {"include_usage": include_usage},
                       "messages": [{"role": "user", "content": "tell me a story"}]}),
                Some(&user.access),
            )
            .await;
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        }
        assert_eq!(response.status(), StatusCode::OK);
        return data_frames(&response.text().await.unwrap());
    }
    panic!("the key never came back from its rest");
}

#[tokio::test]
async fn every_way_a_stream_is_cut_ends_with_an_error_and_no_done() {
    let app = spawn_app_with(|settings| {
        chat_settings(settings);
        // A cut stream rests the only key: barely, so the next request finds it back.
        settings.providers.cooldown_base_ms = 1;
    })
    .await;
    let admin = app.setup_admin().await;
    add_model(
        &app,
        &admin,
        json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_1k_prompt_tokens": 1000,
               "price_per_1k_completion_tokens": 1000, "max_output_tokens": 100}),
    )
    .await;
    let fake = FakeUpstream::start().await;
    openai_key(&app, &admin, "main", &fake, 0).await;
    let user = app.funded_user(&admin, "reader", 100_000).await;

    let cuts = [
        (Behavior::DropAfterChunks(2), "upstream_error"),
        (Behavior::MalformedChunk(2), "upstream_error"),
        // Silent past providers.idle_timeout_secs (2 s here).
        (Behavior::HangAfterChunks(2), "upstream_timeout"),
    ];
    for (behavior, code) in &cuts {
        for include_usage in [true, false] {
            fake.behave(behavior.clone());
            let frames = streamed(&app, &user, include_usage).await;
            let last = frames.last().unwrap();
            assert_eq!(last["error"]["code"], *code, "{behavior:?}: {frames:?}");
            assert!(
                !frames.contains(&json!("[DONE]")),
                "{behavior:?}: {frames:?}"
            );
            assert!(
                frames
                    .iter()
                    .all(|f| f["choices"][0]["finish_reason"].is_null()),
                "{behavior:?}: {frames:?}"
            );
            let deltas = frames
                .iter()
                .filter(|f| f["choices"][0]["delta"]["content"].is_string());
            assert_eq!(
                deltas.count(),
                1 + 2,
                "the role chunk and two deltas: {frames:?}"
            );
            let usage = &frames[frames.len() - 2]["usage"];
            assert_eq!(usage.is_object(), include_usage, "{behavior:?}: {frames:?}");
            if include_usage {
                assert!(usage["completion_tokens"].as_i64().unwrap() > 0, "{usage}");
            }
        }
    }

    // Complete: the finish reason, the usage, then [DONE].
    fake.behave(Behavior::Ok);
    let frames = streamed(&app, &user, true).await;
    let n = frames.len();
    assert_eq!(frames[n - 1], json!("[DONE]"));
    assert!(frames[n - 2]["usage"]["total_tokens"].as_i64().unwrap() > 0);
    assert_eq!(frames[n - 3]["choices"][0]["finish_reason"], "stop");

    // What each cut stream generated was charged, and recorded as failed.
    // (Requests refused while the key rested are failed records too, with nothing charged.)
    let failed = usage_records(&app, &admin, "status=failed&page_size=100", 6).await;
    let cut: Vec<&Value> = failed
        .iter()
        .filter(|r| r["error_code"] != "no_provider_available")
        .collect();
    assert_eq!(cut.len(), 6, "{failed:?}");
    assert!(
        cut.iter().all(|r| r["cost"].as_i64().unwrap() > 0),
        "{cut:?}"
    );
    let credits = expect_status(
        app.get("/api/v1/credits", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(credits["held"], 0);
}
