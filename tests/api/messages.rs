//! Error messages written for people: a bad body, query or value gets a message that names the
//! field and says what is wrong with it, and `param` names the field too.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

/// Asserts the error, its `param`, and that the message starts with the field and says `what`.
async fn expect_field_error(
    response: Response,
    status: StatusCode,
    code: &str,
    param: &str,
    what: &str,
) -> Value {
    let body = expect_error(response, status, code).await;
    assert_eq!(body["error"]["param"], param, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with(param), "{message}");
    assert!(message.contains(what), "{message} should say {what:?}");
    assert!(
        !message.contains("struct ") && !message.contains("i32") && !message.contains("u32"),
        "{message} speaks Rust"
    );
    body
}

async fn raw_post(app: &TestApp, path: &str, body: &str, token: Option<&str>) -> Response {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn bodies_of_the_wrong_shape_name_the_field_and_the_fault() {
    let app = spawn_app().await;
    let user = app.user("shaper").await;
    let token = Some(user.access.as_str());

    let array = raw_post(&app, "/api/v1/chats", "[1, 2, 3]", token).await;
    expect_field_error(
        array,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "body",
        "expected a JSON object, got an array",
    )
    .await;

    // serde would read a struct from an array; a body is an object.
    let tuple = app
        .patch("/api/v1/me", serde_json::json!([null, null]), token)
        .await;
    expect_field_error(
        tuple,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "body",
        "expected a JSON object, got an array",
    )
    .await;

    let malformed = raw_post(&app, "/api/v1/chats", "{\"title\": ", token).await;
    expect_field_error(
        malformed,
        StatusCode::BAD_REQUEST,
        "invalid_json",
        "body",
        "malformed JSON",
    )
    .await;

    let title = app.post("/api/v1/chats", json!({"title": 42}), token).await;
    expect_field_error(
        title,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "title",
        "expected a string, got an integer",
    )
    .await;

    let unknown = app
        .post("/api/v1/chats", json!({"colour": "red"}), token)
        .await;
    expect_field_error(
        unknown,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "colour",
        "unknown field",
    )
    .await;

    let chat = expect_status(
        app.post("/api/v1/chats", json!({}), token).await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/api/v1/chats/{}/messages", chat["id"]);
    let tokens = app
        .post(&path, json!({"content": "q", "max_tokens": "many"}), token)
        .await;
    expect_field_error(
        tokens,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "max_tokens",
        "expected a non-negative integer, got a string",
    )
    .await;
    let fraction = app
        .post(&path, json!({"content": "q", "max_tokens": 1.5}), token)
        .await;
    expect_field_error(
        fraction,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "max_tokens",
        "got a number with a fraction",
    )
    .await;
    let missing = app.post(&path, json!({"stream": false}), token).await;
    expect_field_error(
        missing,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "content",
        "required",
    )
    .await;

    let register = app
        .post("/api/v1/auth/register", json!({"username": "nopass"}), None)
        .await;
    expect_field_error(
        register,
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "password",
        "this field is required",
    )
    .await;
}

#[tokio::test]
async fn bad_values_and_queries_name_the_field_and_the_fault() {
    let app = spawn_app().await;
    let user = app.user("valuer").await;
    let token = Some(user.access.as_str());

    let avatar = app
        .patch(
            "/api/v1/me",
            json!({"avatar_url": "ftp://example.com/a.png"}),
            token,
        )
        .await;
    expect_field_error(
        avatar,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "avatar_url",
        "must be an http(s) URL",
    )
    .await;
    let nickname = app
        .patch("/api/v1/me", json!({"nickname": "x".repeat(65)}), token)
        .await;
    expect_field_error(
        nickname,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "nickname",
        "1 to 64 characters",
    )
    .await;

    let page = app.get("/api/v1/chats?page=abc", token).await;
    expect_field_error(
        page,
        StatusCode::BAD_REQUEST,
        "invalid_query",
        "page",
        "expected an integer",
    )
    .await;
    let size = app.get("/api/v1/chats?page=1&page_size=-3", token).await;
    let body = expect_error(size, StatusCode::BAD_REQUEST, "invalid_query").await;
    assert_eq!(body["error"]["param"], "page_size", "{body}");
}

#[tokio::test]
async fn blank_passwords_are_refused_everywhere_one_is_set() {
    let app = spawn_app().await;
    let blank = "        \t  ";
    let setup = app
        .post(
            "/api/v1/setup",
            json!({"username": "admin", "password": blank}),
            None,
        )
        .await;
    expect_field_error(
        setup,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "password",
        "only spaces",
    )
    .await;
    app.setup_admin().await;

    let register = app
        .post(
            "/api/v1/auth/register",
            json!({"username": "blanky", "password": "          "}),
            None,
        )
        .await;
    expect_field_error(
        register,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "password",
        "only spaces",
    )
    .await;

    let user = app.user("changer").await;
    let change = app
        .put(
            "/api/v1/me/password",
            json!({"current_password": USER_PASSWORD, "new_password": "         "}),
            Some(&user.access),
        )
        .await;
    expect_field_error(
        change,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "password",
        "only spaces",
    )
    .await;

    let code = app
        .emailed_code("changer@example.com", "password_reset")
        .await;
    let reset = app
        .post(
            "/api/v1/auth/password-reset",
            json!({"email": "changer@example.com", "code": code, "new_password": "\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}\u{3000}"}),
            None,
        )
        .await;
    expect_field_error(
        reset,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "password",
        "only spaces",
    )
    .await;
    // Nothing changed: the old password still works.
    app.login("changer", USER_PASSWORD).await;
}
