//! Throttles under bursts: every attempt is counted before the credential is checked, so no
//! amount of concurrency gets more guesses past a limit than the limit.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

const LOGIN: &str = "/api/v1/auth/login";

/// Sends every body to `path` at once and returns each answer's status, Retry-After and body.
async fn burst(
    app: &TestApp,
    path: &str,
    bodies: Vec<Value>,
) -> Vec<(StatusCode, Option<u64>, Value)> {
    let requests = bodies.into_iter().map(|body| async move {
        let response = app.post(path, body, None).await;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|value| value.to_str().unwrap().parse::<u64>().unwrap());
        (status, retry_after, response.json::<Value>().await.unwrap())
    });
    join_all(requests).await
}

fn count(answers: &[(StatusCode, Option<u64>, Value)], status: StatusCode, code: &str) -> usize {
    answers
        .iter()
        .filter(|(s, _, body)| *s == status && body["error"]["code"] == code)
        .count()
}

#[tokio::test]
async fn a_burst_of_wrong_passwords_gets_exactly_the_limit_checked() {
    a_burst_of_wrong_passwords_gets_exactly_the_limit_checked_on(spawn_app().await).await;
}

/// What [`a_burst_of_wrong_passwords_gets_exactly_the_limit_checked`] checks, on any app (one instance, or a pair sharing one database).
pub(crate) async fn a_burst_of_wrong_passwords_gets_exactly_the_limit_checked_on(app: TestApp) {
    app.register("burst").await;
    let bodies = (0..40)
        .map(|n| json!({"username": "burst", "password": format!("wrong password {n}")}))
        .collect();
    let answers = burst(&app, LOGIN, bodies).await;

    assert_eq!(
        count(&answers, StatusCode::UNAUTHORIZED, "invalid_credentials"),
        5,
        "{answers:?}"
    );
    assert_eq!(
        count(&answers, StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        35,
        "{answers:?}"
    );
    for (status, retry_after, _) in &answers {
        if *status == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                retry_after.is_some_and(|s| (1..=900).contains(&s)),
                "{retry_after:?}"
            );
        }
    }
    // The right password is refused too while the window lasts.
    let right = app
        .post(
            LOGIN,
            json!({"username": "burst", "password": USER_PASSWORD}),
            None,
        )
        .await;
    expect_error(right, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn username_and_email_share_one_count() {
    let app = spawn_app().await;
    app.register("twofaced").await;
    for n in 0..3 {
        let response = app
            .post(
                LOGIN,
                json!({"username": "twofaced", "password": format!("wrong {n}")}),
                None,
            )
            .await;
        expect_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    // The email, in the username field and in the email field, is the same account.
    for body in [
        json!({"username": "TwoFaced@Example.com", "password": "wrong 3"}),
        json!({"email": "twofaced@example.com", "password": "wrong 4"}),
    ] {
        let response = app.post(LOGIN, body, None).await;
        expect_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    for body in [
        json!({"username": "twofaced", "password": USER_PASSWORD}),
        json!({"email": "twofaced@example.com", "password": USER_PASSWORD}),
    ] {
        let response = app.post(LOGIN, body, None).await;
        expect_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
}

#[tokio::test]
async fn a_successful_login_starts_the_count_over() {
    let app = spawn_app().await;
    app.register("forgetful").await;
    for n in 0..4 {
        let response = app
            .post(
                LOGIN,
                json!({"username": "forgetful", "password": format!("wrong {n}")}),
                None,
            )
            .await;
        expect_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    app.login("forgetful", USER_PASSWORD).await;
    for n in 0..5 {
        let response = app
            .post(
                LOGIN,
                json!({"email": "forgetful@example.com", "password": format!("again {n}")}),
                None,
            )
            .await;
        expect_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let response = app
        .post(
            LOGIN,
            json!({"username": "forgetful", "password": "again 5"}),
            None,
        )
        .await;
    expect_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn a_burst_of_wrong_reset_codes_cannot_exceed_the_attempts() {
    let app = spawn_app().await;
    app.register("resetter").await;
    let code = app
        .emailed_code("resetter@example.com", "password_reset")
        .await;
    let bodies = (0..60)
        .map(|n| {
            // Sixty codes that are all wrong: none of them equals the one sent.
            let guess = format!("{:06}", (code.parse::<u32>().unwrap() + 1 + n) % 1_000_000);
            json!({"email": "resetter@example.com", "code": guess, "new_password": "a new passphrase"})
        })
        .collect();
    let answers = burst(&app, "/api/v1/auth/password-reset", bodies).await;
    assert_eq!(
        count(&answers, StatusCode::BAD_REQUEST, "invalid_code"),
        60,
        "{answers:?}"
    );
    for (_, _, body) in &answers {
        assert_eq!(body["error"]["param"], "code");
    }
    // Five guesses were compared, so the code is spent: the right one is refused now.
    let right = app
        .post(
            "/api/v1/auth/password-reset",
            json!({"email": "resetter@example.com", "code": code, "new_password": "a new passphrase"}),
            None,
        )
        .await;
    let error = expect_error(right, StatusCode::BAD_REQUEST, "invalid_code").await;
    assert_eq!(error["error"]["param"], "code");
    app.login("resetter", USER_PASSWORD).await;
}

#[tokio::test]
async fn the_right_code_works_within_the_attempts() {
    let app = spawn_app().await;
    app.register("patient").await;
    let code = app
        .emailed_code("patient@example.com", "password_reset")
        .await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        let response = app
            .post(
                "/api/v1/auth/password-reset",
                json!({"email": "patient@example.com", "code": wrong, "new_password": "a new passphrase"}),
                None,
            )
            .await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_code").await;
    }
    let right = app
        .post(
            "/api/v1/auth/password-reset",
            json!({"email": "patient@example.com", "code": code, "new_password": "a new passphrase"}),
            None,
        )
        .await;
    expect_status(right, StatusCode::NO_CONTENT).await;
    app.login("patient", "a new passphrase").await;
}

/// A login from `address` (the server trusts X-Forwarded-For here, as behind its proxy).
async fn login_from(app: &TestApp, address: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url(LOGIN))
        .header("x-forwarded-for", address)
        .json(&json!({"username": "target", "password": password}))
        .send()
        .await
        .unwrap()
}

/// Wrong passwords from one address throttle that address on that account, never the owner
/// elsewhere; only guessing spread over many addresses reaches the account's own ceiling
/// (12 here, 100 by default), which then refuses the account everywhere.
#[tokio::test]
async fn a_guesser_is_throttled_while_the_owner_logs_in_from_elsewhere() {
    let app = spawn_app_with(|settings| {
        settings.server.trust_forwarded_for = true;
        settings.auth.login_failures_per_account = 12;
    })
    .await;
    app.register("target").await;
    let attacker = "203.0.113.66";
    let mut statuses = Vec::new();
    for n in 0..10 {
        statuses.push(
            login_from(&app, attacker, &format!("guess {n}"))
                .await
                .status(),
        );
    }
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((10 - refused, refused), (5, 5), "{statuses:?}");
    // The attacker's address is refused even the right password; the owner is not.
    expect_error(
        login_from(&app, attacker, USER_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    expect_status(
        login_from(&app, "198.51.100.7", USER_PASSWORD).await,
        StatusCode::OK,
    )
    .await;

    // Seven more failures from other addresses fill the account's ceiling (5 + 7 = 12).
    for n in 0..7 {
        let address = format!("192.0.2.{}", n + 1);
        expect_error(
            login_from(&app, &address, "another guess").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }
    expect_error(
        login_from(&app, "198.51.100.7", USER_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}
