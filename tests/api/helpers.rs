//! `spawn_app()` starts Confab on 127.0.0.1:0 with a fresh database (SQLite in a temp dir, or a
//! new PostgreSQL database when `CONFAB_TEST_DATABASE_URL` is set) and a real SMTP sink, and
//! returns a client with helpers for the common steps.
#![allow(dead_code)]

use confab_server::{Application, Settings};
use reqwest::{Response, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::redis_server::RedisServer;
use crate::smtp_sink::SmtpSink;

/// The signing secret tests use, so they can forge tokens with the right key.
pub const JWT_SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";
pub const ADMIN_PASSWORD: &str = "admin-passphrase-1";
pub const USER_PASSWORD: &str = "user-passphrase-1";

pub struct TestApp {
    /// The first instance's base URL.
    pub address: String,
    /// Every instance's base URL: requests go to each in turn (one, unless spawned as a pair).
    pub addresses: Vec<String>,
    next: std::sync::atomic::AtomicUsize,
    pub client: reqwest::Client,
    pub smtp: SmtpSink,
    /// The Redis the instances share, if any.
    pub redis: Option<std::sync::Arc<RedisServer>>,
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
    spawn_app_on(fresh_database().await, adjust).await
}

/// One instance on `database_url` (made by [`fresh_database`]), as `adjust` sets it up.
pub async fn spawn_app_on(database_url: String, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let smtp = SmtpSink::start().await;
    let settings = test_settings(&smtp, database_url, adjust);
    let address = start(settings).await;
    TestApp::of(vec![address], smtp, None)
}

/// Builds an instance on `database_url` without serving it: for what refuses to start.
pub async fn build_on(
    database_url: String,
    adjust: impl FnOnce(&mut Settings),
) -> Result<Application, confab_server::startup::StartupError> {
    let smtp = SmtpSink::start().await;
    Application::build(test_settings(&smtp, database_url, adjust)).await
}

/// One instance with a Redis of its own (as a deployment of several would have), or `None`
/// when there is no redis-server here (see [`RedisServer::start`]).
pub async fn spawn_app_with_redis(adjust: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    let redis = std::sync::Arc::new(RedisServer::start()?);
    let smtp = SmtpSink::start().await;
    let mut settings = test_settings(&smtp, fresh_database().await, adjust);
    settings.redis.url = redis.url().into();
    let address = start(settings).await;
    Some(TestApp::of(vec![address], smtp, Some(redis)))
}

/// Two instances on one PostgreSQL database, one Redis and one data directory (a shared
/// volume), every request going to the other one than the last. `None` (said why) on SQLite,
/// which is one instance by design, or without a redis-server.
pub async fn spawn_pair_with(adjust: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    if std::env::var("CONFAB_TEST_DATABASE_URL").is_err() {
        eprintln!("skipped here: two instances share PostgreSQL (set CONFAB_TEST_DATABASE_URL)");
        return None;
    }
    let redis = std::sync::Arc::new(RedisServer::start()?);
    let smtp = SmtpSink::start().await;
    let mut settings = test_settings(&smtp, fresh_database().await, adjust);
    settings.redis.url = redis.url().into();
    let first = start(settings.clone()).await;
    let second = start(settings).await;
    Some(TestApp::of(vec![first, second], smtp, Some(redis)))
}

pub async fn spawn_pair() -> Option<TestApp> {
    spawn_pair_with(|_| {}).await
}

/// The settings every test app starts from: port 0, a fresh data directory, the test secret,
/// the SMTP sink, quiet logs; then `adjust`.
fn test_settings(
    smtp: &SmtpSink,
    database_url: String,
    adjust: impl FnOnce(&mut Settings),
) -> Settings {
    let mut settings = Settings::defaults().expect("defaults load");
    let data_dir = std::env::temp_dir()
        .join("confab-tests")
        .join(uuid::Uuid::new_v4().simple().to_string());
    std::fs::create_dir_all(&data_dir).expect("temp dir");
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.data.dir = data_dir;
    settings.database.url = database_url.into();
    settings.database.max_connections = 8;
    settings.auth.jwt_secret = JWT_SECRET.to_owned().into();
    settings.email.smtp_host = "127.0.0.1".into();
    settings.email.smtp_port = smtp.port();
    settings.email.smtp_security = confab_server::config::SmtpSecurity::None;
    settings.log.level = "warn".into();
    adjust(&mut settings);
    if let Ok(filter) = std::env::var("TEST_LOG") {
        settings.log.level = if filter == "1" { "info".into() } else { filter };
        // The first app of the process installs the subscriber; later calls keep it.
        confab_server::telemetry::init(&settings.log);
    }
    settings
}

/// Builds and serves one instance; answers its base URL.
async fn start(settings: Settings) -> String {
    let app = Application::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
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
    fn of(
        addresses: Vec<String>,
        smtp: SmtpSink,
        redis: Option<std::sync::Arc<RedisServer>>,
    ) -> Self {
        Self {
            address: addresses[0].clone(),
            addresses,
            next: std::sync::atomic::AtomicUsize::new(0),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            smtp,
            redis,
        }
    }

    /// A client for a server started elsewhere (e.g. as a child process).
    pub fn at(address: String, smtp: SmtpSink) -> Self {
        Self::of(vec![address], smtp, None)
    }

    /// Points the client at a restarted server.
    pub fn move_to(&mut self, address: String) {
        self.address = address.clone();
        self.addresses = vec![address];
    }

    /// A client for instance `index` alone (0 or 1 of a pair), sharing this one's mailbox.
    pub fn only(&self, index: usize) -> TestApp {
        let mut app = Self::of(
            vec![self.addresses[index].clone()],
            self.smtp.clone(),
            self.redis.clone(),
        );
        app.client = self.client.clone();
        app
    }

    /// How many instances serve this app (1, or 2 for a pair).
    pub fn instances(&self) -> usize {
        self.addresses.len()
    }

    /// `path` on the next instance in turn.
    pub fn url(&self, path: &str) -> String {
        let turn = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}{}", self.addresses[turn % self.addresses.len()], path)
    }

    /// `path` on instance `index` (0 or 1 of a pair).
    pub fn url_on(&self, index: usize, path: &str) -> String {
        format!("{}{}", self.addresses[index], path)
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

    /// Waits until every instance offers `model` to `user` (another instance reloads its
    /// catalog and key pool within a second of hearing of a change; one instance at once).
    pub async fn until_every_instance_lists(&self, user: &Session, model: &str) {
        for index in 0..self.addresses.len() {
            let mut waited = 0;
            loop {
                let listed: Value = self
                    .client
                    .get(self.url_on(index, "/v1/models"))
                    .bearer_auth(&user.access)
                    .send()
                    .await
                    .expect("request")
                    .json()
                    .await
                    .expect("json");
                let ids = listed["data"].as_array().expect("model list");
                if ids.iter().any(|m| m["id"] == model) {
                    break;
                }
                waited += 1;
                assert!(
                    waited < 200,
                    "instance {index} never listed {model}: {listed}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
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
