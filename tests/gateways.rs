//! Drives each `confab-payments` gateway client against its fake: create, query, notify
//! verification (and every tamper knob), close, refund, and unreachable gateways.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use chrono::Utc;
use confab_payments::gateways::{
    self, ChannelKind, Gateway, GatewayError, GatewayState, Notify, NotifyEvent, OrderRef,
    PayRequest, RefundRequest,
};
use confab_tests::fake_gateways::{
    FakeAlipay, FakeEpay, FakeGateway, FakeNotify, FakeOrderState, FakeStripe, FakeWechat,
    GatewayBehavior, NotifyTweak,
};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(5);

fn gateway(kind: ChannelKind, config: &(Value, Value), timeout: Duration) -> Box<dyn Gateway> {
    gateways::validate(kind, &config.0, &config.1).unwrap();
    gateways::build(kind, &config.0, &config.1, reqwest::Client::new(), timeout).unwrap()
}

fn notify_of(n: &FakeNotify) -> Notify {
    Notify {
        method: n.method.clone(),
        query: n.query.clone(),
        headers: n.headers.clone(),
        body: n.body.clone(),
    }
}

fn pay_request(no: &str, cents: i64, currency: &str, pay_type: &str) -> PayRequest {
    PayRequest {
        out_trade_no: no.to_owned(),
        subject: "Confab credits 积分".to_owned(),
        amount_cents: cents,
        currency: currency.to_owned(),
        pay_type: pay_type.to_owned(),
        notify_url: format!("https://confab.example/api/v1/payments/notify/1?o={no}"),
        return_url: Some("https://confab.example/paid".to_owned()),
        client_ip: Some("203.0.113.7".to_owned()),
        expires_at: Utc::now() + chrono::Duration::minutes(15),
    }
}

fn order_ref(no: &str, cents: i64, currency: &str, gateway_ref: Option<String>) -> OrderRef {
    OrderRef {
        out_trade_no: no.to_owned(),
        gateway_ref,
        trade_no: None,
        amount_cents: cents,
        currency: currency.to_owned(),
    }
}

fn refund_request(
    no: &str,
    refund_no: &str,
    cents: i64,
    total: i64,
    currency: &str,
) -> RefundRequest {
    RefundRequest {
        out_trade_no: no.to_owned(),
        trade_no: None,
        refund_no: refund_no.to_owned(),
        amount_cents: cents,
        total_cents: total,
        currency: currency.to_owned(),
        reason: "customer asked".to_owned(),
        gateway_ref: None,
    }
}

fn verify(g: &dyn Gateway, n: &FakeNotify) -> Result<NotifyEvent, GatewayError> {
    g.verify_notify(&notify_of(n), Utc::now())
}

