//! Sending a request to some healthy key that serves the model: choose, call, and on a failure
//! before the first token, report the key's health and try the next one; then relay the
//! stream and meter it.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use confab_credits::UsageWriter;
use confab_credits::holds::Meter;
use confab_keys::pool::NoKey;
use confab_keys::{KeyPool, Lease};
use confab_providers::{
    ChatEvent, ChatRequest, ChatStream, Completion, GeneratedImage, ImageEditRequest, ImageRequest,
    Provider, ProviderError, Providers, Target, Usage,
};
use confab_store::Db;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::catalog::{Catalog, Modality, ModelView};
use crate::streams::Relaying;
use crate::{ChatsError, tokens};

/// Everything a completion needs, shared by all requests.
pub struct Relay {
    pub db: Db,
    pub providers: Providers,
    pub pool: Arc<KeyPool>,
    pub catalog: Arc<Catalog>,
    pub usage: UsageWriter,
    /// Holds a request's worst-case cost before it reaches a provider; settles the real one.
    pub meter: Meter,
    /// How many keys one request may try before giving up.
    pub max_attempts: usize,
    /// The requests being relayed that hold credits (a shutdown waits for them, then stops
    /// them).
    pub streams: crate::streams::Streams,
}

/// An upstream stream that has produced its first event (or ended cleanly at once).
pub struct Started {
    pub lease: Lease,
    pub first: Option<ChatEvent>,
    pub stream: ChatStream,
}

/// How a relayed stream ended, for the caller to store and bill.
pub struct Relayed {
    pub key_id: i64,
    /// The generated text (kept for the answer, or to estimate tokens).
    pub content: String,
    /// As the provider reported it, or estimated when it reported none (interruptions).
    pub usage: Usage,
    pub ttft_ms: Option<u32>,
    /// The client went away before the end, or the instance stopped the stream.
    pub interrupted: bool,
    /// The instance stopped the stream (a drain's grace period ran out), not the client.
    pub stopped: bool,
    /// Why the provider said it finished (`stop`, `length`, ...), if it said so.
    pub finish_reason: Option<String>,
    /// The provider failed after the first event.
    pub failure: Option<ProviderError>,
}

/// One provider operation, called with a chosen key's adapter and target.
type Operation<R, T> =
    for<'a> fn(&'a dyn Provider, &'a Target, &'a R) -> BoxFuture<'a, Result<T, ProviderError>>;

pub fn elapsed_ms(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_millis()).unwrap_or(u32::MAX)
}

impl Relay {
    /// An enabled model of the wanted modality, by public name.
    pub fn model(&self, name: &str, modality: Modality) -> Result<Arc<ModelView>, ChatsError> {
        match self.catalog.get(name) {
            Some(model) if model.modality == modality => Ok(model),
            Some(_) => Err(ChatsError::Invalid(
                "model",
                match modality {
                    Modality::Image => format!("'{name}' is not an image model"),
                    Modality::Chat => format!("'{name}' is not a chat model"),
                },
            )),
            None => Err(ChatsError::UnknownModel(name.to_owned())),
        }
    }

