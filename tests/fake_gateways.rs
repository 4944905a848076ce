//! Fake payment gateways for black-box tests: Alipay face-to-face, Epay, WeChat Pay Native (API
//! v3) and Stripe Checkout, each an actix-web server on 127.0.0.1:0 speaking the real wire
//! format. Each fake generates its own keys at start (a merchant/app key pair whose private half
//! it hands to Confab, and a gateway/platform key pair it signs with), verifies every request
//! Confab sends exactly as the gateway would (a request that fails gets the gateway's real error
//! answer and is recorded as rejected), keeps the orders it created, and builds correctly signed
//! notifies, with [`NotifyTweak`] knobs to spoil them.
//!
//! The crypto here is written independently of `confab-payments` on purpose: a shared bug would
//! otherwise cancel out.
//!
//! ```ignore
//! let alipay = FakeAlipay::start().await;
//! let (settings, secrets) = alipay.channel_config();
//! // ... Confab creates an order through the channel ...
//! alipay.mark_paid(&out_trade_no);
//! let notify = alipay.notify_for(&out_trade_no, 1230, NotifyTweak::None);
//! let answer = notify.send(&client, &notify_url).await;
//! alipay.assert_no_rejections();
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::sync::{Mutex, MutexGuard};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use openssl::hash::{MessageDigest, hash};
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Rsa;
use openssl::sign::{Signer, Verifier};
use openssl::symm::{Cipher, encrypt_aead};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Public test-facing types
// ---------------------------------------------------------------------------------------------

/// How a fake answers requests that reach it (after recording them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayBehavior {
    /// Answer like the gateway.
    Normal,
    /// Accept the request and never answer.
    Hang,
    /// Answer this HTTP status (e.g. 500, 503) with the gateway's system-error body.
    Fail(u16),
    /// Do what was asked, then never answer (the answer is lost on the way back).
    LoseAnswers,
}

/// A request Confab sent to a fake.
#[derive(Clone, Debug)]
pub struct FakeRequest {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// Headers, lower-case names (repeats joined with ", ").
    pub headers: HashMap<String, String>,
    /// Query and form-body parameters, URL-decoded (the body wins on a clash).
    pub params: BTreeMap<String, String>,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
    /// The raw body.
    pub body: Vec<u8>,
    /// Whether the request passed the gateway's checks (signature, auth, merchant, params).
    pub verified: bool,
    /// Why it did not, when it did not.
    pub rejection: Option<String>,
}

impl FakeRequest {
    /// A query/form parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// A header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Alipay: the `biz_content` parameter parsed.
    pub fn biz_content(&self) -> Value {
        self.param("biz_content")
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null)
    }
}

/// Where an order stands at a fake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FakeOrderState {
    /// Created, not paid.
    Created,
    /// Paid (see [`FakeGateway::mark_paid`]).
    Paid,
    /// Closed or expired unpaid.
    Closed,
}

/// An order a fake created when Confab asked it to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeOrder {
    /// Confab's order number.
    pub out_trade_no: String,
    /// Amount in cents.
    pub amount_cents: i64,
    /// Upper-case currency.
    pub currency: String,
    /// Product name as sent.
    pub subject: String,
    /// The notify URL Confab gave (empty for Stripe, whose webhook URL is per account).
    pub notify_url: String,
    /// State.
    pub state: FakeOrderState,
    /// The gateway's trade number (Epay: from creation; others: once paid).
    pub trade_no: Option<String>,
    /// The gateway's handle returned at creation (Stripe session id, Epay trade number).
    pub gateway_ref: Option<String>,
    /// Payment type (Epay `type`).
    pub pay_type: String,
    /// Cents refunded so far.
    pub refunded_cents: i64,
}

/// A refund a fake accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeRefund {
    /// Confab's order number.
    pub out_trade_no: String,
    /// Confab's refund number (Alipay out_request_no, WeChat out_refund_no, Stripe
    /// metadata[refund_no] / Idempotency-Key, Epay out_refund_no).
    pub refund_no: String,
    /// Amount in cents.
    pub amount_cents: i64,
    /// Reason as sent.
    pub reason: String,
    /// The id the fake answered with.
    pub gateway_refund_id: String,
}

/// Ways to spoil a notify built by `notify_for`. Knobs that make no sense for a gateway
/// (e.g. `FlipCiphertext` for Epay) panic there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyTweak {
    /// A correct notify.
    None,
    /// Change the amount to this many cents after signing (Confab must see `BadSignature`).
    TamperAmount(i64),
    /// Corrupt the signature itself.
    BadSignature,
    /// Sign with a key or secret Confab does not know (Stripe: an old webhook secret).
    WrongKey,
    /// Correctly signed, but for another app id / pid / appid+mchid.
    WrongMerchant,
    /// Correctly signed with a timestamp 10 minutes old (WeChat, Stripe).
    Stale,
    /// Flip one byte of the encrypted resource (WeChat).
    FlipCiphertext,
    /// Name another platform serial (WeChat).
    WrongSerial,
    /// Correctly signed, but reporting a trade that is not paid.
    Unpaid,
}

/// A notify ready to send to Confab's notify URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeNotify {
    /// HTTP method.
    pub method: String,
    /// Content-Type of the body, if any (also in `headers`).
    pub content_type: Option<String>,
    /// Headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Query string (Epay sends its notify as a GET query).
    pub query: String,
    /// Body.
    pub body: Vec<u8>,
}

impl FakeNotify {
    /// Sends this notify to `url` (Confab's notify route), appending the query if any.
    pub async fn send(&self, client: &reqwest::Client, url: &str) -> reqwest::Response {
        self.try_send(client, url).await.unwrap()
    }

    /// As [`FakeNotify::send`], answering a connection failure instead of panicking.
    pub async fn try_send(
        &self,
        client: &reqwest::Client,
        url: &str,
    ) -> reqwest::Result<reqwest::Response> {
        let full = if self.query.is_empty() {
            url.to_owned()
        } else if url.contains('?') {
            format!("{url}&{}", self.query)
        } else {
            format!("{url}?{}", self.query)
        };
        let method = reqwest::Method::from_bytes(self.method.as_bytes()).unwrap();
        let mut request = client.request(method, full);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request.body(self.body.clone()).send().await
    }

