//! A soak over every route that writes, for the suite (`tests/api/soak.rs`, bounded) and for
//! `bench/soak.sh` (longer, release build): clients loop over chat messages (streamed and not,
//! in their own chats and in one chat they share), `/v1` completions (streamed and not, with a
//! JWT and with an `sk-` key), image generations, card-code redemptions, check-ins, key
//! creation and rotation, admin credit adjustments, logins and refreshes, purchases paid through
//! a fake Epay (each order's notify sent twice at once), while a prober calls
//! `/healthz`. Every answer must be the one its route gives on success (or a documented refusal
//! such as a second check-in), so a soak that only collected errors cannot pass; each user's
//! expected balance is tracked from what the clients saw, for [`World::verify`].
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// What a chat completion costs (price per request) and an image (price per image).
pub const CHAT_PRICE: i64 = 10;
pub const IMAGE_PRICE: i64 = 40;
const CODE_CREDITS: i64 = 5;
const CHECK_IN_REWARD: i64 = 3;
/// What one soak purchase grants.
const PURCHASE_CREDITS: i64 = 25;
const PASSWORD: &str = "soak-passphrase-1";
/// A request that has not answered by then "never answers".
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// `/healthz` must answer within this (a liveness bound, not a benchmark).
pub const HEALTHZ_BOUND: Duration = Duration::from_secs(5);

/// How big a soak is.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub clients: usize,
    pub users: usize,
    pub duration: Duration,
    /// Card codes made for the clients to redeem.
    pub codes: usize,
}

/// One signed-in user of the soak and what the clients expect its balance to be.
pub struct Member {
    pub id: i64,
    pub username: String,
    pub access: String,
    pub key: String,
    pub shared_chat: i64,
    expected: AtomicI64,
}

/// The site under soak: its admin, users and the codes left to redeem.
pub struct World {
    base: String,
    http: Client,
    admin: String,
    pub members: Vec<Member>,
    codes: Mutex<Vec<String>>,
    /// The payment gateway purchases go through, and the channel and product set up on it.
    epay: crate::fake_gateways::FakeEpay,
    shop: (i64, i64),
}

/// Latencies of one route, in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies(pub Vec<u64>);

impl Latencies {
    pub fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let Some(last) = sorted.len().checked_sub(1) else {
            return Duration::ZERO;
        };
        let rank = ((last as f64) * p).round() as usize;
        Duration::from_micros(sorted[rank.min(last)])
    }
}

/// What a soak saw.
#[derive(Debug, Default)]
pub struct Report {
    pub elapsed: Duration,
    pub routes: BTreeMap<&'static str, Latencies>,
    pub healthz: Latencies,
    /// Anything but the expected answer: a 5xx, an unexpected status, a timeout.
    pub failures: Vec<String>,
}

