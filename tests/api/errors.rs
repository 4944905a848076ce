//! The error shape and HTTP edge cases: bad bodies, wrong content types, oversize bodies,
//! unknown routes and methods, request ids, health and docs, and the login rate limit.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const LOGIN: &str = "/api/v1/auth/login";

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().expect("ASCII header").to_owned())
}

async fn raw_json_post(app: &TestApp, path: &str, body: impl Into<String>) -> Response {
    app.client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.into())
        .send()
        .await
        .expect("request sent")
}

async fn login_response(app: &TestApp, username: &str, password: &str) -> Response {
    app.post(
        LOGIN,
        json!({"username": username, "password": password}),
        None,
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_is_invalid_json() {
    let app = spawn_app().await;
    for body in [
        r#"{"username":"#,
        r#"{"username": "a", "password": "b""#,
        "{not json}",
        "",
        r#"{"username": "a",}"#,
    ] {
        let response = raw_json_post(&app, LOGIN, body).await;
        let error = expect_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
        assert_eq!(error["error"]["type"], "invalid_request_error", "{body}");
    }
    // Same on another JSON route.
    let response = raw_json_post(&app, "/api/v1/auth/register", r#"{"username": "a", "pass"#).await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
}

#[tokio::test]
async fn well_formed_json_of_the_wrong_shape_is_invalid_body() {
    let app = spawn_app().await;

    let response = app
        .post(LOGIN, json!({"username": 1, "password": "x"}), None)
        .await;
    let error = expect_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert_eq!(error["error"]["type"], "invalid_request_error");

    let response = app.post(LOGIN, json!(["alice", "secret"]), None).await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    let response = app.post(LOGIN, json!("alice"), None).await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;

    // A required field missing.
    let response = app
        .post(
            "/api/v1/auth/register",
            json!({"username": "alice", "email": "alice@example.com"}),
            None,
        )
        .await;
    let error = expect_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("password"), "{message}");

    // An enum value that does not exist.
    let response = app
        .post(
            "/api/v1/auth/verification-codes",
            json!({"email": "alice@example.com", "purpose": "hack"}),
            None,
        )
        .await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;

    let response = app
        .post("/api/v1/auth/refresh", json!({"refresh_token": null}), None)
        .await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
}

/// Well-formed JSON whose enum field holds a number, boolean or array is a wrong body, not
/// malformed JSON.
#[tokio::test]
async fn enum_fields_of_the_wrong_json_type_are_invalid_body() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    for purpose in [json!(5), json!(true), json!(["login"])] {
        let response = app
            .post(
                "/api/v1/auth/verification-codes",
                json!({"email": "alice@example.com", "purpose": purpose}),
                None,
            )
            .await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    }
    let path = format!("/api/v1/admin/users/{}", admin.user_id);
    for body in [json!({"role": 1}), json!({"status": true})] {
        let response = app.patch(&path, body, Some(&admin.access)).await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    }
}

#[tokio::test]
async fn login_without_usable_fields_is_invalid_request() {
    let app = spawn_app().await;
    for body in [
        json!({}),
        json!({"username": "alice"}),
        json!({"password": "whatever-1"}),
        json!({"username": "alice", "password": "x", "code": "123456"}),
    ] {
        let response = app.post(LOGIN, body.clone(), None).await;
        let error = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(error["error"]["param"].is_string(), "{body}: {error}");
    }
}

#[tokio::test]
async fn wrong_content_type_is_unsupported_media_type() {
    let app = spawn_app().await;
    let body = r#"{"username": "alice", "password": "secret-password"}"#;

    for content_type in [Some("text/plain"), Some("application/xml"), None] {
        let mut request = app.client.post(app.url(LOGIN)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        let error = expect_error(
            response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
        assert_eq!(
            error["error"]["type"], "invalid_request_error",
            "{content_type:?}"
        );
    }

    // A JSON body to the form endpoint.
    let response = app
        .post(
            "/api/v1/auth/token",
            json!({"username": "a", "password": "b"}),
            None,
        )
        .await;
    expect_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    // JSON with a charset is still JSON.
    let response = app
        .client
        .post(app.url(LOGIN))
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn oversize_body_is_payload_too_large() {
    let app = spawn_app().await;
    let big = "a".repeat(1024 * 1024 + 16);
    let body = json!({"username": big, "password": "x"}).to_string();
    assert!(body.len() > 1024 * 1024);

    let response = raw_json_post(&app, LOGIN, body).await;
    let error = expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(error["error"]["type"], "invalid_request_error");

    // The server is fine afterwards, and a body just under the limit is read.
    let response = app.get("/healthz", None).await;
    expect_status(response, StatusCode::OK).await;
    let under = json!({"username": "a".repeat(1024 * 1000), "password": "x"}).to_string();
    assert!(under.len() < 1024 * 1024);
    let response = raw_json_post(&app, LOGIN, under).await;
    expect_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_routes_are_not_found() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/api/v1/nope",
        "/api/v2/me",
        "/api/v1/admin/users/1/nope",
        "/",
    ] {
        let response = app.get(path, None).await;
        let error = expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(error["error"]["type"], "not_found_error", "{path}");
    }
    let response = app.post("/api/v1/nope", json!({}), None).await;
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn wrong_methods_are_method_not_allowed() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;

    let response = app.delete("/api/v1/me", Some(&admin.access)).await;
    let error = expect_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    assert_eq!(error["error"]["type"], "invalid_request_error");

    // Without a token too: the method is wrong whoever asks.
    let response = app.delete("/api/v1/me", None).await;
    expect_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    let response = app.get(LOGIN, None).await;
    expect_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    let response = app.post("/healthz", json!({}), None).await;
    expect_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    let response = app
        .put("/api/v1/admin/users", json!({}), Some(&admin.access))
        .await;
    expect_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// The error body
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn error_body_is_pinned() {
    let app = spawn_app().await;
    app.setup_admin().await;

    let expected = json!({"error": {
        "code": "invalid_credentials",
        "message": "wrong username, email or password",
        "type": "authentication_error",
        "param": null,
    }});

    // A wrong password and an unknown account answer exactly alike.
    for username in ["admin", "nobody"] {
        let response = login_response(&app, username, "wrong-password-1").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            header(&response, "www-authenticate").as_deref(),
            Some("Bearer")
        );
        assert!(
            header(&response, "content-type")
                .unwrap_or_default()
                .starts_with("application/json")
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, expected, "{username}");
    }
}

#[tokio::test]
async fn unauthorized_answers_carry_www_authenticate() {
    let app = spawn_app().await;
    let cases: [(Option<&str>, &str); 3] = [
        (None, "unauthorized"),
        (Some("garbage"), "invalid_token"),
        (Some(""), "unauthorized"),
    ];
    for (token, code) in cases {
        let mut request = app.client.get(app.url("/api/v1/me"));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request.send().await.unwrap();
        // An empty bearer is either missing or invalid; both are 401 with the header.
        let www = header(&response, "www-authenticate");
        let body = expect_status(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(www.as_deref(), Some("Bearer"), "{token:?}");
        assert_eq!(body["error"]["type"], "authentication_error");
        if token != Some("") {
            assert_eq!(body["error"]["code"], code, "{token:?}");
        }
    }
    let response = app
        .client
        .get(app.url("/api/v1/me"))
        .header("authorization", "Basic YWxpY2U6c2VjcmV0")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&response, "www-authenticate").as_deref(),
        Some("Bearer")
    );
    expect_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;

    // Other errors carry no challenge.
    let response = app.get("/nope", None).await;
    assert_eq!(header(&response, "www-authenticate"), None);
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

// ---------------------------------------------------------------------------------------------
// Request ids
// ---------------------------------------------------------------------------------------------

fn assert_generated_id(id: &str) {
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "expected a generated UUID, got {id:?}"
    );
}

#[tokio::test]
async fn every_response_has_a_request_id() {
    let app = spawn_app().await;
    let responses = vec![
        app.get("/healthz", None).await,
        app.get("/api/v1/settings", None).await,
        app.get("/nope", None).await,
        app.get("/api/v1/me", None).await,
        app.delete("/api/v1/me", None).await,
        raw_json_post(&app, LOGIN, "{").await,
        app.get("/docs", None).await,
    ];
    let mut seen = Vec::new();
    for response in responses {
        let url = response.url().clone();
        let id = header(&response, "x-request-id")
            .unwrap_or_else(|| panic!("no x-request-id on {url} ({})", response.status()));
        assert_generated_id(&id);
        assert!(!seen.contains(&id), "request ids repeat: {id}");
        seen.push(id);
    }
}

#[tokio::test]
async fn a_sane_request_id_is_echoed() {
    let app = spawn_app().await;
    let longest = "x".repeat(128);
    for id in ["abc-123", "A.b_c-9", longest.as_str()] {
        let response = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", id)
            .send()
            .await
            .unwrap();
        assert_eq!(header(&response, "x-request-id").as_deref(), Some(id));
    }
    // On errors too.
    let response = app
        .client
        .post(app.url(LOGIN))
        .header("x-request-id", "abc-123")
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&response, "x-request-id").as_deref(),
        Some("abc-123")
    );
    expect_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn an_insane_request_id_is_replaced() {
    let app = spawn_app().await;
    let long = "a".repeat(200);
    let just_too_long = "b".repeat(129);
    for id in [
        long.as_str(),
        just_too_long.as_str(),
        "abc 123",
        "abc/123",
        "<script>",
        "a\"b",
        "",
    ] {
        let response = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", id)
            .send()
            .await
            .unwrap();
        let echoed = header(&response, "x-request-id").expect("x-request-id");
        assert_ne!(echoed, id);
        assert_generated_id(&echoed);
        expect_status(response, StatusCode::OK).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Health, docs, OpenAPI
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let response = app.get("/healthz", None).await;
    assert!(
        header(&response, "content-type")
            .unwrap_or_default()
            .starts_with("application/json")
    );
    assert_eq!(
        expect_status(response, StatusCode::OK).await,
        json!({"status": "ok"})
    );
    let response = app.get("/readyz", None).await;
    assert_eq!(
        expect_status(response, StatusCode::OK).await,
        json!({"status": "ready"})
    );
}

#[tokio::test]
async fn docs_redirect_and_serve_html() {
    let app = spawn_app().await;
    let response = app.get("/docs", None).await;
    assert!(
        response.status().is_redirection(),
        "got {}",
        response.status()
    );
    let location = header(&response, "location").expect("location");
    assert!(
        location == "/docs/" || location == app.url("/docs/"),
        "{location}"
    );

    let response = app.get("/docs/", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = header(&response, "content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = response.text().await.unwrap();
    assert!(html.to_lowercase().contains("<html"), "{html}");
}

#[tokio::test]
async fn openapi_document_is_served() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json", None).await;
    let content_type = header(&response, "content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let doc = expect_status(response, StatusCode::OK).await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')));
    assert!(doc["paths"]["/api/v1/auth/login"].is_object());
}

// ---------------------------------------------------------------------------------------------
// Login rate limit
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn repeated_login_failures_are_rate_limited_per_account() {
    let app = spawn_app().await;
    app.setup_admin().await;
    app.register("alice").await;
    app.register("bob").await;

    for attempt in 1..=5 {
        let response = login_response(&app, "alice", &format!("wrong-password-{attempt}")).await;
        expect_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }

    // The sixth attempt is refused even with the right password.
    let response = login_response(&app, "alice", USER_PASSWORD).await;
    let retry_after = header(&response, "retry-after").expect("retry-after header");
    let error = expect_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(error["error"]["type"], "rate_limit_error");
    let seconds: u64 = retry_after
        .parse()
        .unwrap_or_else(|_| panic!("retry-after is not an integer: {retry_after:?}"));
    assert!(seconds > 0 && seconds <= 900, "{seconds}");

    // The same account under another spelling of its name is the same account.
    let response = login_response(&app, "ALICE", USER_PASSWORD).await;
    expect_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // Another account from the same address still logs in (per-IP limit is 20).
    let bob = app.login("bob", USER_PASSWORD).await;
    expect_status(
        app.get("/api/v1/me", Some(&bob.access)).await,
        StatusCode::OK,
    )
    .await;
    app.login("admin", ADMIN_PASSWORD).await;
}
