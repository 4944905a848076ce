//! `spawn_app()` starts Confab on 127.0.0.1:0 with a fresh database (SQLite in a temp dir, or a
//! new PostgreSQL database when `CONFAB_TEST_DATABASE_URL` is set) and a real SMTP sink, and
//! returns a client with helpers for the common steps.
#![allow(dead_code)]

use confab_server::{Application, Settings};
use reqwest::{Response, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::smtp_sink::SmtpSink;

/// The signing secret tests use, so they can forge tokens with the right key.
pub const JWT_SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";
pub const ADMIN_PASSWORD: &str = "admin-passphrase-1";
pub const USER_PASSWORD: &str = "user-passphrase-1";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub smtp: SmtpSink,
}

/// A logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: i64,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let smtp = SmtpSink::start().await;
    let mut settings = Settings::defaults().expect("defaults load");
    let data_dir = std::env::temp_dir()
        .join("confab-tests")
        .join(uuid::Uuid::new_v4().simple().to_string());
    std::fs::create_dir_all(&data_dir).expect("temp dir");
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.data.dir = data_dir;
    settings.database.url = fresh_database().await.into();
    settings.database.max_connections = 8;
    settings.auth.jwt_secret = JWT_SECRET.to_owned().into();
    settings.email.smtp_host = "127.0.0.1".into();
    settings.email.smtp_port = smtp.port();
    settings.email.smtp_security = confab_server::config::SmtpSecurity::None;
    settings.log.level = "warn".into();
    adjust(&mut settings);

    let app = Application::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        smtp,
    }
}

/// Empty for the default SQLite file in the data dir; otherwise a new PostgreSQL database.
pub async fn fresh_database() -> String {
    let Ok(base) = std::env::var("CONFAB_TEST_DATABASE_URL") else {
        return String::new();
    };
    let name = format!("confab_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(&base)
        .await
        .expect("connect to CONFAB_TEST_DATABASE_URL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    admin.close().await.ok();
    let (prefix, _) = base.rsplit_once('/').expect("URL has a database name");
    format!("{prefix}/{name}")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Response {
        let mut request = self.client.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    pub async fn put(&self, path: &str, body: Value, token: Option<&str>) -> Response {
        let mut request = self.client.put(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    pub async fn patch(&self, path: &str, body: Value, token: Option<&str>) -> Response {
        let mut request = self.client.patch(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.delete(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// Creates the first admin (`admin`) and logs in.
    pub async fn setup_admin(&self) -> Session {
        let response = self
            .post(
                "/api/v1/setup",
                json!({"username": "admin", "password": ADMIN_PASSWORD, "email": "admin@example.com"}),
                None,
            )
            .await;
        expect_status(response, StatusCode::CREATED).await;
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// Registers `username` (email `<username>@example.com`) and returns its id.
    pub async fn register(&self, username: &str) -> i64 {
        let response = self
            .post(
                "/api/v1/auth/register",
                json!({
                    "username": username,
                    "password": USER_PASSWORD,
                    "email": format!("{username}@example.com"),
                }),
                None,
            )
            .await;
        let body = expect_status(response, StatusCode::CREATED).await;
        body["id"].as_i64().expect("id")
    }

    pub async fn login(&self, username: &str, password: &str) -> Session {
        let response = self
            .post(
                "/api/v1/auth/login",
                json!({"username": username, "password": password}),
                None,
            )
            .await;
        session_of(expect_status(response, StatusCode::OK).await)
    }

    /// Registers and logs in a plain user.
    pub async fn user(&self, username: &str) -> Session {
        self.register(username).await;
        self.login(username, USER_PASSWORD).await
    }

    /// A user with `credits` on their balance (an admin adjustment).
    pub async fn funded_user(&self, admin: &Session, username: &str, credits: i64) -> Session {
        let user = self.user(username).await;
        let response = self
            .post(
                &format!("/api/v1/admin/users/{}/credits", user.user_id),
                json!({"amount": credits, "reason": "test funds"}),
                Some(&admin.access),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "funding {username}");
        user
    }

    pub async fn set_settings(&self, admin: &Session, settings: Value) {
        let response = self
            .put("/api/v1/admin/settings", settings, Some(&admin.access))
            .await;
        expect_status(response, StatusCode::OK).await;
    }

    /// Asks for a code and reads it from the SMTP sink.
    pub async fn emailed_code(&self, email: &str, purpose: &str) -> String {
        let response = self
            .post(
                "/api/v1/auth/verification-codes",
                json!({"email": email, "purpose": purpose}),
                None,
            )
            .await;
        expect_status(response, StatusCode::ACCEPTED).await;
        self.smtp.code_for(email).await
    }
}

pub fn session_of(body: Value) -> Session {
    Session {
        access: body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        refresh: body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned(),
        user_id: body["user"]["id"].as_i64().expect("user.id"),
    }
}

/// Asserts the status and returns the JSON body (Null when empty).
pub async fn expect_status(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

/// Asserts an error answer: status, code, and the full error shape.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = expect_status(response, status).await;
    assert!(
        content_type.starts_with("application/json"),
        "error must be JSON, got {content_type}"
    );
    let error = &body["error"];
    assert_eq!(error["code"], code, "body: {body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(error["type"].is_string(), "body: {body}");
    assert!(error.get("param").is_some(), "body: {body}");
    body
}

/// Everything the process logs from the first call on (every level from `info`, `debug` for
/// Confab's own crates), for tests that check what a log line may never contain.
pub fn captured_logs() -> String {
    static LOGS: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
        std::sync::OnceLock::new();
    let logs = LOGS.get_or_init(|| {
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,confab_server=debug,confab_payments=debug,confab_keys=debug",
            ))
            .with_writer(move || LogSink(sink.clone()))
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        logs
    });
    String::from_utf8_lossy(&logs.lock().unwrap()).into_owned()
}

struct LogSink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
