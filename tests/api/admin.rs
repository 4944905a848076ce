//! Admin routes: who may use them, the user list, changing and deleting accounts, ending
//! sessions, and site settings.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const USERS: &str = "/api/v1/admin/users";
const SETTINGS: &str = "/api/v1/admin/settings";

fn user_path(id: i64) -> String {
    format!("{USERS}/{id}")
}

/// Registers a user with a chosen email address; returns its id.
async fn register_with_email(app: &TestApp, username: &str, email: &str) -> i64 {
    let response = app
        .post(
            "/api/v1/auth/register",
            json!({"username": username, "password": USER_PASSWORD, "email": email}),
            None,
        )
        .await;
    expect_status(response, StatusCode::CREATED).await["id"]
        .as_i64()
        .expect("id")
}

/// `GET /api/v1/admin/users?<query>`; `query` is already URL-encoded.
async fn list(app: &TestApp, token: &str, query: &str) -> Response {
    app.get(&format!("{USERS}?{query}"), Some(token)).await
}

async fn list_ok(app: &TestApp, token: &str, query: &str) -> Value {
    expect_status(list(app, token, query).await, StatusCode::OK).await
}

fn usernames(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|user| user["username"].as_str().expect("username").to_owned())
        .collect()
}

async fn login_response(app: &TestApp, username: &str, password: &str) -> Response {
    app.post(
        "/api/v1/auth/login",
        json!({"username": username, "password": password}),
        None,
    )
    .await
}

async fn refresh_response(app: &TestApp, refresh: &str) -> Response {
    app.post(
        "/api/v1/auth/refresh",
        json!({"refresh_token": refresh}),
        None,
    )
    .await
}

async fn get_user(app: &TestApp, admin: &Session, id: i64) -> Value {
    expect_status(
        app.get(&user_path(id), Some(&admin.access)).await,
        StatusCode::OK,
    )
    .await
}

async fn patch_user(app: &TestApp, admin: &Session, id: i64, body: Value) -> Value {
    expect_status(
        app.patch(&user_path(id), body, Some(&admin.access)).await,
        StatusCode::OK,
    )
    .await
}

