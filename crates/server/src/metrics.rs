//! `GET /metrics`: what an operator graphs and alerts on, in Prometheus text format. One
//! registry per application (not a process-wide recorder), so instances in one process (the
//! tests) each count their own. Requests, streams and usage are counted as they happen; holds,
//! the database pool and Redis are read when scraped.

use std::time::Duration;

use confab_credits::{NewUsage, UsageObserver};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// One HTTP request: its route template (never the raw path, so ids do not explode the
/// series), method and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub method: String,
}

/// One upstream call as its usage record tells it: the provider key (`none` when no key was
/// reached), the model, and `complete`, `interrupted` or the error code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub provider_key: String,
    pub model: String,
    pub outcome: String,
}

/// A provider call that failed: the key and the error code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub provider_key: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeyModelLabels {
    pub provider_key: String,
    pub model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub model: String,
    /// `prompt` or `completion`.
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub model: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Seconds, from 1 ms to about 2 minutes.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

/// Everything counted as it happens.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<RouteLabels>,
    open_streams: Gauge,
    upstream_requests: Family<UpstreamLabels, Counter>,
    upstream_failures: Family<FailureLabels, Counter>,
    upstream_seconds: Histograms<KeyModelLabels>,
    tokens: Family<TokenLabels, Counter>,
    credits_charged: Family<ModelLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let metrics = Self {
            registry: Registry::with_prefix("confab"),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram),
            open_streams: Gauge::default(),
            upstream_requests: Family::default(),
            upstream_failures: Family::default(),
            upstream_seconds: Family::new_with_constructor(latency_histogram),
            tokens: Family::default(),
            credits_charged: Family::default(),
        };
        metrics.registered()
    }

    fn registered(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "http_requests",
            "HTTP requests answered",
            self.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to the response head (streams go on after it)",
            self.request_seconds.clone(),
        );
        r.register(
            "open_event_streams",
            "Event streams (chats, /v1 with stream) open now",
            self.open_streams.clone(),
        );
        r.register(
            "upstream_requests",
            "Requests relayed to providers, by key, model and outcome",
            self.upstream_requests.clone(),
        );
        r.register(
            "upstream_failures",
            "Provider calls that failed, by key and error code (also those retried on another key)",
            self.upstream_failures.clone(),
        );
        r.register(
            "upstream_duration_seconds",
            "How long relayed requests took, to their last byte",
            self.upstream_seconds.clone(),
        );
        r.register(
            "tokens",
            "Tokens used, by model and kind",
            self.tokens.clone(),
        );
        r.register(
            "credits_charged",
            "Credits charged for usage, by model",
            self.credits_charged.clone(),
        );
        self
    }

    /// Counts one answered request.
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                method: method.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts an event stream open until the guard is dropped (the stream ended or the client
    /// went away).
    pub fn stream_opened(&self) -> OpenStream {
        self.open_streams.inc();
        OpenStream(self.open_streams.clone())
    }

    /// The text a scrape answers: what was counted, then `now` (read at scrape time).
    pub fn encode(&self, now: &Snapshot) -> Result<String, std::fmt::Error> {
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        prometheus_client::encoding::prometheus_text::encode(&mut text, &now.registry())?;
        Ok(text)
    }
}

/// Keeps one stream counted as open.
pub struct OpenStream(Gauge);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl confab_keys::KeyFailures for Metrics {
    fn failed(&self, key_id: i64, code: &str) {
        self.upstream_failures
            .get_or_create(&FailureLabels {
                provider_key: key_id.to_string(),
                code: code.to_owned(),
            })
            .inc();
    }
}

impl UsageObserver for Metrics {
    fn observe(&self, usage: &NewUsage) {
        let provider_key = usage
            .provider_key_id
            .map_or_else(|| "none".to_owned(), |id| id.to_string());
        let outcome = usage
            .error_code
            .clone()
            .unwrap_or_else(|| usage.status.to_owned());
        self.upstream_requests
            .get_or_create(&UpstreamLabels {
                provider_key: provider_key.clone(),
                model: usage.model.clone(),
                outcome,
            })
            .inc();
        self.upstream_seconds
            .get_or_create(&KeyModelLabels {
                provider_key,
                model: usage.model.clone(),
            })
            .observe(f64::from(usage.latency_ms) / 1000.0);
        for (kind, count) in [
            ("prompt", usage.prompt_tokens),
            ("completion", usage.completion_tokens),
        ] {
            self.tokens
                .get_or_create(&TokenLabels {
                    model: usage.model.clone(),
                    kind,
                })
                .inc_by(u64::from(count));
        }
        if let Ok(cost) = u64::try_from(usage.cost) {
            self.credits_charged
                .get_or_create(&ModelLabels {
                    model: usage.model.clone(),
                })
                .inc_by(cost);
        }
    }
}

/// What a scrape reads at that moment.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub holds: i64,
    pub held_credits: i64,
    pub pool: Option<confab_store::PoolUse>,
    /// `None` without Redis.
    pub redis_errors: Option<u64>,
}

impl Snapshot {
    fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("confab");
        r.register(
            "holds_outstanding",
            "Credit holds of requests in flight",
            ConstGauge::new(self.holds),
        );
        r.register(
            "held_credits",
            "Credits reserved by requests in flight",
            ConstGauge::new(self.held_credits),
        );
        if let Some(pool) = self.pool {
            r.register(
                "db_pool_connections",
                "Database connections open",
                ConstGauge::new(i64::from(pool.open)),
            );
            r.register(
                "db_pool_idle_connections",
                "Database connections open and idle",
                ConstGauge::new(i64::from(pool.idle)),
            );
        }
        if let Some(errors) = self.redis_errors {
            r.register(
                "redis_errors",
                "Redis commands that failed or timed out",
                ConstCounter::new(errors),
            );
        }
        r
    }
}

/// Counts every answered request by its route template (`unmatched` for paths no route
/// serves) and method (`other` for made-up ones), so scanners cannot make new series, and
/// times it to the response head.
pub async fn middleware(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let metrics = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .map(|state| state.metrics.clone());
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let request = response.request();
        let route = request.match_pattern();
        metrics.request(
            route.as_deref().unwrap_or("unmatched"),
            method_label(request.method()),
            response.status().as_u16(),
            started.elapsed(),
        );
    }
    Ok(response)
}

/// The method as a label: HTTP's own methods by name, anything a client made up `other`, so
/// no request can add a series.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}
