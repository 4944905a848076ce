//! Security headers on every answer, `no-store` on answers carrying secrets, a docs CSP its
//! vendored assets satisfy, `Allow` on 405, and prefix searches that take `%` and `_` literally.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing on {}", response.url()))
        .to_str()
        .unwrap()
        .to_owned()
}

fn assert_security_headers(response: &Response) {
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
    assert_eq!(header(response, "x-frame-options"), "DENY");
    assert_eq!(header(response, "referrer-policy"), "no-referrer");
    assert!(header(response, "content-security-policy").contains("frame-ancestors 'none'"));
}

fn assert_no_store(response: &Response) {
    assert_security_headers(response);
    assert_eq!(
        header(response, "cache-control"),
        "no-store",
        "{}",
        response.url()
    );
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    let ok = app.get("/healthz", None).await;
    assert_security_headers(&ok);
    assert_eq!(
        header(&ok, "content-security-policy"),
        "default-src 'none'; frame-ancestors 'none'"
    );
    expect_status(ok, StatusCode::OK).await;

    let unauthorized = app.get("/api/v1/me", None).await;
    assert_no_store(&unauthorized);
    expect_error(unauthorized, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let missing = app.get("/no/such/route", None).await;
    assert_security_headers(&missing);
    expect_error(missing, StatusCode::NOT_FOUND, "not_found").await;

    let bad_json = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_no_store(&bad_json);
    expect_error(bad_json, StatusCode::BAD_REQUEST, "invalid_json").await;
}

#[tokio::test]
async fn answers_with_tokens_keys_or_codes_are_never_stored() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    app.register("secretive").await;

    let login = app
        .post(
            "/api/v1/auth/login",
            json!({"username": "secretive", "password": USER_PASSWORD}),
            None,
        )
        .await;
    assert_no_store(&login);
    let session = session_of(expect_status(login, StatusCode::OK).await);

    let refreshed = app
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": session.refresh}),
            None,
        )
        .await;
    assert_no_store(&refreshed);
    let session = session_of(expect_status(refreshed, StatusCode::OK).await);

    let form = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "secretive"),
            ("password", USER_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_no_store(&form);
    expect_status(form, StatusCode::OK).await;

    let created = app
        .post("/api/v1/keys", json!({"name": "ci"}), Some(&session.access))
        .await;
    assert_no_store(&created);
    let key = expect_status(created, StatusCode::CREATED).await;
    let rotated = app
        .post(
            &format!("/api/v1/keys/{}/rotate", key["id"]),
            json!({}),
            Some(&session.access),
        )
        .await;
    assert_no_store(&rotated);
    expect_status(rotated, StatusCode::OK).await;

    let codes = app
        .post(
            "/api/v1/admin/redemption-codes",
            json!({"kind": "credits", "amount": 10, "quantity": 2}),
            Some(&admin.access),
        )
        .await;
    assert_no_store(&codes);
    expect_status(codes, StatusCode::CREATED).await;
}

#[tokio::test]
async fn the_docs_page_loads_only_what_its_policy_allows() {
    let app = spawn_app().await;
    let page = app.get("/docs/", None).await;
    assert_security_headers(&page);
    let policy = header(&page, "content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("script-src 'self' 'unsafe"), "{policy}");
    let html = expect_status(page, StatusCode::OK).await;
    let html = html.as_str().unwrap();
    // Every script is a same-origin file (script-src 'self' admits no inline script), and no
    // <style> block needs more than the policy gives.
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert!(!scripts.is_empty());
    for script in &scripts {
        let tag = &script[..script.find('>').unwrap()];
        let src = tag
            .split("src=\"")
            .nth(1)
            .expect("a script with src")
            .split('"')
            .next()
            .unwrap();
        assert!(!src.contains("//"), "{src} is not same-origin");
        let body = &script[script.find('>').unwrap() + 1..script.find("</script>").unwrap()];
        assert!(body.trim().is_empty(), "inline script: {body}");
        let asset = app
            .get(&format!("/docs/{}", src.trim_start_matches("./")), None)
            .await;
        assert_eq!(asset.status(), StatusCode::OK, "{src}");
        assert_security_headers(&asset);
    }
    for link in html.split("href=\"").skip(1) {
        let href = link.split('"').next().unwrap();
        assert!(!href.contains("//"), "{href} is not same-origin");
        let asset = app
            .get(&format!("/docs/{}", href.trim_start_matches("./")), None)
            .await;
        assert_eq!(asset.status(), StatusCode::OK, "{href}");
    }
    assert!(!html.contains("<style"), "inline style block");
    // What the initializer fetches is same-origin too.
    let initializer = app.get("/docs/swagger-initializer.js", None).await;
    let initializer = initializer.text().await.unwrap();
    assert!(
        initializer.contains("\"url\": \"/openapi.json\""),
        "{initializer}"
    );
}

#[tokio::test]
async fn method_not_allowed_names_the_allowed_methods() {
    let app = spawn_app().await;
    let cases = [
        ("/api/v1/auth/login", reqwest::Method::DELETE, "POST"),
        ("/api/v1/keys/1", reqwest::Method::PUT, "GET, PATCH, DELETE"),
        ("/api/v1/chats", reqwest::Method::DELETE, "POST, GET"),
        ("/healthz", reqwest::Method::POST, "GET"),
    ];
    for (path, method, allow) in cases {
        let response = app
            .client
            .request(method, app.url(path))
            .send()
            .await
            .unwrap();
        assert_security_headers(&response);
        assert_eq!(header(&response, "allow"), allow, "{path}");
        expect_error(
            response,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        )
        .await;
    }
}

async fn codes_matching(app: &TestApp, admin: &Session, prefix: &str) -> Value {
    let response = app
        .client
        .get(app.url("/api/v1/admin/redemption-codes"))
        .query(&[("prefix", prefix)])
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await
}

#[tokio::test]
async fn prefix_searches_take_wildcards_literally() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let batch = expect_status(
        app.post(
            "/api/v1/admin/redemption-codes",
            json!({"kind": "credits", "amount": 10, "quantity": 3}),
            Some(&admin.access),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let first = batch["codes"][0].as_str().unwrap().to_owned();
    for wildcard in ["%", "_", "%%", "_%", "\\", "\\%"] {
        let page = codes_matching(&app, &admin, wildcard).await;
        assert_eq!(page["total"], 0, "prefix {wildcard:?}: {page}");
    }
    let page = codes_matching(&app, &admin, &first[..3]).await;
    assert!(page["total"].as_i64().unwrap() >= 1, "{page}");

    // The user search escapes them too.
    app.register("plain_name").await;
    app.register("plainxname").await;
    let response = app
        .client
        .get(app.url("/api/v1/admin/users"))
        .query(&[("q", "plain_")])
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    let page = expect_status(response, StatusCode::OK).await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["username"], "plain_name");
}
