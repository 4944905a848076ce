//! Orders are stored before the gateway hears of them: the per-user limit is counted and the
//! order inserted in one transaction (no burst gets past it, on one instance or two), and an
//! order whose gateway failed or lost its answer is kept (expired, its units released) where
//! the reconciler finds it if it was paid after all.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use confab_tests::fake_gateways::{FakeEpay, GatewayBehavior};

use crate::helpers::{
    Session, TestApp, expect_error, expect_status, spawn_app_with, spawn_pair_with,
};
use crate::payments::{balance, create_channel, create_product, no, payment_settings};

/// An Epay channel, a product of 10 credits limited to `limit` per user, and a buyer.
async fn shop(app: &TestApp, limit: i32) -> (FakeEpay, Value, Session) {
    let admin = app.setup_admin().await;
    let epay = FakeEpay::start().await;
    create_channel(app, &admin, "epay", &["alipay"], epay.channel_config()).await;
    let product = create_product(
        app,
        &admin,
        json!({"title": "p", "price_cents": 100, "grant_kind": "credits", "grant_amount": 10,
               "per_user_limit": limit}),
    )
    .await;
    let buyer = app.user("buyer").await;
    (epay, product, buyer)
}

fn buy(app: &TestApp, buyer: &Session, product: &Value) -> reqwest::RequestBuilder {
    app.client
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&buyer.access)
        .json(&json!({"product_id": product["id"], "pay_type": "alipay"}))
}

async fn orders_of(app: &TestApp, buyer: &Session) -> Vec<Value> {
    let page = expect_status(
        app.get("/api/v1/orders", Some(&buyer.access)).await,
        StatusCode::OK,
    )
    .await;
    page["items"].as_array().unwrap().clone()
}

/// Ten orders at once against a limit of two: two are made, eight refused; closing one gives
/// its unit back.
async fn a_burst_of_orders_cannot_pass_a_purchase_limit_on(app: TestApp) {
    let (epay, product, buyer) = shop(&app, 2).await;
    let answers =
        futures_util::future::join_all((0..10).map(|_| buy(&app, &buyer, &product).send())).await;
    let mut made = Vec::new();
    for answer in answers {
        let answer = answer.unwrap();
        if answer.status() == StatusCode::CREATED {
            made.push(answer.json::<Value>().await.unwrap());
        } else {
            expect_error(answer, StatusCode::CONFLICT, "purchase_limit_reached").await;
        }
    }
    assert_eq!(made.len(), 2);
    assert_eq!(orders_of(&app, &buyer).await.len(), 2);
    assert_eq!(
        epay.orders().len(),
        2,
        "the refused ones never reached the gateway"
    );
    let close = format!("/api/v1/orders/{}/close", made[0]["id"]);
    expect_status(
        app.post(&close, json!({}), Some(&buyer.access)).await,
        StatusCode::OK,
    )
    .await;
    expect_status(
        buy(&app, &buyer, &product).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    expect_error(
        buy(&app, &buyer, &product).send().await.unwrap(),
        StatusCode::CONFLICT,
        "purchase_limit_reached",
    )
    .await;
}

#[tokio::test]
async fn a_burst_of_orders_cannot_pass_a_purchase_limit() {
    a_burst_of_orders_cannot_pass_a_purchase_limit_on(spawn_app_with(payment_settings).await).await;
}

#[tokio::test]
async fn a_burst_of_orders_over_two_instances_cannot_pass_a_purchase_limit() {
    let Some(app) = spawn_pair_with(payment_settings).await else {
        return;
    };
    a_burst_of_orders_cannot_pass_a_purchase_limit_on(app).await;
}

/// The gateway made the order but its answer never came (as a crash between the two would
/// leave it): the buyer gets 502, the order is kept as expired with its unit released, and
/// when it is paid at the gateway all the same (its notify lost too) the reconciler fulfils it.
#[tokio::test]
async fn an_order_whose_gateway_answer_was_lost_is_kept_and_fulfilled_when_paid() {
    let app = spawn_app_with(|settings| {
        payment_settings(settings);
        settings.payments.gateway_timeout_secs = 1;
        settings.payments.reconcile_secs = 1;
        settings.payments.notify_grace_secs = 0;
    })
    .await;
    let (epay, product, buyer) = shop(&app, 1).await;
    epay.set_behavior(GatewayBehavior::LoseAnswers);
    expect_error(
        buy(&app, &buyer, &product).send().await.unwrap(),
        StatusCode::BAD_GATEWAY,
        "payment_gateway_error",
    )
    .await;
    let kept = orders_of(&app, &buyer).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["status"], "expired");
    let at_gateway = epay.orders();
    assert_eq!(at_gateway.len(), 1);
    assert_eq!(at_gateway[0].out_trade_no, no(&kept[0]));

    // Its unit is free again: the next order goes through.
    epay.set_behavior(GatewayBehavior::Normal);
    expect_status(
        buy(&app, &buyer, &product).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;

    // Paid at the gateway after all, with no notify: found and fulfilled once.
    epay.mark_paid(no(&kept[0]));
    let mut status = Value::Null;
    for _ in 0..100 {
        let orders = orders_of(&app, &buyer).await;
        let order = orders.iter().find(|o| o["id"] == kept[0]["id"]).unwrap();
        status = order["status"].clone();
        if status == "paid" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "paid");
    assert_eq!(balance(&app, &buyer).await, 10);
}
