//! `/metrics` scraped as Prometheus would: each series the operator needs is there, with the
//! values the requests before the scrape must have produced.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chats::{add_model, chat_settings, new_chat, openai_key, send};
use crate::fake_upstream::{Behavior, FakeUpstream};
use crate::helpers::{TestApp, expect_error, spawn_app_with, spawn_app_with_redis};

/// The scrape's text, checked to be what Prometheus reads.
async fn scrape(app: &TestApp, token: Option<&str>) -> String {
    let response = app.get("/metrics", token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    response.text().await.unwrap()
}

/// The value of the sample `name{labels}` (labels in the order the series declares them).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted = if labels.is_empty() {
        name.to_owned()
    } else {
        let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        format!("{name}{{{}}}", pairs.join(","))
    };
    text.lines()
        .find_map(|line| line.strip_prefix(&wanted)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}

fn must(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{text}"))
}

#[tokio::test]
async fn a_scrape_counts_requests_streams_upstream_calls_tokens_credits_and_holds() {
    let app = spawn_app_with(chat_settings).await;
    let admin = app.setup_admin().await;
    let fake = FakeUpstream::start().await;
    let key_id = openai_key(&app, &admin, "main", &fake, 0).await.to_string();
    add_model(
        &app,
        &admin,
        json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_1k_prompt_tokens": 1000,
               "price_per_1k_completion_tokens": 1000, "context_window": 4096, "max_output_tokens": 100}),
    )
    .await;
    let user = app.funded_user(&admin, "watched", 100_000).await;
    let mut completion_tokens = 0;
    let mut cost = 0;
    for _ in 0..3 {
        let response = app
            .post(
                "/v1/chat/completions",
                json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
                Some(&user.access),
            )
            .await;
        let body: Value = response.json().await.unwrap();
        completion_tokens += body["usage"]["completion_tokens"].as_i64().unwrap();
        cost += body["usage"]["total_tokens"].as_i64().unwrap();
    }
    expect_error(
        app.get("/no/such/page", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // A stream held open by the provider: counted open, its hold outstanding.
    let chat = new_chat(&app, &user).await;
    fake.then(Behavior::HangAfterChunks(2));
    let mut stream = send(&app, &user, chat, json!({"content": "go on"})).await;
    let mut seen = String::new();
    while !seen.contains("event: delta") {
        seen.push_str(&String::from_utf8_lossy(
            &stream.chunk().await.unwrap().unwrap(),
        ));
    }
    let during = until(&app, |text| {
        sample(text, "confab_holds_outstanding", &[]) == Some(1.0)
    })
    .await;
    assert_eq!(must(&during, "confab_open_event_streams", &[]), 1.0);
    assert!(must(&during, "confab_held_credits", &[]) > 0.0);
    drop(stream);
    let after = until(&app, |text| {
        sample(text, "confab_open_event_streams", &[]) == Some(0.0)
            && sample(text, "confab_holds_outstanding", &[]) == Some(0.0)
    })
    .await;

    let completions = [
        ("route", "/v1/chat/completions"),
        ("method", "POST"),
        ("status", "200"),
    ];
    assert_eq!(
        must(&after, "confab_http_requests_total", &completions),
        3.0
    );
    assert_eq!(
        must(
            &after,
            "confab_http_requests_total",
            &[("route", "unmatched"), ("method", "GET"), ("status", "404")]
        ),
        1.0
    );
    let timed = [("route", "/v1/chat/completions"), ("method", "POST")];
    assert_eq!(
        must(&after, "confab_http_request_duration_seconds_count", &timed),
        3.0
    );
    let complete = [
        ("provider_key", key_id.as_str()),
        ("model", "gpt-4o-mini"),
        ("outcome", "complete"),
    ];
    assert_eq!(
        must(&after, "confab_upstream_requests_total", &complete),
        3.0
    );
    let interrupted = [
        ("provider_key", key_id.as_str()),
        ("model", "gpt-4o-mini"),
        ("outcome", "interrupted"),
    ];
    assert_eq!(
        must(&after, "confab_upstream_requests_total", &interrupted),
        1.0
    );
    let keyed = [("provider_key", key_id.as_str()), ("model", "gpt-4o-mini")];
    assert_eq!(
        must(&after, "confab_upstream_duration_seconds_count", &keyed),
        4.0
    );
    // The interrupted answer is charged too: at least the three complete ones' tokens.
    let completion = [("model", "gpt-4o-mini"), ("kind", "completion")];
    assert!(must(&after, "confab_tokens_total", &completion) > completion_tokens as f64);
    let charged = must(
        &after,
        "confab_credits_charged_total",
        &[("model", "gpt-4o-mini")],
    );
    assert!(
        charged > cost as f64,
        "{charged} after {cost} for the complete ones"
    );
    assert!(must(&after, "confab_db_pool_connections", &[]) >= 1.0);
    assert!(sample(&after, "confab_db_pool_idle_connections", &[]).is_some());
    assert_eq!(
        sample(&after, "confab_redis_errors_total", &[]),
        None,
        "no Redis, no series"
    );
    // The scrape counts itself as a request to its route.
    let scraped = [("route", "/metrics"), ("method", "GET"), ("status", "200")];
    assert!(must(&after, "confab_http_requests_total", &scraped) >= 2.0);
}

/// Scrapes until `ready` holds (what the request tasks record lands a moment after the
/// response), at most five seconds.
async fn until(app: &TestApp, ready: impl Fn(&str) -> bool) -> String {
    for _ in 0..100 {
        let text = scrape(app, None).await;
        if ready(&text) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never: {}", scrape(app, None).await);
}

#[tokio::test]
async fn a_failed_provider_call_is_counted_by_key_and_code_even_when_retried() {
    let app = spawn_app_with(chat_settings).await;
    let admin = app.setup_admin().await;
    let failing = FakeUpstream::start().await;
    let spare = FakeUpstream::start().await;
    let failing_id = openai_key(&app, &admin, "failing", &failing, 10)
        .await
        .to_string();
    openai_key(&app, &admin, "spare", &spare, 0).await;
    add_model(
        &app,
        &admin,
        json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_request": 1}),
    )
    .await;
    let user = app.funded_user(&admin, "retried", 100).await;
    failing.then(Behavior::Status(500));
    let response = app
        .post(
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
            Some(&user.access),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = scrape(&app, None).await;
    let failed = [
        ("provider_key", failing_id.as_str()),
        ("code", "upstream_error"),
    ];
    assert_eq!(must(&text, "confab_upstream_failures_total", &failed), 1.0);
}

#[tokio::test]
async fn with_a_token_only_a_scraper_sending_it_is_answered() {
    let app = spawn_app_with(|settings| {
        settings.metrics.token = "scraper-secret-0123456789".to_owned().into();
    })
    .await;
    for token in [None, Some("scraper-secret-012345678"), Some("wrong")] {
        expect_error(
            app.get("/metrics", token).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    let text = scrape(&app, Some("scraper-secret-0123456789")).await;
    assert!(
        text.contains("# TYPE confab_http_requests_total counter"),
        "{text}"
    );
}

#[tokio::test]
async fn with_redis_its_errors_are_counted() {
    let Some(app) = spawn_app_with_redis(|settings| settings.redis.timeout_ms = 300).await else {
        return;
    };
    app.setup_admin().await;
    assert_eq!(
        must(&scrape(&app, None).await, "confab_redis_errors_total", &[]),
        0.0
    );
    app.redis.as_ref().expect("a redis").stop();
    let refused = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "admin", "password": "whatever it is"}),
            None,
        )
        .await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(must(&scrape(&app, None).await, "confab_redis_errors_total", &[]) >= 1.0);
}

/// Every series name with its labels (values dropped), as a scrape lists them.
fn series(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect();
    names.sort();
    names
}

/// Made-up methods (on unknown paths and on real routes), random paths and unknown model names.
async fn junk(app: &TestApp, token: &str, n: usize) {
    let made_up = reqwest::Method::from_bytes(format!("MADEUP{n}").as_bytes()).unwrap();
    for path in [format!("/nope/{n}"), "/api/v1/me".to_owned()] {
        let response = app
            .client
            .request(made_up.clone(), app.url(&path))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    expect_error(
        app.get(&format!("/random/{n}/path"), Some(token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.post(
            "/v1/chat/completions",
            json!({"model": format!("unknown-{n}"), "messages": [{"role": "user", "content": "hi"}]}),
            Some(token),
        )
        .await,
        StatusCode::NOT_FOUND,
        "model_not_found",
    )
    .await;
}

#[tokio::test]
async fn requests_a_client_makes_up_add_no_series() {
    let app = spawn_app_with(chat_settings).await;
    let user = app.user("prober").await;
    junk(&app, &user.access, 0).await;
    scrape(&app, None).await;
    let before = scrape(&app, None).await;
    for n in 1..=50 {
        junk(&app, &user.access, n).await;
    }
    let after = scrape(&app, None).await;
    assert_eq!(series(&before), series(&after));
    let unmatched = [
        ("route", "unmatched"),
        ("method", "other"),
        ("status", "404"),
    ];
    assert_eq!(must(&after, "confab_http_requests_total", &unmatched), 51.0);
}
