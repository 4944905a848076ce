//! A fake model-provider server for black-box tests. One actix-web server on 127.0.0.1:0 answers
//! OpenAI, Azure OpenAI, Ollama and Stability routes in their real wire formats, records every
//! request, and misbehaves on demand (`Behavior`) so tests can exercise retries, timeouts and
//! broken streams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::stream::{self, LocalBoxStream, StreamExt as _};
use serde_json::{Value, json};

pub const DEFAULT_REPLY: &str = "Hello from the fake upstream.";
pub const DEFAULT_BALANCE: f64 = 25.5;

/// A valid 1x1 transparent RGBA PNG, served wherever a provider returns an image.
pub const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0b, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x60, 0x00, 0x02, 0x00,
    0x00, 0x05, 0x00, 0x01, 0xe9, 0xfa, 0xdc, 0xd8, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44,
    0xae, 0x42, 0x60, 0x82,
];

/// How the fake answers a request. Chunk counts refer to content chunks (OpenAI's role chunk and
/// Azure's filter-results chunk come first and are not counted).
#[derive(Clone, Debug)]
pub enum Behavior {
    Ok,
    /// The provider's error JSON with this status (429 also carries `Retry-After: 1`).
    Status(u16),
    /// Accept the request and never answer.
    Hang,
    /// Stream n content chunks, then stall with the connection open.
    HangAfterChunks(usize),
    /// After n content chunks send a line that is not JSON, then end the body (no `[DONE]`).
    MalformedChunk(usize),
    /// After n content chunks abort the connection mid-body (chunked encoding never terminated).
    DropAfterChunks(usize),
    /// Answer normally, after this long.
    Delay(std::time::Duration),
    /// Stream n content chunks, pause this long, then stream the rest and end normally.
    PauseAfterChunks(usize, std::time::Duration),
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Lowercase names; repeated headers joined with ", ".
    pub headers: HashMap<String, String>,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("fake upstream: recorded body is JSON")
    }

    pub fn bearer(&self) -> Option<String> {
        bearer(self.header("authorization")).map(str::to_owned)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

pub struct FakeUpstream {
    pub url: String,
    shared: web::Data<Shared>,
    server: ServerHandle,
}

struct Shared {
    url: String,
    state: Mutex<State>,
}

struct State {
    reply: String,
    chunks: Option<usize>,
    default: Behavior,
    queued: VecDeque<Behavior>,
    requests: Vec<Recorded>,
    balance: f64,
    /// Ignore `stream_options.include_usage`, as some OpenAI-compatible servers do.
    omit_usage: bool,
}

impl FakeUpstream {
    pub async fn start() -> FakeUpstream {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("fake upstream: cannot bind 127.0.0.1:0: {e}"));
        let port = listener.local_addr().expect("local address").port();
        let url = format!("http://127.0.0.1:{port}");
        let shared = web::Data::new(Shared {
            url: url.clone(),
            state: Mutex::new(State {
                reply: DEFAULT_REPLY.to_owned(),
                chunks: None,
                default: Behavior::Ok,
                queued: VecDeque::new(),
                requests: Vec::new(),
                balance: DEFAULT_BALANCE,
                omit_usage: false,
            }),
        });
        let data = shared.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                // Image edits upload whole files; the 256 KiB default would reject them.
                .app_data(web::PayloadConfig::new(64 << 20))
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("fake upstream listens")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeUpstream {
            url,
            shared,
            server: handle,
        }
    }

    pub fn reply(&self, text: &str) {
        self.shared.lock().reply = text.to_owned();
    }

    /// Forces exactly `n` content chunks (text split evenly by characters); 0 restores word-sized.
    pub fn set_chunks(&self, n: usize) {
        self.shared.lock().chunks = (n > 0).then_some(n);
    }

    pub fn behave(&self, b: Behavior) {
        self.shared.lock().default = b;
    }

    /// Queued behaviors are consumed one per provider request that passes the auth check.
    pub fn then(&self, b: Behavior) {
        self.shared.lock().queued.push_back(b);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    pub fn hits(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// Streams end without the usage chunk from now on.
    pub fn omit_usage(&self) {
        self.shared.lock().omit_usage = true;
    }

    pub fn set_balance(&self, credits: f64) {
        self.shared.lock().balance = credits;
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        // Sends the stop command right away; awaiting it is unnecessary (and impossible here).
        drop(self.server.stop(false));
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test must not poison the fake for the others sharing it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_behavior(&self) -> Behavior {
        let mut state = self.lock();
        state
            .queued
            .pop_front()
            .unwrap_or_else(|| state.default.clone())
    }

    fn pieces(&self) -> Vec<String> {
        let state = self.lock();
        split_reply(&state.reply, state.chunks)
    }
}

/// Prompt tokens the fake reports: whitespace-separated words over all message contents (string
/// or `[{"type":"text","text":..}]` parts) plus 3 per message.
pub fn prompt_tokens_for(body: &Value) -> u32 {
    let messages = body["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let words = |s: &str| s.split_whitespace().count();
    let total: usize = messages
        .iter()
        .map(|m| {
            3 + match &m["content"] {
                Value::String(s) => words(s),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .map(words)
                    .sum(),
                _ => 0,
            }
        })
        .sum();
    u32::try_from(total).unwrap_or(u32::MAX)
}

/// Word-sized pieces that keep their leading whitespace (at most 50, merged evenly), or exactly
/// `n` pieces split evenly by characters.
fn split_reply(text: &str, n: Option<usize>) -> Vec<String> {
    if let Some(n) = n {
        let chars: Vec<char> = text.chars().collect();
        let len = chars.len();
        return (0..n)
            .map(|i| chars[i * len / n..(i + 1) * len / n].iter().collect())
            .collect();
    }
    let mut pieces = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        if ch.is_whitespace() && !current.is_empty() && !current.ends_with(char::is_whitespace) {
            pieces.push(std::mem::take(&mut current));
        }
        current.push(ch);
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    if pieces.len() > 50 {
        let per = pieces.len().div_ceil(50);
        pieces = pieces.chunks(per).map(|group| group.concat()).collect();
    }
    pieces
}

#[derive(Clone, Copy, PartialEq)]
enum Provider {
    OpenAi,
    Azure,
    Ollama,
    Stability,
}

impl Provider {
    fn of(path: &str) -> Option<Provider> {
        let stability = ["/v2beta/", "/v1/generation/", "/v1/user/", "/v1/engines/"];
        if path.starts_with("/openai/") {
            Some(Provider::Azure)
        } else if path.starts_with("/api/") {
            Some(Provider::Ollama)
        } else if stability.iter().any(|p| path.starts_with(p)) {
            Some(Provider::Stability)
        } else if path.starts_with("/v1/") || path.starts_with("/dashboard/") {
            Some(Provider::OpenAi)
        } else {
            None
        }
    }
}

/// What a route produced, before a chunk-count behavior gets to spoil it.
enum Reply {
    /// Sent as is (validation errors).
    Done(HttpResponse),
    Body {
        content_type: &'static str,
        body: Bytes,
    },
    Stream {
        content_type: &'static str,
        head: Vec<Bytes>,
        pieces: Vec<Bytes>,
        tail: Vec<Bytes>,
        malformed: &'static str,
    },
}

async fn handle(req: HttpRequest, body: Bytes, fake: web::Data<Shared>) -> HttpResponse {
    let path = req.path().to_owned();
    fake.lock().requests.push(Recorded {
        method: req.method().to_string(),
        path: path.clone(),
        query: req.query_string().to_owned(),
        headers: headers_of(&req),
        body: body.clone(),
    });
    // Image URLs the fake hands out: plain downloads, so no auth and no behaviors.
    if path.starts_with("/fake-images/") {
        return HttpResponse::Ok().content_type("image/png").body(PNG_1X1);
    }
    let Some(provider) = Provider::of(&path) else {
        return HttpResponse::NotFound().finish();
    };
    let has_api_version = (req.query_string().split('&')).any(|kv| kv.starts_with("api-version="));
    // Azure routes by api-version before it looks at the key.
    if provider == Provider::Azure && !has_api_version {
        return HttpResponse::NotFound()
            .json(json!({"error": {"code": "404", "message": "Resource not found"}}));
    }
    let authorized = match provider {
        Provider::Azure => header(&req, "api-key").is_some(),
        _ => bearer(header(&req, "authorization")).is_some(),
    };
    if !authorized {
        return error(provider, 401, "Missing or malformed credentials.");
    }

    let behavior = fake.next_behavior();
    match behavior {
        Behavior::Status(code) => return error(provider, code, "Fake upstream was told to fail."),
        Behavior::Hang => hang::<()>().await,
        Behavior::Delay(delay) => tokio::time::sleep(delay).await,
        _ => {}
    }
    respond(route(&fake, provider, &req, &body), behavior).await
}

fn route(fake: &Shared, provider: Provider, req: &HttpRequest, body: &Bytes) -> Reply {
    let segments: Vec<&str> = req.path().trim_matches('/').split('/').collect();
    let json_body = || serde_json::from_slice::<Value>(body).ok();
    match (req.method().as_str(), segments.as_slice()) {
        ("POST", ["v1", "chat", "completions"]) => match json_body() {
            Some(b) => {
                let model = b["model"].as_str().unwrap_or_default().to_owned();
                openai_chat(fake, provider, &b, &model)
            }
            None => error_reply(provider, 400, "We could not parse the JSON body."),
        },
        ("POST", ["openai", "deployments", name, "chat", "completions"]) => match json_body() {
            Some(b) => openai_chat(fake, provider, &b, name),
            None => error_reply(provider, 400, "Invalid JSON body."),
        },
        ("POST", ["v1", "images", "generations"])
        | ("POST", ["openai", "deployments", _, "images", "generations"]) => match json_body() {
            Some(b) if b["prompt"].is_string() => {
                let n = b["n"].as_u64().unwrap_or(1);
                let format = b["response_format"].as_str().unwrap_or("b64_json");
                openai_images(fake, n, format, b["prompt"].as_str().unwrap_or_default())
            }
            _ => error_reply(provider, 400, "Missing required parameter: 'prompt'."),
        },
        ("POST", ["v1", "images", "edits"]) => {
            let fields = ["image", "prompt"];
            if !is_multipart(req) || !fields.iter().all(|f| form_field(body, f).is_some()) {
                return error_reply(provider, 400, "Expected multipart 'image' and 'prompt'.");
            }
            let n = form_field(body, "n").and_then(|v| v.parse().ok());
            let format = form_field(body, "response_format").unwrap_or_else(|| "b64_json".into());
            let prompt = form_field(body, "prompt").unwrap_or_default();
            openai_images(fake, n.unwrap_or(1), &format, &prompt)
        }
        ("GET", ["v1", "models"]) => json_reply(json!({"object": "list", "data": [
            {"id": "gpt-4o-mini", "object": "model", "created": 1_700_000_000,
                "owned_by": "openai"},
            {"id": "dall-e-3", "object": "model", "created": 1_700_000_000, "owned_by": "system"},
        ]})),
        ("GET", ["dashboard", "billing", "credit_grants"]) => json_reply(json!({
            "object": "credit_summary", "total_granted": 18.0, "total_used": 2.5,
            "total_available": 15.5,
        })),
        ("GET", ["openai", "models"]) => json_reply(json!({"object": "list", "data": [
            {"id": "gpt-4o-mini", "object": "model"},
            {"id": "dall-e-3", "object": "model"},
        ]})),
        ("GET", ["openai", "deployments"]) => json_reply(json!({"object": "list", "data": [
            {"id": "chat-deploy", "model": "gpt-4o-mini", "object": "deployment"},
        ]})),
        ("POST", ["api", "chat"]) => match json_body() {
            Some(b) if b["model"].is_string() => ollama_chat(fake, &b),
            Some(_) => error_reply(provider, 400, "model is required"),
            None => error_reply(provider, 400, "invalid character in request body"),
        },
        ("GET", ["api", "tags"]) => json_reply(json!({"models": [{
            "name": "qwen2.5:7b", "model": "qwen2.5:7b",
            "modified_at": "2024-11-20T10:00:00.000000000Z", "size": 4_683_087_332_u64,
            "digest": "845dbda0ea48ed749caafd9e6037047aa19acfcfd82e704d7ca97d631a0b697e",
            "details": {"family": "qwen2", "parameter_size": "7.6B",
                "quantization_level": "Q4_K_M"},
        }]})),
        ("GET", ["api", "version"]) => json_reply(json!({"version": "0.5.7"})),
        ("POST", ["v2beta", "stable-image", "generate", kind])
            if ["core", "ultra", "sd3"].contains(kind) =>
        {
            if !is_multipart(req) {
                return error_reply(provider, 400, "content-type: must be multipart/form-data");
            }
            if form_field(body, "prompt").is_none_or(|p| p.is_empty()) {
                return error_reply(provider, 400, "prompt: required");
            }
            if header(req, "accept").is_some_and(|a| a.contains("application/json")) {
                json_reply(json!({"image": b64(PNG_1X1), "finish_reason": "SUCCESS", "seed": 1234}))
            } else {
                Reply::Body {
                    content_type: "image/png",
                    body: Bytes::from_static(PNG_1X1),
                }
            }
        }
        ("POST", ["v1", "generation", _, "text-to-image"]) => match json_body() {
            Some(b) if b["text_prompts"].as_array().is_some_and(|p| !p.is_empty()) => {
                stability_artifacts(b["samples"].as_u64().unwrap_or(1))
            }
            _ => error_reply(provider, 400, "text_prompts: cannot be empty"),
        },
        ("POST", ["v1", "generation", _, "image-to-image"]) => {
            let fields = ["init_image", "text_prompts[0][text]"];
            if !is_multipart(req) || !fields.iter().all(|f| form_field(body, f).is_some()) {
                return error_reply(provider, 400, "init_image and text_prompts are required");
            }
            let samples = form_field(body, "samples").and_then(|v| v.parse().ok());
            stability_artifacts(samples.unwrap_or(1))
        }
        ("GET", ["v1", "user", "balance"]) => json_reply(json!({"credits": fake.lock().balance})),
        ("GET", ["v1", "engines", "list"]) => json_reply(json!([{
            "id": "stable-diffusion-xl-1024-v1-0", "name": "SDXL 1.0",
            "description": "Stable Diffusion XL v1.0", "type": "PICTURE",
        }])),
        _ => error_reply(provider, 404, "Unknown route on the fake upstream."),
    }
}

/// OpenAI chat completions; Azure differs only in the model name and a content-filter prelude.
fn openai_chat(fake: &Shared, provider: Provider, body: &Value, model: &str) -> Reply {
    if !body["messages"].is_array() {
        return error_reply(provider, 400, "Missing required parameter: 'messages'.");
    }
    let pieces = fake.pieces();
    let id = format!("chatcmpl-fake{}", uuid::Uuid::new_v4().simple());
    let created = unix_now();
    let prompt = prompt_tokens_for(body);
    let completion = u32::try_from(pieces.len()).unwrap_or(u32::MAX);
    let usage = json!({"prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion});

    if body["stream"] != Value::Bool(true) {
        return json_reply(json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": pieces.concat(),
                "refusal": null}, "logprobs": null, "finish_reason": "stop"}],
            "usage": usage,
        }));
    }
    let include_usage =
        body["stream_options"]["include_usage"] == Value::Bool(true) && !fake.lock().omit_usage;
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if include_usage {
            c["usage"] = Value::Null;
        }
        sse(&c)
    };
    let mut head = Vec::new();
    if provider == Provider::Azure {
        // Real Azure opens with a choice-less chunk carrying prompt filter results.
        head.push(sse(
            &json!({"id": "", "object": "", "created": 0, "model": "", "choices": [],
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}),
        ));
    }
    head.push(chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    ));
    let pieces = pieces
        .iter()
        .map(|p| chunk(json!({"content": p}), Value::Null))
        .collect();
    let mut tail = vec![chunk(json!({}), json!("stop"))];
    if include_usage {
        tail.push(sse(&json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": "fp_fake", "choices": [], "usage": usage,
        })));
    }
    tail.push(Bytes::from_static(b"data: [DONE]\n\n"));
    Reply::Stream {
        content_type: "text/event-stream",
        head,
        pieces,
        tail,
        malformed: "data: {not json\n\n",
    }
}

