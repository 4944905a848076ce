//! Cross-origin access: off by default; with `server.cors_allowed_origins` set, preflights are
//! answered for the API's methods and headers, real requests (an event stream too) carry the
//! headers a browser needs, and other origins get none.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::chats::{add_model, new_chat, openai_key};
use crate::fake_upstream::FakeUpstream;
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const APP_ORIGIN: &str = "http://app.example.test";

async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

/// A page of the app's origin reads the public settings (a simple cross-origin request).
async fn settings_from_the_app(app: &TestApp) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/settings"))
        .header("origin", APP_ORIGIN)
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn without_configured_origins_no_cross_origin_access_is_granted() {
    let app = spawn_app().await;
    let response = preflight(&app, "/api/v1/chats", APP_ORIGIN).await;
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    let response = settings_from_the_app(&app).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn a_configured_origin_may_call_the_api_streams_included() {
    let app = spawn_app_with(|s| s.server.cors_allowed_origins = vec![APP_ORIGIN.into()]).await;
    let response = preflight(&app, "/api/v1/chats", APP_ORIGIN).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(APP_ORIGIN)
    );
    let methods = header(&response, "access-control-allow-methods")
        .unwrap()
        .to_owned();
    for method in ["GET", "POST", "PATCH", "PUT", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed = header(&response, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert_eq!(header(&response, "access-control-allow-credentials"), None);

    let other = preflight(&app, "/api/v1/chats", "http://evil.example.test").await;
    assert_eq!(header(&other, "access-control-allow-origin"), None);

    // A real request: the page may read Retry-After and X-Request-Id.
    let response = settings_from_the_app(&app).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(APP_ORIGIN)
    );
    let exposed = header(&response, "access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("x-request-id") && exposed.contains("retry-after"),
        "{exposed}"
    );

    // An event stream, cross-origin.
    let admin = app.setup_admin().await;
    let fake = FakeUpstream::start().await;
    add_model(
        &app,
        &admin,
        json!({"name": "gpt-4o-mini", "modality": "chat"}),
    )
    .await;
    openai_key(&app, &admin, "main", &fake, 0).await;
    let user = app.user("browser").await;
    let chat = new_chat(&app, &user).await;
    let response = app
        .client
        .post(app.url(&format!("/api/v1/chats/{chat}/messages")))
        .header("origin", APP_ORIGIN)
        .bearer_auth(&user.access)
        .json(&json!({"content": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(APP_ORIGIN)
    );
    assert!(
        header(&response, "content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = response.text().await.unwrap();
    assert!(body.contains("event: done"), "{body}");
}

#[tokio::test]
async fn any_origin_when_configured_with_a_star() {
    let app = spawn_app_with(|s| s.server.cors_allowed_origins = vec!["*".into()]).await;
    let response = preflight(&app, "/v1/chat/completions", "http://anywhere.example.test").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "access-control-allow-origin").is_some());
    assert_eq!(header(&response, "access-control-allow-credentials"), None);
}
