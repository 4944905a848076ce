//! Access tokens that must not work: forged, tampered, expired, early, for another audience,
//! of another type.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// The claims of a real token, to be altered.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(claims: &Value, algorithm: Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn assert_rejected(app: &TestApp, token: &str, code: &str) {
    let response = app.get("/api/v1/me", Some(token)).await;
    expect_error(response, StatusCode::UNAUTHORIZED, code).await;
}

#[tokio::test]
async fn a_resigned_copy_of_a_real_token_still_works() {
    // Guards the tests below: the forging helper itself produces accepted tokens.
    let app = spawn_app().await;
    let session = app.user("mallory").await;
    let claims = claims_of(&session.access);
    assert_eq!(claims["typ"], "access");
    assert_eq!(claims["iss"], "confab");
    assert_eq!(claims["aud"], "confab-api");
    for field in ["sub", "exp", "iat", "nbf", "jti", "role", "sid"] {
        assert!(claims.get(field).is_some(), "missing {field}");
    }
    let copy = sign(&claims, Algorithm::HS256, JWT_SECRET);
    expect_status(app.get("/api/v1/me", Some(&copy)).await, StatusCode::OK).await;
}

#[tokio::test]
async fn alg_none_is_refused_in_any_case() {
    let app = spawn_app().await;
    let session = app.user("mallory").await;
    let payload = URL_SAFE_NO_PAD.encode(claims_of(&session.access).to_string());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
        assert_rejected(&app, &format!("{header}.{payload}."), "invalid_token").await;
        let real_signature = session.access.rsplit('.').next().unwrap();
        assert_rejected(
            &app,
            &format!("{header}.{payload}.{real_signature}"),
            "invalid_token",
        )
        .await;
    }
}

#[tokio::test]
async fn wrong_key_and_wrong_algorithm_are_refused() {
    let app = spawn_app().await;
    let session = app.user("mallory").await;
    let claims = claims_of(&session.access);
    let wrong_key = sign(
        &claims,
        Algorithm::HS256,
        "another-secret-another-secret-another",
    );
    assert_rejected(&app, &wrong_key, "invalid_token").await;
    let other_alg = sign(&claims, Algorithm::HS512, JWT_SECRET);
    assert_rejected(&app, &other_alg, "invalid_token").await;

    // A flipped payload with the original signature.
    let mut tampered = claims.clone();
    tampered["role"] = json!("admin");
    let parts: Vec<&str> = session.access.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(tampered.to_string()),
        parts[2]
    );
    assert_rejected(&app, &forged, "invalid_token").await;
}

#[tokio::test]
async fn time_window_audience_issuer_and_type_are_checked() {
    let app = spawn_app().await;
    let session = app.user("mallory").await;
    let claims = claims_of(&session.access);

    let mut expired = claims.clone();
    expired["iat"] = json!(now() - 7200);
    expired["nbf"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 3600);
    assert_rejected(
        &app,
        &sign(&expired, Algorithm::HS256, JWT_SECRET),
        "token_expired",
    )
    .await;

    let mut early = claims.clone();
    early["nbf"] = json!(now() + 3600);
    early["exp"] = json!(now() + 7200);
    assert_rejected(
        &app,
        &sign(&early, Algorithm::HS256, JWT_SECRET),
        "invalid_token",
    )
    .await;

    let mut audience = claims.clone();
    audience["aud"] = json!("someone-else");
    assert_rejected(
        &app,
        &sign(&audience, Algorithm::HS256, JWT_SECRET),
        "invalid_token",
    )
    .await;

    let mut issuer = claims.clone();
    issuer["iss"] = json!("evil");
    assert_rejected(
        &app,
        &sign(&issuer, Algorithm::HS256, JWT_SECRET),
        "invalid_token",
    )
    .await;

    let mut kind = claims.clone();
    kind["typ"] = json!("refresh");
    assert_rejected(
        &app,
        &sign(&kind, Algorithm::HS256, JWT_SECRET),
        "invalid_token",
    )
    .await;

    let mut no_exp = claims.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_rejected(
        &app,
        &sign(&no_exp, Algorithm::HS256, JWT_SECRET),
        "invalid_token",
    )
    .await;
}

#[tokio::test]
async fn a_refresh_token_is_not_an_access_token() {
    let app = spawn_app().await;
    let session = app.user("mallory").await;
    assert_rejected(&app, &session.refresh, "invalid_token").await;
    let check = app.get("/api/v1/auth/check", Some(&session.refresh)).await;
    expect_error(check, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn malformed_authorization_headers_are_refused() {
    let app = spawn_app().await;
    let session = app.user("mallory").await;
    for value in [
        format!("Basic {}", session.access),
        format!("Bearer{}", session.access),
        "Bearer ".to_owned(),
        "Bearer not.a.jwt".to_owned(),
    ] {
        let response = app
            .client
            .get(app.url("/api/v1/me"))
            .header("authorization", value.clone())
            .send()
            .await
            .unwrap();
        expect_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
    let lower = app
        .client
        .get(app.url("/api/v1/me"))
        .header("authorization", format!("bearer {}", session.access))
        .send()
        .await
        .unwrap();
    expect_status(lower, StatusCode::OK).await;
}

#[tokio::test]
async fn claims_cannot_grant_what_the_account_lacks() {
    let app = spawn_app().await;
    let _admin = app.setup_admin().await;
    let session = app.user("mallory").await;
    // Even correctly signed, a token's role claim is not trusted: the account's role is.
    let mut claims = claims_of(&session.access);
    claims["role"] = json!("admin");
    let token = sign(&claims, Algorithm::HS256, JWT_SECRET);
    let response = app.get("/api/v1/admin/users", Some(&token)).await;
    expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;

    // Nor can it move a session to another user.
    let mut other = claims_of(&session.access);
    other["sub"] = json!("1");
    assert_rejected(
        &app,
        &sign(&other, Algorithm::HS256, JWT_SECRET),
        "invalid_token",
    )
    .await;
}
