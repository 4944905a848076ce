//! Payments from outside: products and channels an admin manages, orders a user makes through
//! each of the four gateways (fake gateways that check Confab's signatures and sign their own
//! notifies), fulfilment exactly once under repeated and concurrent notifies, and every kind of
//! bad notify refused with nothing changed.

use reqwest::StatusCode;
use serde_json::{Value, json};

use confab_server::Settings;
use confab_tests::fake_gateways::{
    FakeAlipay, FakeEpay, FakeNotify, FakeStripe, FakeWechat, GatewayBehavior, NotifyTweak,
};

use crate::helpers::{Session, TestApp, expect_error, expect_status, spawn_app_with};

/// Gateways that do not answer are given up on after two seconds.
/// Where gateways are told to call back (the tests deliver notifies themselves).
pub(crate) const PUBLIC_URL: &str = "https://shop.confab.test";

pub(crate) fn payment_settings(settings: &mut Settings) {
    settings.payments.gateway_timeout_secs = 2;
    settings.server.public_url = PUBLIC_URL.into();
}

pub(crate) async fn payments_app() -> TestApp {
    spawn_app_with(payment_settings).await
}

pub(crate) async fn create_product(app: &TestApp, admin: &Session, body: Value) -> Value {
    expect_status(
        app.post("/api/v1/admin/products", body, Some(&admin.access))
            .await,
        StatusCode::CREATED,
    )
    .await
}

pub(crate) async fn create_channel(
    app: &TestApp,
    admin: &Session,
    kind: &str,
    pay_types: &[&str],
    (settings, secrets): (Value, Value),
) -> Value {
    expect_status(
        app.post(
            "/api/v1/admin/payment-channels",
            json!({"kind": kind, "name": kind, "pay_types": pay_types,
                   "settings": settings, "secrets": secrets}),
            Some(&admin.access),
        )
        .await,
        StatusCode::CREATED,
    )
    .await
}

pub(crate) async fn order(app: &TestApp, user: &Session, body: Value) -> Value {
    expect_status(
        app.post("/api/v1/orders", body, Some(&user.access)).await,
        StatusCode::CREATED,
    )
    .await
}

pub(crate) async fn send(
    app: &TestApp,
    channel: &Value,
    notify: &FakeNotify,
) -> (StatusCode, String) {
    let url = app.url(&format!("/api/v1/payments/{}/notify", channel["id"]));
    let response = notify.send(&app.client, &url).await;
    let status = response.status();
    (status, response.text().await.unwrap())
}

