//! A server killed with SIGKILL mid-stream: after a restart its hold is released once expired,
//! nothing is charged for the lost answer, the ledger still sums to the balance, and the answer
//! is marked interrupted.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::chats::{add_model, messages, new_chat, openai_key, send};
use crate::fake_upstream::{Behavior, FakeUpstream};
use crate::helpers::{JWT_SECRET, TestApp, expect_error, expect_status, fresh_database};
use crate::smtp_sink::SmtpSink;

/// Starts `confab-test-server` on a free port over `data_dir` and `database_url`.
async fn start(data_dir: &Path, database_url: &str) -> (Child, u16) {
    let (child, port, _logs) = start_with(data_dir, database_url, &[]).await;
    (child, port)
}

/// As [`start`], with more settings (`CONFAB__…` variables), answering its log lines too.
pub(crate) async fn start_with(
    data_dir: &Path,
    database_url: &str,
    settings: &[(&str, &str)],
) -> (Child, u16, Lines<BufReader<ChildStdout>>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_confab-test-server"));
    command
        .env("CONFAB__SERVER__PORT", "0")
        .env("CONFAB__SERVER__WORKERS", "2")
        .env("CONFAB__DATA__DIR", data_dir)
        .env("CONFAB__DATABASE__URL", database_url)
        .env("CONFAB__AUTH__JWT_SECRET", JWT_SECRET)
        .env("CONFAB__CREDITS__HOLD_TTL_SECS", "2")
        .env("CONFAB__CREDITS__SWEEP_SECS", "1")
        .env("CONFAB__LOG__LEVEL", "warn")
        .env_remove("RUST_LOG");
    for (name, value) in settings {
        command.env(name, value);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the test server starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let port = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("stdout readable") {
            if let Some(port) = line.strip_prefix("port=") {
                return port.parse::<u16>().expect("a port number");
            }
        }
        panic!("the test server exited before listening");
    })
    .await
    .expect("the test server listens within a minute");
    (child, port, lines)
}

/// A fresh data directory for a server of its own.
pub(crate) fn data_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir()
        .join("confab-tests")
        .join(uuid::Uuid::new_v4().simple().to_string());
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn credits(app: &TestApp, token: &str) -> Value {
    expect_status(
        app.get("/api/v1/credits", Some(token)).await,
        StatusCode::OK,
    )
    .await
}

/// A stream the provider stopped answering mid-way (its first delta already read).
struct Hanging {
    user: crate::helpers::Session,
    chat: i64,
    response: reqwest::Response,
    seen: String,
    /// Kept: dropping it would end the stream.
    fake: FakeUpstream,
}

/// A priced model behind a fake that hangs after two chunks, `username` funded with 1,000
/// credits, and their message streaming.
async fn hanging(app: &TestApp, username: &str) -> Hanging {
    let admin = app.setup_admin().await;
    add_model(
        app,
        &admin,
        json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_1k_prompt_tokens": 1000,
               "price_per_1k_completion_tokens": 1000, "max_output_tokens": 100}),
    )
    .await;
    let fake = FakeUpstream::start().await;
    openai_key(app, &admin, "main", &fake, 0).await;
    let user = app.funded_user(&admin, username, 1000).await;
    let chat = new_chat(app, &user).await;
    fake.behave(Behavior::HangAfterChunks(2));
    let mut response = send(app, &user, chat, json!({"content": "a long story"})).await;
    let mut seen = String::new();
    while !seen.contains("event: delta") {
        seen.push_str(&String::from_utf8_lossy(
            &response.chunk().await.unwrap().unwrap(),
        ));
    }
    Hanging {
        user,
        chat,
        response,
        seen,
        fake,
    }
}