fn openai_images(fake: &Shared, n: u64, format: &str, prompt: &str) -> Reply {
    let item = |i: u64| {
        if format == "url" {
            let url = format!("{}/fake-images/{}.png", fake.url, i + 1);
            json!({"url": url, "revised_prompt": prompt})
        } else {
            json!({"b64_json": b64(PNG_1X1), "revised_prompt": prompt})
        }
    };
    json_reply(json!({"created": unix_now(), "data": (0..n).map(item).collect::<Vec<_>>()}))
}

fn ollama_chat(fake: &Shared, body: &Value) -> Reply {
    let model = body["model"].as_str().unwrap_or_default();
    let pieces = fake.pieces();
    let now = || chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let line = |content: &str, done: bool| {
        let mut v = json!({"model": model, "created_at": now(),
            "message": {"role": "assistant", "content": content}, "done": done});
        if done {
            let stats = json!({"done_reason": "stop", "total_duration": 123_456_789,
                "load_duration": 1_234_567, "prompt_eval_count": prompt_tokens_for(body),
                "prompt_eval_duration": 12_345_678, "eval_count": pieces.len(),
                "eval_duration": 98_765_432});
            if let (Some(object), Value::Object(stats)) = (v.as_object_mut(), stats) {
                object.extend(stats);
            }
        }
        v
    };
    // Ollama streams unless told otherwise.
    if body["stream"] == Value::Bool(false) {
        return json_reply(line(&pieces.concat(), true));
    }
    let ndjson = |v: Value| Bytes::from(format!("{v}\n"));
    Reply::Stream {
        content_type: "application/x-ndjson",
        head: Vec::new(),
        pieces: pieces.iter().map(|p| ndjson(line(p, false))).collect(),
        tail: vec![ndjson(line("", true))],
        malformed: "{not json\n",
    }
}