    /// Runs `work` (a request that holds credits, from before its hold until it is settled) on
    /// a task of its own, counted for the drain: it ends charged or released even when the
    /// client goes away or the server stops waiting for its answer (either drops the handler).
    pub async fn detached<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl Future<Output = Result<T, ChatsError>> + Send + 'static,
    ) -> Result<T, ChatsError> {
        let relaying = self.streams.start();
        let task = tokio::spawn(
            async move {
                let result = work.await;
                drop(relaying);
                result
            }
            .instrument(tracing::Span::current()),
        );
        match task.await {
            Ok(result) => result,
            Err(error) => match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                // Cancelled: only the runtime shutting down does that.
                Err(_) => Err(ChatsError::ShuttingDown),
            },
        }
    }

    /// Runs `operation` on one key after another until one succeeds, a failure is the
    /// request's own fault, or `max_attempts` keys have failed.
    async fn call<R: Send + Sync, T>(
        &self,
        model: &ModelView,
        request: &R,
        operation: Operation<R, T>,
    ) -> Result<(Lease, T), ChatsError> {
        let mut tried: Vec<i64> = Vec::new();
        let mut last_error: Option<ProviderError> = None;
        let mut rpm_wait: Option<std::time::Duration> = None;
        while tried.len() < self.max_attempts {
            let lease = match self
                .pool
                .pick(&model.name, |k| model.upstream_name(k), &tried)
            {
                Ok(lease) => lease,
                Err(no_key) => {
                    return Err(match (last_error, no_key) {
                        (Some(error), _) => ChatsError::Upstream(error),
                        (None, _) if rpm_wait.is_some() => ChatsError::NoProvider {
                            retry_after: rpm_wait.map(|wait| wait.as_secs().max(1)),
                        },
                        (None, NoKey::NoneServes) => ChatsError::NoProvider { retry_after: None },
                        (None, NoKey::AllResting(wait)) => ChatsError::NoProvider {
                            retry_after: Some(wait.as_secs().max(1)),
                        },
                    });
                }
            };
            if let Err(wait) = self.pool.admit(&lease).await {
                // The other instances used this key's minute up: another key, or wait.
                tried.push(lease.key_id);
                rpm_wait = Some(rpm_wait.map_or(wait, |w| w.min(wait)));
                continue;
            }
            let provider = self.providers.for_kind(lease.target.kind);
            // A shutdown whose grace period is over cuts a call still waiting for its answer
            // (its hold is then settled with nothing charged).
            let answer = tokio::select! {
                answer = operation(provider, &lease.target, request) => answer,
                () = self.streams.stopped() => return Err(ChatsError::ShuttingDown),
            };
            match answer {
                Ok(value) => return Ok((lease, value)),
                Err(error) => {
                    self.pool
                        .failed(&self.db, lease.key_id, &error, Utc::now())
                        .await;
                    if !error.is_retryable() {
                        return Err(ChatsError::Upstream(error));
                    }
                    tracing::info!(key_id = lease.key_id, %error, "upstream failed before the first token; trying another key");
                    tried.push(lease.key_id);
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.map_or(
            ChatsError::NoProvider {
                retry_after: rpm_wait.map(|wait| wait.as_secs().max(1)),
            },
            ChatsError::Upstream,
        ))
    }

    /// Opens a stream and waits for its first event, so a failure up to there moves on to
    /// another key.
    pub async fn start_stream(
        &self,
        model: &ModelView,
        request: &ChatRequest,
    ) -> Result<Started, ChatsError> {
        let (lease, (first, stream)) = self
            .call(model, request, |provider, target, request| {
                Box::pin(async move {
                    let mut stream = provider.stream_chat(target, request).await?;
                    match stream.next().await {
                        Some(Ok(first)) => Ok((Some(first), stream)),
                        Some(Err(error)) => Err(error),
                        None => Ok((None, stream)),
                    }
                })
            })
            .await?;
        Ok(Started {
            lease,
            first,
            stream,
        })
    }

    pub async fn complete(
        &self,
        model: &ModelView,
        request: &ChatRequest,
    ) -> Result<(Lease, Completion), ChatsError> {
        self.call(model, request, |provider, target, request| {
            provider.complete(target, request)
        })
        .await
    }

    pub async fn generate_images(
        &self,
        model: &ModelView,
        request: &ImageRequest,
    ) -> Result<(Lease, Vec<GeneratedImage>), ChatsError> {
        self.call(model, request, |provider, target, request| {
            provider.generate_images(target, request)
        })
        .await
    }

    pub async fn edit_images(
        &self,
        model: &ModelView,
        request: &ImageEditRequest,
    ) -> Result<(Lease, Vec<GeneratedImage>), ChatsError> {
        self.call(model, request, |provider, target, request| {
            provider.edit_images(target, request)
        })
        .await
    }

    /// Relays a started stream's events to `sender` (`forward` picks and shapes them) until
    /// the provider finishes, fails, the receiver goes away or the instance stops its streams
    /// (`relaying`, taken by the task for as long as it records and settles), then reports the
    /// key's health.
    /// Dropping the upstream stream closes its connection, so the provider stops generating.
    pub async fn pump<T>(
        &self,
        relaying: &mut Relaying,
        started: Started,
        sender: &mpsc::Sender<T>,
        started_at: Instant,
        prompt_estimate: impl FnOnce() -> u32,
        forward: impl Fn(ChatEvent) -> Option<T>,
    ) -> Relayed {
        let Started {
            lease,
            first,
            mut stream,
        } = started;
        let mut content = String::new();
        let mut usage: Option<Usage> = None;
        let mut ttft_ms = None;
        let mut failure = None;
        let mut interrupted = false;
        let mut stopped = false;
        let mut finish_reason = None;
        let mut next = first.map(Ok);
        loop {
            let event = match next.take() {
                Some(event) => Some(event),
                None => tokio::select! {
                    event = stream.next() => event,
                    () = sender.closed() => { interrupted = true; break; }
                    () = relaying.stopped() => { (interrupted, stopped) = (true, true); break; }
                },
            };
            let event = match event {
                None => break,
                Some(Err(error)) => {
                    failure = Some(error);
                    break;
                }
                Some(Ok(event)) => event,
            };
            match &event {
                ChatEvent::Delta { content: piece, .. } => {
                    ttft_ms.get_or_insert_with(|| elapsed_ms(started_at));
                    content.push_str(piece);
                }
                ChatEvent::Usage(reported) => usage = Some(*reported),
                ChatEvent::Finish { reason } => finish_reason = Some(reason.clone()),
            }
            if let Some(out) = forward(event)
                && sender.send(out).await.is_err()
            {
                interrupted = true;
                break;
            }
        }
        drop(stream);
        let usage = usage.unwrap_or_else(|| Usage {
            prompt_tokens: prompt_estimate(),
            completion_tokens: tokens::count(&content),
        });
        match &failure {
            Some(error) => {
                self.pool
                    .failed(&self.db, lease.key_id, error, Utc::now())
                    .await
            }
            None => {
                self.pool
                    .succeeded(
                        lease.key_id,
                        u64::from(usage.prompt_tokens + usage.completion_tokens),
                    )
                    .await
            }
        }
        Relayed {
            key_id: lease.key_id,
            content,
            usage,
            ttft_ms,
            interrupted,
            stopped,
            finish_reason,
            failure,
        }
    }
}

/// What `POST /admin/provider-keys/{id}/check` found.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct KeyCheck {
    /// Whether the provider answered the key.
    pub reachable: bool,
    /// How long the provider took to answer.
    pub latency_ms: u32,
    /// Models (or deployments, engines) the key can reach.
    pub models: Vec<String>,
    /// In the provider's unit, where it reports one (Stability credits, OpenAI USD).
    pub balance: Option<f64>,
    /// Why the check failed (`upstream_error`, `upstream_timeout`, ...).
    pub error_code: Option<String>,
    /// What failed, for people.
    pub error: Option<String>,
}