#[tokio::test]
async fn a_killed_server_leaves_a_hold_that_expires_uncharged() {
    let data_dir = data_dir();
    let database_url = fresh_database().await;
    let (mut server, port) = start(&data_dir, &database_url).await;
    let mut app = TestApp::at(format!("http://127.0.0.1:{port}"), SmtpSink::start().await);
    let Hanging {
        user,
        chat,
        response,
        fake: _fake,
        ..
    } = hanging(&app, "unlucky").await;
    assert!(credits(&app, &user.access).await["held"].as_i64().unwrap() > 0);

    server.kill().await.expect("SIGKILL");
    drop(response);
    let (_server, port) = start(&data_dir, &database_url).await;
    app.move_to(format!("http://127.0.0.1:{port}"));

    let mut now = Value::Null;
    for _ in 0..100 {
        now = credits(&app, &user.access).await;
        if now["held"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(now["held"], 0, "the hold was never released: {now}");
    assert_eq!(now["balance"], 1000, "the lost answer was charged: {now}");
    let ledger = expect_status(
        app.get("/api/v1/credits/ledger", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    let sum: i64 = ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, 1000);
    // The answer the dead server was writing ends up interrupted, not streaming for ever.
    let mut status = Value::Null;
    for _ in 0..50 {
        let stored = messages(&app, &user, chat).await;
        status = stored.last().unwrap()["status"].clone();
        if status == "interrupted" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "interrupted");
}

/// Sums a user's ledger (its first page holds everything these tests write).
pub(crate) async fn ledger_sum(app: &TestApp, token: &str) -> i64 {
    let ledger = expect_status(
        app.get("/api/v1/credits/ledger", Some(token)).await,
        StatusCode::OK,
    )
    .await;
    ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["amount"].as_i64().unwrap())
        .sum()
}

#[tokio::test]
async fn sigterm_refuses_new_requests_ends_open_streams_and_leaves_nothing_held() {
    let data_dir = data_dir();
    let database_url = fresh_database().await;
    let grace = [("CONFAB__SERVER__SHUTDOWN_TIMEOUT_SECS", "2")];
    let (mut server, port, _logs) = start_with(&data_dir, &database_url, &grace).await;
    let mut app = TestApp::at(format!("http://127.0.0.1:{port}"), SmtpSink::start().await);
    let Hanging {
        user,
        chat,
        response: mut stream,
        mut seen,
        fake: _fake,
    } = hanging(&app, "drained").await;

    let pid = server.id().expect("the server runs").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    // New requests are refused at once (a moment for the signal to arrive), liveness is not.
    let mut refused = None;
    for _ in 0..100 {
        let response = app.get("/api/v1/me", Some(&user.access)).await;
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            refused = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = refused.expect("never refused after SIGTERM");
    assert_eq!(refused.headers()["connection"], "close");
    expect_error(
        refused,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    expect_error(
        app.get("/readyz", None).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    expect_status(app.get("/healthz", None).await, StatusCode::OK).await;

    // The stream the provider never finishes is ended after the grace period, and the
    // process exits by itself.
    let rest = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(chunk) = stream.chunk().await.unwrap_or(None) {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(rest.is_ok(), "the stream outlived the grace period: {seen}");
    let exited = tokio::time::timeout(Duration::from_secs(15), server.wait())
        .await
        .expect("the server exits after draining")
        .unwrap();
    assert!(exited.success(), "{exited:?}");

    // Restarted: nothing held, the streamed part charged, the answer kept as interrupted.
    let (_server, port, _logs) = start_with(&data_dir, &database_url, &[]).await;
    app.move_to(format!("http://127.0.0.1:{port}"));
    let now = credits(&app, &user.access).await;
    assert_eq!(now["held"], 0, "{now}");
    let balance = now["balance"].as_i64().unwrap();
    assert!((1..1000).contains(&balance), "charged what streamed: {now}");
    assert_eq!(ledger_sum(&app, &user.access).await, balance);
    let stored = messages(&app, &user, chat).await;
    let answer = stored.last().unwrap();
    assert_eq!(answer["status"], "interrupted", "{answer}");
    assert!(!answer["content"].as_str().unwrap().is_empty());
}