/// Every admin route, called with `token`, as (method, path, response).
async fn call_every_admin_route(
    app: &TestApp,
    token: Option<&str>,
    target: i64,
) -> Vec<(&'static str, String, Response)> {
    let one = user_path(target);
    let revoke = format!("{one}/revoke-sessions");
    vec![
        ("GET", USERS.to_owned(), app.get(USERS, token).await),
        ("GET", one.clone(), app.get(&one, token).await),
        (
            "PATCH",
            one.clone(),
            app.patch(&one, json!({"role": "admin"}), token).await,
        ),
        ("DELETE", one.clone(), app.delete(&one, token).await),
        (
            "POST",
            revoke.clone(),
            app.post(&revoke, json!({}), token).await,
        ),
        ("GET", SETTINGS.to_owned(), app.get(SETTINGS, token).await),
        (
            "PUT",
            SETTINGS.to_owned(),
            app.put(SETTINGS, json!({"registration_enabled": false}), token)
                .await,
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Access control
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn non_admins_get_forbidden_on_every_admin_route() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let alice = app.user("alice").await;
    let bob = app.register("bob").await;

    for target in [bob, alice.user_id, admin.user_id] {
        for (method, path, response) in
            call_every_admin_route(&app, Some(&alice.access), target).await
        {
            let body = expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
            assert_eq!(body["error"]["type"], "permission_error", "{method} {path}");
        }
    }

    // Nothing changed behind the refusals.
    let me = expect_status(
        app.get("/api/v1/me", Some(&alice.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["role"], "user");
    let bob_view = get_user(&app, &admin, bob).await;
    assert_eq!(bob_view["status"], "active");
    assert_eq!(bob_view["role"], "user");
    let settings = expect_status(app.get("/api/v1/settings", None).await, StatusCode::OK).await;
    assert_eq!(settings["registration_enabled"], true);
}

#[tokio::test]
async fn admin_routes_need_a_token() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    for (method, path, response) in call_every_admin_route(&app, None, admin.user_id).await {
        let www = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        expect_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert_eq!(www.as_deref(), Some("Bearer"), "{method} {path}");
    }
    for (_, _, response) in call_every_admin_route(&app, Some("not-a-jwt"), admin.user_id).await {
        expect_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
    // The admin is untouched.
    let me = get_user(&app, &admin, admin.user_id).await;
    assert_eq!(me["status"], "active");
}

#[tokio::test]
async fn users_cannot_reach_or_change_each_other() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;

    // Alice smuggles role and another id into her own profile update.
    let response = app
        .patch(
            "/api/v1/me",
            json!({
                "id": bob.user_id,
                "user_id": bob.user_id,
                "role": "admin",
                "status": "disabled",
                "username": "mallory",
                "email": "mallory@example.com",
                "nickname": "Alice A.",
            }),
            Some(&alice.access),
        )
        .await;
    let updated = expect_status(response, StatusCode::OK).await;
    assert_eq!(updated["id"], alice.user_id);
    assert_eq!(updated["nickname"], "Alice A.");
    assert_eq!(updated["role"], "user");
    assert_eq!(updated["status"], "active");
    assert_eq!(updated["username"], "alice");
    assert_eq!(updated["email"], "alice@example.com");

    // Still a plain user on the next request: no admin route opens.
    let response = app.get(USERS, Some(&alice.access)).await;
    expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
    let response = app.get(&user_path(bob.user_id), Some(&alice.access)).await;
    expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
    let response = app
        .patch(
            &user_path(bob.user_id),
            json!({"nickname": "pwned"}),
            Some(&alice.access),
        )
        .await;
    expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;

    // Bob is exactly as he was; his session works.
    let bob_view = get_user(&app, &admin, bob.user_id).await;
    assert_eq!(bob_view["username"], "bob");
    assert_eq!(bob_view["nickname"], Value::Null);
    assert_eq!(bob_view["role"], "user");
    assert_eq!(bob_view["status"], "active");
    let me = expect_status(
        app.get("/api/v1/me", Some(&bob.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["id"], bob.user_id);
    assert_eq!(me["nickname"], Value::Null);

    // /me always answers for the token's owner.
    let me = expect_status(
        app.get("/api/v1/me", Some(&alice.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["id"], alice.user_id);
    assert_eq!(me["role"], "user");
}

// ---------------------------------------------------------------------------------------------
// List
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn list_pages_through_users_in_id_order() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let mut ids = vec![admin.user_id];
    for name in ["user1", "user2", "user3", "user4"] {
        ids.push(app.register(name).await);
    }

    let all = list_ok(&app, &admin.access, "").await;
    assert_eq!(all["total"], 5);
    assert_eq!(all["page"], 1);
    assert_eq!(all["page_size"], 20);
    assert_eq!(
        usernames(&all),
        ["admin", "user1", "user2", "user3", "user4"]
    );

    let first = list_ok(&app, &admin.access, "page=1&page_size=2").await;
    assert_eq!(first["total"], 5);
    assert_eq!(first["page"], 1);
    assert_eq!(first["page_size"], 2);
    assert_eq!(usernames(&first), ["admin", "user1"]);
    let item_ids: Vec<i64> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert_eq!(item_ids, ids[..2]);

    let second = list_ok(&app, &admin.access, "page=2&page_size=2").await;
    assert_eq!(usernames(&second), ["user2", "user3"]);
    assert_eq!(second["total"], 5);

    let last = list_ok(&app, &admin.access, "page=3&page_size=2").await;
    assert_eq!(usernames(&last), ["user4"]);
    assert_eq!(last["total"], 5);

    let beyond = list_ok(&app, &admin.access, "page=4&page_size=2").await;
    assert_eq!(beyond["items"], json!([]));
    assert_eq!(beyond["total"], 5);
    assert_eq!(beyond["page"], 4);

    let max = list_ok(&app, &admin.access, "page_size=100").await;
    assert_eq!(max["page_size"], 100);
    assert_eq!(usernames(&max).len(), 5);

    // Items never carry a password hash.
    let text = app
        .get(USERS, Some(&admin.access))
        .await
        .text()
        .await
        .unwrap();
    assert!(!text.contains("password"), "{text}");
    assert!(!text.contains("$argon2"), "{text}");
}

#[tokio::test]
async fn list_searches_username_and_email_ignoring_case() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    register_with_email(&app, "Alexandra", "alex@example.com").await;
    register_with_email(&app, "bob", "Robert.Zephyr@Mail.example").await;
    register_with_email(&app, "carol", "carol@example.com").await;

    // Part of a username, in another case.
    let page = list_ok(&app, &admin.access, "q=XANDR").await;
    assert_eq!(usernames(&page), ["Alexandra"]);
    assert_eq!(page["total"], 1);

    // Part of an email, in another case; the username does not contain it.
    let page = list_ok(&app, &admin.access, "q=zePHyr").await;
    assert_eq!(usernames(&page), ["bob"]);
    assert_eq!(page["total"], 1);
    let page = list_ok(&app, &admin.access, "q=mail.EXAMPLE").await;
    assert_eq!(usernames(&page), ["bob"]);

    // A part shared by several.
    let page = list_ok(&app, &admin.access, "q=%40example.com").await;
    assert_eq!(usernames(&page), ["admin", "Alexandra", "carol"]);
    assert_eq!(page["total"], 3);

    // Search combines with paging: total counts every match.
    let page = list_ok(&app, &admin.access, "q=example&page_size=1&page=2").await;
    assert_eq!(page["total"], 4);
    assert_eq!(usernames(&page), ["Alexandra"]);

    // No match; LIKE wildcards are taken literally.
    let page = list_ok(&app, &admin.access, "q=nobody-here").await;
    assert_eq!(page["total"], 0);
    assert_eq!(page["items"], json!([]));
    let page = list_ok(&app, &admin.access, "q=%25").await;
    assert_eq!(page["total"], 0, "{page}");
    let page = list_ok(&app, &admin.access, "q=_").await;
    assert_eq!(page["total"], 0, "{page}");

    // An empty or blank q is no filter.
    let page = list_ok(&app, &admin.access, "q=").await;
    assert_eq!(page["total"], 4);
    let page = list_ok(&app, &admin.access, "q=%20%20").await;
    assert_eq!(page["total"], 4);
}

#[tokio::test]
async fn list_filters_by_role_and_status() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.register("carol").await;

    let page = list_ok(&app, &admin.access, "role=admin").await;
    assert_eq!(usernames(&page), ["admin"]);
    assert_eq!(page["total"], 1);
    let page = list_ok(&app, &admin.access, "role=user").await;
    assert_eq!(usernames(&page), ["alice", "bob", "carol"]);

    let page = list_ok(&app, &admin.access, "status=disabled").await;
    assert_eq!(page["total"], 0);

    patch_user(&app, &admin, bob, json!({"status": "disabled"})).await;
    patch_user(&app, &admin, alice, json!({"role": "admin"})).await;

    let page = list_ok(&app, &admin.access, "status=disabled").await;
    assert_eq!(usernames(&page), ["bob"]);
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["status"], "disabled");

    let page = list_ok(&app, &admin.access, "status=active").await;
    assert_eq!(usernames(&page), ["admin", "alice", "carol"]);

    let page = list_ok(&app, &admin.access, "role=admin").await;
    assert_eq!(usernames(&page), ["admin", "alice"]);
    assert_eq!(page["total"], 2);

    let page = list_ok(&app, &admin.access, "role=user&status=disabled").await;
    assert_eq!(usernames(&page), ["bob"]);
    let page = list_ok(&app, &admin.access, "role=admin&status=disabled").await;
    assert_eq!(page["total"], 0);
    let page = list_ok(&app, &admin.access, "role=user&q=CAR").await;
    assert_eq!(usernames(&page), ["carol"]);
}

#[tokio::test]
async fn list_refuses_bad_query_values() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    for query in [
        "page=0",
        "page_size=0",
        "page_size=101",
        "page=-1",
        "page=abc",
        "page_size=ten",
        "page=1.5",
        "role=superuser",
        "role=Admin",
        "status=gone",
    ] {
        let response = list(&app, &admin.access, query).await;
        let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_query").await;
        assert_eq!(body["error"]["type"], "invalid_request_error", "{query}");
    }
    let body = expect_error(
        list(&app, &admin.access, "page=0").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert_eq!(body["error"]["param"], "page");
    let body = expect_error(
        list(&app, &admin.access, "page_size=101").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    assert_eq!(body["error"]["param"], "page_size");

    // Bounds themselves are fine.
    let page = list_ok(&app, &admin.access, "page=1&page_size=1").await;
    assert_eq!(page["page_size"], 1);
    list_ok(&app, &admin.access, "page_size=100").await;
}

// ---------------------------------------------------------------------------------------------
// Get one
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn get_one_user_has_the_public_shape_and_no_secrets() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let alice = app.user("alice").await;

    let response = app
        .get(&user_path(alice.user_id), Some(&admin.access))
        .await;
    let text = response.text().await.unwrap();
    assert!(!text.contains("password"), "{text}");
    assert!(!text.contains("hash"), "{text}");
    assert!(!text.contains("$argon2"), "{text}");

    let user = get_user(&app, &admin, alice.user_id).await;
    let fields: Vec<&str> = {
        let mut keys: Vec<&str> = user
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    };
    assert_eq!(
        fields,
        [
            "avatar_url",
            "created_at",
            "email",
            "email_verified",
            "id",
            "last_login_at",
            "last_login_ip",
            "nickname",
            "role",
            "status",
            "updated_at",
            "username",
        ]
    );
    assert_eq!(user["id"], alice.user_id);
    assert_eq!(user["username"], "alice");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["role"], "user");
    assert_eq!(user["status"], "active");
    assert_eq!(user["nickname"], Value::Null);
    assert_eq!(user["avatar_url"], Value::Null);
    assert!(user["created_at"].is_string());
    assert!(user["updated_at"].is_string());
    // Alice logged in once.
    assert!(user["last_login_at"].is_string(), "{user}");
    assert_eq!(user["last_login_ip"], "127.0.0.1");
}

#[tokio::test]
async fn get_unknown_or_non_numeric_id_is_not_found() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    for path in [
        user_path(999_999),
        user_path(0),
        user_path(-1),
        format!("{USERS}/abc"),
        format!("{USERS}/1.5"),
        format!("{USERS}/99999999999999999999999"),
    ] {
        let response = app.get(&path, Some(&admin.access)).await;
        let body = expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(body["error"]["type"], "not_found_error", "{path}");
    }
    // Same for the other routes on a user.
    let response = app
        .patch(&format!("{USERS}/abc"), json!({}), Some(&admin.access))
        .await;
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app
        .delete(&format!("{USERS}/abc"), Some(&admin.access))
        .await;
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app
        .post(
            &format!("{USERS}/abc/revoke-sessions"),
            json!({}),
            Some(&admin.access),
        )
        .await;
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

// ---------------------------------------------------------------------------------------------
// Patch
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn promotion_and_demotion_apply_to_existing_tokens() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let alice = app.user("alice").await;

    expect_error(
        app.get(USERS, Some(&alice.access)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    let updated = patch_user(&app, &admin, alice.user_id, json!({"role": "admin"})).await;
    assert_eq!(updated["role"], "admin");
    assert_eq!(updated["id"], alice.user_id);

    // Her token from before the promotion now opens admin routes.
    let page = expect_status(app.get(USERS, Some(&alice.access)).await, StatusCode::OK).await;
    assert_eq!(page["total"], 2);
    let check = expect_status(
        app.get("/api/v1/auth/check", Some(&alice.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(check["role"], "admin");
    expect_status(app.get(SETTINGS, Some(&alice.access)).await, StatusCode::OK).await;

    // As an admin, she can demote the original admin (another admin remains: herself).
    let response = app
        .patch(
            &user_path(admin.user_id),
            json!({"role": "user"}),
            Some(&alice.access),
        )
        .await;
    let demoted = expect_status(response, StatusCode::OK).await;
    assert_eq!(demoted["role"], "user");
    expect_error(
        app.get(USERS, Some(&admin.access)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // And back: the old admin is promoted, alice demoted; her same token is refused again.
    let response = app
        .patch(
            &user_path(admin.user_id),
            json!({"role": "admin"}),
            Some(&alice.access),
        )
        .await;
    expect_status(response, StatusCode::OK).await;
    let updated = patch_user(&app, &admin, alice.user_id, json!({"role": "user"})).await;
    assert_eq!(updated["role"], "user");
    for (_, _, response) in call_every_admin_route(&app, Some(&alice.access), admin.user_id).await {
        expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // The demotion did not end her session.
    let me = expect_status(
        app.get("/api/v1/me", Some(&alice.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["role"], "user");
}

#[tokio::test]
async fn patch_changes_nickname_and_validates_it() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let alice = app.register("alice").await;

    let updated = patch_user(&app, &admin, alice, json!({"nickname": "  Ally  "})).await;
    assert_eq!(updated["nickname"], "Ally");
    assert_eq!(updated["role"], "user");
    assert_eq!(updated["status"], "active");

    // An empty body changes nothing.
    let same = patch_user(&app, &admin, alice, json!({})).await;
    assert_eq!(same["nickname"], "Ally");

    let response = app
        .patch(
            &user_path(alice),
            json!({"nickname": "x".repeat(65)}),
            Some(&admin.access),
        )
        .await;
    let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["param"], "nickname");
    assert_eq!(get_user(&app, &admin, alice).await["nickname"], "Ally");
}

#[tokio::test]
async fn disabling_locks_the_user_out_and_enabling_lets_them_log_in_again() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let alice = app.user("alice").await;

    let updated = patch_user(&app, &admin, alice.user_id, json!({"status": "disabled"})).await;
    assert_eq!(updated["status"], "disabled");

    // The existing token is refused as disabled, at once.
    let response = app.get("/api/v1/me", Some(&alice.access)).await;
    let body = expect_error(response, StatusCode::FORBIDDEN, "account_disabled").await;
    assert_eq!(body["error"]["type"], "permission_error");

    // Logging in again: the right password is recognised, the account is refused.
    let response = login_response(&app, "alice", USER_PASSWORD).await;
    expect_error(response, StatusCode::FORBIDDEN, "account_disabled").await;
    // A wrong password does not reveal the account state.
    let response = login_response(&app, "alice", "not-her-password").await;
    expect_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    // The refresh token no longer yields tokens.
    let response = refresh_response(&app, &alice.refresh).await;
    let status = response.status();
    let body = expect_status(response, status).await;
    assert!(status.is_client_error(), "refresh gave {status}: {body}");
    assert!(
        ["invalid_refresh_token", "account_disabled"]
            .contains(&body["error"]["code"].as_str().unwrap_or_default()),
        "{body}"
    );

    // Re-enable: login works, the old session stays ended.
    let updated = patch_user(&app, &admin, alice.user_id, json!({"status": "active"})).await;
    assert_eq!(updated["status"], "active");
    let fresh = app.login("alice", USER_PASSWORD).await;
    expect_status(
        app.get("/api/v1/me", Some(&fresh.access)).await,
        StatusCode::OK,
    )
    .await;
    let response = app.get("/api/v1/me", Some(&alice.access)).await;
    expect_error(response, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let response = refresh_response(&app, &alice.refresh).await;
    expect_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn patch_refuses_deleted_status_and_unknown_roles() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let alice = app.user("alice").await;
    let path = user_path(alice.user_id);

    let response = app
        .patch(&path, json!({"status": "deleted"}), Some(&admin.access))
        .await;
    let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["error"]["param"], "status");

    for body in [
        json!({"role": "owner"}),
        json!({"role": "ADMIN"}),
        json!({"role": null, "status": "banned"}),
        json!({"status": "banned"}),
        json!({"nickname": 42}),
    ] {
        let response = app.patch(&path, body.clone(), Some(&admin.access)).await;
        let error = expect_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
        assert_eq!(error["error"]["type"], "invalid_request_error", "{body}");
    }

    // Nothing was applied.
    let user = get_user(&app, &admin, alice.user_id).await;
    assert_eq!(user["role"], "user");
    assert_eq!(user["status"], "active");
    expect_status(
        app.get("/api/v1/me", Some(&alice.access)).await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn the_last_admin_cannot_demote_or_disable_itself() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let path = user_path(admin.user_id);

    for body in [
        json!({"role": "user"}),
        json!({"status": "disabled"}),
        json!({"role": "user", "status": "disabled"}),
    ] {
        let response = app.patch(&path, body.clone(), Some(&admin.access)).await;
        let error = expect_error(response, StatusCode::CONFLICT, "last_admin").await;
        assert_eq!(error["error"]["type"], "invalid_request_error", "{body}");
    }

    // Still an active admin with a live session.
    let me = get_user(&app, &admin, admin.user_id).await;
    assert_eq!(me["role"], "admin");
    assert_eq!(me["status"], "active");

    // Setting what it already is, is fine.
    let same = patch_user(&app, &admin, admin.user_id, json!({"role": "admin"})).await;
    assert_eq!(same["role"], "admin");

    // With a second active admin the first may step down.
    let alice = app.register("alice").await;
    patch_user(&app, &admin, alice, json!({"role": "admin"})).await;
    let demoted = patch_user(&app, &admin, admin.user_id, json!({"role": "user"})).await;
    assert_eq!(demoted["role"], "user");
}

#[tokio::test]
async fn a_disabled_admin_does_not_count_as_another_admin() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let alice = app.register("alice").await;
    patch_user(&app, &admin, alice, json!({"role": "admin"})).await;
    patch_user(&app, &admin, alice, json!({"status": "disabled"})).await;

    let response = app
        .patch(
            &user_path(admin.user_id),
            json!({"role": "user"}),
            Some(&admin.access),
        )
        .await;
    expect_error(response, StatusCode::CONFLICT, "last_admin").await;
    let response = app
        .delete(&user_path(admin.user_id), Some(&admin.access))
        .await;
    expect_error(response, StatusCode::CONFLICT, "last_admin").await;
}

#[tokio::test]
async fn patch_unknown_user_is_not_found() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let response = app
        .patch(
            &user_path(424_242),
            json!({"role": "admin"}),
            Some(&admin.access),
        )
        .await;
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app
        .patch(
            &user_path(424_242),
            json!({"nickname": "ghost"}),
            Some(&admin.access),
        )
        .await;
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

// ---------------------------------------------------------------------------------------------
// Delete
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn delete_anonymises_ends_sessions_and_frees_the_username() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let alice = app.user("alice").await;
    let second = app.login("alice", USER_PASSWORD).await;

    let response = app
        .delete(&user_path(alice.user_id), Some(&admin.access))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.text().await.unwrap().is_empty());

    // Kept, anonymised.
    let user = get_user(&app, &admin, alice.user_id).await;
    assert_eq!(user["status"], "deleted");
    assert_eq!(user["username"], format!("deleted-{}", alice.user_id));
    assert_eq!(user["email"], Value::Null);
    assert_eq!(user["nickname"], Value::Null);
    assert_eq!(user["avatar_url"], Value::Null);
    assert_eq!(user["last_login_ip"], Value::Null);
    let page = list_ok(&app, &admin.access, "status=deleted").await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["id"], alice.user_id);
    let page = list_ok(&app, &admin.access, "q=alice").await;
    assert_eq!(page["total"], 0);

    // Every token of every session fails.
    for session in [&alice, &second] {
        let response = app.get("/api/v1/me", Some(&session.access)).await;
        expect_error(response, StatusCode::UNAUTHORIZED, "token_revoked").await;
        let response = refresh_response(&app, &session.refresh).await;
        expect_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }

    // No login, by username or by the old email.
    let response = login_response(&app, "alice", USER_PASSWORD).await;
    expect_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let response = login_response(&app, "alice@example.com", USER_PASSWORD).await;
    expect_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let response = login_response(&app, &format!("deleted-{}", alice.user_id), "!deleted").await;
    expect_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    // The name and the email are free again; the newcomer is a different account.
    let newcomer = app.user("alice").await;
    assert_ne!(newcomer.user_id, alice.user_id);
    let me = expect_status(
        app.get("/api/v1/me", Some(&newcomer.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["username"], "alice");
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["role"], "user");

    // Deleting again: gone.
    let response = app
        .delete(&user_path(alice.user_id), Some(&admin.access))
        .await;
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    // A deleted account cannot be revived through PATCH either.
    let response = app
        .patch(
            &user_path(alice.user_id),
            json!({"status": "active"}),
            Some(&admin.access),
        )
        .await;
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        get_user(&app, &admin, alice.user_id).await["status"],
        "deleted"
    );
}

#[tokio::test]
async fn delete_unknown_user_is_not_found() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let response = app.delete(&user_path(777), Some(&admin.access)).await;
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn the_last_admin_cannot_be_deleted() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;

    let response = app
        .delete(&user_path(admin.user_id), Some(&admin.access))
        .await;
    expect_error(response, StatusCode::CONFLICT, "last_admin").await;

    // Nothing of the refused delete stuck.
    let me = get_user(&app, &admin, admin.user_id).await;
    assert_eq!(me["username"], "admin");
    assert_eq!(me["email"], "admin@example.com");
    assert_eq!(me["status"], "active");
    app.login("admin", ADMIN_PASSWORD).await;

    // With another admin, an admin can be deleted (even itself).
    let alice = app.register("alice").await;
    patch_user(&app, &admin, alice, json!({"role": "admin"})).await;
    let alice = app.login("alice", USER_PASSWORD).await;
    let response = app
        .delete(&user_path(admin.user_id), Some(&admin.access))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app.get(USERS, Some(&admin.access)).await;
    expect_error(response, StatusCode::UNAUTHORIZED, "token_revoked").await;

    // Now alice is the last admin.
    let response = app
        .delete(&user_path(alice.user_id), Some(&alice.access))
        .await;
    expect_error(response, StatusCode::CONFLICT, "last_admin").await;
}

// ---------------------------------------------------------------------------------------------
// Revoke sessions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn revoke_sessions_ends_every_session_of_the_user() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let first = app.user("alice").await;
    let second = app.login("alice", USER_PASSWORD).await;
    let bob = app.user("bob").await;

    let path = format!("{}/revoke-sessions", user_path(first.user_id));
    let response = app.post(&path, json!({}), Some(&admin.access)).await;
    let body = expect_status(response, StatusCode::OK).await;
    assert_eq!(body, json!({"revoked_sessions": 2}));

    for session in [&first, &second] {
        let response = app.get("/api/v1/me", Some(&session.access)).await;
        expect_error(response, StatusCode::UNAUTHORIZED, "token_revoked").await;
        let response = refresh_response(&app, &session.refresh).await;
        expect_error(response, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }

    // Other users and the admin keep their sessions.
    expect_status(
        app.get("/api/v1/me", Some(&bob.access)).await,
        StatusCode::OK,
    )
    .await;
    expect_status(app.get(USERS, Some(&admin.access)).await, StatusCode::OK).await;

    // The account itself is fine: a new login works.
    let third = app.login("alice", USER_PASSWORD).await;
    expect_status(
        app.get("/api/v1/me", Some(&third.access)).await,
        StatusCode::OK,
    )
    .await;

    // Counting only live sessions: one now.
    let response = app.post(&path, json!({}), Some(&admin.access)).await;
    assert_eq!(
        expect_status(response, StatusCode::OK).await,
        json!({"revoked_sessions": 1})
    );
    let response = app.post(&path, json!({}), Some(&admin.access)).await;
    assert_eq!(
        expect_status(response, StatusCode::OK).await,
        json!({"revoked_sessions": 0})
    );
}

#[tokio::test]
async fn revoke_sessions_of_unknown_user_is_not_found() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let response = app
        .post(
            &format!("{}/revoke-sessions", user_path(31_337)),
            json!({}),
            Some(&admin.access),
        )
        .await;
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn public_settings_need_no_login() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/settings", None).await;
    let body = expect_status(response, StatusCode::OK).await;
    assert_eq!(
        body,
        json!({
            "site_name": "Confab",
            "registration_enabled": true,
            "require_email_verification": false,
            "registration_reward": 0,
            "check_in_reward": 0,
            "time_zone": "UTC",
            "tier_multipliers": {"free": 100, "vip": 100, "svip": 100},
        })
    );
}

#[tokio::test]
async fn admin_reads_and_changes_settings() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;

    let settings =
        expect_status(app.get(SETTINGS, Some(&admin.access)).await, StatusCode::OK).await;
    assert_eq!(settings["site_name"], "Confab");
    assert_eq!(settings["registration_enabled"], true);
    assert_eq!(settings["require_email_verification"], false);

    let response = app
        .put(
            SETTINGS,
            json!({"site_name": "  My Chat  "}),
            Some(&admin.access),
        )
        .await;
    let settings = expect_status(response, StatusCode::OK).await;
    assert_eq!(settings["site_name"], "My Chat");
    // Absent fields keep their value.
    assert_eq!(settings["registration_enabled"], true);

    let public = expect_status(app.get("/api/v1/settings", None).await, StatusCode::OK).await;
    assert_eq!(public["site_name"], "My Chat");
    assert_eq!(public["registration_enabled"], true);
}

#[tokio::test]
async fn closing_registration_applies_at_once() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    app.register("early").await;

    app.set_settings(&admin, json!({"registration_enabled": false}))
        .await;
    let public = expect_status(app.get("/api/v1/settings", None).await, StatusCode::OK).await;
    assert_eq!(public["registration_enabled"], false);

    let response = app
        .post(
            "/api/v1/auth/register",
            json!({"username": "late", "password": USER_PASSWORD, "email": "late@example.com"}),
            None,
        )
        .await;
    let body = expect_error(response, StatusCode::FORBIDDEN, "registration_closed").await;
    assert_eq!(body["error"]["type"], "permission_error");

    // Existing users still log in.
    app.login("early", USER_PASSWORD).await;

    app.set_settings(&admin, json!({"registration_enabled": true}))
        .await;
    app.register("late").await;
}

#[tokio::test]
async fn invalid_settings_are_refused() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;

    let long = "n".repeat(65);
    for name in ["", "   ", long.as_str()] {
        let response = app
            .put(SETTINGS, json!({"site_name": name}), Some(&admin.access))
            .await;
        let body = expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(body["error"]["param"], "site_name");
    }
    for body in [
        json!({"registration_enabled": "yes"}),
        json!({"registration_enabled": 1}),
        json!({"require_email_verification": "true"}),
        json!({"site_name": 5}),
    ] {
        let response = app.put(SETTINGS, body, Some(&admin.access)).await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    }

    // Nothing changed.
    let public = expect_status(app.get("/api/v1/settings", None).await, StatusCode::OK).await;
    assert_eq!(
        public,
        json!({
            "site_name": "Confab",
            "registration_enabled": true,
            "require_email_verification": false,
            "registration_reward": 0,
            "check_in_reward": 0,
            "time_zone": "UTC",
            "tier_multipliers": {"free": 100, "vip": 100, "svip": 100},
        })
    );
}