    /// A header of the notify.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// The shared server
// ---------------------------------------------------------------------------------------------

/// What every fake has in common; the gateway-specific fakes deref to it.
pub struct FakeGateway {
    /// Base URL, "http://127.0.0.1:PORT" (no trailing slash).
    pub url: String,
    inner: web::Data<Inner>,
    server: ServerHandle,
}

struct Inner {
    url: String,
    kind: Kind,
    state: Mutex<State>,
}

struct State {
    behavior: GatewayBehavior,
    requests: Vec<FakeRequest>,
    orders: BTreeMap<String, FakeOrder>,
    refunds: Vec<FakeRefund>,
    /// Stripe Idempotency-Key -> the answer first given.
    idempotent: HashMap<String, Value>,
    seq: u64,
}

impl State {
    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

enum Kind {
    Alipay(AlipayKeys),
    Epay(EpayKeys),
    Wechat(WechatKeys),
    Stripe(StripeKeys),
}

/// A request the fake refused, with the gateway's answer for it.
struct Rejection {
    reason: String,
    reply: Box<HttpResponse>,
}

fn reject(reason: impl Into<String>, reply: HttpResponse) -> Rejection {
    Rejection {
        reason: reason.into(),
        reply: Box::new(reply),
    }
}

/// A request as it arrived.
struct Incoming {
    method: String,
    path: String,
    query: String,
    headers: HashMap<String, String>,
    body: Bytes,
    params: BTreeMap<String, String>,
}

impl Incoming {
    fn new(req: &HttpRequest, body: Bytes) -> Incoming {
        let mut headers: HashMap<String, String> = HashMap::new();
        for (name, value) in req.headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        let mut params: BTreeMap<String, String> =
            form_urlencoded::parse(req.query_string().as_bytes())
                .into_owned()
                .collect();
        let form = headers
            .get("content-type")
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if form {
            params.extend(form_urlencoded::parse(&body).into_owned());
        }
        Incoming {
            method: req.method().to_string(),
            path: req.path().to_owned(),
            query: req.query_string().to_owned(),
            headers,
            body,
            params,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    fn record(&self, verdict: &Result<(), Rejection>) -> FakeRequest {
        FakeRequest {
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            headers: self.headers.clone(),
            params: self.params.clone(),
            json: self.json(),
            body: self.body.to_vec(),
            verified: verdict.is_ok(),
            rejection: verdict.as_ref().err().map(|r| r.reason.clone()),
        }
    }
}

impl Kind {
    fn check(&self, req: &Incoming) -> Result<(), Rejection> {
        match self {
            Kind::Alipay(k) => k.check(req),
            Kind::Epay(k) => k.check(req),
            Kind::Wechat(k) => k.check(req),
            Kind::Stripe(k) => k.check(req),
        }
    }

    fn serve(&self, url: &str, state: &mut State, req: &Incoming) -> HttpResponse {
        match self {
            Kind::Alipay(k) => k.serve(state, req),
            Kind::Epay(k) => k.serve(url, state, req),
            Kind::Wechat(k) => k.serve(state, req),
            Kind::Stripe(k) => k.serve(url, state, req),
        }
    }

    fn failure(&self, status: u16) -> HttpResponse {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match self {
            Kind::Alipay(_) | Kind::Epay(_) => {
                return HttpResponse::build(status)
                    .content_type("text/html")
                    .body("<html><body>502 Bad Gateway</body></html>");
            }
            Kind::Wechat(_) => json!({"code": "SYSTEM_ERROR", "message": "系统错误"}),
            Kind::Stripe(_) => json!({"error": {"type": "api_error",
                "message": "An unknown error occurred"}}),
        };
        HttpResponse::build(status).json(body)
    }

    fn trade_no(&self, seq: u64) -> String {
        match self {
            Kind::Alipay(_) => format!("2024{seq:024}"),
            Kind::Epay(_) => format!("2024{seq:015}"),
            Kind::Wechat(_) => format!("42000{seq:023}"),
            Kind::Stripe(_) => format!("pi_fake{seq:06}{}", random_hex(6)),
        }
    }
}

async fn handle(req: HttpRequest, body: Bytes, inner: web::Data<Inner>) -> HttpResponse {
    let incoming = Incoming::new(&req, body);
    let verdict = inner.kind.check(&incoming);
    let behavior = {
        let mut state = inner.lock();
        state.requests.push(incoming.record(&verdict));
        state.behavior.clone()
    };
    match behavior {
        GatewayBehavior::Hang => loop {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        },
        GatewayBehavior::Fail(status) => inner.kind.failure(status),
        GatewayBehavior::Normal => match verdict {
            Err(rejection) => *rejection.reply,
            Ok(()) => {
                let mut state = inner.lock();
                inner.kind.serve(&inner.url, &mut state, &incoming)
            }
        },
        GatewayBehavior::LoseAnswers => {
            if verdict.is_ok() {
                let mut state = inner.lock();
                drop(inner.kind.serve(&inner.url, &mut state, &incoming));
            }
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            }
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test must not poison the fake for the others sharing it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl FakeGateway {
    async fn start(make: impl FnOnce(&str) -> Kind) -> FakeGateway {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("fake gateway: cannot bind 127.0.0.1:0: {e}"));
        let port = listener.local_addr().expect("local address").port();
        let url = format!("http://127.0.0.1:{port}");
        let inner = web::Data::new(Inner {
            url: url.clone(),
            kind: make(&url),
            state: Mutex::new(State {
                behavior: GatewayBehavior::Normal,
                requests: Vec::new(),
                orders: BTreeMap::new(),
                refunds: Vec::new(),
                idempotent: HashMap::new(),
                seq: 0,
            }),
        });
        let data = inner.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("fake gateway listens")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeGateway {
            url,
            inner,
            server: handle,
        }
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<FakeRequest> {
        self.inner.lock().requests.clone()
    }

    /// How many requests arrived.
    pub fn hits(&self) -> usize {
        self.inner.lock().requests.len()
    }

    /// The requests that failed the gateway's checks.
    pub fn rejected(&self) -> Vec<FakeRequest> {
        self.requests()
            .into_iter()
            .filter(|r| !r.verified)
            .collect()
    }

    /// Panics, listing the reasons, if any request failed the gateway's checks.
    pub fn assert_no_rejections(&self) {
        let rejected = self.rejected();
        assert!(
            rejected.is_empty(),
            "the fake gateway rejected requests: {:?}",
            rejected
                .iter()
                .map(|r| format!(
                    "{} {}: {}",
                    r.method,
                    r.path,
                    r.rejection.as_deref().unwrap_or("")
                ))
                .collect::<Vec<_>>()
        );
    }

    /// Every order created, by out_trade_no.
    pub fn orders(&self) -> Vec<FakeOrder> {
        self.inner.lock().orders.values().cloned().collect()
    }

    /// One order, if it was created here.
    pub fn order(&self, out_trade_no: &str) -> Option<FakeOrder> {
        self.inner.lock().orders.get(out_trade_no).cloned()
    }

    /// Marks an order paid (assigning the gateway's trade number), so `query` reports it paid.
    /// Returns the trade number. Panics if the order was never created here.
    pub fn mark_paid(&self, out_trade_no: &str) -> String {
        let mut state = self.inner.lock();
        let seq = state.next();
        let order = state
            .orders
            .get_mut(out_trade_no)
            .unwrap_or_else(|| panic!("fake gateway: no order {out_trade_no}"));
        order.state = FakeOrderState::Paid;
        order
            .trade_no
            .get_or_insert_with(|| self.inner.kind.trade_no(seq))
            .clone()
    }

    /// Gives an order the trade number `trade_no` (what a notify for it then carries).
    pub fn set_trade_no(&self, out_trade_no: &str, trade_no: &str) {
        let mut state = self.inner.lock();
        let order = state
            .orders
            .get_mut(out_trade_no)
            .unwrap_or_else(|| panic!("fake gateway: no order {out_trade_no}"));
        order.trade_no = Some(trade_no.to_owned());
    }

    /// Marks an order closed/expired at the gateway.
    pub fn mark_closed(&self, out_trade_no: &str) {
        let mut state = self.inner.lock();
        let order = state
            .orders
            .get_mut(out_trade_no)
            .unwrap_or_else(|| panic!("fake gateway: no order {out_trade_no}"));
        order.state = FakeOrderState::Closed;
    }

    /// Refunds accepted, in order.
    pub fn refunds(&self) -> Vec<FakeRefund> {
        self.inner.lock().refunds.clone()
    }

    /// How the fake answers from now on.
    pub fn set_behavior(&self, behavior: GatewayBehavior) {
        self.inner.lock().behavior = behavior;
    }

    /// The trade number a notify for this order carries: the order's, or a fresh one.
    fn trade_no_for(&self, out_trade_no: &str) -> String {
        let mut state = self.inner.lock();
        let seq = state.next();
        state
            .orders
            .get(out_trade_no)
            .and_then(|o| o.trade_no.clone())
            .unwrap_or_else(|| self.inner.kind.trade_no(seq))
    }
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

macro_rules! fake {
    ($name:ident, $kind:ident, $keys:ident) => {
        impl Deref for $name {
            type Target = FakeGateway;
            fn deref(&self) -> &FakeGateway {
                &self.0
            }
        }

        impl $name {
            /// Starts the fake with fresh keys.
            pub async fn start() -> $name {
                $name(FakeGateway::start(|url| Kind::$kind($keys::new(url))).await)
            }

            fn keys(&self) -> &$keys {
                match &self.0.inner.kind {
                    Kind::$kind(k) => k,
                    _ => unreachable!(),
                }
            }

            /// Marks the order paid and returns a correct notify for its full amount.
            pub fn pay(&self, out_trade_no: &str) -> FakeNotify {
                self.mark_paid(out_trade_no);
                let cents = self.order(out_trade_no).map_or(0, |o| o.amount_cents);
                self.notify_for(out_trade_no, cents, NotifyTweak::None)
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Crypto helpers (independent of confab-payments)
// ---------------------------------------------------------------------------------------------

/// A fresh RSA-2048 key: (key, PKCS#8 private PEM, public key, SPKI public PEM).
fn rsa_key() -> (PKey<Private>, String, PKey<Public>, String) {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let private_pem = String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let public_pem = String::from_utf8(key.public_key_to_pem().unwrap()).unwrap();
    let public = PKey::public_key_from_pem(public_pem.as_bytes()).unwrap();
    (key, private_pem, public, public_pem)
}

fn rsa_sign(key: &PKey<Private>, data: &[u8]) -> String {
    let mut signer = Signer::new(MessageDigest::sha256(), key).unwrap();
    signer.update(data).unwrap();
    B64.encode(signer.sign_to_vec().unwrap())
}

fn rsa_verify(key: &PKey<Public>, data: &[u8], signature: &str) -> bool {
    let Ok(sig) = B64.decode(signature) else {
        return false;
    };
    let mut verifier = Verifier::new(MessageDigest::sha256(), key).unwrap();
    verifier.update(data).unwrap();
    verifier.verify(&sig).unwrap_or(false)
}

fn md5_hex(data: &[u8]) -> String {
    hex::encode(hash(MessageDigest::md5(), data).unwrap())
}

fn hmac_hex(key: &[u8], data: &[u8]) -> String {
    let key = PKey::hmac(key).unwrap();
    let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
    signer.update(data).unwrap();
    hex::encode(signer.sign_to_vec().unwrap())
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    openssl::rand::rand_bytes(&mut buf).unwrap();
    hex::encode(buf)
}

/// Sorted `k=v&...` without the excluded keys and empty values.
fn canonical(params: &BTreeMap<String, String>, exclude: &[&str]) -> String {
    params
        .iter()
        .filter(|(k, v)| !v.is_empty() && !exclude.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A base64 signature with one bit flipped.
fn flip_b64(signature: &str) -> String {
    let mut raw = B64.decode(signature).unwrap();
    raw[7] ^= 0x01;
    B64.encode(raw)
}

/// A hex signature with its first digit changed.
fn flip_hex(signature: &str) -> String {
    let first = if signature.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", &signature[1..])
}

fn yuan(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn parse_yuan(text: &str) -> Option<i64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !format!("{whole}{frac}").bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac = format!("{frac:0<2}");
    Some(whole.parse::<i64>().ok()? * 100 + frac.parse::<i64>().ok()?)
}

fn beijing(now: DateTime<Utc>) -> String {
    now.with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn form_body(params: &BTreeMap<String, String>) -> Vec<u8> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.extend_pairs(params);
    s.finish().into_bytes()
}

fn pairs<const N: usize>(items: [(&str, String); N]) -> BTreeMap<String, String> {
    items.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn not_applicable(gateway: &str, tweak: &NotifyTweak) -> ! {
    panic!("NotifyTweak::{tweak:?} does not apply to {gateway}")
}

// ---------------------------------------------------------------------------------------------
// Alipay
// ---------------------------------------------------------------------------------------------

/// Fake Alipay OpenAPI gateway (`POST /gateway.do`): precreate, query, close, refund.
pub struct FakeAlipay(FakeGateway);

/// The app id the fake's channel config uses.
pub const ALIPAY_APP_ID: &str = "2021000000000001";

struct AlipayKeys {
    app_private_pem: String,
    app_public: PKey<Public>,
    alipay_private: PKey<Private>,
    alipay_public_pem: String,
}

impl AlipayKeys {
    fn new(_url: &str) -> AlipayKeys {
        let (_, app_private_pem, app_public, _) = rsa_key();
        let (alipay_private, _, _, alipay_public_pem) = rsa_key();
        AlipayKeys {
            app_private_pem,
            app_public,
            alipay_private,
            alipay_public_pem,
        }
    }

    fn response_name(req: &Incoming) -> String {
        let method = req.param("method").unwrap_or("unknown");
        format!("{}_response", method.replace('.', "_"))
    }

    /// An answer: `{"<method>_response": {...}, "sign": "..."}`, signed unless `signed` is false.
    fn answer(&self, req: &Incoming, response: Value, signed: bool) -> HttpResponse {
        let inner = response.to_string();
        let name = Self::response_name(req);
        let body = if signed {
            let sign = rsa_sign(&self.alipay_private, inner.as_bytes());
            format!("{{\"{name}\":{inner},\"sign\":\"{sign}\"}}")
        } else {
            format!("{{\"{name}\":{inner}}}")
        };
        HttpResponse::Ok()
            .content_type("text/html;charset=utf-8")
            .body(body)
    }

    fn business_error(&self, req: &Incoming, sub_code: &str, sub_msg: &str) -> HttpResponse {
        let response = json!({"code": "40004", "msg": "Business Failed",
            "sub_code": sub_code, "sub_msg": sub_msg});
        self.answer(req, response, true)
    }

    fn check(&self, req: &Incoming) -> Result<(), Rejection> {
        let invalid = |sub_code: &str, sub_msg: &str| {
            let response = json!({"code": "40002", "msg": "Invalid Arguments",
                "sub_code": sub_code, "sub_msg": sub_msg});
            reject(
                format!("{sub_code}: {sub_msg}"),
                self.answer(req, response, false),
            )
        };
        if req.method != "POST" || req.path != "/gateway.do" {
            return Err(invalid("isv.invalid-method", "not POST /gateway.do"));
        }
        let fixed = [
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("version", "1.0"),
        ];
        for (name, want) in fixed {
            if req
                .param(name)
                .is_some_and(|v| !v.eq_ignore_ascii_case(want))
            {
                return Err(invalid(
                    "isv.invalid-parameter",
                    &format!("{name} must be {want}"),
                ));
            }
        }
        for name in [
            "app_id",
            "method",
            "charset",
            "sign_type",
            "timestamp",
            "version",
            "sign",
            "biz_content",
        ] {
            if req.param(name).is_none_or(str::is_empty) {
                return Err(invalid(
                    "isv.missing-parameter",
                    &format!("缺少参数 {name}"),
                ));
            }
        }
        let timestamp = req.param("timestamp").unwrap_or_default();
        if chrono::NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%d %H:%M:%S").is_err() {
            return Err(invalid("isv.invalid-timestamp", "timestamp 格式错误"));
        }
        if req.param("app_id") != Some(ALIPAY_APP_ID) {
            return Err(invalid("isv.invalid-app-id", "无效的AppID参数"));
        }
        let content = canonical(&req.params, &["sign"]);
        if !rsa_verify(
            &self.app_public,
            content.as_bytes(),
            req.param("sign").unwrap_or_default(),
        ) {
            return Err(invalid("isv.invalid-signature", "验签出错"));
        }
        if serde_json::from_str::<Value>(req.param("biz_content").unwrap_or_default()).is_err() {
            return Err(invalid("isv.invalid-parameter", "biz_content is not JSON"));
        }
        Ok(())
    }

    fn serve(&self, state: &mut State, req: &Incoming) -> HttpResponse {
        let biz: Value = serde_json::from_str(req.param("biz_content").unwrap_or("{}")).unwrap();
        let out_trade_no = biz["out_trade_no"].as_str().unwrap_or_default().to_owned();
        match req.param("method").unwrap_or_default() {
            "alipay.trade.precreate" => self.precreate(state, req, &biz),
            "alipay.trade.query" => {
                let Some(order) = state.orders.get(&out_trade_no) else {
                    return self.business_error(req, "ACQ.TRADE_NOT_EXIST", "交易不存在");
                };
                let status = match order.state {
                    FakeOrderState::Created => "WAIT_BUYER_PAY",
                    FakeOrderState::Paid => "TRADE_SUCCESS",
                    FakeOrderState::Closed => "TRADE_CLOSED",
                };
                let response = json!({"code": "10000", "msg": "Success",
                    "out_trade_no": order.out_trade_no, "trade_no": order.trade_no,
                    "trade_status": status, "total_amount": yuan(order.amount_cents),
                    "buyer_logon_id": "159****5620", "buyer_pay_amount": "0.00"});
                self.answer(req, response, true)
            }
            "alipay.trade.close" => match state.orders.get_mut(&out_trade_no) {
                None => self.business_error(req, "ACQ.TRADE_NOT_EXIST", "交易不存在"),
                Some(o) if o.state == FakeOrderState::Created => {
                    o.state = FakeOrderState::Closed;
                    let response = json!({"code": "10000", "msg": "Success",
                        "out_trade_no": o.out_trade_no});
                    self.answer(req, response, true)
                }
                Some(_) => self.business_error(req, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法"),
            },
            "alipay.trade.refund" => self.refund(state, req, &biz),
            _ => self.business_error(req, "isv.invalid-method", "不存在的方法名"),
        }
    }

    fn precreate(&self, state: &mut State, req: &Incoming, biz: &Value) -> HttpResponse {
        let (Some(out_trade_no), Some(amount), Some(subject)) = (
            biz["out_trade_no"].as_str(),
            biz["total_amount"].as_str().and_then(parse_yuan),
            biz["subject"].as_str(),
        ) else {
            let response = json!({"code": "40002", "msg": "Invalid Arguments",
                "sub_code": "isv.missing-parameter", "sub_msg": "缺少必选参数"});
            return self.answer(req, response, true);
        };
        if let Some(existing) = state.orders.get(out_trade_no)
            && existing.amount_cents != amount
        {
            return self.business_error(req, "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改");
        }
        let seq = state.next();
        state
            .orders
            .entry(out_trade_no.to_owned())
            .or_insert_with(|| FakeOrder {
                out_trade_no: out_trade_no.to_owned(),
                amount_cents: amount,
                currency: "CNY".into(),
                subject: subject.to_owned(),
                notify_url: req.param("notify_url").unwrap_or_default().to_owned(),
                state: FakeOrderState::Created,
                trade_no: None,
                gateway_ref: None,
                pay_type: "alipay".into(),
                refunded_cents: 0,
            });
        let response = json!({"code": "10000", "msg": "Success", "out_trade_no": out_trade_no,
            "qr_code": format!("https://qr.alipay.com/bax0{seq:06}fake")});
        self.answer(req, response, true)
    }

    fn refund(&self, state: &mut State, req: &Incoming, biz: &Value) -> HttpResponse {
        let out_trade_no = biz["out_trade_no"].as_str().unwrap_or_default().to_owned();
        let refund_no = biz["out_request_no"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let Some(amount) = biz["refund_amount"].as_str().and_then(parse_yuan) else {
            return self.business_error(req, "ACQ.INVALID_PARAMETER", "refund_amount");
        };
        let Some(order) = state.orders.get(&out_trade_no).cloned() else {
            return self.business_error(req, "ACQ.TRADE_NOT_EXIST", "交易不存在");
        };
        let repeat = state
            .refunds
            .iter()
            .any(|r| r.out_trade_no == out_trade_no && r.refund_no == refund_no);
        if !repeat {
            if order.state != FakeOrderState::Paid {
                return self.business_error(req, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
            }
            if order.refunded_cents + amount > order.amount_cents {
                return self.business_error(req, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限");
            }
            record_refund(
                state,
                &out_trade_no,
                &refund_no,
                amount,
                biz["refund_reason"].as_str(),
                refund_no.clone(),
            );
        }
        let refunded = state.orders[&out_trade_no].refunded_cents;
        let response = json!({"code": "10000", "msg": "Success", "out_trade_no": out_trade_no,
            "trade_no": order.trade_no, "buyer_logon_id": "159****5620",
            "fund_change": if repeat { "N" } else { "Y" }, "refund_fee": yuan(refunded)});
        self.answer(req, response, true)
    }
}

fn record_refund(
    state: &mut State,
    out_trade_no: &str,
    refund_no: &str,
    amount: i64,
    reason: Option<&str>,
    gateway_refund_id: String,
) {
    if let Some(order) = state.orders.get_mut(out_trade_no) {
        order.refunded_cents += amount;
    }
    state.refunds.push(FakeRefund {
        out_trade_no: out_trade_no.to_owned(),
        refund_no: refund_no.to_owned(),
        amount_cents: amount,
        reason: reason.unwrap_or_default().to_owned(),
        gateway_refund_id,
    });
}

fake!(FakeAlipay, Alipay, AlipayKeys);

impl FakeAlipay {
    /// `(settings, secrets)` for an `alipay_f2f` channel pointed at this fake.
    pub fn channel_config(&self) -> (Value, Value) {
        let keys = self.keys();
        (
            json!({"app_id": ALIPAY_APP_ID, "gateway_url": format!("{}/gateway.do", self.url)}),
            json!({"app_private_key": keys.app_private_pem,
                   "alipay_public_key": keys.alipay_public_pem}),
        )
    }

    /// An asynchronous notify (form POST) for an order, signed by "Alipay".
    pub fn notify_for(&self, out_trade_no: &str, cents: i64, tweak: NotifyTweak) -> FakeNotify {
        let now = Utc::now();
        let app_id = match tweak {
            NotifyTweak::WrongMerchant => "2021000000009999",
            _ => ALIPAY_APP_ID,
        };
        let status = if tweak == NotifyTweak::Unpaid {
            "WAIT_BUYER_PAY"
        } else {
            "TRADE_SUCCESS"
        };
        let amount = yuan(cents);
        let mut params = pairs([
            ("gmt_create", beijing(now)),
            ("charset", "utf-8".into()),
            ("gmt_payment", beijing(now)),
            ("notify_time", beijing(now)),
            ("subject", "Confab 积分 & 会员".into()),
            ("buyer_id", "2088102122524333".into()),
            ("invoice_amount", amount.clone()),
            ("version", "1.0".into()),
            ("notify_id", format!("2024{}", random_hex(16))),
            (
                "fund_bill_list",
                format!("[{{\"amount\":\"{amount}\",\"fundChannel\":\"ALIPAYACCOUNT\"}}]"),
            ),
            ("notify_type", "trade_status_sync".into()),
            ("out_trade_no", out_trade_no.to_owned()),
            ("total_amount", amount.clone()),
            ("trade_status", status.into()),
            ("trade_no", self.trade_no_for(out_trade_no)),
            ("auth_app_id", app_id.into()),
            ("receipt_amount", amount.clone()),
            ("point_amount", "0.00".into()),
            ("app_id", app_id.into()),
            ("buyer_pay_amount", amount),
            ("seller_id", "2088102119685838".into()),
            ("passback_params", String::new()),
        ]);
        let content = canonical(&params, &["sign", "sign_type"]);
        let sign = match tweak {
            NotifyTweak::WrongKey => rsa_sign(&rsa_key().0, content.as_bytes()),
            NotifyTweak::BadSignature => {
                flip_b64(&rsa_sign(&self.keys().alipay_private, content.as_bytes()))
            }
            NotifyTweak::None
            | NotifyTweak::WrongMerchant
            | NotifyTweak::Unpaid
            | NotifyTweak::TamperAmount(_) => {
                rsa_sign(&self.keys().alipay_private, content.as_bytes())
            }
            other => not_applicable("alipay", &other),
        };
        params.insert("sign".into(), sign);
        params.insert("sign_type".into(), "RSA2".into());
        if let NotifyTweak::TamperAmount(c) = tweak {
            params.insert("total_amount".into(), yuan(c));
        }
        let content_type = "application/x-www-form-urlencoded; charset=utf-8".to_owned();
        FakeNotify {
            method: "POST".into(),
            content_type: Some(content_type.clone()),
            headers: vec![("content-type".into(), content_type)],
            query: String::new(),
            body: form_body(&params),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Epay
// ---------------------------------------------------------------------------------------------

/// Fake Epay site: `mapi.php`, `api.php?act=order`, `api.php?act=refund`.
pub struct FakeEpay(FakeGateway);

/// The pid the fake's channel config uses.
pub const EPAY_PID: &str = "1001";

struct EpayKeys {
    key: String,
}

impl EpayKeys {
    fn new(_url: &str) -> EpayKeys {
        EpayKeys {
            key: random_hex(16),
        }
    }

    fn sign(&self, params: &BTreeMap<String, String>, key: &str) -> String {
        md5_hex(format!("{}{key}", canonical(params, &["sign", "sign_type"])).as_bytes())
    }

    fn check(&self, req: &Incoming) -> Result<(), Rejection> {
        let fail = |code: i64, msg: &str| {
            reject(
                msg.to_owned(),
                HttpResponse::Ok().json(json!({"code": code, "msg": msg})),
            )
        };
        match req.path.as_str() {
            "/mapi.php" => {
                for name in [
                    "pid",
                    "type",
                    "out_trade_no",
                    "notify_url",
                    "name",
                    "money",
                    "clientip",
                    "sign",
                ] {
                    if req.param(name).is_none_or(str::is_empty) {
                        return Err(fail(-1, &format!("{name}不能为空")));
                    }
                }
                if req.param("pid") != Some(EPAY_PID) {
                    return Err(fail(-1, "商户不存在"));
                }
                if req.param("sign_type").is_some_and(|t| t != "MD5") {
                    return Err(fail(-1, "签名类型不支持"));
                }
                if req.param("sign") != Some(self.sign(&req.params, &self.key).as_str()) {
                    return Err(fail(-1, "签名校验失败！"));
                }
                if req
                    .param("money")
                    .and_then(parse_yuan)
                    .is_none_or(|c| c <= 0)
                {
                    return Err(fail(-1, "金额不合法"));
                }
                Ok(())
            }
            "/api.php" => {
                if req.param("pid") != Some(EPAY_PID) {
                    return Err(fail(-2, "商户ID不存在"));
                }
                if req.param("key") != Some(self.key.as_str()) {
                    return Err(fail(-3, "KEY校验失败"));
                }
                match (req.method.as_str(), req.param("act")) {
                    ("GET", Some("order")) | ("POST", Some("refund")) => Ok(()),
                    _ => Err(fail(-5, "No Act!")),
                }
            }
            _ => Err(reject(
                "unknown path",
                HttpResponse::NotFound().body("404 Not Found"),
            )),
        }
    }

    fn serve(&self, url: &str, state: &mut State, req: &Incoming) -> HttpResponse {
        match (req.path.as_str(), req.param("act")) {
            ("/mapi.php", _) => self.create(url, state, req),
            ("/api.php", Some("order")) => {
                let order = state
                    .orders
                    .get(req.param("out_trade_no").unwrap_or_default());
                let Some(o) = order else {
                    return HttpResponse::Ok().json(json!({"code": -1, "msg": "订单号不存在"}));
                };
                HttpResponse::Ok().json(json!({"code": 1, "msg": "查询订单号成功！",
                    "trade_no": o.trade_no, "out_trade_no": o.out_trade_no, "api_trade_no": "",
                    "type": o.pay_type, "pid": EPAY_PID, "addtime": "2024-05-01 12:00:00",
                    "endtime": if o.state == FakeOrderState::Paid { "2024-05-01 12:01:00" } else { "" },
                    "name": o.subject, "money": yuan(o.amount_cents),
                    // Epay sends status as a string on some versions, a number on others.
                    "status": if o.state == FakeOrderState::Paid { json!("1") } else { json!(0) },
                    "param": "", "buyer": ""}))
            }
            _ => self.refund(state, req),
        }
    }

    fn create(&self, url: &str, state: &mut State, req: &Incoming) -> HttpResponse {
        let out_trade_no = req.param("out_trade_no").unwrap_or_default().to_owned();
        let amount = req.param("money").and_then(parse_yuan).unwrap_or_default();
        let pay_type = req.param("type").unwrap_or_default().to_owned();
        if state
            .orders
            .get(&out_trade_no)
            .is_some_and(|o| o.amount_cents != amount)
        {
            return HttpResponse::Ok().json(json!({"code": -1, "msg": "订单号已存在"}));
        }
        let seq = state.next();
        let trade_no = format!("2024{seq:015}");
        let order = state
            .orders
            .entry(out_trade_no.clone())
            .or_insert_with(|| FakeOrder {
                out_trade_no,
                amount_cents: amount,
                currency: "CNY".into(),
                subject: req.param("name").unwrap_or_default().to_owned(),
                notify_url: req.param("notify_url").unwrap_or_default().to_owned(),
                state: FakeOrderState::Created,
                trade_no: Some(trade_no.clone()),
                gateway_ref: Some(trade_no),
                pay_type: pay_type.clone(),
                refunded_cents: 0,
            });
        let trade_no = order.trade_no.clone().unwrap_or_default();
        let mut answer = json!({"code": 1, "msg": "", "trade_no": trade_no});
        if pay_type == "wxpay" || pay_type == "qqpay" {
            answer["qrcode"] = json!(format!("weixin://wxpay/bizpayurl?pr=fake{seq}"));
        } else {
            answer["payurl"] = json!(format!("{url}/pay/submit/{trade_no}/"));
        }
        HttpResponse::Ok().json(answer)
    }

    fn refund(&self, state: &mut State, req: &Incoming) -> HttpResponse {
        let found = state
            .orders
            .values()
            .find(|o| {
                req.param("trade_no")
                    .is_some_and(|t| o.trade_no.as_deref() == Some(t))
                    || req.param("out_trade_no") == Some(o.out_trade_no.as_str())
            })
            .cloned();
        let Some(order) = found else {
            return HttpResponse::Ok().json(json!({"code": -1, "msg": "订单号不存在"}));
        };
        let amount = req.param("money").and_then(parse_yuan).unwrap_or_default();
        if order.state != FakeOrderState::Paid {
            return HttpResponse::Ok().json(json!({"code": -1, "msg": "订单未支付"}));
        }
        if amount <= 0 || order.refunded_cents + amount > order.amount_cents {
            return HttpResponse::Ok().json(json!({"code": -1, "msg": "退款金额不合法"}));
        }
        let refund_no = req.param("out_refund_no").unwrap_or_default().to_owned();
        record_refund(
            state,
            &order.out_trade_no,
            &refund_no,
            amount,
            None,
            refund_no.clone(),
        );
        HttpResponse::Ok().json(json!({"code": 1, "msg": "退款成功"}))
    }
}

fake!(FakeEpay, Epay, EpayKeys);

impl FakeEpay {
    /// `(settings, secrets)` for an `epay` channel pointed at this fake.
    pub fn channel_config(&self) -> (Value, Value) {
        (
            json!({"pid": EPAY_PID, "api_url": format!("{}/", self.url)}),
            json!({"key": self.keys().key}),
        )
    }

    /// An asynchronous notify (GET query, as Epay sends it) for an order.
    pub fn notify_for(&self, out_trade_no: &str, cents: i64, tweak: NotifyTweak) -> FakeNotify {
        let order = self.order(out_trade_no);
        let pid = if tweak == NotifyTweak::WrongMerchant {
            "1002"
        } else {
            EPAY_PID
        };
        let status = if tweak == NotifyTweak::Unpaid {
            "WAIT_BUYER_PAY"
        } else {
            "TRADE_SUCCESS"
        };
        let mut params = pairs([
            ("pid", pid.to_owned()),
            ("trade_no", self.trade_no_for(out_trade_no)),
            ("out_trade_no", out_trade_no.to_owned()),
            (
                "type",
                order
                    .as_ref()
                    .map_or_else(|| "alipay".into(), |o| o.pay_type.clone()),
            ),
            (
                "name",
                order.map_or_else(|| "Confab 积分".into(), |o| o.subject),
            ),
            ("money", yuan(cents)),
            ("trade_status", status.to_owned()),
            ("param", String::new()),
        ]);
        let key = &self.keys().key;
        let sign = match tweak {
            NotifyTweak::WrongKey => self.keys().sign(&params, "not-the-key"),
            NotifyTweak::BadSignature => flip_hex(&self.keys().sign(&params, key)),
            NotifyTweak::None
            | NotifyTweak::WrongMerchant
            | NotifyTweak::Unpaid
            | NotifyTweak::TamperAmount(_) => self.keys().sign(&params, key),
            other => not_applicable("epay", &other),
        };
        params.insert("sign".into(), sign);
        params.insert("sign_type".into(), "MD5".into());
        if let NotifyTweak::TamperAmount(c) = tweak {
            params.insert("money".into(), yuan(c));
        }
        FakeNotify {
            method: "GET".into(),
            content_type: None,
            headers: Vec::new(),
            query: String::from_utf8(form_body(&params)).unwrap(),
            body: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// WeChat Pay
// ---------------------------------------------------------------------------------------------

/// Fake WeChat Pay API v3: native create, query by out_trade_no, close, domestic refunds.
pub struct FakeWechat(FakeGateway);

/// The merchant id the fake's channel config uses.
pub const WECHAT_MCHID: &str = "1900000109";
/// The app id the fake's channel config uses.
pub const WECHAT_APPID: &str = "wxd678efh567hg6787";

struct WechatKeys {
    merchant_private_pem: String,
    merchant_public: PKey<Public>,
    merchant_serial: String,
    platform_private: PKey<Private>,
    platform_public_pem: String,
    platform_serial: String,
    api_v3_key: String,
}

impl WechatKeys {
    fn new(_url: &str) -> WechatKeys {
        let (_, merchant_private_pem, merchant_public, _) = rsa_key();
        let (platform_private, _, _, platform_public_pem) = rsa_key();
        WechatKeys {
            merchant_private_pem,
            merchant_public,
            merchant_serial: random_hex(20).to_ascii_uppercase(),
            platform_private,
            platform_public_pem,
            platform_serial: format!("PUB_KEY_ID_{}", random_hex(16)),
            api_v3_key: random_hex(16),
        }
    }

    /// Platform signature headers over `timestamp\nnonce\nbody\n`.
    fn signature_headers(
        &self,
        key: &PKey<Private>,
        timestamp: i64,
        body: &[u8],
    ) -> Vec<(String, String)> {
        let nonce = random_hex(16);
        let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
        message.extend_from_slice(body);
        message.push(b'\n');
        vec![
            ("wechatpay-timestamp".into(), timestamp.to_string()),
            ("wechatpay-nonce".into(), nonce),
            ("wechatpay-signature".into(), rsa_sign(key, &message)),
            ("wechatpay-serial".into(), self.platform_serial.clone()),
            (
                "wechatpay-signature-type".into(),
                "WECHATPAY2-SHA256-RSA2048".into(),
            ),
        ]
    }

    /// A signed answer (WeChat signs errors too).
    fn answer(&self, status: u16, body: Option<Value>) -> HttpResponse {
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        let mut response = HttpResponse::build(StatusCode::from_u16(status).unwrap());
        for (name, value) in self.signature_headers(
            &self.platform_private,
            Utc::now().timestamp(),
            text.as_bytes(),
        ) {
            response.insert_header((name, value));
        }
        response.insert_header(("request-id", random_hex(12)));
        if text.is_empty() {
            response.finish()
        } else {
            response.content_type("application/json").body(text)
        }
    }

    fn error(&self, status: u16, code: &str, message: &str) -> HttpResponse {
        self.answer(status, Some(json!({"code": code, "message": message})))
    }

    fn check(&self, req: &Incoming) -> Result<(), Rejection> {
        let fail = |status: u16, code: &str, message: &str| {
            reject(
                format!("{code}: {message}"),
                self.error(status, code, message),
            )
        };
        if req.header("user-agent").is_none_or(str::is_empty) {
            return Err(fail(400, "PARAM_ERROR", "HTTP header缺少User-Agent"));
        }
        let Some(auth) = req
            .header("authorization")
            .and_then(|a| a.strip_prefix("WECHATPAY2-SHA256-RSA2048 "))
        else {
            return Err(fail(401, "SIGN_ERROR", "错误的签名认证方式"));
        };
        let fields: HashMap<&str, &str> = auth
            .split(',')
            .filter_map(|kv| kv.trim().split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        let get = |k: &str| fields.get(k).copied().unwrap_or_default();
        if get("mchid") != WECHAT_MCHID {
            return Err(fail(401, "SIGN_ERROR", "商户号不匹配"));
        }
        if get("serial_no") != self.merchant_serial {
            return Err(fail(401, "SIGN_ERROR", "商户证书序列号有误"));
        }
        let ts: i64 = get("timestamp").parse().unwrap_or(0);
        if (Utc::now().timestamp() - ts).abs() > 300 {
            return Err(fail(401, "SIGN_ERROR", "请求时间戳已过期"));
        }
        let path = if req.query.is_empty() {
            req.path.clone()
        } else {
            format!("{}?{}", req.path, req.query)
        };
        let mut message =
            format!("{}\n{path}\n{ts}\n{}\n", req.method, get("nonce_str")).into_bytes();
        message.extend_from_slice(&req.body);
        message.push(b'\n');
        if get("nonce_str").is_empty()
            || !rsa_verify(&self.merchant_public, &message, get("signature"))
        {
            return Err(fail(401, "SIGN_ERROR", "签名错误"));
        }
        if !req.body.is_empty() && req.json().is_none() {
            return Err(fail(400, "PARAM_ERROR", "请求体不是JSON"));
        }
        Ok(())
    }

    fn serve(&self, state: &mut State, req: &Incoming) -> HttpResponse {
        let body = req.json().unwrap_or(Value::Null);
        let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        match (req.method.as_str(), segments.as_slice()) {
            ("POST", ["v3", "pay", "transactions", "native"]) => self.create(state, &body),
            ("GET", ["v3", "pay", "transactions", "out-trade-no", no]) => {
                if req.param("mchid") != Some(WECHAT_MCHID) {
                    return self.error(400, "PARAM_ERROR", "mchid与请求不符");
                }
                match state.orders.get(*no) {
                    None => self.error(404, "ORDER_NOT_EXIST", "订单不存在"),
                    Some(o) => self.answer(200, Some(transaction_json(o))),
                }
            }
            ("POST", ["v3", "pay", "transactions", "out-trade-no", no, "close"]) => {
                if body["mchid"].as_str() != Some(WECHAT_MCHID) {
                    return self.error(400, "PARAM_ERROR", "mchid与请求不符");
                }
                match state.orders.get_mut(*no) {
                    None => self.error(404, "ORDER_NOT_EXIST", "订单不存在"),
                    Some(o) if o.state == FakeOrderState::Paid => {
                        self.error(400, "ORDERPAID", "订单已支付")
                    }
                    Some(o) => {
                        o.state = FakeOrderState::Closed;
                        self.answer(204, None)
                    }
                }
            }
            ("POST", ["v3", "refund", "domestic", "refunds"]) => self.refund(state, &body),
            _ => self.error(404, "NOT_FOUND", "请求的资源不存在"),
        }
    }

    fn create(&self, state: &mut State, body: &Value) -> HttpResponse {
        if body["appid"].as_str() != Some(WECHAT_APPID)
            || body["mchid"].as_str() != Some(WECHAT_MCHID)
        {
            return self.error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配");
        }
        let required = ["description", "out_trade_no", "notify_url"];
        if let Some(missing) = required
            .iter()
            .find(|f| body[**f].as_str().is_none_or(str::is_empty))
        {
            return self.error(400, "PARAM_ERROR", &format!("缺少参数 {missing}"));
        }
        if body["time_expire"]
            .as_str()
            .is_some_and(|t| DateTime::parse_from_rfc3339(t).is_err())
        {
            return self.error(400, "PARAM_ERROR", "time_expire 格式错误");
        }
        let (Some(total), Some("CNY")) = (
            body["amount"]["total"].as_i64(),
            body["amount"]["currency"].as_str(),
        ) else {
            return self.error(400, "PARAM_ERROR", "amount 无效");
        };
        let out_trade_no = body["out_trade_no"].as_str().unwrap_or_default().to_owned();
        if state
            .orders
            .get(&out_trade_no)
            .is_some_and(|o| o.amount_cents != total)
        {
            return self.error(400, "INVALID_REQUEST", "201 商户订单号重复");
        }
        let seq = state.next();
        state
            .orders
            .entry(out_trade_no.clone())
            .or_insert_with(|| FakeOrder {
                out_trade_no,
                amount_cents: total,
                currency: "CNY".into(),
                subject: body["description"].as_str().unwrap_or_default().to_owned(),
                notify_url: body["notify_url"].as_str().unwrap_or_default().to_owned(),
                state: FakeOrderState::Created,
                trade_no: None,
                gateway_ref: None,
                pay_type: "native".into(),
                refunded_cents: 0,
            });
        self.answer(
            200,
            Some(json!({"code_url": format!("weixin://wxpay/bizpayurl?pr=fake{seq:05}")})),
        )
    }

    fn refund(&self, state: &mut State, body: &Value) -> HttpResponse {
        let found = state
            .orders
            .values()
            .find(|o| {
                body["out_trade_no"].as_str() == Some(o.out_trade_no.as_str())
                    || (body["transaction_id"].is_string()
                        && body["transaction_id"].as_str() == o.trade_no.as_deref())
            })
            .cloned();
        let Some(order) = found else {
            return self.error(404, "RESOURCE_NOT_EXISTS", "订单不存在");
        };
        let refund_no = body["out_refund_no"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (refund, total) = (
            body["amount"]["refund"].as_i64().unwrap_or(0),
            body["amount"]["total"].as_i64(),
        );
        if refund_no.is_empty()
            || total != Some(order.amount_cents)
            || body["amount"]["currency"].as_str() != Some("CNY")
        {
            return self.error(400, "PARAM_ERROR", "out_refund_no 或 amount 无效");
        }
        let existing = state
            .refunds
            .iter()
            .find(|r| r.refund_no == refund_no)
            .cloned();
        let refund_id = match existing {
            Some(r) => r.gateway_refund_id,
            None => {
                if order.state != FakeOrderState::Paid {
                    return self.error(403, "TRADE_STATE_ERROR", "订单状态不正确");
                }
                if refund <= 0 || order.refunded_cents + refund > order.amount_cents {
                    return self.error(403, "NOT_ENOUGH", "退款金额超过可退金额");
                }
                let id = format!("50000{:026}", state.next());
                record_refund(
                    state,
                    &order.out_trade_no,
                    &refund_no,
                    refund,
                    body["reason"].as_str(),
                    id.clone(),
                );
                id
            }
        };
        self.answer(
            200,
            Some(json!({"refund_id": refund_id, "out_refund_no": refund_no,
            "transaction_id": order.trade_no, "out_trade_no": order.out_trade_no,
            "channel": "ORIGINAL", "user_received_account": "支付用户零钱",
            "create_time": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, false),
            "status": "PROCESSING", "amount": {"total": order.amount_cents, "refund": refund,
                "payer_total": order.amount_cents, "payer_refund": refund, "currency": "CNY"}})),
        )
    }
}

/// A transaction as the query API shows it (and as a notify's resource carries it).
fn transaction_json(o: &FakeOrder) -> Value {
    let (state, desc) = match o.state {
        FakeOrderState::Created => ("NOTPAY", "订单未支付"),
        FakeOrderState::Paid if o.refunded_cents > 0 => ("REFUND", "转入退款"),
        FakeOrderState::Paid => ("SUCCESS", "支付成功"),
        FakeOrderState::Closed => ("CLOSED", "订单已关闭"),
    };
    let mut t = json!({"appid": WECHAT_APPID, "mchid": WECHAT_MCHID, "out_trade_no": o.out_trade_no,
        "trade_type": "NATIVE", "trade_state": state, "trade_state_desc": desc,
        "amount": {"total": o.amount_cents, "currency": "CNY"}});
    if o.state == FakeOrderState::Paid {
        t["transaction_id"] = json!(o.trade_no);
        t["bank_type"] = json!("OTHERS");
        t["success_time"] = json!("2024-05-01T12:01:00+08:00");
        t["payer"] = json!({"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"});
        t["amount"]["payer_total"] = json!(o.amount_cents);
        t["amount"]["payer_currency"] = json!("CNY");
    }
    t
}

fake!(FakeWechat, Wechat, WechatKeys);

impl FakeWechat {
    /// `(settings, secrets)` for a `wechat_native` channel pointed at this fake.
    pub fn channel_config(&self) -> (Value, Value) {
        let k = self.keys();
        (
            json!({"mchid": WECHAT_MCHID, "appid": WECHAT_APPID, "merchant_serial": k.merchant_serial,
                   "platform_serial": k.platform_serial, "api_base": self.url}),
            json!({"merchant_private_key": k.merchant_private_pem,
                   "platform_public_key": k.platform_public_pem, "api_v3_key": k.api_v3_key}),
        )
    }

    /// A payment notify (JSON POST with an encrypted resource and platform signature headers).
    pub fn notify_for(&self, out_trade_no: &str, cents: i64, tweak: NotifyTweak) -> FakeNotify {
        let k = self.keys();
        let (appid, paid) = match tweak {
            NotifyTweak::WrongMerchant => ("wx0000000000000000", true),
            NotifyTweak::Unpaid => (WECHAT_APPID, false),
            _ => (WECHAT_APPID, true),
        };
        let mut order = self.order(out_trade_no).unwrap_or_else(|| FakeOrder {
            out_trade_no: out_trade_no.to_owned(),
            amount_cents: cents,
            currency: "CNY".into(),
            subject: String::new(),
            notify_url: String::new(),
            state: FakeOrderState::Paid,
            trade_no: None,
            gateway_ref: None,
            pay_type: "native".into(),
            refunded_cents: 0,
        });
        order.trade_no = Some(self.trade_no_for(out_trade_no));
        order.state = if paid {
            FakeOrderState::Paid
        } else {
            FakeOrderState::Closed
        };
        order.refunded_cents = 0;
        let envelope = |amount: i64, flip: bool| {
            let mut t = transaction_json(&FakeOrder {
                amount_cents: amount,
                ..order.clone()
            });
            t["appid"] = json!(appid);
            if !paid {
                t["trade_state"] = json!("PAYERROR");
            }
            let resource = self.encrypt(&t, flip);
            json!({"id": format!("EV-{}", random_hex(8)), "create_time": "2024-05-01T12:01:00+08:00",
                "resource_type": "encrypt-resource",
                "event_type": if paid { "TRANSACTION.SUCCESS" } else { "TRANSACTION.FAIL" },
                "summary": if paid { "支付成功" } else { "支付失败" }, "resource": resource})
            .to_string()
        };
        let mut body = envelope(cents, tweak == NotifyTweak::FlipCiphertext);
        let now = Utc::now().timestamp();
        let ts = if tweak == NotifyTweak::Stale {
            now - 600
        } else {
            now
        };
        let other_key;
        let key = if tweak == NotifyTweak::WrongKey {
            other_key = rsa_key().0;
            &other_key
        } else {
            &k.platform_private
        };
        let mut headers = k.signature_headers(key, ts, body.as_bytes());
        match tweak {
            NotifyTweak::TamperAmount(c) => body = envelope(c, false),
            NotifyTweak::BadSignature => headers[2].1 = flip_b64(&headers[2].1),
            NotifyTweak::WrongSerial => headers[3].1 = format!("PUB_KEY_ID_{}", random_hex(16)),
            _ => {}
        }
        headers.insert(0, ("content-type".into(), "application/json".into()));
        FakeNotify {
            method: "POST".into(),
            content_type: Some("application/json".into()),
            headers,
            query: String::new(),
            body: body.into_bytes(),
        }
    }

    /// `resource` of a notify: AEAD_AES_256_GCM with the APIv3 key, tag appended.
    fn encrypt(&self, plain: &Value, flip: bool) -> Value {
        let nonce = random_hex(6);
        let aad = "transaction";
        let mut tag = [0u8; 16];
        let mut sealed = encrypt_aead(
            Cipher::aes_256_gcm(),
            self.keys().api_v3_key.as_bytes(),
            Some(nonce.as_bytes()),
            aad.as_bytes(),
            plain.to_string().as_bytes(),
            &mut tag,
        )
        .unwrap();
        sealed.extend_from_slice(&tag);
        if flip {
            sealed[3] ^= 0x20;
        }
        json!({"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": B64.encode(sealed), "associated_data": aad, "nonce": nonce})
    }
}

// ---------------------------------------------------------------------------------------------
// Stripe
// ---------------------------------------------------------------------------------------------

/// Fake Stripe API: Checkout Sessions (create, retrieve, expire) and refunds.
pub struct FakeStripe(FakeGateway);

struct StripeKeys {
    secret_key: String,
    webhook_secret: String,
}

/// Currencies Stripe counts in whole units (a subset; enough for tests).
const STRIPE_ZERO_DECIMAL: &[&str] = &["jpy", "krw", "vnd", "clp"];

fn stripe_to_cents(amount: i64, currency: &str) -> i64 {
    if STRIPE_ZERO_DECIMAL.contains(&currency) {
        amount * 100
    } else {
        amount
    }
}

fn cents_to_stripe(cents: i64, currency: &str) -> i64 {
    if STRIPE_ZERO_DECIMAL.contains(&currency) {
        cents / 100
    } else {
        cents
    }
}

fn stripe_error(status: u16, kind: &str, code: Option<&str>, message: &str) -> HttpResponse {
    let mut error = json!({"type": kind, "message": message});
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    HttpResponse::build(StatusCode::from_u16(status).unwrap()).json(json!({"error": error}))
}

impl StripeKeys {
    fn new(_url: &str) -> StripeKeys {
        StripeKeys {
            secret_key: format!("sk_test_fake{}", random_hex(12)),
            webhook_secret: format!("whsec_{}", random_hex(16)),
        }
    }

    fn check(&self, req: &Incoming) -> Result<(), Rejection> {
        let bearer = req
            .header("authorization")
            .and_then(|a| a.strip_prefix("Bearer "));
        if bearer != Some(self.secret_key.as_str()) {
            let message = "Invalid API Key provided: sk_test_****";
            return Err(reject(
                message,
                stripe_error(401, "invalid_request_error", None, message),
            ));
        }
        if req.method == "POST"
            && !req.body.is_empty()
            && !req
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
        {
            let message = "Stripe takes form-encoded bodies";
            return Err(reject(
                message,
                stripe_error(400, "invalid_request_error", None, message),
            ));
        }
        Ok(())
    }

    fn serve(&self, url: &str, state: &mut State, req: &Incoming) -> HttpResponse {
        let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        match (req.method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "checkout", "sessions"]) => self.create(url, state, req),
            ("GET", ["v1", "checkout", "sessions", id]) => match find_session(state, id) {
                Some(o) => HttpResponse::Ok().json(session_json(url, &o)),
                None => no_such_session(id),
            },
            ("POST", ["v1", "checkout", "sessions", id, "expire"]) => {
                let Some(o) = find_session(state, id) else {
                    return no_such_session(id);
                };
                if o.state != FakeOrderState::Created {
                    let message =
                        "Only Checkout Sessions with a status in [\"open\"] can be expired.";
                    return stripe_error(400, "invalid_request_error", None, message);
                }
                let order = state.orders.get_mut(&o.out_trade_no).unwrap();
                order.state = FakeOrderState::Closed;
                HttpResponse::Ok().json(session_json(url, order))
            }
            ("POST", ["v1", "refunds"]) => self.refund(state, req),
            _ => stripe_error(
                404,
                "invalid_request_error",
                None,
                "Unrecognized request URL",
            ),
        }
    }

    fn create(&self, url: &str, state: &mut State, req: &Incoming) -> HttpResponse {
        let required = [
            "mode",
            "line_items[0][price_data][currency]",
            "line_items[0][price_data][unit_amount]",
            "line_items[0][price_data][product_data][name]",
            "line_items[0][quantity]",
            "client_reference_id",
            "success_url",
        ];
        if let Some(missing) = required
            .iter()
            .find(|p| req.param(p).is_none_or(str::is_empty))
        {
            let message = format!("Missing required param: {missing}.");
            return stripe_error(
                400,
                "invalid_request_error",
                Some("parameter_missing"),
                &message,
            );
        }
        let currency = req
            .param("line_items[0][price_data][currency]")
            .unwrap_or_default();
        let unit_amount: Option<i64> = req
            .param("line_items[0][price_data][unit_amount]")
            .and_then(|a| a.parse().ok());
        let quantity = req.param("line_items[0][quantity]");
        let (Some(unit_amount), Some("1"), "payment") =
            (unit_amount, quantity, req.param("mode").unwrap_or_default())
        else {
            return stripe_error(
                400,
                "invalid_request_error",
                Some("parameter_invalid_integer"),
                "Invalid line item.",
            );
        };
        if currency != currency.to_ascii_lowercase() || currency.len() != 3 {
            return stripe_error(
                400,
                "invalid_request_error",
                Some("parameter_invalid_string"),
                "Invalid currency.",
            );
        }
        let now = Utc::now().timestamp();
        if let Some(expires) = req.param("expires_at").and_then(|e| e.parse::<i64>().ok())
            && !(now + 30 * 60..=now + 24 * 3600).contains(&expires)
        {
            let message = "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.";
            return stripe_error(
                400,
                "invalid_request_error",
                Some("parameter_invalid_integer"),
                message,
            );
        }
        let seq = state.next();
        let out_trade_no = req
            .param("client_reference_id")
            .unwrap_or_default()
            .to_owned();
        let order = FakeOrder {
            out_trade_no: out_trade_no.clone(),
            amount_cents: stripe_to_cents(unit_amount, currency),
            currency: currency.to_ascii_uppercase(),
            subject: req
                .param("line_items[0][price_data][product_data][name]")
                .unwrap_or_default()
                .to_owned(),
            notify_url: String::new(),
            state: FakeOrderState::Created,
            trade_no: None,
            gateway_ref: Some(format!("cs_test_fake{seq:04}{}", random_hex(8))),
            pay_type: "card".into(),
            refunded_cents: 0,
        };
        let answer = session_json(url, &order);
        state.orders.insert(out_trade_no, order);
        HttpResponse::Ok().json(answer)
    }

    fn refund(&self, state: &mut State, req: &Incoming) -> HttpResponse {
        let key = req.header("idempotency-key").map(str::to_owned);
        if let Some(previous) = key.as_ref().and_then(|k| state.idempotent.get(k)) {
            return HttpResponse::Ok()
                .insert_header(("idempotent-replayed", "true"))
                .json(previous.clone());
        }
        let intent = req.param("payment_intent").unwrap_or_default();
        let found = state
            .orders
            .values()
            .find(|o| o.trade_no.as_deref() == Some(intent))
            .cloned();
        let Some(order) = found.filter(|o| o.state == FakeOrderState::Paid) else {
            let message = format!("No such payment_intent: '{intent}'");
            return stripe_error(
                400,
                "invalid_request_error",
                Some("resource_missing"),
                &message,
            );
        };
        let currency = order.currency.to_ascii_lowercase();
        let amount = req
            .param("amount")
            .and_then(|a| a.parse::<i64>().ok())
            .unwrap_or(cents_to_stripe(order.amount_cents, &currency));
        let cents = stripe_to_cents(amount, &currency);
        if cents <= 0 || order.refunded_cents + cents > order.amount_cents {
            let message = "Refund amount is greater than unrefunded amount on charge.";
            return stripe_error(
                400,
                "invalid_request_error",
                Some("amount_too_large"),
                message,
            );
        }
        let id = format!("re_fake{:06}{}", state.next(), random_hex(6));
        let refund_no = req
            .param("metadata[refund_no]")
            .unwrap_or_default()
            .to_owned();
        record_refund(
            state,
            &order.out_trade_no,
            &refund_no,
            cents,
            req.param("metadata[reason]"),
            id.clone(),
        );
        let answer = json!({"id": id, "object": "refund", "amount": amount, "currency": currency,
            "payment_intent": intent, "status": "succeeded", "reason": null,
            "metadata": {"refund_no": refund_no, "out_trade_no": order.out_trade_no}});
        if let Some(key) = key {
            state.idempotent.insert(key, answer.clone());
        }
        HttpResponse::Ok().json(answer)
    }
}

fn find_session(state: &State, id: &str) -> Option<FakeOrder> {
    state
        .orders
        .values()
        .find(|o| o.gateway_ref.as_deref() == Some(id))
        .cloned()
}

fn no_such_session(id: &str) -> HttpResponse {
    let message = format!("No such checkout.session: '{id}'");
    stripe_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        &message,
    )
}

/// A Checkout Session object in the order's state.
fn session_json(url: &str, o: &FakeOrder) -> Value {
    let (status, payment_status) = match o.state {
        FakeOrderState::Created => ("open", "unpaid"),
        FakeOrderState::Paid => ("complete", "paid"),
        FakeOrderState::Closed => ("expired", "unpaid"),
    };
    let currency = o.currency.to_ascii_lowercase();
    let id = o.gateway_ref.clone().unwrap_or_default();
    json!({"id": id, "object": "checkout.session", "mode": "payment",
        "client_reference_id": o.out_trade_no, "currency": currency,
        "amount_total": cents_to_stripe(o.amount_cents, &currency),
        "amount_subtotal": cents_to_stripe(o.amount_cents, &currency),
        "status": status, "payment_status": payment_status,
        "payment_intent": if o.state == FakeOrderState::Paid { json!(o.trade_no) } else { Value::Null },
        "metadata": {"out_trade_no": o.out_trade_no}, "livemode": false,
        "url": if o.state == FakeOrderState::Created { json!(format!("{url}/c/pay/{id}")) } else { Value::Null }})
}

fake!(FakeStripe, Stripe, StripeKeys);

impl FakeStripe {
    /// `(settings, secrets)` for a `stripe` channel pointed at this fake.
    pub fn channel_config(&self) -> (Value, Value) {
        let k = self.keys();
        (
            json!({"api_base": self.url, "success_url": "https://app.example/paid",
                   "cancel_url": "https://app.example/cancelled"}),
            json!({"secret_key": k.secret_key, "webhook_secret": k.webhook_secret}),
        )
    }

    /// A `checkout.session.completed` webhook for an order, signed with the webhook secret.
    pub fn notify_for(&self, out_trade_no: &str, cents: i64, tweak: NotifyTweak) -> FakeNotify {
        let mut order = self.order(out_trade_no).unwrap_or_else(|| FakeOrder {
            out_trade_no: out_trade_no.to_owned(),
            amount_cents: cents,
            currency: "USD".into(),
            subject: String::new(),
            notify_url: String::new(),
            state: FakeOrderState::Paid,
            trade_no: None,
            gateway_ref: Some(format!("cs_test_fake{}", random_hex(8))),
            pay_type: "card".into(),
            refunded_cents: 0,
        });
        order.state = FakeOrderState::Paid;
        order.trade_no = Some(self.trade_no_for(out_trade_no));
        let event = |amount: i64| {
            let mut session = session_json(
                &self.url,
                &FakeOrder {
                    amount_cents: amount,
                    ..order.clone()
                },
            );
            if tweak == NotifyTweak::Unpaid {
                session["payment_status"] = json!("unpaid");
            }
            json!({"id": format!("evt_fake{}", random_hex(8)), "object": "event",
                "api_version": "2024-06-20", "created": Utc::now().timestamp(), "livemode": false,
                "type": "checkout.session.completed", "data": {"object": session}})
            .to_string()
        };
        let mut body = event(cents);
        let now = Utc::now().timestamp();
        let t = if tweak == NotifyTweak::Stale {
            now - 600
        } else {
            now
        };
        let secret = match tweak {
            NotifyTweak::WrongKey => format!("whsec_{}", random_hex(16)),
            NotifyTweak::WrongMerchant | NotifyTweak::FlipCiphertext | NotifyTweak::WrongSerial => {
                not_applicable("stripe", &tweak)
            }
            _ => self.keys().webhook_secret.clone(),
        };
        let mut v1 = hmac_hex(secret.as_bytes(), format!("{t}.{body}").as_bytes());
        match tweak {
            NotifyTweak::BadSignature => v1 = flip_hex(&v1),
            NotifyTweak::TamperAmount(c) => body = event(c),
            _ => {}
        }
        let signature = format!("t={t},v1={v1},v0={}", random_hex(32));
        FakeNotify {
            method: "POST".into(),
            content_type: Some("application/json; charset=utf-8".into()),
            headers: vec![
                (
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                ("stripe-signature".into(), signature),
                (
                    "user-agent".into(),
                    "Stripe/1.0 (+https://stripe.com/docs/webhooks)".into(),
                ),
            ],
            query: String::new(),
            body: body.into_bytes(),
        }
    }
}
