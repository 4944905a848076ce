//! After the order: the periodic job and an admin's sync find payments whose notify was lost,
//! unpaid orders expire and are closed at the gateway (a late payment is still honoured),
//! refunds take back what they can, and orders export as CSV.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use confab_tests::fake_gateways::{
    FakeAlipay, FakeEpay, FakeOrderState, FakeStripe, FakeWechat, GatewayBehavior, NotifyTweak,
};

use crate::helpers::{Session, TestApp, expect_error, expect_status, spawn_app_with};
use crate::payments::{balance, create_channel, create_product, no, order, payments_app, send};

/// Polls the order until it is in `status` (the periodic job runs every second here).
async fn until_status(app: &TestApp, user: &Session, made: &Value, status: &str) -> Value {
    for _ in 0..100 {
        let view = expect_status(
            app.get(
                &format!("/api/v1/orders/{}", made["id"]),
                Some(&user.access),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        if view["status"] == status {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("order {} never became {status}", made["id"]);
}

async fn credits_product(app: &TestApp, admin: &Session, currency: &str) -> Value {
    create_product(
        app,
        admin,
        json!({"title": "1000 credits", "price_cents": 1000, "grant_kind": "credits",
               "grant_amount": 1000, "currency": currency}),
    )
    .await
}

#[tokio::test]
async fn a_payment_whose_notify_was_lost_is_found_and_fulfilled_once() {
    let app = spawn_app_with(|s| {
        s.server.public_url = crate::payments::PUBLIC_URL.into();
        s.payments.reconcile_secs = 1;
        s.payments.notify_grace_secs = 0;
    })
    .await;
    let admin = app.setup_admin().await;
    let user = app.user("patient").await;
    let epay = FakeEpay::start().await;
    let channel = create_channel(&app, &admin, "epay", &["alipay"], epay.channel_config()).await;
    let product = credits_product(&app, &admin, "CNY").await;
    let made = order(
        &app,
        &user,
        json!({"product_id": product["id"], "pay_type": "alipay"}),
    )
    .await;
    epay.mark_paid(no(&made));
    until_status(&app, &user, &made, "paid").await;
    assert_eq!(balance(&app, &user).await, 1000);
    // The notify arrives after all: acknowledged, nothing more credited.
    let late = epay.notify_for(no(&made), 1000, NotifyTweak::None);
    assert_eq!(
        send(&app, &channel, &late).await,
        (StatusCode::OK, "success".to_owned())
    );
    assert_eq!(balance(&app, &user).await, 1000);
    epay.assert_no_rejections();
}

#[tokio::test]
async fn unpaid_orders_expire_closed_at_the_gateway_and_a_late_payment_is_honoured() {
    let app = spawn_app_with(|s| {
        s.server.public_url = crate::payments::PUBLIC_URL.into();
        s.payments.reconcile_secs = 1;
        s.payments.notify_grace_secs = 0;
        s.payments.order_ttl_secs = 2;
    })
    .await;
    let admin = app.setup_admin().await;
    let user = app.user("late").await;
    let alipay = FakeAlipay::start().await;
    let channel = create_channel(
        &app,
        &admin,
        "alipay_f2f",
        &["alipay"],
        alipay.channel_config(),
    )
    .await;
    let product = credits_product(&app, &admin, "CNY").await;
    let made = order(
        &app,
        &user,
        json!({"product_id": product["id"], "pay_type": "alipay"}),
    )
    .await;
    until_status(&app, &user, &made, "expired").await;
    assert_eq!(
        alipay.order(no(&made)).unwrap().state,
        FakeOrderState::Closed
    );
    assert_eq!(balance(&app, &user).await, 0);

    // The money was taken anyway: the order is paid and fulfilled.
    let notify = alipay.notify_for(no(&made), 1000, NotifyTweak::None);
    assert_eq!(
        send(&app, &channel, &notify).await,
        (StatusCode::OK, "success".to_owned())
    );
    until_status(&app, &user, &made, "paid").await;
    assert_eq!(balance(&app, &user).await, 1000);
    let view = expect_status(
        app.get(
            &format!("/api/v1/admin/orders/{}", made["id"]),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let kinds: Vec<&str> = view["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"close") && kinds.contains(&"notify"),
        "{kinds:?}"
    );
}

async fn refund(app: &TestApp, admin: &Session, made: &Value, body: Value) -> reqwest::Response {
    app.post(
        &format!("/api/v1/admin/orders/{}/refund", made["id"]),
        body,
        Some(&admin.access),
    )
    .await
}

#[tokio::test]
async fn refunds_take_back_what_the_balance_allows() {
    let app = payments_app().await;
    let admin = app.setup_admin().await;
    let user = app.user("refunded").await;
    let wechat = FakeWechat::start().await;
    let channel = create_channel(
        &app,
        &admin,
        "wechat_native",
        &["wxpay"],
        wechat.channel_config(),
    )
    .await;
    let product = credits_product(&app, &admin, "CNY").await;
    let pending = order(
        &app,
        &user,
        json!({"product_id": product["id"], "pay_type": "wxpay"}),
    )
    .await;
    expect_error(
        refund(&app, &admin, &pending, json!({"reason": "early"})).await,
        StatusCode::CONFLICT,
        "order_not_refundable",
    )
    .await;
    let made = order(
        &app,
        &user,
        json!({"product_id": product["id"], "pay_type": "wxpay"}),
    )
    .await;
    send(&app, &channel, &wechat.pay(no(&made))).await;
    assert_eq!(balance(&app, &user).await, 1000);
    // 700 of the 1000 credits are spent.
    expect_status(
        app.post(
            &format!("/api/v1/admin/users/{}/credits", user.user_id),
            json!({"amount": -700, "reason": "spent"}),
            Some(&admin.access),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;

    let error = expect_error(
        refund(&app, &admin, &made, json!({"reason": ""})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(error["error"]["param"], "reason");
    expect_error(
        refund(
            &app,
            &admin,
            &made,
            json!({"amount_cents": 1001, "reason": "too much"}),
        )
        .await,
        StatusCode::CONFLICT,
        "refund_exceeds_paid",
    )
    .await;
    expect_error(
        refund(&app, &user, &made, json!({"reason": "mine"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    let half = expect_status(
        refund(
            &app,
            &admin,
            &made,
            json!({"amount_cents": 500, "reason": "half"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(half["refund"]["status"], "succeeded", "{half}");
    assert_eq!(half["refund"]["credits_taken_back"], 300);
    assert_eq!(half["refund"]["credits_unrecovered"], 200);
    assert_eq!(half["order"]["status"], "partially_refunded");
    assert_eq!(half["order"]["refunded_cents"], 500);
    assert_eq!(balance(&app, &user).await, 0);

    let rest = expect_status(
        refund(&app, &admin, &made, json!({"reason": "the rest"})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rest["refund"]["amount_cents"], 500);
    assert_eq!(rest["refund"]["credits_taken_back"], 0);
    assert_eq!(rest["refund"]["credits_unrecovered"], 500);
    assert_eq!(rest["order"]["status"], "refunded");
    assert_eq!(rest["order"]["credits_unrecovered"], 700);
    let refunds: Vec<i64> = wechat.refunds().iter().map(|r| r.amount_cents).collect();
    assert_eq!(refunds, [500, 500]);
    expect_error(
        refund(&app, &admin, &made, json!({"reason": "again"})).await,
        StatusCode::CONFLICT,
        "order_not_refundable",
    )
    .await;

    // Refunds at once never refund more than was paid.
    let stripe = FakeStripe::start().await;
    let stripe_channel =
        create_channel(&app, &admin, "stripe", &["card"], stripe.channel_config()).await;
    let usd = credits_product(&app, &admin, "USD").await;
    let other = order(
        &app,
        &user,
        json!({"product_id": usd["id"], "channel_id": stripe_channel["id"]}),
    )
    .await;
    send(&app, &stripe_channel, &stripe.pay(no(&other))).await;
    assert_eq!(balance(&app, &user).await, 1000);
    let replies = futures_util::future::join_all((0..5).map(|_| {
        refund(
            &app,
            &admin,
            &other,
            json!({"amount_cents": 400, "reason": "burst"}),
        )
    }))
    .await;
    let ok = replies
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    assert_eq!(
        ok,
        2,
        "{:?}",
        replies
            .iter()
            .map(reqwest::Response::status)
            .collect::<Vec<_>>()
    );
    assert_eq!(stripe.refunds().len(), 2);
    assert_eq!(balance(&app, &user).await, 200);
    let ledger = expect_status(
        app.get("/api/v1/credits/ledger?kind=refund", Some(&user.access))
            .await,
        StatusCode::OK,
    )
    .await;
    let amounts: Vec<i64> = ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts.iter().sum::<i64>(), -1100, "{ledger}");

    // The export lists what was refunded.
    let response = app
        .get(
            "/api/v1/admin/orders/export?status=refunded",
            Some(&admin.access),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("id,out_trade_no,user_id"));
    assert!(
        lines[1].contains(no(&made)) && lines[1].contains(",refunded,"),
        "{csv}"
    );
}

#[tokio::test]
async fn an_admin_sync_fulfils_a_paid_order_at_once() {
    let app = payments_app().await;
    let admin = app.setup_admin().await;
    let user = app.user("synced").await;
    let epay = FakeEpay::start().await;
    create_channel(&app, &admin, "epay", &["alipay"], epay.channel_config()).await;
    let product = credits_product(&app, &admin, "CNY").await;
    let made = order(
        &app,
        &user,
        json!({"product_id": product["id"], "pay_type": "alipay"}),
    )
    .await;
    let path = format!("/api/v1/admin/orders/{}/sync", made["id"]);
    let unpaid = expect_status(
        app.post(&path, json!({}), Some(&admin.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(unpaid["status"], "pending");
    epay.mark_paid(no(&made));
    let synced = expect_status(
        app.post(&path, json!({}), Some(&admin.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(synced["status"], "paid", "{synced}");
    assert!(synced["trade_no"].is_string());
    assert_eq!(balance(&app, &user).await, 1000);
    epay.set_behavior(GatewayBehavior::Hang);
    expect_error(
        app.post(&path, json!({}), Some(&admin.access)).await,
        StatusCode::BAD_GATEWAY,
        "payment_gateway_error",
    )
    .await;
    expect_error(
        app.post(
            "/api/v1/admin/orders/999999/sync",
            json!({}),
            Some(&admin.access),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_refund_whose_answer_was_lost_is_finished_under_the_same_number() {
    let app = spawn_app_with(|s| {
        s.server.public_url = crate::payments::PUBLIC_URL.into();
        s.payments.reconcile_secs = 1;
        s.payments.gateway_timeout_secs = 1;
    })
    .await;
    let admin = app.setup_admin().await;
    let user = app.user("waiting").await;
    let wechat = FakeWechat::start().await;
    let channel = create_channel(
        &app,
        &admin,
        "wechat_native",
        &["wxpay"],
        wechat.channel_config(),
    )
    .await;
    let product = credits_product(&app, &admin, "CNY").await;
    let made = order(
        &app,
        &user,
        json!({"product_id": product["id"], "pay_type": "wxpay"}),
    )
    .await;
    send(&app, &channel, &wechat.pay(no(&made))).await;
    wechat.set_behavior(GatewayBehavior::Hang);
    expect_error(
        refund(
            &app,
            &admin,
            &made,
            json!({"amount_cents": 400, "reason": "lost"}),
        )
        .await,
        StatusCode::BAD_GATEWAY,
        "payment_gateway_error",
    )
    .await;
    // Reserved meanwhile: nothing more than what is left may be refunded.
    expect_error(
        refund(
            &app,
            &admin,
            &made,
            json!({"amount_cents": 700, "reason": "more"}),
        )
        .await,
        StatusCode::CONFLICT,
        "refund_exceeds_paid",
    )
    .await;
    wechat.set_behavior(GatewayBehavior::Normal);
    until_status(&app, &user, &made, "partially_refunded").await;
    assert_eq!(balance(&app, &user).await, 600);
    let view = expect_status(
        app.get(
            &format!("/api/v1/admin/orders/{}", made["id"]),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let refunds = view["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{view}");
    assert_eq!(refunds[0]["status"], "succeeded");
    let numbers: std::collections::BTreeSet<String> =
        wechat.refunds().into_iter().map(|r| r.refund_no).collect();
    assert_eq!(
        numbers.len(),
        1,
        "asked again under the same number: {numbers:?}"
    );
}

#[tokio::test]
async fn channels_refuse_currencies_they_cannot_take_and_limits_count_units() {
    let app = payments_app().await;
    let admin = app.setup_admin().await;
    let user = app.user("units").await;
    let epay = FakeEpay::start().await;
    create_channel(&app, &admin, "epay", &["alipay"], epay.channel_config()).await;
    let usd = credits_product(&app, &admin, "USD").await;
    let error = expect_error(
        app.post(
            "/api/v1/orders",
            json!({"product_id": usd["id"], "pay_type": "alipay"}),
            Some(&user.access),
        )
        .await,
        StatusCode::CONFLICT,
        "channel_unavailable",
    )
    .await;
    assert_eq!(error["error"]["param"], "channel_id");
    assert_eq!(epay.hits(), 0);
    let limited = create_product(
        &app,
        &admin,
        json!({"title": "twice", "price_cents": 100, "grant_kind": "credits", "grant_amount": 1, "per_user_limit": 2}),
    )
    .await;
    expect_error(
        app.post(
            "/api/v1/orders",
            json!({"product_id": limited["id"], "pay_type": "alipay", "quantity": 3}),
            Some(&user.access),
        )
        .await,
        StatusCode::CONFLICT,
        "purchase_limit_reached",
    )
    .await;
    order(
        &app,
        &user,
        json!({"product_id": limited["id"], "pay_type": "alipay", "quantity": 2}),
    )
    .await;
}

/// The export as a spreadsheet would open it: a gateway's trade number or a title that would
/// run as a formula (also behind a tab) is neutralised, and an export longer than one database
/// batch (1,000 orders) comes whole, newest first.
#[tokio::test]
async fn the_order_export_neutralises_formulas_and_streams_every_order() {
    let app = payments_app().await;
    let admin = app.setup_admin().await;
    let user = app.user("exported").await;
    let epay = FakeEpay::start().await;
    let channel = create_channel(&app, &admin, "epay", &["alipay"], epay.channel_config()).await;
    let product = create_product(
        &app,
        &admin,
        json!({"title": "=HYPERLINK(\"http://evil.example\")", "price_cents": 100,
               "grant_kind": "credits", "grant_amount": 1}),
    )
    .await;
    let body = json!({"product_id": product["id"], "channel_id": channel["id"]});
    let mut made = Vec::new();
    for chunk in 0..21 {
        let orders =
            futures_util::future::join_all((0..50).map(|_| order(&app, &user, body.clone())));
        made.extend(orders.await);
        assert_eq!(made.len(), (chunk + 1) * 50);
    }
    // Paid, with a trade number that hides a formula behind a tab.
    let paid = made
        .iter()
        .max_by_key(|o| o["id"].as_i64().unwrap())
        .unwrap();
    epay.set_trade_no(no(paid), "\t=1+2");
    let notify = epay.pay(no(paid));
    assert_eq!(send(&app, &channel, &notify).await.0, StatusCode::OK);

    let response = app
        .get("/api/v1/admin/orders/export", Some(&admin.access))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 1050, "header and every order");
    assert!(lines[0].starts_with("id,out_trade_no,"));
    let ids: Vec<i64> = lines[1..]
        .iter()
        .map(|line| line.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first, no repeats"
    );
    assert!(
        lines[1].contains(no(paid)) && lines[1].contains(",paid,"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains(",'\t=1+2,"), "{:?}", lines[1]);
    assert!(
        lines[1..]
            .iter()
            .all(|line| line.contains(",\"'=HYPERLINK(\"\"http://evil.example\"\")\",")),
        "{:?}",
        lines[1]
    );
}