impl Report {
    /// One line per route: requests/s, p50 and p99; then `/healthz`.
    pub fn table(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(0.001);
        let mut out = format!(
            "{:<24} {:>8} {:>9} {:>10} {:>10}\n",
            "route", "requests", "req/s", "p50 ms", "p99 ms"
        );
        let mut total = 0;
        for (route, latencies) in self.routes.iter().chain([(&"healthz", &self.healthz)]) {
            total += latencies.0.len();
            out.push_str(&format!(
                "{:<24} {:>8} {:>9.1} {:>10.2} {:>10.2}\n",
                route,
                latencies.0.len(),
                latencies.0.len() as f64 / secs,
                ms(latencies.percentile(0.50)),
                ms(latencies.percentile(0.99)),
            ));
        }
        out.push_str(&format!(
            "{:<24} {:>8} {:>9.1}\nfailures: {}\n",
            "all",
            total,
            total as f64 / secs,
            self.failures.len()
        ));
        out
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The operations a client cycles through (each a route that writes).
const OPERATIONS: [&str; 17] = [
    "purchase",
    "chat_own",
    "chat_own_stream",
    "chat_shared",
    "chat_shared_stream",
    "v1_jwt",
    "v1_jwt_stream",
    "v1_key",
    "v1_key_stream",
    "image",
    "redeem",
    "check_in",
    "key_create_rotate",
    "admin_adjust",
    "login_refresh",
    "v1_key_stream",
    "chat_own_stream",
];

/// An answer that was not the expected one.
type Failure = String;

impl World {
    /// Sets up a fresh site at `base`: the first admin, a chat and an image model served by
    /// `upstream` (an OpenAI-speaking server), a check-in reward, funded users with a key and a
    /// shared chat each, and a batch of card codes.
    pub async fn prepare(base: &str, upstream: &str, plan: Plan) -> World {
        let http = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(plan.clients * 2)
            .build()
            .expect("client");
        let mut world = World {
            base: base.trim_end_matches('/').to_owned(),
            http,
            admin: String::new(),
            members: Vec::new(),
            codes: Mutex::new(Vec::new()),
            epay: crate::fake_gateways::FakeEpay::start().await,
            shop: (0, 0),
        };
        world.admin = world.setup_admin().await;
        world.configure(upstream).await;
        world.shop = world.open_shop().await;
        for n in 0..plan.users {
            let member = world.member(&format!("soak{n}")).await;
            world.members.push(member);
        }
        world.make_codes(plan.codes).await;
        world
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request that must answer `status`; returns the body as JSON (or a string).
    async fn must(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Value,
        status: u16,
    ) -> Value {
        let request = match method {
            "GET" => self.http.get(self.url(path)),
            "PUT" => self.http.put(self.url(path)).json(&body),
            _ => self.http.post(self.url(path)).json(&body),
        };
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.expect("soak setup request");
        let actual = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(actual, status, "soak setup {method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }

    async fn setup_admin(&self) -> String {
        let admin = json!({"username": "soakadmin", "password": PASSWORD});
        self.must("POST", "/api/v1/setup", None, admin.clone(), 201)
            .await;
        self.must("POST", "/api/v1/auth/login", None, admin, 200)
            .await["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    async fn configure(&self, upstream: &str) {
        let admin = Some(self.admin.as_str());
        for model in [
            json!({"name": "gpt-4o-mini", "modality": "chat", "price_per_request": CHAT_PRICE}),
            json!({"name": "dall-e-3", "modality": "image", "price_per_image": IMAGE_PRICE}),
        ] {
            self.must("POST", "/api/v1/admin/models", admin, model, 201)
                .await;
        }
        let key = json!({"name": "soak", "kind": "openai", "base_url": upstream,
            "api_key": "sk-soak-upstream-0123456789", "models": ["gpt-4o-mini", "dall-e-3"]});
        self.must("POST", "/api/v1/admin/provider-keys", admin, key, 201)
            .await;
        let settings = json!({"check_in_reward": CHECK_IN_REWARD, "registration_reward": 0});
        self.must("PUT", "/api/v1/admin/settings", admin, settings, 200)
            .await;
    }

    /// An Epay channel on the fake and a product granting [`PURCHASE_CREDITS`].
    async fn open_shop(&self) -> (i64, i64) {
        let admin = Some(self.admin.as_str());
        let (settings, secrets) = self.epay.channel_config();
        let channel = json!({"kind": "epay", "name": "soak", "pay_types": ["alipay"],
            "settings": settings, "secrets": secrets});
        let channel = self
            .must(
                "POST",
                "/api/v1/admin/payment-channels",
                admin,
                channel,
                201,
            )
            .await;
        let product = json!({"title": "soak credits", "price_cents": 100,
            "grant_kind": "credits", "grant_amount": PURCHASE_CREDITS});
        let product = self
            .must("POST", "/api/v1/admin/products", admin, product, 201)
            .await;
        (
            channel["id"].as_i64().expect("channel id"),
            product["id"].as_i64().expect("product id"),
        )
    }

    async fn member(&self, username: &str) -> Member {
        let account = json!({"username": username, "password": PASSWORD,
            "email": format!("{username}@example.com")});
        let id = self
            .must("POST", "/api/v1/auth/register", None, account, 201)
            .await["id"]
            .as_i64()
            .expect("id");
        let login = json!({"username": username, "password": PASSWORD});
        let access = self
            .must("POST", "/api/v1/auth/login", None, login, 200)
            .await["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        let funds = json!({"amount": 10_000_000, "reason": "soak funds"});
        let path = format!("/api/v1/admin/users/{id}/credits");
        self.must("POST", &path, Some(&self.admin), funds, 201)
            .await;
        let key = self
            .must(
                "POST",
                "/api/v1/keys",
                Some(&access),
                json!({"name": "soak"}),
                201,
            )
            .await["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let shared_chat = self.new_chat(&access).await;
        let balance = self
            .must("GET", "/api/v1/credits", Some(&access), Value::Null, 200)
            .await["balance"]
            .as_i64()
            .expect("balance");
        Member {
            id,
            username: username.to_owned(),
            access,
            key,
            shared_chat,
            expected: AtomicI64::new(balance),
        }
    }

    async fn new_chat(&self, access: &str) -> i64 {
        self.must(
            "POST",
            "/api/v1/chats",
            Some(access),
            json!({"model": "gpt-4o-mini"}),
            201,
        )
        .await["id"]
            .as_i64()
            .expect("chat id")
    }

    async fn make_codes(&self, count: usize) {
        let mut left = count;
        while left > 0 {
            let quantity = left.min(10_000);
            let batch = json!({"kind": "credits", "amount": CODE_CREDITS, "quantity": quantity});
            let made = self
                .must(
                    "POST",
                    "/api/v1/admin/redemption-codes",
                    Some(&self.admin),
                    batch,
                    201,
                )
                .await;
            let codes = made["codes"].as_array().expect("codes");
            self.codes
                .lock()
                .unwrap()
                .extend(codes.iter().map(|c| c.as_str().expect("code").to_owned()));
            left -= quantity;
        }
    }

    /// Runs `plan.clients` clients for `plan.duration` while a prober calls `/healthz`.
    pub async fn soak(self: &Arc<Self>, plan: Plan) -> Report {
        let started = Instant::now();
        let deadline = started + plan.duration;
        let turn = Arc::new(AtomicUsize::new(0));
        let mut clients = Vec::new();
        for n in 0..plan.clients {
            let world = self.clone();
            let turn = turn.clone();
            clients.push(tokio::spawn(async move {
                world.client(n, deadline, &turn).await
            }));
        }
        let prober = tokio::spawn(self.clone().probe(deadline));
        let mut report = Report::default();
        for client in clients {
            let (routes, failures) = client.await.expect("client task");
            for (route, mut latencies) in routes {
                report
                    .routes
                    .entry(route)
                    .or_default()
                    .0
                    .append(&mut latencies.0);
            }
            report.failures.extend(failures);
        }
        let (healthz, failures) = prober.await.expect("prober task");
        report.healthz = healthz;
        report.failures.extend(failures);
        report.elapsed = started.elapsed();
        report
    }

    async fn client(
        &self,
        n: usize,
        deadline: Instant,
        turn: &AtomicUsize,
    ) -> (BTreeMap<&'static str, Latencies>, Vec<Failure>) {
        let member = &self.members[n % self.members.len()];
        let own_chat = self.new_chat(&member.access).await;
        let mut routes: BTreeMap<&'static str, Latencies> = BTreeMap::new();
        let mut failures = Vec::new();
        while Instant::now() < deadline {
            let operation = OPERATIONS[turn.fetch_add(1, Ordering::Relaxed) % OPERATIONS.len()];
            let began = Instant::now();
            match self.operate(operation, member, own_chat).await {
                Ok(()) => {}
                Err(failure) => failures.push(format!("{operation}: {failure}")),
            }
            let micros = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
            routes.entry(operation).or_default().0.push(micros);
        }
        (routes, failures)
    }

    async fn probe(self: Arc<Self>, deadline: Instant) -> (Latencies, Vec<Failure>) {
        let mut latencies = Latencies::default();
        let mut failures = Vec::new();
        while Instant::now() < deadline {
            let began = Instant::now();
            let answer = self
                .http
                .get(self.url("/healthz"))
                .timeout(HEALTHZ_BOUND)
                .send()
                .await;
            match answer {
                Ok(response) if response.status() == StatusCode::OK => {}
                Ok(response) => failures.push(format!("healthz: {}", response.status())),
                Err(error) => failures.push(format!("healthz: no answer within bound: {error}")),
            }
            latencies
                .0
                .push(u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (latencies, failures)
    }
}

/// A request's answer, read whole.
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The answer must have `status`; otherwise a failure naming what came.
    fn expect(&self, status: u16) -> Result<(), Failure> {
        if self.status == status {
            return Ok(());
        }
        let excerpt: String = self.body.chars().take(300).collect();
        Err(format!("expected {status}, got {}: {excerpt}", self.status))
    }
}

impl World {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<Answer, Failure> {
        let url = self.url(path);
        let request = match method {
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url),
        };
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let response = request
            .bearer_auth(token)
            .send()
            .await
            .map_err(|error| format!("no answer: {error}"))?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|error| format!("answer cut off: {error}"))?;
        Ok(Answer { status, body })
    }

    async fn operate(
        &self,
        operation: &str,
        member: &Member,
        own_chat: i64,
    ) -> Result<(), Failure> {
        let charged = match operation {
            "chat_own" => self.chat(member, own_chat, false).await?,
            "chat_own_stream" => self.chat(member, own_chat, true).await?,
            "chat_shared" => self.chat(member, member.shared_chat, false).await?,
            "chat_shared_stream" => self.chat(member, member.shared_chat, true).await?,
            "v1_jwt" => self.completion(&member.access, false).await?,
            "v1_jwt_stream" => self.completion(&member.access, true).await?,
            "v1_key" => self.completion(&member.key, false).await?,
            "v1_key_stream" => self.completion(&member.key, true).await?,
            "image" => self.image(member).await?,
            "redeem" => self.redeem(member).await?,
            "check_in" => self.check_in(member).await?,
            "key_create_rotate" => self.key_create_rotate(member).await?,
            "admin_adjust" => self.admin_adjust(member).await?,
            "login_refresh" => self.login_refresh(member).await?,
            "purchase" => self.purchase(member).await?,
            other => return Err(format!("unknown operation {other}")),
        };
        member.expected.fetch_add(charged, Ordering::Relaxed);
        Ok(())
    }

    /// A chat turn; a complete answer costs [`CHAT_PRICE`]. Returns the balance change.
    async fn chat(&self, member: &Member, chat: i64, stream: bool) -> Result<i64, Failure> {
        let path = format!("/api/v1/chats/{chat}/messages");
        let body = json!({"content": "q", "stream": stream});
        let answer = self.call("POST", &path, &member.access, Some(body)).await?;
        answer.expect(200)?;
        let done = if stream {
            let events = sse_events(&answer.body);
            match events.iter().find(|(name, _)| name == "done") {
                Some((_, done)) => done.clone(),
                None => return Err(format!("stream without a done event: {events:?}")),
            }
        } else {
            answer.json()
        };
        if done["message"]["status"] != "complete" || done["cost"] != CHAT_PRICE {
            return Err(format!("answer not complete at its price: {done}"));
        }
        Ok(-CHAT_PRICE)
    }

    async fn completion(&self, token: &str, stream: bool) -> Result<i64, Failure> {
        let body = json!({"model": "gpt-4o-mini", "stream": stream,
            "messages": [{"role": "user", "content": "q"}]});
        let answer = self
            .call("POST", "/v1/chat/completions", token, Some(body))
            .await?;
        answer.expect(200)?;
        let complete = if stream {
            answer.body.trim_end().ends_with("data: [DONE]")
        } else {
            answer.json()["choices"][0]["finish_reason"] == "stop"
        };
        if !complete {
            let excerpt: String = answer.body.chars().take(300).collect();
            return Err(format!("completion not complete: {excerpt}"));
        }
        Ok(-CHAT_PRICE)
    }

    /// An order paid at the fake gateway, its notify delivered twice at once: both must get
    /// `success`, and it grants once.
    async fn purchase(&self, member: &Member) -> Result<i64, Failure> {
        let body = json!({"product_id": self.shop.1, "channel_id": self.shop.0});
        let answer = self
            .call("POST", "/api/v1/orders", &member.access, Some(body))
            .await?;
        answer.expect(201)?;
        let no = answer.json()["out_trade_no"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let notify = self.epay.pay(&no);
        let url = self.url(&format!("/api/v1/payments/{}/notify", self.shop.0));
        let (a, b) = tokio::join!(notify.send(&self.http, &url), notify.send(&self.http, &url));
        for reply in [a, b] {
            let status = reply.status();
            let text = reply.text().await.unwrap_or_default();
            if status != StatusCode::OK || text != "success" {
                return Err(format!("notify answered {status}: {text}"));
            }
        }
        Ok(PURCHASE_CREDITS)
    }

    async fn image(&self, member: &Member) -> Result<i64, Failure> {
        let body = json!({"model": "dall-e-3", "prompt": "a lighthouse"});
        let answer = self
            .call(
                "POST",
                "/api/v1/images/generations",
                &member.access,
                Some(body),
            )
            .await?;
        answer.expect(200)?;
        Ok(-IMAGE_PRICE)
    }

    async fn redeem(&self, member: &Member) -> Result<i64, Failure> {
        let Some(code) = self.codes.lock().unwrap().pop() else {
            return Ok(0);
        };
        let answer = self
            .call(
                "POST",
                "/api/v1/redemptions",
                &member.access,
                Some(json!({"code": code})),
            )
            .await?;
        answer.expect(200)?;
        Ok(CODE_CREDITS)
    }

    /// Once a day: the first check-in of a user is rewarded, the rest are 409.
    async fn check_in(&self, member: &Member) -> Result<i64, Failure> {
        let answer = self
            .call("POST", "/api/v1/check-ins", &member.access, Some(json!({})))
            .await?;
        if answer.status == 409 && answer.json()["error"]["code"] == "already_checked_in" {
            return Ok(0);
        }
        answer.expect(201)?;
        Ok(answer.json()["reward"].as_i64().unwrap_or(0))
    }

    async fn key_create_rotate(&self, member: &Member) -> Result<i64, Failure> {
        let created = self
            .call(
                "POST",
                "/api/v1/keys",
                &member.access,
                Some(json!({"name": "churn"})),
            )
            .await?;
        created.expect(201)?;
        let id = created.json()["id"].as_i64().ok_or("key without an id")?;
        let rotate = format!("/api/v1/keys/{id}/rotate");
        self.call("POST", &rotate, &member.access, Some(json!({})))
            .await?
            .expect(200)?;
        let delete = format!("/api/v1/keys/{id}");
        self.call("DELETE", &delete, &member.access, None)
            .await?
            .expect(204)?;
        Ok(0)
    }

    async fn admin_adjust(&self, member: &Member) -> Result<i64, Failure> {
        let path = format!("/api/v1/admin/users/{}/credits", member.id);
        let body = json!({"amount": 1, "reason": "soak adjustment"});
        self.call("POST", &path, &self.admin, Some(body))
            .await?
            .expect(201)?;
        Ok(1)
    }

    async fn login_refresh(&self, member: &Member) -> Result<i64, Failure> {
        let url = self.url("/api/v1/auth/login");
        let login = json!({"username": member.username, "password": PASSWORD});
        let response = self
            .http
            .post(url)
            .json(&login)
            .send()
            .await
            .map_err(|error| format!("no answer: {error}"))?;
        let answer = Answer {
            status: response.status().as_u16(),
            body: response.text().await.map_err(|e| format!("cut off: {e}"))?,
        };
        answer.expect(200)?;
        let refresh = answer.json()["refresh_token"].clone();
        let response = self
            .http
            .post(self.url("/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": refresh}))
            .send()
            .await
            .map_err(|error| format!("no answer: {error}"))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(format!("refresh answered {status}"));
        }
        Ok(0)
    }

    /// After a soak: waits (up to `patience`) until nothing is held, then checks every user's
    /// balance against what the clients saw and against the sum of its ledger. Returns the
    /// mismatches.
    pub async fn verify(&self, patience: Duration) -> Vec<String> {
        let until = Instant::now() + patience;
        let mut problems = Vec::new();
        for member in &self.members {
            let mut credits = self.credits(member).await;
            while credits["held"] != 0 && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(100)).await;
                credits = self.credits(member).await;
            }
            let balance = credits["balance"].as_i64().unwrap_or(i64::MIN);
            let expected = member.expected.load(Ordering::Relaxed);
            if credits["held"] != 0 {
                problems.push(format!("{}: still held: {credits}", member.username));
            }
            if balance != expected {
                problems.push(format!(
                    "{}: balance {balance}, expected {expected}",
                    member.username
                ));
            }
            let sum = self.ledger_sum(member).await;
            if sum != balance {
                problems.push(format!(
                    "{}: ledger sums to {sum}, balance {balance}",
                    member.username
                ));
            }
        }
        problems
    }

    async fn credits(&self, member: &Member) -> Value {
        self.must(
            "GET",
            "/api/v1/credits",
            Some(&member.access),
            Value::Null,
            200,
        )
        .await
    }

    async fn ledger_sum(&self, member: &Member) -> i64 {
        let mut sum = 0;
        for page in 1.. {
            let path = format!("/api/v1/credits/ledger?page={page}&page_size=100");
            let body = self
                .must("GET", &path, Some(&member.access), Value::Null, 200)
                .await;
            let items = body["items"].as_array().cloned().unwrap_or_default();
            sum += items
                .iter()
                .filter_map(|e| e["amount"].as_i64())
                .sum::<i64>();
            if items.len() < 100 {
                break;
            }
        }
        sum
    }
}

/// `(event name, data)` pairs of a server-sent event stream.
pub fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = v.to_owned();
                }
            }
            (
                name,
                serde_json::from_str(&data).unwrap_or(Value::String(data)),
            )
        })
        .collect()
}