fn stability_artifacts(samples: u64) -> Reply {
    let artifact =
        |i: u64| json!({"base64": b64(PNG_1X1), "seed": i + 1, "finishReason": "SUCCESS"});
    json_reply(json!({"artifacts": (0..samples).map(artifact).collect::<Vec<_>>()}))
}

/// Turns a route's reply into a response, applying the chunk-count behaviors.
async fn respond(reply: Reply, behavior: Behavior) -> HttpResponse {
    match reply {
        Reply::Done(response) => response,
        Reply::Body { content_type, body } => {
            let mut ok = HttpResponse::Ok();
            ok.content_type(content_type);
            match behavior {
                Behavior::HangAfterChunks(_) => hang().await,
                Behavior::DropAfterChunks(_) => ok.streaming(abort()),
                Behavior::MalformedChunk(_) => ok.body("{not json"),
                _ => ok.body(body),
            }
        }
        Reply::Stream {
            content_type,
            head,
            pieces,
            tail,
            malformed,
        } => {
            let good = |n: usize| {
                let mut frames = head.clone();
                frames.extend(pieces.iter().take(n).cloned());
                paced(frames)
            };
            let body = match behavior {
                Behavior::HangAfterChunks(n) => good(n).chain(stream::pending()).boxed_local(),
                Behavior::DropAfterChunks(n) => good(n).chain(abort()).boxed_local(),
                Behavior::MalformedChunk(n) => good(n)
                    .chain(paced(vec![Bytes::from_static(malformed.as_bytes())]))
                    .boxed_local(),
                Behavior::PauseAfterChunks(n, pause) => {
                    let rest = [pieces.iter().skip(n).cloned().collect(), tail].concat();
                    let resume = stream::once(tokio::time::sleep(pause))
                        .filter_map(|()| async { None::<Result<Bytes, io::Error>> });
                    good(n).chain(resume).chain(paced(rest)).boxed_local()
                }
                _ => paced([head.clone(), pieces.clone(), tail].concat()),
            };
            HttpResponse::Ok()
                .content_type(content_type)
                .insert_header(("cache-control", "no-cache"))
                .streaming(body)
        }
    }
}

