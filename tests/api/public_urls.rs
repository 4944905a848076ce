//! URLs that leave the request (a gateway's notify URL, stored image links) come from
//! configuration only: a buyer's `Host` header never reaches a payment gateway, and payments
//! without `server.public_url` are refused when a channel is added or enabled, and at start.

use reqwest::StatusCode;
use serde_json::json;

use crate::chats::{add_key, add_model, chat_settings};
use crate::fake_upstream::FakeUpstream;
use crate::helpers::{
    Session, TestApp, build_on, expect_error, expect_status, fresh_database, spawn_app,
    spawn_app_on, spawn_app_with,
};
use crate::payments::{PUBLIC_URL, create_channel, create_product, payment_settings};
use confab_tests::fake_gateways::FakeEpay;

const HOSTS: [&str; 4] = [
    "evil.example",
    "evil.example/x?",
    "user@evil.example",
    "evil.example:8443",
];

async fn post_with_host(
    app: &TestApp,
    user: &Session,
    path: &str,
    host: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(&user.access)
        .header("host", host)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_host_header_never_makes_a_url_that_leaves_the_request() {
    let app = spawn_app_with(|settings| {
        payment_settings(settings);
        chat_settings(settings);
    })
    .await;
    let admin = app.setup_admin().await;
    let epay = FakeEpay::start().await;
    let channel = create_channel(&app, &admin, "epay", &["alipay"], epay.channel_config()).await;
    let product = create_product(
        &app,
        &admin,
        json!({"title": "credits", "price_cents": 100, "grant_kind": "credits", "grant_amount": 100}),
    )
    .await;
    let fake = FakeUpstream::start().await;
    add_model(
        &app,
        &admin,
        json!({"name": "dall-e-3", "modality": "image", "price_per_image": 1}),
    )
    .await;
    add_key(
        &app,
        &admin,
        json!({"name": "oa", "kind": "openai", "base_url": fake.url,
               "api_key": "sk-images-0123456789", "models": ["dall-e-3"]}),
    )
    .await;
    let user = app.funded_user(&admin, "buyer", 100).await;

    let notify_url = format!("{PUBLIC_URL}/api/v1/payments/{}/notify", channel["id"]);
    for host in HOSTS {
        let body = json!({"product_id": product["id"], "channel_id": channel["id"]});
        let made = expect_status(
            post_with_host(&app, &user, "/api/v1/orders", host, body).await,
            StatusCode::CREATED,
        )
        .await;
        let sent = epay.order(made["out_trade_no"].as_str().unwrap()).unwrap();
        assert_eq!(sent.notify_url, notify_url, "Host: {host}");

        let body = json!({"model": "dall-e-3", "prompt": "a lighthouse"});
        let images = expect_status(
            post_with_host(&app, &user, "/v1/images/generations", host, body).await,
            StatusCode::OK,
        )
        .await;
        let link = images["data"][0]["url"].as_str().unwrap();
        assert!(
            link.starts_with(&format!("{PUBLIC_URL}/files/")),
            "Host: {host}: {link}"
        );
    }
}

#[tokio::test]
async fn without_a_public_url_payment_channels_are_refused_at_once_and_at_start() {
    let app = spawn_app().await;
    let admin = app.setup_admin().await;
    let epay = FakeEpay::start().await;
    let (settings, secrets) = epay.channel_config();
    let channel = json!({"kind": "epay", "name": "epay", "pay_types": ["alipay"],
                         "settings": settings, "secrets": secrets});
    let refused = app
        .post(
            "/api/v1/admin/payment-channels",
            channel.clone(),
            Some(&admin.access),
        )
        .await;
    let error = expect_error(refused, StatusCode::CONFLICT, "channel_unavailable").await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("server.public_url"),
        "{error}"
    );

    // A disabled one may be prepared; enabling it is refused, other changes are not.
    let mut disabled = channel.clone();
    disabled["enabled"] = json!(false);
    let made = expect_status(
        app.post(
            "/api/v1/admin/payment-channels",
            disabled,
            Some(&admin.access),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/api/v1/admin/payment-channels/{}", made["id"]);
    expect_error(
        app.patch(&path, json!({"enabled": true}), Some(&admin.access))
            .await,
        StatusCode::CONFLICT,
        "channel_unavailable",
    )
    .await;
    expect_status(
        app.patch(&path, json!({"name": "later"}), Some(&admin.access))
            .await,
        StatusCode::OK,
    )
    .await;

    // A site with an enabled channel does not start without one.
    let database_url = match fresh_database().await {
        // SQLite: one file both servers open (the default is a file per data directory).
        url if url.is_empty() => {
            let file = crate::crash::data_dir().join("shared.db");
            format!("sqlite://{}?mode=rwc", file.display())
        }
        url => url,
    };
    let configured = spawn_app_on(database_url.clone(), payment_settings).await;
    let admin = configured.setup_admin().await;
    create_channel(
        &configured,
        &admin,
        "epay",
        &["alipay"],
        epay.channel_config(),
    )
    .await;
    let refused = build_on(database_url, |_| {}).await;
    let error = refused
        .err()
        .expect("no start without server.public_url")
        .to_string();
    assert!(error.contains("server.public_url"), "{error}");
}
