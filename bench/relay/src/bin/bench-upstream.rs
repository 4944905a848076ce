//! A fake OpenAI chat completions server that answers at once, for measuring what Confab adds.
//!
//! `bench-upstream [ADDRESS] [CHUNKS]` (default 127.0.0.1:18090, 50 chunks). Model `hold`
//! streams one chunk a second for two minutes instead (open-stream memory), any other model
//! answers at once: one JSON completion, or CHUNKS content chunks, a finish chunk, the usage
//! chunk and `data: [DONE]`, all precomputed.

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;
use futures_util::stream;
use serde_json::{Value, json};

struct Replies {
    completion: Bytes,
    stream: Vec<Bytes>,
    hold_chunk: Bytes,
}

fn sse(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1_700_000_000,
        "model": "bench", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn replies(chunks: usize) -> Replies {
    let usage = json!({"prompt_tokens": 12, "completion_tokens": chunks,
        "total_tokens": 12 + chunks});
    let completion = json!({"id": "chatcmpl-bench", "object": "chat.completion",
        "created": 1_700_000_000, "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "tok ".repeat(chunks)},
            "finish_reason": "stop"}],
        "usage": usage});
    let mut stream = vec![sse(&chunk(
        json!({"role": "assistant", "content": ""}),
        None,
    ))];
    stream.extend((0..chunks).map(|_| sse(&chunk(json!({"content": "tok "}), None))));
    stream.push(sse(&chunk(json!({}), Some("stop"))));
    let mut last = chunk(json!({}), None);
    last["choices"] = json!([]);
    last["usage"] = usage;
    stream.push(sse(&last));
    stream.push(Bytes::from_static(b"data: [DONE]\n\n"));
    Replies {
        completion: Bytes::from(completion.to_string()),
        stream,
        hold_chunk: sse(&chunk(json!({"content": "tok "}), None)),
    }
}

async fn completions(body: web::Bytes, replies: web::Data<Replies>) -> HttpResponse {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if request["model"] == "hold" {
        let chunk = replies.hold_chunk.clone();
        let ticks = stream::unfold(0u32, move |n| {
            let chunk = chunk.clone();
            async move {
                if n >= 120 {
                    return None;
                }
                if n > 0 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Some((Ok::<_, actix_web::Error>(chunk), n + 1))
            }
        });
        return HttpResponse::Ok()
            .content_type("text/event-stream")
            .streaming(ticks);
    }
    if request["stream"] == true {
        let frames = replies.stream.clone();
        return HttpResponse::Ok()
            .content_type("text/event-stream")
            .streaming(stream::iter(
                frames.into_iter().map(Ok::<_, actix_web::Error>),
            ));
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .body(replies.completion.clone())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "127.0.0.1:18090".into());
    let chunks = args.next().and_then(|n| n.parse().ok()).unwrap_or(50);
    let replies = web::Data::new(replies(chunks));
    HttpServer::new(move || {
        App::new()
            .app_data(replies.clone())
            .route("/v1/chat/completions", web::post().to(completions))
    })
    .workers(1)
    .backlog(4096)
    .max_connections(100_000)
    .tcp_nodelay(true)
    .bind(address)?
    .run()
    .await
}