impl Relay {
    /// Calls the provider with the key (enabled or not). A key the provider refuses is disabled,
    /// as it would be on a real request.
    pub async fn check_key(&self, key_id: i64) -> Result<KeyCheck, ChatsError> {
        use confab_core::ErrorCode;
        use confab_keys::provider_keys::{self, SECRET_PURPOSE};
        let row = provider_keys::get(&self.db, key_id).await?;
        let api_key = self
            .pool
            .secret_box()
            .open(SECRET_PURPOSE, &row.secret_ciphertext)
            .map_err(confab_keys::KeysError::from)?;
        let kind = confab_providers::ProviderKind::parse(&row.kind)
            .ok_or(ChatsError::Keys(confab_keys::KeysError::NotFound))?;
        let target = confab_providers::Target {
            kind,
            base_url: row.base_url,
            api_key,
            api_version: row.api_version,
            model: String::new(),
        };
        let started = std::time::Instant::now();
        let result = self.providers.for_kind(kind).check(&target).await;
        let latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        Ok(match result {
            Ok(report) => KeyCheck {
                reachable: true,
                latency_ms,
                models: report.models,
                balance: report.balance,
                error_code: None,
                error: None,
            },
            Err(error) => {
                if matches!(error, ProviderError::KeyRejected { .. }) {
                    self.pool.failed(&self.db, key_id, &error, Utc::now()).await;
                }
                KeyCheck {
                    reachable: false,
                    latency_ms,
                    models: Vec::new(),
                    balance: None,
                    error_code: Some(error.code().as_str().to_owned()),
                    error: Some(match &error {
                        ProviderError::KeyRejected { status, .. } => {
                            format!("the provider rejected the key ({status})")
                        }
                        other => crate::upstream_message(other),
                    }),
                }
            }
        })
    }
}
