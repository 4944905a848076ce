//! Card codes: batches returned once (JSON or CSV), stored hashed, redeemed exactly once under
//! any concurrency, with a distinct error for each reason a code does not work.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chats::app;
use crate::helpers::{Session, TestApp, expect_error, expect_status};

async fn batch(app: &TestApp, admin: &Session, body: Value) -> Value {
    expect_status(
        app.post("/api/v1/admin/redemption-codes", body, Some(&admin.access))
            .await,
        StatusCode::CREATED,
    )
    .await
}

fn codes(batch: &Value) -> Vec<String> {
    batch["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

async fn redeem(app: &TestApp, user: &Session, code: &str) -> reqwest::Response {
    app.post(
        "/api/v1/redemptions",
        json!({"code": code}),
        Some(&user.access),
    )
    .await
}

async fn balance(app: &TestApp, user: &Session) -> Value {
    expect_status(
        app.get("/api/v1/credits", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await
}

#[tokio::test]
async fn codes_are_shown_once_and_each_failure_has_its_own_error() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let created = batch(
        &app,
        &admin,
        json!({"kind": "credits", "amount": 500, "quantity": 5, "note": "launch promo"}),
    )
    .await;
    let all = codes(&created);
    assert_eq!(all.len(), 5);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 5);
    assert!(
        all[0].len() == 23 && all[0].matches('-').count() == 3,
        "{}",
        all[0]
    );
    let batch_id = created["batch"]["id"].as_i64().unwrap();
    assert_eq!(created["batch"]["note"], "launch promo");

    // Listed with a prefix and a status, never the code itself.
    let listed = expect_status(
        app.get(
            &format!("/api/v1/admin/redemption-codes?batch_id={batch_id}"),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["total"], 5);
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "unused")
    );
    for code in &all {
        assert!(!listed.to_string().contains(&code.replace('-', "")[..12]));
    }
    let by_prefix = expect_status(
        app.get(
            &format!("/api/v1/admin/redemption-codes?prefix={}", &all[0][..4]),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(by_prefix["total"].as_u64().unwrap() >= 1);

    // Redeemed once; typed in lower case without dashes works too.
    let user = app.user("lucky").await;
    let redeemed = expect_status(redeem(&app, &user, &all[0]).await, StatusCode::OK).await;
    assert_eq!(redeemed["kind"], "credits");
    assert_eq!(redeemed["credits"]["balance"], 500);
    // The same user again (its answer was lost): the first answer again, nothing granted twice.
    let again = expect_status(redeem(&app, &user, &all[0]).await, StatusCode::OK).await;
    assert_eq!(again, redeemed);
    let sloppy = all[1].replace('-', " ").to_lowercase();
    expect_status(redeem(&app, &user, &sloppy).await, StatusCode::OK).await;
    assert_eq!(balance(&app, &user).await["balance"], 1000);
    let ledger = expect_status(
        app.get("/api/v1/credits/ledger?kind=redemption", Some(&user.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ledger["total"], 2);
    let mine = expect_status(
        app.get("/api/v1/redemptions", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(mine["total"], 2);
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "used")
    );

    let other = app.user("late").await;
    let error = expect_error(
        redeem(&app, &other, &all[0]).await,
        StatusCode::CONFLICT,
        "redemption_code_used",
    )
    .await;
    assert_eq!(error["error"]["param"], "code");
    expect_error(
        redeem(&app, &other, "AAAAA-BBBBB-CCCCC-DDDDD").await,
        StatusCode::NOT_FOUND,
        "redemption_code_not_found",
    )
    .await;
    expect_error(
        redeem(&app, &other, "short").await,
        StatusCode::NOT_FOUND,
        "redemption_code_not_found",
    )
    .await;

    // Voided: one code, then the rest of the batch.
    let code_id = |code: &str| {
        let prefix = code[..4].to_owned();
        let app = &app;
        let admin = &admin;
        async move {
            let page = expect_status(
                app.get(
                    &format!("/api/v1/admin/redemption-codes?prefix={prefix}&status=unused"),
                    Some(&admin.access),
                )
                .await,
                StatusCode::OK,
            )
            .await;
            page["items"][0]["id"].as_i64().unwrap()
        }
    };
    let id = code_id(&all[2]).await;
    let voided = expect_status(
        app.post(
            &format!("/api/v1/admin/redemption-codes/{id}/void"),
            json!({}),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(voided["status"], "voided");
    expect_error(
        redeem(&app, &other, &all[2]).await,
        StatusCode::CONFLICT,
        "redemption_code_voided",
    )
    .await;
    let used_id = mine["items"][0]["id"].as_i64().unwrap();
    expect_error(
        app.post(
            &format!("/api/v1/admin/redemption-codes/{used_id}/void"),
            json!({}),
            Some(&admin.access),
        )
        .await,
        StatusCode::CONFLICT,
        "redemption_code_used",
    )
    .await;
    let rest = expect_status(
        app.post(
            &format!("/api/v1/admin/redemption-batches/{batch_id}/void"),
            json!({}),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rest["voided"], 2);
    expect_error(
        redeem(&app, &other, &all[4]).await,
        StatusCode::CONFLICT,
        "redemption_code_voided",
    )
    .await;

    // Expired.
    let expiring = batch(
        &app,
        &admin,
        json!({"kind": "credits", "amount": 1, "quantity": 1,
               "expires_at": (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339()}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    expect_error(
        redeem(&app, &other, &codes(&expiring)[0]).await,
        StatusCode::CONFLICT,
        "redemption_code_expired",
    )
    .await;
    let expired = expect_status(
        app.get(
            "/api/v1/admin/redemption-codes?status=expired",
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(expired["total"], 1);
    assert_eq!(balance(&app, &other).await["balance"], 0);
    let batches = expect_status(
        app.get("/api/v1/admin/redemption-batches", Some(&admin.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(batches["total"], 2);
}

#[tokio::test]
async fn batches_come_as_csv_up_to_ten_thousand_and_bad_batches_are_refused() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let response = app
        .post(
            "/api/v1/admin/redemption-codes?format=csv",
            json!({"kind": "vip_days", "amount": 30, "quantity": 3}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "code,kind,amount,expires_at,batch_id");
    assert_eq!(lines.len(), 4);
    assert!(lines[1].contains(",vip_days,30,,"), "{}", lines[1]);

    let big = batch(
        &app,
        &admin,
        json!({"kind": "credits", "amount": 1, "quantity": 10_000}),
    )
    .await;
    assert_eq!(codes(&big).iter().collect::<HashSet<_>>().len(), 10_000);

    let cases = [
        (
            json!({"kind": "credits", "amount": 1, "quantity": 0}),
            "quantity",
        ),
        (
            json!({"kind": "credits", "amount": 1, "quantity": 10_001}),
            "quantity",
        ),
        (
            json!({"kind": "credits", "amount": 0, "quantity": 1}),
            "amount",
        ),
        (
            json!({"kind": "svip_days", "amount": 4000, "quantity": 1}),
            "amount",
        ),
        (
            json!({"kind": "credits", "amount": 1, "quantity": 1, "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"kind": "credits", "amount": 1, "quantity": 1, "note": "n".repeat(201)}),
            "note",
        ),
    ];
    for (body, param) in cases {
        let error = expect_error(
            app.post(
                "/api/v1/admin/redemption-codes",
                body.clone(),
                Some(&admin.access),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert_eq!(error["error"]["param"], param, "{body}");
    }
    expect_error(
        app.post(
            "/api/v1/admin/redemption-codes",
            json!({"kind": "gold", "amount": 1, "quantity": 1}),
            Some(&admin.access),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    expect_error(
        app.post(
            "/api/v1/admin/redemption-codes?format=xml",
            json!({"kind": "credits", "amount": 1, "quantity": 1}),
            Some(&admin.access),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    expect_error(
        app.get(
            "/api/v1/admin/redemption-codes?status=lost",
            Some(&admin.access),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    let user = app.user("nosy").await;
    expect_error(
        app.post(
            "/api/v1/admin/redemption-codes",
            json!({"kind": "credits", "amount": 1, "quantity": 1}),
            Some(&user.access),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.post(
            "/api/v1/admin/redemption-batches/999999/void",
            json!({}),
            Some(&admin.access),
        )
        .await,
        StatusCode::NOT_FOUND,
        "redemption_code_not_found",
    )
    .await;
}

#[tokio::test]
async fn fifty_users_redeeming_one_code_at_once_get_it_once() {
    fifty_users_redeeming_one_code_at_once_get_it_once_on(app().await).await;
}

/// What [`fifty_users_redeeming_one_code_at_once_get_it_once`] checks, on any app (one instance, or a pair sharing one database).
pub(crate) async fn fifty_users_redeeming_one_code_at_once_get_it_once_on(app: TestApp) {
    let admin = app.setup_admin().await;
    let code = codes(
        &batch(
            &app,
            &admin,
            json!({"kind": "credits", "amount": 700, "quantity": 1}),
        )
        .await,
    )
    .remove(0);
    let mut users = Vec::new();
    for i in 0..50 {
        users.push(app.user(&format!("rush{i}")).await);
    }
    let statuses = futures_util::future::join_all(
        users
            .iter()
            .map(|user| async { redeem(&app, user, &code).await.status() }),
    )
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        49
    );
    let mut total = 0;
    for user in &users {
        total += balance(&app, user).await["balance"].as_i64().unwrap();
    }
    assert_eq!(total, 700);
    // Whoever got it sends it ten times more at once (retries): the same answer each time.
    let (winner, _) = users
        .iter()
        .zip(&statuses)
        .find(|(_, status)| **status == StatusCode::OK)
        .unwrap();
    let retries =
        futures_util::future::join_all((0..10).map(|_| redeem(&app, winner, &code))).await;
    for retry in retries {
        let answer = expect_status(retry, StatusCode::OK).await;
        assert_eq!(
            (
                answer["amount"].clone(),
                answer["credits"]["balance"].clone()
            ),
            (json!(700), json!(700))
        );
    }
    let ledger = expect_status(
        app.get("/api/v1/admin/ledger?kind=redemption", Some(&admin.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ledger["total"], 1);
}

#[tokio::test]
async fn tier_days_extend_the_same_tier_and_never_cut_a_higher_one() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let vip = codes(
        &batch(
            &app,
            &admin,
            json!({"kind": "vip_days", "amount": 30, "quantity": 3}),
        )
        .await,
    );
    let svip = codes(
        &batch(
            &app,
            &admin,
            json!({"kind": "svip_days", "amount": 10, "quantity": 1}),
        )
        .await,
    );
    let user = app.user("member").await;
    let now = chrono::Utc::now();
    let days_left = |credits: &Value| {
        let expiry: chrono::DateTime<chrono::Utc> = credits["tier_expires_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        (expiry - now).num_hours() as f64 / 24.0
    };

    let first = expect_status(redeem(&app, &user, &vip[0]).await, StatusCode::OK).await;
    assert_eq!(first["credits"]["tier"], "vip");
    assert!((days_left(&first["credits"]) - 30.0).abs() < 0.1);
    let second = expect_status(redeem(&app, &user, &vip[1]).await, StatusCode::OK).await;
    assert!((days_left(&second["credits"]) - 60.0).abs() < 0.1);
    let upgraded = expect_status(redeem(&app, &user, &svip[0]).await, StatusCode::OK).await;
    assert_eq!(upgraded["credits"]["tier"], "svip");
    assert!((days_left(&upgraded["credits"]) - 10.0).abs() < 0.1);
    // vip days while svip runs: refused, and the code stays usable.
    let error = expect_error(
        redeem(&app, &user, &vip[2]).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_eq!(error["error"]["param"], "code");
    let other = app.user("friend").await;
    let given = expect_status(redeem(&app, &other, &vip[2]).await, StatusCode::OK).await;
    assert_eq!(given["credits"]["tier"], "vip");
}

#[tokio::test]
async fn repeated_failures_are_answered_with_429() {
    let app = app().await;
    let admin = app.setup_admin().await;
    let good = codes(
        &batch(
            &app,
            &admin,
            json!({"kind": "credits", "amount": 5, "quantity": 1}),
        )
        .await,
    )
    .remove(0);
    let guesser = app.user("guesser").await;
    for i in 0..10 {
        expect_error(
            redeem(&app, &guesser, &format!("AAAAA-BBBBB-CCCCC-DDDD{i}")).await,
            StatusCode::NOT_FOUND,
            "redemption_code_not_found",
        )
        .await;
    }
    let response = redeem(&app, &guesser, &good).await;
    assert!(response.headers().contains_key("retry-after"));
    expect_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(balance(&app, &guesser).await["balance"], 0);
    // Others are not locked out by one user's guessing (below the per-address bound).
    let honest = app.user("honest").await;
    expect_status(redeem(&app, &honest, &good).await, StatusCode::OK).await;
}

/// The limits are settings: three failures per user here. A redemption that is not a guess (a
/// code that works, or the redeemer's own retry) is not counted.
#[tokio::test]
async fn the_failure_limits_come_from_the_settings() {
    let app = crate::helpers::spawn_app_with(|settings| {
        settings.credits.redemption_failures_per_user = 3;
    })
    .await;
    let admin = app.setup_admin().await;
    let good = codes(
        &batch(
            &app,
            &admin,
            json!({"kind": "credits", "amount": 5, "quantity": 2}),
        )
        .await,
    );
    let guesser = app.user("counted").await;
    for _ in 0..3 {
        expect_status(redeem(&app, &guesser, &good[0]).await, StatusCode::OK).await;
    }
    for i in 0..3 {
        expect_error(
            redeem(&app, &guesser, &format!("AAAAA-BBBBB-CCCCC-DDDD{i}")).await,
            StatusCode::NOT_FOUND,
            "redemption_code_not_found",
        )
        .await;
    }
    let refused = redeem(&app, &guesser, &good[1]).await;
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    expect_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}
