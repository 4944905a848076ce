//! The server's JSON logs as an operator reads them: a relayed request's log line, written by
//! the task that streamed it, carries the request id the client sent and the upstream key,
//! model, outcome and timings.

use std::time::Duration;

use serde_json::{Value, json};

use crate::chats::{add_model, new_chat, openai_key};
use crate::crash::{data_dir, start_with};
use crate::fake_upstream::FakeUpstream;
use crate::helpers::{TestApp, fresh_database};
use crate::smtp_sink::SmtpSink;

#[tokio::test]
async fn a_relayed_request_logs_its_request_id_key_model_status_and_timings() {
    let dir = data_dir();
    let settings = [
        ("CONFAB__LOG__FORMAT", "json"),
        ("CONFAB__LOG__LEVEL", "info"),
    ];
    let (_server, port, mut logs) = start_with(&dir, &fresh_database().await, &settings).await;
    let app = TestApp::at(format!("http://127.0.0.1:{port}"), SmtpSink::start().await);
    let admin = app.setup_admin().await;
    let fake = FakeUpstream::start().await;
    let key_id = openai_key(&app, &admin, "logged", &fake, 0).await;
    add_model(
        &app,
        &admin,
        json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_request": 1}),
    )
    .await;
    let user = app.funded_user(&admin, "traced", 100).await;
    let chat = new_chat(&app, &user).await;
    // A streamed chat message: its usage is recorded by the task that relays the stream.
    let streamed = app
        .client
        .post(app.url(&format!("/api/v1/chats/{chat}/messages")))
        .bearer_auth(&user.access)
        .header("X-Request-Id", "trace-me-42")
        .json(&json!({"content": "hello"}))
        .send()
        .await
        .unwrap();
    assert!(streamed.text().await.unwrap().contains("event: done"));

    let line = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = logs.next_line().await.unwrap() {
            let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if entry["fields"]["message"] == "relayed" {
                return entry;
            }
        }
        panic!("the server's stdout ended");
    })
    .await
    .expect("a relayed line within 10 s");
    assert_eq!(line["span"]["request_id"], "trace-me-42", "{line}");
    let fields = &line["fields"];
    assert_eq!(fields["provider_key_id"], key_id, "{line}");
    assert_eq!(fields["model"], "gpt-4o-mini");
    assert_eq!(fields["status"], "complete");
    assert_eq!(fields["endpoint"], "chat");
    assert!(
        fields["latency_ms"].is_u64() && fields["ttft_ms"].is_u64(),
        "{line}"
    );
    assert_eq!(fields["cost"], 1);
}

/// A client's broken request (an 80 KB URI) is a warning of bounded length, never an error
/// carrying what the client sent; in JSON logs and in text logs.
#[tokio::test]
async fn a_client_error_is_logged_as_a_short_warning() {
    for format in ["json", "text"] {
        let line = broken_request_logged(format).await;
        assert!(
            line.chars().count() <= 310,
            "{format}: {} characters",
            line.len()
        );
        assert!(!line.contains("AAAAAAAAAA"), "{line}");
        assert!(!line.contains("ERROR"), "{line}");
        if format == "json" {
            let entry: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(entry["level"], "WARN", "{line}");
        } else {
            assert!(line.contains("WARN"), "{line}");
        }
    }
}

/// The log line a server logging in `format` writes for a request with an 80 KB URI.
async fn broken_request_logged(format: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = data_dir();
    let settings = [
        ("CONFAB__LOG__FORMAT", format),
        ("CONFAB__LOG__LEVEL", "info"),
    ];
    let (_server, port, mut logs) = start_with(&dir, &fresh_database().await, &settings).await;
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!(
        "GET /api/v1/settings?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "A".repeat(80_000)
    );
    // The server may answer and close before it has read everything.
    let _ = socket.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer)).await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = logs.next_line().await.unwrap() {
            if line.contains("stream error") {
                return line;
            }
        }
        panic!("the server's stdout ended");
    })
    .await
    .expect("the broken request is logged within 10 s")
}
