//! The server killed with SIGKILL at unforeseen moments under mixed load, and restarted on the
//! same database each time: streamed and plain priced completions, card-code redemptions,
//! orders paid through a fake Epay (each notify sent twice at once) and admin adjustments with
//! idempotency keys. At the end: nothing held, every balance its ledger's sum, every answer a
//! client received whole charged, every order paid at the gateway paid once in Confab, every
//! code and adjustment key applied at most once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use confab_tests::fake_gateways::{FakeEpay, FakeOrderState};

use crate::chats::{add_model, openai_key};
use crate::crash::{data_dir, start_with};
use crate::fake_upstream::FakeUpstream;
use crate::helpers::{Session, TestApp, expect_status, fresh_database};
use crate::payments::{PUBLIC_URL, create_channel, create_product, no};
use crate::smtp_sink::SmtpSink;

const SETTINGS: [(&str, &str); 5] = [
    ("CONFAB__SERVER__PUBLIC_URL", PUBLIC_URL),
    ("CONFAB__CREDITS__HOLD_TTL_SECS", "2"),
    ("CONFAB__PAYMENTS__RECONCILE_SECS", "1"),
    ("CONFAB__PAYMENTS__NOTIFY_GRACE_SECS", "0"),
    ("CONFAB__PAYMENTS__GATEWAY_TIMEOUT_SECS", "2"),
];

/// What the load's clients saw, and what they asked for.
#[derive(Default)]
struct Seen {
    /// Streams received whole (`[DONE]`) and non-streamed answers received (200).
    whole_answers: AtomicUsize,
    /// Adjustment idempotency keys sent (each twice).
    adjustment_keys: AtomicUsize,
}

/// Everything the load works with; the address changes with each restart.
struct Shop {
    admin: Session,
    user: Session,
    channel: Value,
    product: Value,
    epay: FakeEpay,
    codes: Mutex<Vec<String>>,
    seen: Seen,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_under_load_the_server_keeps_every_invariant() {
    let dir = data_dir();
    let database_url = fresh_database().await;
    let (mut server, port, logs) = start_with(&dir, &database_url, &SETTINGS).await;
    // Each server's stdout stays open (read or not), so its log writes never fail.
    let mut outputs = vec![logs];
    let mut app = TestApp::at(format!("http://127.0.0.1:{port}"), SmtpSink::start().await);
    let fake = FakeUpstream::start().await;
    let shop = Arc::new(open_shop(&app, &fake).await);

    for round in 0..5u64 {
        let address = app.address.clone();
        let workers: Vec<_> = (0..6)
            .map(|n| tokio::spawn(work(address.clone(), shop.clone(), n)))
            .collect();
        // Unforeseen, but bounded: between 0.3 and 1.2 s of load.
        let nanos = u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos(),
        );
        tokio::time::sleep(Duration::from_millis(300 + (nanos + round * 389) % 900)).await;
        server.kill().await.expect("SIGKILL");
        for worker in workers {
            worker.abort();
        }
        let (restarted, port, logs) = start_with(&dir, &database_url, &SETTINGS).await;
        server = restarted;
        outputs.push(logs);
        app.move_to(format!("http://127.0.0.1:{port}"));
    }
    check_invariants(&app, &shop).await;
}

async fn open_shop(app: &TestApp, fake: &FakeUpstream) -> Shop {
    let admin = app.setup_admin().await;
    add_model(
        app,
        &admin,
        json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_1k_prompt_tokens": 1000,
               "price_per_1k_completion_tokens": 1000, "max_output_tokens": 100}),
    )
    .await;
    openai_key(app, &admin, "main", fake, 0).await;
    let user = app.funded_user(&admin, "loaded", 10_000_000).await;
    let epay = FakeEpay::start().await;
    let channel = create_channel(app, &admin, "epay", &["alipay"], epay.channel_config()).await;
    let product = create_product(
        app,
        &admin,
        json!({"title": "credits", "price_cents": 100, "grant_kind": "credits", "grant_amount": 100}),
    )
    .await;
    let batch = expect_status(
        app.post(
            "/api/v1/admin/redemption-codes",
            json!({"kind": "credits", "amount": 7, "quantity": 500}),
            Some(&admin.access),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let codes = batch["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    Shop {
        admin,
        user,
        channel,
        product,
        epay,
        codes: Mutex::new(codes),
        seen: Seen::default(),
    }
}

/// One client's loop until it is aborted; every failure (the server is killed under it) is
/// ignored: only the invariants at the end count.
async fn work(address: String, shop: Arc<Shop>, n: usize) {
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{address}{path}");
    let mut step = n;
    loop {
        step += 1;
        let _ = match step % 5 {
            0 => completion(&client, &url("/v1/chat/completions"), &shop, true).await,
            1 => completion(&client, &url("/v1/chat/completions"), &shop, false).await,
            2 => redeem(&client, &url("/api/v1/redemptions"), &shop).await,
            3 => buy(&client, &address, &shop).await,
            _ => {
                adjust(
                    &client,
                    &url(&format!(
                        "/api/v1/admin/users/{}/credits",
                        shop.user.user_id
                    )),
                    &shop,
                    step,
                )
                .await
            }
        };
    }
}

async fn completion(
    client: &reqwest::Client,
    url: &str,
    shop: &Shop,
    stream: bool,
) -> reqwest::Result<()> {
    let response = client
        .post(url)
        .bearer_auth(&shop.user.access)
        .json(&json!({"model": "gpt-4o-mini", "stream": stream, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "a long story"}]}))
        .send()
        .await?;
    let ok = response.status() == StatusCode::OK;
    let body = response.text().await?;
    if ok && (!stream || body.trim_end().ends_with("data: [DONE]")) {
        shop.seen.whole_answers.fetch_add(1, Ordering::SeqCst);
    }
    Ok(())
}