/// One body frame per item. The yield before each makes actix see `Pending` and flush, so every
/// chunk leaves as its own write instead of being coalesced.
fn paced(frames: Vec<Bytes>) -> LocalBoxStream<'static, Result<Bytes, io::Error>> {
    stream::iter(frames)
        .then(|frame| async move {
            tokio::task::yield_now().await;
            Ok(frame)
        })
        .boxed_local()
}

/// A body error makes actix close the connection without the terminating zero-length chunk, which
/// the client sees as an aborted transfer.
fn abort() -> LocalBoxStream<'static, Result<Bytes, io::Error>> {
    let error = io::Error::new(io::ErrorKind::ConnectionAborted, "fake upstream drops it");
    stream::once(async {
        // Yield first so the frames before the error are flushed, not discarded with it.
        tokio::task::yield_now().await;
        Err(error)
    })
    .boxed_local()
}

/// Never returns; generic so it fits any arm.
async fn hang<T>() -> T {
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

fn error_reply(provider: Provider, status: u16, message: &str) -> Reply {
    Reply::Done(error(provider, status, message))
}

/// An error in the provider's own shape.
fn error(provider: Provider, status: u16, message: &str) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let code = status.as_u16();
    let body = match provider {
        Provider::OpenAi => {
            let (kind, error_code) = match code {
                401 => ("invalid_request_error", json!("invalid_api_key")),
                404 => ("invalid_request_error", json!("model_not_found")),
                429 => ("requests", json!("rate_limit_exceeded")),
                500.. => ("server_error", Value::Null),
                _ => ("invalid_request_error", Value::Null),
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": error_code}})
        }
        Provider::Azure => json!({"error": {"code": code.to_string(), "message": message}}),
        Provider::Ollama => json!({"error": message}),
        Provider::Stability => {
            let name = match code {
                400 => "bad_request",
                401 => "unauthorized",
                403 => "content_moderation",
                404 => "not_found",
                429 => "rate_limit_exceeded",
                500.. => "internal_error",
                _ => "invalid_request",
            };
            let id = uuid::Uuid::new_v4().simple().to_string();
            json!({"id": id, "name": name, "errors": [message]})
        }
    };
    let mut response = HttpResponse::build(status);
    if code == 429 {
        response.insert_header(("retry-after", "1"));
    }
    response.json(body)
}

fn json_reply(v: Value) -> Reply {
    Reply::Body {
        content_type: "application/json",
        body: Bytes::from(v.to_string()),
    }
}

fn sse(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn bearer(authorization: Option<&str>) -> Option<&str> {
    let token = authorization?.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then_some(token)
}

fn headers_of(req: &HttpRequest) -> HashMap<String, String> {
    let mut headers: HashMap<String, String> = HashMap::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes());
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    headers
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn is_multipart(req: &HttpRequest) -> bool {
    header(req, "content-type").is_some_and(|ct| ct.starts_with("multipart/form-data"))
}

/// The value of a multipart field (lossy text; enough to read prompts and counts and to tell a
/// file part is present). Not a real parser: it trusts `name="…"` and the `\r\n--` delimiter.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let start = find(body, needle.as_bytes())?;
    let rest = &body[start..];
    let value_start = find(rest, b"\r\n\r\n")? + 4;
    let value = &rest[value_start..];
    let end = find(value, b"\r\n--").unwrap_or(value.len());
    Some(String::from_utf8_lossy(&value[..end]).into_owned())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod self_tests {
    use super::*;

    /// A whole response, including the error that cut its body short, if any.
    struct Got {
        status: u16,
        headers: reqwest::header::HeaderMap,
        body: Vec<u8>,
        /// `body`, lossily decoded.
        text: String,
        error: Option<reqwest::Error>,
    }

    impl Got {
        fn json(&self) -> Value {
            serde_json::from_str(&self.text).unwrap()
        }
    }

    async fn send(request: reqwest::RequestBuilder) -> Got {
        let mut response = request.send().await.unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let (mut body, mut error) = (Vec::new(), None);
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => break error = Some(e),
            }
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        Got {
            status,
            headers,
            body,
            text,
            error,
        }
    }

    /// One SSE event's data as JSON; `[DONE]` becomes the string "[DONE]".
    fn parse_event(event: &str) -> Value {
        let data = event.strip_prefix("data: ").unwrap();
        serde_json::from_str(data).unwrap_or_else(|_| json!(data))
    }

    fn post(fake: &FakeUpstream, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}{path}", fake.url);
        reqwest::Client::new().post(url).bearer_auth("sk-test")
    }

    #[tokio::test]
    async fn fake_upstream_speaks_openai_and_azure() {
        let fake = FakeUpstream::start().await;
        let messages = json!([{"role": "user", "content": "two words"}]);
        let body = json!({"model": "gpt-4o-mini", "messages": messages});
        let plain = send(post(&fake, "/v1/chat/completions").json(&body)).await;
        let plain = plain.json();
        assert_eq!(plain["choices"][0]["message"]["content"], DEFAULT_REPLY);
        assert_eq!(
            plain["usage"],
            json!({"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10})
        );

        let body = json!({"model": "m", "messages": messages, "stream": true,
            "stream_options": {"include_usage": true}});
        let got = send(post(&fake, "/v1/chat/completions").json(&body)).await;
        assert_eq!(got.headers["content-type"], "text/event-stream");
        assert!(got.error.is_none());
        let events: Vec<Value> = got.text.split_terminator("\n\n").map(parse_event).collect();
        let [role, pieces @ .., stop, usage, done] = events.as_slice() else {
            panic!("too few events: {}", got.text)
        };
        assert_eq!(role["choices"][0]["delta"]["role"], "assistant");
        let content = pieces
            .iter()
            .filter_map(|e| e["choices"][0]["delta"]["content"].as_str());
        assert_eq!(content.collect::<String>(), DEFAULT_REPLY);
        assert_eq!(stop["choices"][0]["finish_reason"], "stop");
        assert_eq!(
            (&usage["choices"], &usage["usage"]["total_tokens"]),
            (&json!([]), &json!(10))
        );
        assert_eq!(done, &json!("[DONE]"));

        fake.then(Behavior::Status(429));
        let limited = send(post(&fake, "/v1/chat/completions").json(&json!({}))).await;
        assert_eq!(limited.status, 429);
        assert_eq!(limited.headers["retry-after"], "1");
        assert_eq!(limited.json()["error"]["code"], "rate_limit_exceeded");

        let azure = "/openai/deployments/chat-deploy/chat/completions";
        let body = json!({"messages": []});
        assert_eq!(
            send(post(&fake, azure).header("api-key", "k")).await.status,
            404
        );
        let azure = format!("{azure}?api-version=2024-10-21");
        assert_eq!(send(post(&fake, &azure).json(&body)).await.status, 401);
        let ok = send(post(&fake, &azure).header("api-key", "k").json(&body)).await;
        assert_eq!(ok.json()["model"], "chat-deploy");
        let recorded = fake.requests();
        assert_eq!((recorded.len(), fake.hits()), (6, 6));
        assert_eq!(recorded[0].bearer().as_deref(), Some("sk-test"));
        assert_eq!(recorded[5].header("API-Key"), Some("k"));
    }

    #[tokio::test]
    async fn fake_upstream_speaks_ollama_ndjson() {
        let fake = FakeUpstream::start().await;
        fake.reply("one two three four");
        fake.set_chunks(3);
        let body = json!({"model": "qwen2.5:7b", "messages": [{"role": "user", "content": "hi"}]});
        let got = send(post(&fake, "/api/chat").json(&body)).await;
        assert_eq!(got.headers["content-type"], "application/x-ndjson");
        let lines: Vec<Value> = (got.text.lines().map(serde_json::from_str))
            .collect::<Result<_, _>>()
            .unwrap();
        let [pieces @ .., last] = lines.as_slice() else {
            panic!("no lines")
        };
        let content = pieces
            .iter()
            .map(|l| l["message"]["content"].as_str().unwrap());
        assert_eq!(
            (pieces.len(), content.collect::<String>()),
            (3, "one two three four".into())
        );
        assert_eq!(
            (&last["done"], &last["done_reason"]),
            (&json!(true), &json!("stop"))
        );
        // 1 message of 1 word: 3 + 1 prompt tokens; one completion token per chunk.
        assert_eq!(
            (&last["prompt_eval_count"], &last["eval_count"]),
            (&json!(4), &json!(3))
        );

        fake.then(Behavior::MalformedChunk(1));
        let got = send(post(&fake, "/api/chat").json(&body)).await;
        assert!(got.text.ends_with("\n{not json\n"), "{}", got.text);

        fake.then(Behavior::DropAfterChunks(2));
        let got = send(post(&fake, "/api/chat").json(&body)).await;
        assert_eq!(got.text.lines().count(), 2);
        assert!(got.error.is_some(), "must end in an error: {}", got.text);
    }

    #[tokio::test]
    async fn fake_upstream_speaks_stability() {
        let fake = FakeUpstream::start().await;
        let generate = |accept: &str, form: &'static str| {
            post(&fake, "/v2beta/stable-image/generate/core")
                .header("accept", accept)
                .header("content-type", "multipart/form-data; boundary=XyZ")
                .body(form)
        };
        let form =
            "--XyZ\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\ncat\r\n--XyZ--\r\n";
        let json = send(generate("application/json", form)).await.json();
        let png = base64::engine::general_purpose::STANDARD.decode(json["image"].as_str().unwrap());
        assert_eq!(png.unwrap(), PNG_1X1);
        assert_eq!(send(generate("image/*", form)).await.body, PNG_1X1);
        let missing = send(generate("application/json", "--XyZ--\r\n")).await;
        assert_eq!(
            (missing.status, &missing.json()["errors"][0]),
            (400, &json!("prompt: required"))
        );

        fake.set_balance(3.25);
        let balance = reqwest::Client::new().get(format!("{}/v1/user/balance", fake.url));
        assert_eq!(send(balance.bearer_auth("k")).await.json()["credits"], 3.25);
    }
}
