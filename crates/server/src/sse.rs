//! Server-sent events out of a channel: each event is written as soon as it arrives (no
//! buffering), and dropping the response (client gone) drops the receiver, which the producer
//! notices and stops the upstream.

use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::header;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::metrics::Metrics;

/// Maps each received item to one frame; `last` is written after the channel closes.
/// While nothing arrives for `keepalive`, a comment line (`: ping`, ignored by SSE clients)
/// is written: it keeps proxies from timing out, and it is how a vanished client is noticed
/// (the server only learns of a closed connection when a write fails).
pub fn stream<T: Send + 'static>(
    receiver: mpsc::Receiver<T>,
    frame: impl Fn(T) -> Bytes + Send + 'static,
    last: Option<&'static str>,
    keepalive: Duration,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + 'static {
    stream_until(receiver, move |item| (frame(item), false), last, keepalive)
}

/// As [`stream`], but a frame `frame` marks as final (`true`) ends the stream at once, without
/// `last`: after an error event, OpenAI's streams end without `[DONE]`.
pub fn stream_until<T: Send + 'static>(
    receiver: mpsc::Receiver<T>,
    frame: impl Fn(T) -> (Bytes, bool) + Send + 'static,
    last: Option<&'static str>,
    keepalive: Duration,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + 'static {
    futures_util::stream::unfold(
        (Some(receiver), frame, last),
        move |(receiver, frame, last)| async move {
            let mut receiver = receiver?;
            let Ok(received) = tokio::time::timeout(keepalive, receiver.recv()).await else {
                return Some((
                    Ok(Bytes::from_static(b": ping\n\n")),
                    (Some(receiver), frame, last),
                ));
            };
            match received {
                Some(item) => match frame(item) {
                    (bytes, true) => Some((Ok(bytes), (None, frame, None))),
                    (bytes, false) => Some((Ok(bytes), (Some(receiver), frame, last))),
                },
                None => {
                    last.map(|text| (Ok(Bytes::from_static(text.as_bytes())), (None, frame, None)))
                }
            }
        },
    )
}

/// The streamed answer; counted in `metrics` as open until its body is dropped.
pub fn response(
    body: impl Stream<Item = Result<Bytes, std::convert::Infallible>> + 'static,
    metrics: &Metrics,
) -> HttpResponse {
    let open = metrics.stream_opened();
    let body = body.inspect(move |_| {
        let _counted = &open;
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Tells nginx-style proxies not to buffer the stream either.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// `event: NAME\ndata: JSON\n\n`
pub fn event(name: &str, data: &impl serde::Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}

/// `data: JSON\n\n` (OpenAI's framing has no event names).
pub fn data(data: &impl serde::Serialize) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    if serde_json::to_writer(&mut out, data).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}
