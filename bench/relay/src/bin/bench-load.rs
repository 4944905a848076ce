//! Load for bench/relay.sh. Two measurements:
//!
//! `bench-load rate URL TOKEN plain|stream RATE SECS [MODEL]` sends RATE requests a second (open
//! loop: each on schedule, whatever the others are doing) for SECS seconds of MODEL (default
//! `bench`) and prints the latency distribution and time to first byte, in milliseconds.
//!
//! `bench-load hold URL TOKEN STREAMS PID` opens STREAMS streams of the `hold` model, waits
//! until each has its first bytes, and prints how much the resident memory of process PID grew.
//!
//! TOKEN `-` sends no Authorization header (the fake upstream needs none).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hdrhistogram::Histogram;
use tokio::sync::{Notify, mpsc};

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Target {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    body: String,
}

fn body(model: &str, stream: bool) -> String {
    format!(
        r#"{{"model":"{model}","messages":[{{"role":"user","content":"Say hello"}}],"stream":{stream}}}"#
    )
}

impl Target {
    fn new(url: String, token: &str, body: String) -> Result<Self, Error> {
        Ok(Self {
            client: reqwest::Client::builder()
                .tcp_nodelay(true)
                .pool_max_idle_per_host(4096)
                .build()?,
            url,
            token: (token != "-").then(|| token.to_owned()),
            body,
        })
    }

    async fn open(&self) -> Result<reqwest::Response, Error> {
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(self.body.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()).into());
        }
        Ok(response)
    }

    /// (whole request, first body bytes), both from just before sending.
    async fn once(&self) -> Result<(Duration, Duration), Error> {
        let start = Instant::now();
        let mut body = self.open().await?.bytes_stream();
        let mut first = None;
        while let Some(chunk) = body.next().await {
            if !chunk?.is_empty() && first.is_none() {
                first = Some(start.elapsed());
            }
        }
        let total = start.elapsed();
        Ok((total, first.unwrap_or(total)))
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

fn ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

async fn rate(target: Target, per_second: u64, secs: u64) -> Result<(), Error> {
    let target = Arc::new(target);
    let total = per_second * secs;
    let (results, mut received) = mpsc::unbounded_channel();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    for _ in 0..total {
        ticker.tick().await;
        let target = target.clone();
        let results = results.clone();
        tokio::spawn(async move {
            let _ = results.send(target.once().await);
        });
    }
    drop(results);
    let mut latency = Histogram::<u64>::new(3)?;
    let mut first_byte = Histogram::<u64>::new(3)?;
    let mut errors = 0u64;
    let mut first_error = None;
    while let Some(result) = received.recv().await {
        match result {
            Ok((total, first)) => {
                latency.record(micros(total))?;
                first_byte.record(micros(first))?;
            }
            Err(error) => {
                errors += 1;
                first_error.get_or_insert(error.to_string());
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "requests={} errors={} rate={:.0}/s p50={:.3}ms p99={:.3}ms p999={:.3}ms max={:.3}ms ttfb_p50={:.3}ms ttfb_p99={:.3}ms",
        latency.len(),
        errors,
        latency.len() as f64 / elapsed,
        ms(&latency, 0.5),
        ms(&latency, 0.99),
        ms(&latency, 0.999),
        latency.max() as f64 / 1000.0,
        ms(&first_byte, 0.5),
        ms(&first_byte, 0.99),
    );
    if let Some(error) = first_error {
        eprintln!("first error: {error}");
    }
    Ok(())
}

/// VmRSS of a process, in KiB.
fn resident_kib(pid: u32) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS".into())
}

async fn hold(target: Target, streams: usize, pid: u32) -> Result<(), Error> {
    let target = Arc::new(target);
    let before = resident_kib(pid)?;
    let (ready, mut readies) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    for _ in 0..streams {
        let target = target.clone();
        let ready = ready.clone();
        let release = release.clone();
        tokio::spawn(async move {
            let response = match target.open().await {
                Ok(response) => response,
                Err(error) => {
                    let _ = ready.send(Err(error.to_string()));
                    return;
                }
            };
            let mut body = response.bytes_stream();
            let _ = body.next().await;
            let _ = ready.send(Ok(()));
            // Keep reading (the streams stay live) until released, then hang up.
            let released = release.notified();
            tokio::pin!(released);
            loop {
                tokio::select! {
                    () = &mut released => break,
                    chunk = body.next() => if chunk.is_none() { break },
                }
            }
        });
    }
    drop(ready);
    let mut open = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while open < streams {
        match tokio::time::timeout_at(deadline, readies.recv()).await {
            Ok(Some(Ok(()))) => open += 1,
            Ok(Some(Err(error))) => return Err(format!("a stream failed: {error}").into()),
            Ok(None) | Err(_) => {
                return Err(format!("only {open} of {streams} streams opened").into());
            }
        }
    }
    // Let every stream pass a few chunks before reading the memory.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = resident_kib(pid)?;
    release.notify_waiters();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = resident_kib(pid)?;
    println!(
        "streams={streams} rss_before={before}KiB rss_open={during}KiB rss_after_close={after}KiB per_stream={:.1}KiB",
        during.saturating_sub(before) as f64 / streams as f64
    );
    Ok(())
}

fn usage() -> Error {
    "usage: bench-load rate URL TOKEN plain|stream RATE SECS [MODEL] | bench-load hold URL TOKEN STREAMS PID"
        .into()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["rate", url, token, kind, per_second, secs, model @ ..] => {
            let model = model.first().copied().unwrap_or("bench");
            let target = Target::new(url.to_string(), token, body(model, *kind == "stream"))?;
            rate(target, per_second.parse()?, secs.parse()?).await
        }
        ["hold", url, token, streams, pid] => {
            let target = Target::new(url.to_string(), token, body("hold", true))?;
            hold(target, streams.parse()?, pid.parse()?).await
        }
        _ => Err(usage()),
    }
}