pub(crate) async fn balance(app: &TestApp, user: &Session) -> i64 {
    let credits = expect_status(
        app.get("/api/v1/credits", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    credits["balance"].as_i64().unwrap()
}

async fn order_status(app: &TestApp, user: &Session, order: &Value) -> String {
    let view = expect_status(
        app.get(
            &format!("/api/v1/orders/{}", order["id"]),
            Some(&user.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    view["status"].as_str().unwrap().to_owned()
}

pub(crate) fn no(order: &Value) -> &str {
    order["out_trade_no"].as_str().unwrap()
}

#[tokio::test]
async fn products_are_managed_by_admins_and_listed_while_on_sale() {
    let app = payments_app().await;
    let admin = app.setup_admin().await;
    let user = app.user("shopper").await;
    let credits = create_product(
        &app,
        &admin,
        json!({"title": "1000 credits", "price_cents": 1230, "original_price_cents": 1500,
               "badge": "new", "grant_kind": "credits", "grant_amount": 1000, "sort_order": 2}),
    )
    .await;
    assert_eq!(credits["currency"], "CNY");
    assert_eq!(credits["status"], "on_sale");
    let vip = create_product(
        &app,
        &admin,
        json!({"title": "VIP month", "price_cents": 3000, "grant_kind": "vip_days",
               "grant_amount": 30, "sort_order": 1, "currency": "usd"}),
    )
    .await;
    assert_eq!(vip["currency"], "USD");

    for (body, param) in [
        (
            json!({"title": "", "price_cents": 1, "grant_kind": "credits", "grant_amount": 1}),
            "title",
        ),
        (
            json!({"title": "x", "price_cents": 0, "grant_kind": "credits", "grant_amount": 1}),
            "price_cents",
        ),
        (
            json!({"title": "x", "price_cents": 1, "grant_kind": "vip_days", "grant_amount": 3651}),
            "grant_amount",
        ),
        (
            json!({"title": "x", "price_cents": 1, "grant_kind": "credits", "grant_amount": 1, "currency": "yuan"}),
            "currency",
        ),
        (
            json!({"title": "x", "price_cents": 1, "grant_kind": "credits", "grant_amount": 1, "per_user_limit": 0}),
            "per_user_limit",
        ),
    ] {
        let error = expect_error(
            app.post("/api/v1/admin/products", body, Some(&admin.access))
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert_eq!(error["error"]["param"], param, "{error}");
    }
    expect_error(
        app.post(
            "/api/v1/admin/products",
            json!({"title": "x", "price_cents": 1, "grant_kind": "gold", "grant_amount": 1}),
            Some(&admin.access),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    expect_error(
        app.post(
            "/api/v1/admin/products",
            json!({"title": "x", "price_cents": 1, "grant_kind": "credits", "grant_amount": 1}),
            Some(&user.access),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    let listed = expect_status(app.get("/api/v1/products", None).await, StatusCode::OK).await;
    let titles: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["VIP month", "1000 credits"]);

    let path = format!("/api/v1/admin/products/{}", vip["id"]);
    let changed = expect_status(
        app.patch(
            &path,
            json!({"status": "off_sale", "badge": null}),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["status"], "off_sale");
    let listed = expect_status(app.get("/api/v1/products", None).await, StatusCode::OK).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    expect_status(
        app.delete(&path, Some(&admin.access)).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        app.get(&path, Some(&admin.access)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let all = expect_status(
        app.get("/api/v1/admin/products", Some(&admin.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all["total"], 1);
}

#[tokio::test]
async fn channel_secrets_are_write_only() {
    let app = payments_app().await;
    let admin = app.setup_admin().await;
    let epay = FakeEpay::start().await;
    let (settings, secrets) = epay.channel_config();
    let key = secrets["key"].as_str().unwrap().to_owned();
    let channel = create_channel(
        &app,
        &admin,
        "epay",
        &["alipay", "wxpay"],
        (settings.clone(), secrets),
    )
    .await;
    assert_eq!(channel["secrets_set"], json!(["key"]));
    assert!(!channel.to_string().contains(&key));
    let path = format!("/api/v1/admin/payment-channels/{}", channel["id"]);
    for response in [
        app.get(&path, Some(&admin.access)).await,
        app.get("/api/v1/admin/payment-channels", Some(&admin.access))
            .await,
        app.get("/api/v1/payment-channels", None).await,
    ] {
        let body = expect_status(response, StatusCode::OK).await.to_string();
        assert!(!body.contains(&key), "{body}");
    }
    let public = expect_status(
        app.get("/api/v1/payment-channels", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(public["items"][0]["pay_types"], json!(["alipay", "wxpay"]));
    assert!(public["items"][0].get("settings").is_none());

    // A new key replaces the old one; the settings stay.
    let rotated = expect_status(
        app.patch(
            &path,
            json!({"secrets": {"key": "another-key-0123456789"}}),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rotated["settings"], settings);

    for (body, param) in [
        (
            json!({"kind": "epay", "name": "x", "pay_types": ["alipay"], "settings": {}, "secrets": {"key": "k"}}),
            "settings",
        ),
        (
            json!({"kind": "epay", "name": "", "pay_types": ["alipay"], "settings": settings, "secrets": {"key": "k"}}),
            "name",
        ),
        (
            json!({"kind": "epay", "name": "x", "pay_types": [], "settings": settings, "secrets": {"key": "k"}}),
            "pay_types",
        ),
        (
            json!({"kind": "alipay_f2f", "name": "x", "pay_types": ["alipay"], "settings": {"app_id": "1"}, "secrets": {"app_private_key": "not a key", "alipay_public_key": "no"}}),
            "settings",
        ),
    ] {
        let error = expect_error(
            app.post("/api/v1/admin/payment-channels", body, Some(&admin.access))
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert_eq!(error["error"]["param"], param, "{error}");
    }
}

/// One gateway, end to end: order, what the client shows, the signed notify, the credits.
async fn paid_through(
    app: &TestApp,
    admin: &Session,
    user: &Session,
    channel: &Value,
    pay: impl Fn(&str) -> FakeNotify,
    expected_reply: (StatusCode, &str),
) {
    let before = balance(app, user).await;
    let product = create_product(
        app,
        admin,
        json!({"title": format!("credits via {}", channel["kind"]), "price_cents": 1230,
               "grant_kind": "credits", "grant_amount": 1000, "currency": if channel["kind"] == "stripe" { "USD" } else { "CNY" }}),
    )
    .await;
    let made = order(
        app,
        user,
        json!({"product_id": product["id"], "channel_id": channel["id"]}),
    )
    .await;
    assert_eq!(made["status"], "pending");
    assert_eq!(made["amount_cents"], 1230);
    assert!(
        made["qr_code"].is_string() || made["pay_url"].is_string(),
        "{made}"
    );
    let (status, body) = send(app, channel, &pay(no(&made))).await;
    assert_eq!(
        (status, body.as_str()),
        expected_reply,
        "{}",
        channel["kind"]
    );
    assert_eq!(order_status(app, user, &made).await, "paid");
    assert_eq!(balance(app, user).await, before + 1000);
    let ledger = expect_status(
        app.get("/api/v1/credits/ledger", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    let entry = &ledger["items"][0];
    assert_eq!(entry["kind"], "purchase", "{ledger}");
    assert_eq!(entry["amount"], 1000);
}

#[tokio::test]
async fn an_order_paid_through_each_gateway_credits_the_buyer() {
    let app = payments_app().await;
    let admin = app.setup_admin().await;
    let user = app.user("buyer").await;

    let alipay = FakeAlipay::start().await;
    let channel = create_channel(
        &app,
        &admin,
        "alipay_f2f",
        &["alipay"],
        alipay.channel_config(),
    )
    .await;
    paid_through(
        &app,
        &admin,
        &user,
        &channel,
        |no| alipay.pay(no),
        (StatusCode::OK, "success"),
    )
    .await;
    alipay.assert_no_rejections();

    let epay = FakeEpay::start().await;
    let channel = create_channel(
        &app,
        &admin,
        "epay",
        &["alipay", "wxpay"],
        epay.channel_config(),
    )
    .await;
    paid_through(
        &app,
        &admin,
        &user,
        &channel,
        |no| epay.pay(no),
        (StatusCode::OK, "success"),
    )
    .await;
    epay.assert_no_rejections();

    let wechat = FakeWechat::start().await;
    let channel = create_channel(
        &app,
        &admin,
        "wechat_native",
        &["wxpay"],
        wechat.channel_config(),
    )
    .await;
    paid_through(
        &app,
        &admin,
        &user,
        &channel,
        |no| wechat.pay(no),
        (StatusCode::NO_CONTENT, ""),
    )
    .await;
    wechat.assert_no_rejections();

    let stripe = FakeStripe::start().await;
    let channel = create_channel(&app, &admin, "stripe", &["card"], stripe.channel_config()).await;
    paid_through(
        &app,
        &admin,
        &user,
        &channel,
        |no| stripe.pay(no),
        (StatusCode::OK, r#"{"received":true}"#),
    )
    .await;
    stripe.assert_no_rejections();
}

#[tokio::test]
async fn the_same_notify_ten_times_in_a_row_and_at_once_fulfils_once() {
    the_same_notify_ten_times_in_a_row_and_at_once_fulfils_once_on(payments_app().await).await;
}

/// What [`the_same_notify_ten_times_in_a_row_and_at_once_fulfils_once`] checks, on any app (one instance, or a pair sharing one database).
pub(crate) async fn the_same_notify_ten_times_in_a_row_and_at_once_fulfils_once_on(app: TestApp) {
    let admin = app.setup_admin().await;
    let user = app.user("repeated").await;
    let alipay = FakeAlipay::start().await;
    let channel = create_channel(
        &app,
        &admin,
        "alipay_f2f",
        &["alipay"],
        alipay.channel_config(),
    )
    .await;
    let product = create_product(
        &app,
        &admin,
        json!({"title": "500", "price_cents": 500, "grant_kind": "credits", "grant_amount": 500}),
    )
    .await;
    let made = order(
        &app,
        &user,
        json!({"product_id": product["id"], "pay_type": "alipay"}),
    )
    .await;
    let notify = alipay.pay(no(&made));
    for _ in 0..10 {
        assert_eq!(
            send(&app, &channel, &notify).await,
            (StatusCode::OK, "success".to_owned())
        );
    }
    let at_once =
        futures_util::future::join_all((0..10).map(|_| send(&app, &channel, &notify))).await;
    assert!(
        at_once
            .iter()
            .all(|reply| *reply == (StatusCode::OK, "success".to_owned())),
        "{at_once:?}"
    );
    assert_eq!(balance(&app, &user).await, 500);

    // Ten orders paid at once, each by its notify sent three times at once.
    let mut notifies = Vec::new();
    for _ in 0..10 {
        let made = order(
            &app,
            &user,
            json!({"product_id": product["id"], "pay_type": "alipay"}),
        )
        .await;
        notifies.push(alipay.pay(no(&made)));
    }
    let replies = futures_util::future::join_all(
        notifies
            .iter()
            .flat_map(|n| [n, n, n])
            .map(|n| send(&app, &channel, n)),
    )
    .await;
    assert!(
        replies.iter().all(|reply| reply.0 == StatusCode::OK),
        "{replies:?}"
    );
    assert_eq!(balance(&app, &user).await, 500 * 11);

    let events = expect_status(
        app.get(
            &format!("/api/v1/admin/orders/{}", made["id"]),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let outcomes: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "accepted").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == "duplicate").count(),
        19,
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn bad_notifies_are_refused_and_change_nothing() {
    let app = payments_app().await;
    let admin = app.setup_admin().await;
    let user = app.user("victim").await;
    let product = create_product(
        &app,
        &admin,
        json!({"title": "p", "price_cents": 1000, "grant_kind": "credits", "grant_amount": 100}),
    )
    .await;
    let usd = create_product(
        &app,
        &admin,
        json!({"title": "p$", "price_cents": 1000, "grant_kind": "credits", "grant_amount": 100, "currency": "USD"}),
    )
    .await;

    let alipay = FakeAlipay::start().await;
    let epay = FakeEpay::start().await;
    let wechat = FakeWechat::start().await;
    let stripe = FakeStripe::start().await;
    let other_epay = FakeEpay::start().await;
    let alipay_channel = create_channel(
        &app,
        &admin,
        "alipay_f2f",
        &["alipay"],
        alipay.channel_config(),
    )
    .await;
    let epay_channel =
        create_channel(&app, &admin, "epay", &["qqpay"], epay.channel_config()).await;
    let wechat_channel = create_channel(
        &app,
        &admin,
        "wechat_native",
        &["wxpay"],
        wechat.channel_config(),
    )
    .await;
    let stripe_channel =
        create_channel(&app, &admin, "stripe", &["card"], stripe.channel_config()).await;
    let other_channel = create_channel(
        &app,
        &admin,
        "epay",
        &["other"],
        other_epay.channel_config(),
    )
    .await;

    let at = |channel: &Value, product: &Value| {
        let app = &app;
        let user = &user;
        let body = json!({"product_id": product["id"], "channel_id": channel["id"]});
        async move { order(app, user, body).await }
    };
    let alipay_order = at(&alipay_channel, &product).await;
    let epay_order = at(&epay_channel, &product).await;
    let wechat_order = at(&wechat_channel, &product).await;
    let stripe_order = at(&stripe_channel, &usd).await;
    let other_order = at(&other_channel, &product).await;
    for no in [
        no(&alipay_order),
        no(&epay_order),
        no(&wechat_order),
        no(&stripe_order),
    ] {
        for fake in [&*alipay, &*epay, &*wechat, &*stripe] {
            if fake.order(no).is_some() {
                fake.mark_paid(no);
            }
        }
    }

    let alipay_refused = (StatusCode::OK, "failure".to_owned());
    let epay_refused = (StatusCode::OK, "fail".to_owned());
    let cases: Vec<(&Value, FakeNotify, &str)> = vec![
        (
            &alipay_channel,
            alipay.notify_for(no(&alipay_order), 1, NotifyTweak::None),
            "amount",
        ),
        (
            &alipay_channel,
            alipay.notify_for(no(&alipay_order), 1000, NotifyTweak::TamperAmount(1)),
            "signature",
        ),
        (
            &alipay_channel,
            alipay.notify_for(no(&alipay_order), 1000, NotifyTweak::BadSignature),
            "signature",
        ),
        (
            &alipay_channel,
            alipay.notify_for(no(&alipay_order), 1000, NotifyTweak::WrongKey),
            "signature",
        ),
        (
            &alipay_channel,
            alipay.notify_for(no(&alipay_order), 1000, NotifyTweak::WrongMerchant),
            "merchant",
        ),
        (
            &epay_channel,
            epay.notify_for(no(&epay_order), 1000, NotifyTweak::TamperAmount(1)),
            "signature",
        ),
        (
            &epay_channel,
            epay.notify_for(no(&epay_order), 1000, NotifyTweak::WrongMerchant),
            "merchant",
        ),
        // Validly signed by another channel, for an order of that channel, sent here.
        (
            &epay_channel,
            other_epay.notify_for(no(&other_order), 1000, NotifyTweak::None),
            "signature",
        ),
        // Validly signed by this channel, for an order of another channel.
        (
            &epay_channel,
            epay.notify_for(no(&other_order), 1000, NotifyTweak::None),
            "order",
        ),
        (
            &wechat_channel,
            wechat.notify_for(no(&wechat_order), 1000, NotifyTweak::Stale),
            "stale",
        ),
        (
            &wechat_channel,
            wechat.notify_for(no(&wechat_order), 1000, NotifyTweak::FlipCiphertext),
            "decrypt",
        ),
        (
            &wechat_channel,
            wechat.notify_for(no(&wechat_order), 1000, NotifyTweak::BadSignature),
            "signature",
        ),
        (
            &wechat_channel,
            wechat.notify_for(no(&wechat_order), 1000, NotifyTweak::WrongSerial),
            "serial",
        ),
        (
            &stripe_channel,
            stripe.notify_for(no(&stripe_order), 1000, NotifyTweak::WrongKey),
            "signature",
        ),
        (
            &stripe_channel,
            stripe.notify_for(no(&stripe_order), 1000, NotifyTweak::Stale),
            "stale",
        ),
        (
            &stripe_channel,
            stripe.notify_for(no(&stripe_order), 999, NotifyTweak::None),
            "amount",
        ),
    ];
    for (channel, notify, what) in &cases {
        let reply = send(&app, channel, notify).await;
        let expected_refusal = match channel["kind"].as_str().unwrap() {
            "alipay_f2f" => reply == alipay_refused,
            "epay" => reply == epay_refused,
            _ => reply.0.is_client_error(),
        };
        assert!(
            expected_refusal,
            "{what} via {}: {reply:?}",
            channel["kind"]
        );
    }
    // Unpaid is acknowledged (so the gateway stops) and pays nothing.
    let (status, _) = send(
        &app,
        &epay_channel,
        &epay.notify_for(no(&epay_order), 1000, NotifyTweak::Unpaid),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(balance(&app, &user).await, 0);
    for made in [
        &alipay_order,
        &epay_order,
        &wechat_order,
        &stripe_order,
        &other_order,
    ] {
        assert_eq!(order_status(&app, &user, made).await, "pending", "{made}");
    }
    let listed = expect_status(
        app.get(
            &format!("/api/v1/admin/orders/{}", epay_order["id"]),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let reasons: Vec<&str> = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(!reasons.is_empty(), "{listed}");

    // A Stripe channel whose webhook secret is empty refuses even a correctly signed webhook.
    let (settings, mut secrets) = stripe.channel_config();
    secrets["webhook_secret"] = json!("");
    let open = create_channel(&app, &admin, "stripe", &["card"], (settings, secrets)).await;
    let open_order = at(&open, &usd).await;
    let (status, _) = send(&app, &open, &stripe.pay(no(&open_order))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(order_status(&app, &user, &open_order).await, "pending");
    assert_eq!(balance(&app, &user).await, 0);
}

#[tokio::test]
async fn orders_are_private_and_a_failing_gateway_leaves_an_expired_order() {
    let app = payments_app().await;
    let admin = app.setup_admin().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let epay = FakeEpay::start().await;
    let channel = create_channel(&app, &admin, "epay", &["alipay"], epay.channel_config()).await;
    let product = create_product(
        &app,
        &admin,
        json!({"title": "p", "price_cents": 100, "grant_kind": "credits", "grant_amount": 10, "per_user_limit": 2}),
    )
    .await;
    let made = order(
        &app,
        &alice,
        json!({"product_id": product["id"], "pay_type": "alipay"}),
    )
    .await;
    expect_error(
        app.get(&format!("/api/v1/orders/{}", made["id"]), Some(&bob.access))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let bobs = expect_status(
        app.get("/api/v1/orders", Some(&bob.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(bobs["total"], 0);

    for (body, status, code) in [
        (
            json!({"product_id": 999_999, "pay_type": "alipay"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            json!({"product_id": product["id"], "pay_type": "bitcoin"}),
            StatusCode::CONFLICT,
            "channel_unavailable",
        ),
        (
            json!({"product_id": product["id"], "channel_id": channel["id"], "pay_type": "wxpay"}),
            StatusCode::CONFLICT,
            "channel_unavailable",
        ),
        (
            json!({"product_id": product["id"]}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"product_id": product["id"], "pay_type": "alipay", "quantity": 0}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ] {
        expect_error(
            app.post("/api/v1/orders", body, Some(&bob.access)).await,
            status,
            code,
        )
        .await;
    }
    order(
        &app,
        &alice,
        json!({"product_id": product["id"], "pay_type": "alipay"}),
    )
    .await;
    expect_error(
        app.post(
            "/api/v1/orders",
            json!({"product_id": product["id"], "pay_type": "alipay"}),
            Some(&alice.access),
        )
        .await,
        StatusCode::CONFLICT,
        "purchase_limit_reached",
    )
    .await;

    epay.set_behavior(GatewayBehavior::Hang);
    expect_error(
        app.post(
            "/api/v1/orders",
            json!({"product_id": product["id"], "pay_type": "alipay"}),
            Some(&bob.access),
        )
        .await,
        StatusCode::BAD_GATEWAY,
        "payment_gateway_error",
    )
    .await;
    epay.set_behavior(GatewayBehavior::Fail(500));
    expect_error(
        app.post(
            "/api/v1/orders",
            json!({"product_id": product["id"], "pay_type": "alipay"}),
            Some(&bob.access),
        )
        .await,
        StatusCode::BAD_GATEWAY,
        "payment_gateway_error",
    )
    .await;
    // Stored before the gateway was asked: kept as expired, which counts against no limit.
    let bobs = expect_status(
        app.get("/api/v1/orders", Some(&bob.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(bobs["total"], 2);
    assert!(
        bobs["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "expired"),
        "{bobs}"
    );

    expect_status(
        app.patch(
            &format!("/api/v1/admin/products/{}", product["id"]),
            json!({"status": "off_sale"}),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_error(
        app.post(
            "/api/v1/orders",
            json!({"product_id": product["id"], "pay_type": "alipay"}),
            Some(&bob.access),
        )
        .await,
        StatusCode::CONFLICT,
        "product_unavailable",
    )
    .await;
}

#[tokio::test]
async fn tier_days_are_bought_like_credits() {
    let app = payments_app().await;
    let admin = app.setup_admin().await;
    let user = app.user("vip").await;
    let wechat = FakeWechat::start().await;
    let channel = create_channel(
        &app,
        &admin,
        "wechat_native",
        &["wxpay"],
        wechat.channel_config(),
    )
    .await;
    let month = create_product(
        &app,
        &admin,
        json!({"title": "VIP", "price_cents": 990, "grant_kind": "vip_days", "grant_amount": 30}),
    )
    .await;
    let made = order(
        &app,
        &user,
        json!({"product_id": month["id"], "pay_type": "wxpay", "quantity": 2}),
    )
    .await;
    assert_eq!(made["amount_cents"], 1980);
    assert_eq!(made["grant_amount"], 60);
    let (status, _) = send(&app, &channel, &wechat.pay(no(&made))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let credits = expect_status(
        app.get("/api/v1/credits", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(credits["tier"], "vip", "{credits}");
    let expires: chrono::DateTime<chrono::Utc> = credits["tier_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let days = (expires - chrono::Utc::now()).num_hours();
    assert!((59 * 24..=60 * 24).contains(&days), "{credits}");

    // Four more months paid at once: each adds its days.
    let mut notifies = Vec::new();
    for _ in 0..4 {
        let made = order(
            &app,
            &user,
            json!({"product_id": month["id"], "pay_type": "wxpay"}),
        )
        .await;
        notifies.push(wechat.pay(no(&made)));
    }
    let replies =
        futures_util::future::join_all(notifies.iter().map(|n| send(&app, &channel, n))).await;
    assert!(
        replies.iter().all(|r| r.0 == StatusCode::NO_CONTENT),
        "{replies:?}"
    );
    let credits = expect_status(
        app.get("/api/v1/credits", Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    let later: chrono::DateTime<chrono::Utc> = credits["tier_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!((later - expires).num_days(), 120, "{credits}");
}

/// The secret strings in a channel's secrets: PEM bodies line by line, other values whole.
fn secret_strings(secrets: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for value in secrets.as_object().unwrap().values() {
        let text = value.as_str().unwrap();
        if text.contains("-----BEGIN") {
            found.extend(
                text.lines()
                    .filter(|line| !line.starts_with("-----") && line.len() > 20)
                    .map(str::to_owned),
            );
        } else if !text.is_empty() {
            found.push(text.to_owned());
        }
    }
    found
}

#[tokio::test]
async fn secrets_never_appear_in_an_answer_or_a_log_line() {
    crate::helpers::captured_logs();
    let app = payments_app().await;
    let admin = app.setup_admin().await;
    let user = app.user("watched").await;
    let cny = create_product(
        &app,
        &admin,
        json!({"title": "p", "price_cents": 100, "grant_kind": "credits", "grant_amount": 10}),
    )
    .await;
    let usd = create_product(
        &app,
        &admin,
        json!({"title": "p$", "price_cents": 100, "grant_kind": "credits", "grant_amount": 10, "currency": "USD"}),
    )
    .await;
    let alipay = FakeAlipay::start().await;
    let epay = FakeEpay::start().await;
    let wechat = FakeWechat::start().await;
    let stripe = FakeStripe::start().await;
    let fakes: Vec<(
        &str,
        &str,
        (Value, Value),
        &confab_tests::fake_gateways::FakeGateway,
    )> = vec![
        ("alipay_f2f", "alipay", alipay.channel_config(), &alipay),
        ("epay", "qqpay", epay.channel_config(), &epay),
        ("wechat_native", "wxpay", wechat.channel_config(), &wechat),
        ("stripe", "card", stripe.channel_config(), &stripe),
    ];
    let mut secrets = Vec::new();
    let mut answers = Vec::new();
    for (kind, pay_type, config, fake) in &fakes {
        secrets.extend(secret_strings(&config.1));
        let channel = create_channel(&app, &admin, kind, &[pay_type], config.clone()).await;
        answers.push(channel.to_string());
        let product = if *kind == "stripe" { &usd } else { &cny };
        let made = order(
            &app,
            &user,
            json!({"product_id": product["id"], "channel_id": channel["id"]}),
        )
        .await;
        answers.push(made.to_string());
        // A refused notify, a failing gateway on create, sync and refund: every path that logs.
        let bad = FakeNotify {
            method: "POST".into(),
            content_type: Some("application/x-www-form-urlencoded".into()),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            query: String::new(),
            body: b"sign=x&out_trade_no=y".to_vec(),
        };
        send(&app, &channel, &bad).await;
        fake.set_behavior(GatewayBehavior::Fail(500));
        let failed = app
            .post(
                "/api/v1/orders",
                json!({"product_id": product["id"], "channel_id": channel["id"]}),
                Some(&user.access),
            )
            .await;
        answers.push(failed.text().await.unwrap());
        let synced = app
            .post(
                &format!("/api/v1/admin/orders/{}/sync", made["id"]),
                json!({}),
                Some(&admin.access),
            )
            .await;
        answers.push(synced.text().await.unwrap());
        fake.set_behavior(GatewayBehavior::Normal);
        let listed = app
            .get("/api/v1/admin/payment-channels", Some(&admin.access))
            .await;
        answers.push(listed.text().await.unwrap());
    }
    // Give the last log lines a moment to be written.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = crate::helpers::captured_logs();
    assert!(
        logs.contains("payment notify refused"),
        "the log capture works"
    );
    assert!(secrets.len() >= 8, "{secrets:?}");
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret is in the log");
        for answer in &answers {
            assert!(
                !answer.contains(secret.as_str()),
                "a secret is in an answer: {answer}"
            );
        }
    }
}

#[tokio::test]
async fn a_buyer_closes_an_order_and_lower_tier_days_wait_for_a_higher_tier() {
    let app = payments_app().await;
    let admin = app.setup_admin().await;
    let user = app.user("closer").await;
    let other = app.user("stranger").await;
    let wechat = FakeWechat::start().await;
    let channel = create_channel(
        &app,
        &admin,
        "wechat_native",
        &["wxpay"],
        wechat.channel_config(),
    )
    .await;
    let svip = create_product(
        &app,
        &admin,
        json!({"title": "SVIP", "price_cents": 1990, "grant_kind": "svip_days", "grant_amount": 30}),
    )
    .await;
    let vip = create_product(
        &app,
        &admin,
        json!({"title": "VIP", "price_cents": 990, "grant_kind": "vip_days", "grant_amount": 30}),
    )
    .await;
    let made = order(
        &app,
        &user,
        json!({"product_id": vip["id"], "pay_type": "wxpay"}),
    )
    .await;
    let close = format!("/api/v1/orders/{}/close", made["id"]);
    expect_error(
        app.post(&close, json!({}), Some(&other.access)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let closed = expect_status(
        app.post(&close, json!({}), Some(&user.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(
        wechat.order(no(&made)).unwrap().state,
        confab_tests::fake_gateways::FakeOrderState::Closed
    );
    expect_error(
        app.post(&close, json!({}), Some(&user.access)).await,
        StatusCode::CONFLICT,
        "order_not_pending",
    )
    .await;

    let paid = order(
        &app,
        &user,
        json!({"product_id": svip["id"], "pay_type": "wxpay"}),
    )
    .await;
    send(&app, &channel, &wechat.pay(no(&paid))).await;
    let error = expect_error(
        app.post(
            "/api/v1/orders",
            json!({"product_id": vip["id"], "pay_type": "wxpay"}),
            Some(&user.access),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_eq!(error["error"]["param"], "product_id");
}