async fn redeem(client: &reqwest::Client, url: &str, shop: &Shop) -> reqwest::Result<()> {
    let Some(code) = shop.codes.lock().await.pop() else {
        return Ok(());
    };
    let body = json!({"code": code});
    client
        .post(url)
        .bearer_auth(&shop.user.access)
        .json(&body)
        .send()
        .await?;
    Ok(())
}

/// An order, paid at the gateway, its notify sent twice at once.
async fn buy(client: &reqwest::Client, address: &str, shop: &Shop) -> reqwest::Result<()> {
    let body = json!({"product_id": shop.product["id"], "channel_id": shop.channel["id"]});
    let made = client
        .post(format!("{address}/api/v1/orders"))
        .bearer_auth(&shop.user.access)
        .json(&body)
        .send()
        .await?;
    if made.status() != StatusCode::CREATED {
        return Ok(());
    }
    let made: Value = made.json().await?;
    let notify = shop.epay.pay(no(&made));
    let url = format!("{address}/api/v1/payments/{}/notify", shop.channel["id"]);
    let _ = futures_util::join!(notify.try_send(client, &url), notify.try_send(client, &url));
    Ok(())
}

/// One credit added under a fresh idempotency key, sent twice.
async fn adjust(
    client: &reqwest::Client,
    url: &str,
    shop: &Shop,
    step: usize,
) -> reqwest::Result<()> {
    shop.seen.adjustment_keys.fetch_add(1, Ordering::SeqCst);
    let body = json!({"amount": 1, "reason": "kill test", "idempotency_key": format!("kill-{step}-{}", uuid::Uuid::new_v4())});
    for _ in 0..2 {
        client
            .post(url)
            .bearer_auth(&shop.admin.access)
            .json(&body)
            .send()
            .await?;
    }
    Ok(())
}

/// Every item of the list at `path` (a query string included), page after page.
async fn every(app: &TestApp, user: &Session, path: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for page in 1.. {
        let path = format!("{path}&page={page}&page_size=100");
        let body = expect_status(app.get(&path, Some(&user.access)).await, StatusCode::OK).await;
        let items = body["items"].as_array().unwrap();
        all.extend(items.iter().cloned());
        if items.len() < 100 {
            break;
        }
    }
    all
}

/// A user's ledger entries of `kind` (all of them with `None`).
async fn entries(app: &TestApp, user: &Session, kind: Option<&str>) -> Vec<Value> {
    let filter = kind.map(|kind| format!("kind={kind}")).unwrap_or_default();
    every(app, user, &format!("/api/v1/credits/ledger?{filter}")).await
}

async fn check_invariants(app: &TestApp, shop: &Shop) {
    let user = &shop.user;
    // Holds of killed requests expire (2 s here) and orders paid at the gateway are found.
    let paid_at_gateway: Vec<String> = shop
        .epay
        .orders()
        .into_iter()
        .filter(|order| order.state == FakeOrderState::Paid)
        .map(|order| order.out_trade_no)
        .collect();
    let mut credits = Value::Null;
    let mut orders: Vec<Value> = Vec::new();
    for _ in 0..200 {
        credits = expect_status(
            app.get("/api/v1/credits", Some(&user.access)).await,
            StatusCode::OK,
        )
        .await;
        orders = every(app, user, "/api/v1/orders?").await;
        let all_paid = paid_at_gateway.iter().all(|no| {
            orders
                .iter()
                .any(|o| o["out_trade_no"] == no.as_str() && o["status"] == "paid")
        });
        if credits["held"] == 0 && all_paid {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(credits["held"], 0, "{credits}");
    // Read between two equal balances, so nothing settled in between.
    let (ledger, balance) = loop {
        let before = credits["balance"].clone();
        let ledger = entries(app, user, None).await;
        credits = expect_status(
            app.get("/api/v1/credits", Some(&user.access)).await,
            StatusCode::OK,
        )
        .await;
        if credits["balance"] == before {
            break (ledger, before.as_i64().unwrap());
        }
    };
    let sum: i64 = ledger.iter().map(|e| e["amount"].as_i64().unwrap()).sum();
    assert_eq!(balance, sum, "balance and ledger");

    let whole = shop.seen.whole_answers.load(Ordering::SeqCst);
    let charged = entries(app, user, Some("usage")).await.len();
    assert!(
        charged >= whole,
        "{whole} answers received whole, {charged} charged"
    );

    let paid_here: Vec<&Value> = orders.iter().filter(|o| o["status"] == "paid").collect();
    assert_eq!(
        paid_here.len(),
        paid_at_gateway.len(),
        "paid at the gateway and here"
    );
    assert_eq!(
        entries(app, user, Some("purchase")).await.len(),
        paid_at_gateway.len()
    );
    let redeemed = expect_status(
        app.get("/api/v1/redemptions?page_size=100", Some(&user.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        entries(app, user, Some("redemption")).await.len() as u64,
        redeemed["total"].as_u64().unwrap()
    );
    let adjustments = entries(app, user, Some("adjustment")).await.len();
    // The funding is one adjustment; each key at most one more.
    assert!(adjustments <= 1 + shop.seen.adjustment_keys.load(Ordering::SeqCst));
    eprintln!(
        "kill test: {whole} whole answers, {charged} usage entries, {} orders paid, {} codes, {} adjustments, {} ledger entries",
        paid_at_gateway.len(),
        redeemed["total"],
        adjustments - 1,
        ledger.len()
    );
}