/// Hang and 500 both surface as `Unreachable`, within the (short) timeout.
async fn check_unreachable(
    fake: &FakeGateway,
    kind: ChannelKind,
    config: &(Value, Value),
    order: PayRequest,
) {
    let g = gateway(kind, config, Duration::from_millis(300));
    fake.set_behavior(GatewayBehavior::Hang);
    let started = Instant::now();
    let err = g.create(&order).await.unwrap_err();
    assert!(matches!(err, GatewayError::Unreachable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let r = order_ref(
        &order.out_trade_no,
        order.amount_cents,
        &order.currency,
        Some("cs_x".into()),
    );
    assert!(matches!(
        g.query(&r).await,
        Err(GatewayError::Unreachable(_))
    ));
    fake.set_behavior(GatewayBehavior::Fail(500));
    let err = g.create(&order).await.unwrap_err();
    assert!(matches!(err, GatewayError::Unreachable(_)), "{err:?}");
    fake.set_behavior(GatewayBehavior::Fail(503));
    assert!(matches!(
        g.query(&r).await,
        Err(GatewayError::Unreachable(_))
    ));
    fake.set_behavior(GatewayBehavior::Normal);
    // Nothing listening at all.
    let (mut settings, secrets) = config.clone();
    for field in ["gateway_url", "api_url", "api_base"] {
        if settings.get(field).is_some() {
            settings[field] = json!(
                settings[field]
                    .as_str()
                    .unwrap()
                    .replace(&fake.url, "http://127.0.0.1:9")
            );
        }
    }
    let dead = gateway(kind, &(settings, secrets), Duration::from_millis(300));
    assert!(matches!(
        dead.create(&order).await,
        Err(GatewayError::Unreachable(_))
    ));
}

#[tokio::test]
async fn alipay_f2f_against_its_fake() {
    let fake = FakeAlipay::start().await;
    let g = gateway(ChannelKind::AlipayF2f, &fake.channel_config(), TIMEOUT);

    let action = g
        .create(&pay_request("al-1", 1230, "CNY", "alipay"))
        .await
        .unwrap();
    assert!(
        action
            .qr_code
            .unwrap()
            .starts_with("https://qr.alipay.com/")
    );
    let sent = &fake.requests()[0];
    assert_eq!(sent.param("method"), Some("alipay.trade.precreate"));
    assert_eq!(sent.biz_content()["total_amount"], "12.30");
    assert!(sent.param("notify_url").unwrap().ends_with("o=al-1"));
    assert_eq!(fake.order("al-1").unwrap().amount_cents, 1230);

    let r = order_ref("al-1", 1230, "CNY", None);
    assert_eq!(g.query(&r).await.unwrap(), GatewayState::Pending);
    let unknown = order_ref("al-unknown", 100, "CNY", None);
    assert_eq!(g.query(&unknown).await.unwrap(), GatewayState::Pending);
    let trade_no = fake.mark_paid("al-1");
    assert_eq!(
        g.query(&r).await.unwrap(),
        GatewayState::Paid {
            trade_no: trade_no.clone(),
            amount_cents: 1230,
            currency: "CNY".into()
        }
    );

    let event = verify(&*g, &fake.notify_for("al-1", 1230, NotifyTweak::None)).unwrap();
    assert_eq!(
        event,
        NotifyEvent {
            out_trade_no: "al-1".into(),
            trade_no,
            amount_cents: 1230,
            currency: "CNY".into(),
            paid: true,
            status: "TRADE_SUCCESS".into(),
        }
    );
    let tweaked = |t| verify(&*g, &fake.notify_for("al-1", 1230, t));
    assert_eq!(
        tweaked(NotifyTweak::TamperAmount(1)),
        Err(GatewayError::BadSignature)
    );
    assert_eq!(
        tweaked(NotifyTweak::BadSignature),
        Err(GatewayError::BadSignature)
    );
    assert_eq!(
        tweaked(NotifyTweak::WrongKey),
        Err(GatewayError::BadSignature)
    );
    assert_eq!(
        tweaked(NotifyTweak::WrongMerchant),
        Err(GatewayError::WrongMerchant)
    );
    assert!(!tweaked(NotifyTweak::Unpaid).unwrap().paid);
    assert_eq!(g.notify_reply(true).body, "success");
    assert_eq!(g.notify_reply(false).body, "failure");

    let refund = refund_request("al-1", "rf-1", 500, 1230, "CNY");
    assert_eq!(g.refund(&refund).await.unwrap().gateway_refund_id, "rf-1");
    g.refund(&refund).await.unwrap();
    let refunds = fake.refunds();
    assert_eq!(
        (
            refunds.len(),
            refunds[0].amount_cents,
            refunds[0].refund_no.as_str()
        ),
        (1, 500, "rf-1")
    );
    let too_much = refund_request("al-1", "rf-2", 800, 1230, "CNY");
    assert!(matches!(
        g.refund(&too_much).await,
        Err(GatewayError::Refused { .. })
    ));

    g.create(&pay_request("al-2", 990, "CNY", "alipay"))
        .await
        .unwrap();
    let r2 = order_ref("al-2", 990, "CNY", None);
    g.close(&r2).await.unwrap();
    assert_eq!(fake.order("al-2").unwrap().state, FakeOrderState::Closed);
    assert_eq!(g.query(&r2).await.unwrap(), GatewayState::Closed);
    g.close(&unknown).await.unwrap();
    assert!(
        matches!(g.close(&r).await, Err(GatewayError::Refused { code, .. }) if code == "ACQ.TRADE_STATUS_ERROR")
    );
    fake.assert_no_rejections();

    check_unreachable(
        &fake,
        ChannelKind::AlipayF2f,
        &fake.channel_config(),
        pay_request("al-3", 100, "CNY", "alipay"),
    )
    .await;
}

#[tokio::test]
async fn alipay_with_the_wrong_keys_is_refused_by_the_gateway() {
    let fake = FakeAlipay::start().await;
    let other = FakeAlipay::start().await;
    let (settings, mut secrets) = fake.channel_config();
    // Our app key belongs to another app: Alipay refuses the signature.
    secrets["app_private_key"] = other.channel_config().1["app_private_key"].clone();
    let g = gateway(
        ChannelKind::AlipayF2f,
        &(settings.clone(), secrets),
        TIMEOUT,
    );
    let err = g
        .create(&pay_request("al-x", 100, "CNY", "alipay"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GatewayError::Refused { code, .. } if code == "isv.invalid-signature"),
        "{err:?}"
    );
    assert_eq!(fake.rejected().len(), 1);
    // Alipay's answers signed by another "Alipay" are refused by us.
    let (_, mut secrets) = fake.channel_config();
    secrets["alipay_public_key"] = other.channel_config().1["alipay_public_key"].clone();
    let g = gateway(ChannelKind::AlipayF2f, &(settings, secrets), TIMEOUT);
    let err = g
        .create(&pay_request("al-y", 100, "CNY", "alipay"))
        .await
        .unwrap_err();
    assert_eq!(err, GatewayError::BadSignature);
    assert!(matches!(
        g.create(&pay_request("al-z", 100, "USD", "alipay")).await,
        Err(GatewayError::Config(_))
    ));
}

#[tokio::test]
async fn epay_against_its_fake() {
    let fake = FakeEpay::start().await;
    let g = gateway(ChannelKind::Epay, &fake.channel_config(), TIMEOUT);

    let action = g
        .create(&pay_request("ep-1", 1999, "CNY", "alipay"))
        .await
        .unwrap();
    assert!(action.pay_url.unwrap().contains("/pay/submit/"));
    assert!(action.gateway_ref.is_some());
    let sent = &fake.requests()[0];
    assert_eq!(
        (sent.path.as_str(), sent.param("money"), sent.param("type")),
        ("/mapi.php", Some("19.99"), Some("alipay"))
    );
    assert_eq!(sent.param("clientip"), Some("203.0.113.7"));
    let wx = g
        .create(&pay_request("ep-2", 500, "CNY", "wxpay"))
        .await
        .unwrap();
    assert!(wx.qr_code.unwrap().starts_with("weixin://"));

    let r = order_ref("ep-1", 1999, "CNY", None);
    assert_eq!(g.query(&r).await.unwrap(), GatewayState::Pending);
    let trade_no = fake.mark_paid("ep-1");
    assert_eq!(
        g.query(&r).await.unwrap(),
        GatewayState::Paid {
            trade_no: trade_no.clone(),
            amount_cents: 1999,
            currency: "CNY".into()
        }
    );
    let unknown = order_ref("ep-none", 1, "CNY", None);
    assert!(matches!(
        g.query(&unknown).await,
        Err(GatewayError::Refused { .. })
    ));

    let event = verify(&*g, &fake.notify_for("ep-1", 1999, NotifyTweak::None)).unwrap();
    assert_eq!(
        (
            event.out_trade_no.as_str(),
            event.trade_no,
            event.amount_cents,
            event.paid
        ),
        ("ep-1", trade_no, 1999, true)
    );
    let tweaked = |t| verify(&*g, &fake.notify_for("ep-1", 1999, t));
    assert_eq!(
        tweaked(NotifyTweak::TamperAmount(1)),
        Err(GatewayError::BadSignature)
    );
    assert_eq!(
        tweaked(NotifyTweak::BadSignature),
        Err(GatewayError::BadSignature)
    );
    assert_eq!(
        tweaked(NotifyTweak::WrongKey),
        Err(GatewayError::BadSignature)
    );
    assert_eq!(
        tweaked(NotifyTweak::WrongMerchant),
        Err(GatewayError::WrongMerchant)
    );
    assert!(!tweaked(NotifyTweak::Unpaid).unwrap().paid);
    assert_eq!(g.notify_reply(true).body, "success");

    let refund = refund_request("ep-1", "rf-1", 999, 1999, "CNY");
    g.refund(&refund).await.unwrap();
    assert_eq!(fake.refunds()[0].amount_cents, 999);
    g.close(&r).await.unwrap();
    fake.assert_no_rejections();

    let (settings, mut secrets) = fake.channel_config();
    secrets["key"] = json!("wrong");
    let bad = gateway(ChannelKind::Epay, &(settings, secrets), TIMEOUT);
    let err = bad
        .create(&pay_request("ep-3", 100, "CNY", "alipay"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GatewayError::Refused { code, .. } if code == "-1"),
        "{err:?}"
    );
    assert!(matches!(bad.query(&r).await, Err(GatewayError::Refused { code, .. }) if code == "-3"));
    assert_eq!(fake.rejected().len(), 2);

    check_unreachable(
        &fake,
        ChannelKind::Epay,
        &fake.channel_config(),
        pay_request("ep-4", 100, "CNY", "alipay"),
    )
    .await;
}

#[tokio::test]
async fn wechat_native_against_its_fake() {
    let fake = FakeWechat::start().await;
    let g = gateway(ChannelKind::WechatNative, &fake.channel_config(), TIMEOUT);

    let action = g
        .create(&pay_request("wx-1", 990, "CNY", "native"))
        .await
        .unwrap();
    assert!(
        action
            .qr_code
            .unwrap()
            .starts_with("weixin://wxpay/bizpayurl")
    );
    let sent = &fake.requests()[0];
    assert!(
        sent.header("authorization")
            .unwrap()
            .starts_with("WECHATPAY2-SHA256-RSA2048 mchid=")
    );
    let body = sent.json.clone().unwrap();
    assert_eq!(body["amount"], json!({"total": 990, "currency": "CNY"}));
    assert!(body["time_expire"].as_str().unwrap().ends_with("+08:00"));

    let r = order_ref("wx-1", 990, "CNY", None);
    assert_eq!(g.query(&r).await.unwrap(), GatewayState::Pending);
    let trade_no = fake.mark_paid("wx-1");
    assert_eq!(
        g.query(&r).await.unwrap(),
        GatewayState::Paid {
            trade_no: trade_no.clone(),
            amount_cents: 990,
            currency: "CNY".into()
        }
    );

    let event = verify(&*g, &fake.notify_for("wx-1", 990, NotifyTweak::None)).unwrap();
    assert_eq!(
        event,
        NotifyEvent {
            out_trade_no: "wx-1".into(),
            trade_no,
            amount_cents: 990,
            currency: "CNY".into(),
            paid: true,
            status: "SUCCESS".into(),
        }
    );
    let tweaked = |t| verify(&*g, &fake.notify_for("wx-1", 990, t));
    assert_eq!(
        tweaked(NotifyTweak::TamperAmount(1)),
        Err(GatewayError::BadSignature)
    );
    assert_eq!(
        tweaked(NotifyTweak::BadSignature),
        Err(GatewayError::BadSignature)
    );
    assert_eq!(
        tweaked(NotifyTweak::WrongKey),
        Err(GatewayError::BadSignature)
    );
    assert_eq!(
        tweaked(NotifyTweak::WrongSerial),
        Err(GatewayError::BadSignature)
    );
    assert_eq!(
        tweaked(NotifyTweak::FlipCiphertext),
        Err(GatewayError::BadSignature)
    );
    assert_eq!(tweaked(NotifyTweak::Stale), Err(GatewayError::Stale));
    assert_eq!(
        tweaked(NotifyTweak::WrongMerchant),
        Err(GatewayError::WrongMerchant)
    );
    assert!(!tweaked(NotifyTweak::Unpaid).unwrap().paid);
    assert_eq!(g.notify_reply(true).status, 204);

    let refund = refund_request("wx-1", "rf-1", 300, 990, "CNY");
    let done = g.refund(&refund).await.unwrap();
    assert_eq!(g.refund(&refund).await.unwrap(), done);
    assert_eq!(fake.refunds().len(), 1);
    assert_eq!(fake.refunds()[0].reason, "customer asked");

    g.create(&pay_request("wx-2", 100, "CNY", "native"))
        .await
        .unwrap();
    let r2 = order_ref("wx-2", 100, "CNY", None);
    g.close(&r2).await.unwrap();
    assert_eq!(g.query(&r2).await.unwrap(), GatewayState::Closed);
    assert!(
        matches!(g.close(&r).await, Err(GatewayError::Refused { code, .. }) if code == "ORDERPAID")
    );
    fake.assert_no_rejections();

    let (mut settings, secrets) = fake.channel_config();
    settings["merchant_serial"] = json!("0000");
    let bad = gateway(ChannelKind::WechatNative, &(settings, secrets), TIMEOUT);
    let err = bad.query(&r).await.unwrap_err();
    assert!(
        matches!(&err, GatewayError::Refused { code, .. } if code == "SIGN_ERROR"),
        "{err:?}"
    );
    assert_eq!(fake.rejected().len(), 1);
    // Answers signed by another platform key are refused.
    let other = FakeWechat::start().await;
    let (settings, mut secrets) = fake.channel_config();
    secrets["platform_public_key"] = other.channel_config().1["platform_public_key"].clone();
    let bad = gateway(ChannelKind::WechatNative, &(settings, secrets), TIMEOUT);
    assert_eq!(bad.query(&r).await, Err(GatewayError::BadSignature));

    check_unreachable(
        &fake,
        ChannelKind::WechatNative,
        &fake.channel_config(),
        pay_request("wx-3", 100, "CNY", "native"),
    )
    .await;
}

#[tokio::test]
async fn stripe_checkout_against_its_fake() {
    let fake = FakeStripe::start().await;
    let g = gateway(ChannelKind::Stripe, &fake.channel_config(), TIMEOUT);

    let action = g
        .create(&pay_request("st-1", 1999, "USD", "card"))
        .await
        .unwrap();
    let session = action.gateway_ref.clone().unwrap();
    assert!(
        action
            .pay_url
            .unwrap()
            .ends_with(&format!("/c/pay/{session}"))
    );
    let sent = &fake.requests()[0];
    assert_eq!(
        sent.param("line_items[0][price_data][currency]"),
        Some("usd")
    );
    assert_eq!(
        sent.param("line_items[0][price_data][unit_amount]"),
        Some("1999")
    );
    assert_eq!(sent.param("metadata[out_trade_no]"), Some("st-1"));
    let expires: i64 = sent.param("expires_at").unwrap().parse().unwrap();
    assert!(
        expires >= Utc::now().timestamp() + 30 * 60,
        "15 minutes is clamped up to Stripe's 30"
    );

    let r = order_ref("st-1", 1999, "USD", Some(session.clone()));
    assert_eq!(g.query(&r).await.unwrap(), GatewayState::Pending);
    let intent = fake.mark_paid("st-1");
    assert_eq!(
        g.query(&r).await.unwrap(),
        GatewayState::Paid {
            trade_no: intent.clone(),
            amount_cents: 1999,
            currency: "USD".into()
        }
    );

    let event = verify(&*g, &fake.notify_for("st-1", 1999, NotifyTweak::None)).unwrap();
    assert_eq!(
        event,
        NotifyEvent {
            out_trade_no: "st-1".into(),
            trade_no: intent,
            amount_cents: 1999,
            currency: "USD".into(),
            paid: true,
            status: "checkout.session.completed".into(),
        }
    );
    let tweaked = |t| verify(&*g, &fake.notify_for("st-1", 1999, t));
    assert_eq!(
        tweaked(NotifyTweak::TamperAmount(1)),
        Err(GatewayError::BadSignature)
    );
    assert_eq!(
        tweaked(NotifyTweak::BadSignature),
        Err(GatewayError::BadSignature)
    );
    assert_eq!(
        tweaked(NotifyTweak::WrongKey),
        Err(GatewayError::BadSignature)
    );
    assert_eq!(tweaked(NotifyTweak::Stale), Err(GatewayError::Stale));
    assert!(!tweaked(NotifyTweak::Unpaid).unwrap().paid);
    assert_eq!(g.notify_reply(true).body, "{\"received\":true}");

    // Refund without a trade number: the client finds the payment intent through the session.
    let mut refund = refund_request("st-1", "rf-1", 999, 1999, "USD");
    refund.gateway_ref = Some(session);
    let done = g.refund(&refund).await.unwrap();
    assert!(done.gateway_refund_id.starts_with("re_"));
    assert_eq!(
        g.refund(&refund).await.unwrap(),
        done,
        "Idempotency-Key replays"
    );
    assert_eq!(fake.refunds().len(), 1);
    let last = fake.requests().pop().unwrap();
    assert_eq!(last.header("idempotency-key"), Some("rf-1"));

    let a2 = g
        .create(&pay_request("st-2", 500, "USD", "card"))
        .await
        .unwrap();
    let r2 = order_ref("st-2", 500, "USD", a2.gateway_ref);
    g.close(&r2).await.unwrap();
    assert_eq!(g.query(&r2).await.unwrap(), GatewayState::Closed);
    assert!(matches!(
        g.close(&r2).await,
        Err(GatewayError::Refused { .. })
    ));
    let yen = g
        .create(&pay_request("st-3", 150_000, "JPY", "card"))
        .await
        .unwrap();
    assert!(yen.gateway_ref.is_some());
    assert_eq!(fake.order("st-3").unwrap().amount_cents, 150_000);
    fake.assert_no_rejections();

    let (settings, mut secrets) = fake.channel_config();
    secrets["secret_key"] = json!("sk_test_wrong");
    let bad = gateway(ChannelKind::Stripe, &(settings, secrets), TIMEOUT);
    let err = bad.query(&r).await.unwrap_err();
    assert!(
        matches!(&err, GatewayError::Refused { code, message } if code == "invalid_api_key" && !message.contains("sk_")),
        "{err:?}"
    );
    assert_eq!(fake.rejected().len(), 1);

    check_unreachable(
        &fake,
        ChannelKind::Stripe,
        &fake.channel_config(),
        pay_request("st-4", 100, "USD", "card"),
    )
    .await;
}

#[tokio::test]
async fn validate_refuses_broken_configs_without_echoing_secrets() {
    let fake = FakeWechat::start().await;
    let (settings, mut secrets) = fake.channel_config();
    secrets["merchant_private_key"] =
        json!("-----BEGIN PRIVATE KEY-----\nhunter2\n-----END PRIVATE KEY-----");
    let err = gateways::validate(ChannelKind::WechatNative, &settings, &secrets).unwrap_err();
    assert_eq!(
        err,
        GatewayError::Config(
            "secrets.merchant_private_key is not an RSA private key in PEM".into()
        )
    );
    assert!(!err.to_string().contains("hunter2"));
    let mut missing = fake.channel_config().1;
    missing.as_object_mut().unwrap().remove("api_v3_key");
    let err = gateways::validate(ChannelKind::WechatNative, &settings, &missing).unwrap_err();
    assert!(err.to_string().contains("api_v3_key"), "{err}");
    let stripe = FakeStripe::start().await;
    let (_, secrets) = stripe.channel_config();
    let err = gateways::validate(
        ChannelKind::Stripe,
        &json!({"success_url": "x", "cancel_url": "y"}),
        &secrets,
    )
    .unwrap_err();
    assert_eq!(
        err,
        GatewayError::Config("settings.success_url must be an absolute URL".into())
    );
}
