//! Sending a request to some healthy key that serves the model: choose, call, and on a failure
//! before the first token, report the key's health and try the next one.

use std::sync::Arc;

use chrono::Utc;
use confab_credits::UsageWriter;
use confab_keys::pool::NoKey;
use confab_keys::{KeyPool, Lease};
use confab_providers::{
    ChatEvent, ChatRequest, ChatStream, Completion, GeneratedImage, ImageEditRequest, ImageRequest,
    ProviderError, Providers,
};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;

use crate::ChatsError;
use crate::catalog::{Catalog, Modality, ModelView};

/// Everything a completion needs, shared by all requests.
pub struct Relay {
    pub db: DatabaseConnection,
    pub providers: Providers,
    pub pool: Arc<KeyPool>,
    pub catalog: Arc<Catalog>,
    pub usage: UsageWriter,
    /// How many keys one request may try before giving up.
    pub max_attempts: usize,
}

/// An upstream stream that has produced its first event (or ended cleanly at once).
pub struct Started {
    pub lease: Lease,
    pub first: Option<ChatEvent>,
    pub stream: ChatStream,
}

impl Relay {
    /// An enabled model of the wanted modality, by public name.
    pub fn model(&self, name: &str, modality: Modality) -> Result<Arc<ModelView>, ChatsError> {
        match self.catalog.get(name) {
            Some(model) if model.modality == modality => Ok(model),
            Some(_) => Err(ChatsError::Invalid(
                "model",
                format!(
                    "'{name}' is not a {} model",
                    match modality {
                        Modality::Chat => "chat",
                        Modality::Image => "image",
                    }
                ),
            )),
            None => Err(ChatsError::UnknownModel(name.to_owned())),
        }
    }

    /// Runs `call` on one key after another until one succeeds, a failure is the request's
    /// own fault, or `max_attempts` keys have failed.
    async fn with_retries<T>(
        &self,
        model: &ModelView,
        mut call: impl FnMut(Lease) -> BoxFuture<'static, Result<T, ProviderError>>,
    ) -> Result<(Lease, T), ChatsError> {
        let mut tried: Vec<i64> = Vec::new();
        let mut last_error: Option<ProviderError> = None;
        while tried.len() < self.max_attempts {
            let lease = match self
                .pool
                .pick(&model.name, |k| model.upstream_name(k), &tried)
            {
                Ok(lease) => lease,
                Err(no_key) => {
                    return Err(match (last_error, no_key) {
                        (Some(error), _) => ChatsError::Upstream(error),
                        (None, NoKey::NoneServes) => ChatsError::NoProvider { retry_after: None },
                        (None, NoKey::AllResting(wait)) => ChatsError::NoProvider {
                            retry_after: Some(wait.as_secs().max(1)),
                        },
                    });
                }
            };
            let key_id = lease.key_id;
            match call(lease.clone()).await {
                Ok(value) => return Ok((lease, value)),
                Err(error) => {
                    self.pool.failed(&self.db, key_id, &error, Utc::now()).await;
                    if !error.is_retryable() {
                        return Err(ChatsError::Upstream(error));
                    }
                    tracing::info!(key_id, %error, "upstream failed before the first token; trying another key");
                    tried.push(key_id);
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.map_or(
            ChatsError::NoProvider { retry_after: None },
            ChatsError::Upstream,
        ))
    }

    /// Opens a stream and waits for its first event, so a failure up to there moves on to
    /// another key.
    pub async fn start_stream(
        &self,
        model: &ModelView,
        request: Arc<ChatRequest>,
    ) -> Result<Started, ChatsError> {
        let providers = self.providers.clone();
        let (lease, (first, stream)) = self
            .with_retries(model, move |lease| {
                let providers = providers.clone();
                let request = request.clone();
                Box::pin(async move {
                    let provider = providers.for_kind(lease.target.kind);
                    let mut stream = provider.stream_chat(&lease.target, &request).await?;
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
        request: Arc<ChatRequest>,
    ) -> Result<(Lease, Completion), ChatsError> {
        let providers = self.providers.clone();
        self.with_retries(model, move |lease| {
            let providers = providers.clone();
            let request = request.clone();
            Box::pin(async move {
                providers
                    .for_kind(lease.target.kind)
                    .complete(&lease.target, &request)
                    .await
            })
        })
        .await
    }

    pub async fn generate_images(
        &self,
        model: &ModelView,
        request: Arc<ImageRequest>,
    ) -> Result<(Lease, Vec<GeneratedImage>), ChatsError> {
        let providers = self.providers.clone();
        self.with_retries(model, move |lease| {
            let providers = providers.clone();
            let request = request.clone();
            Box::pin(async move {
                providers
                    .for_kind(lease.target.kind)
                    .generate_images(&lease.target, &request)
                    .await
            })
        })
        .await
    }

    pub async fn edit_images(
        &self,
        model: &ModelView,
        request: Arc<ImageEditRequest>,
    ) -> Result<(Lease, Vec<GeneratedImage>), ChatsError> {
        let providers = self.providers.clone();
        self.with_retries(model, move |lease| {
            let providers = providers.clone();
            let request = request.clone();
            Box::pin(async move {
                providers
                    .for_kind(lease.target.kind)
                    .edit_images(&lease.target, &request)
                    .await
            })
        })
        .await
    }
}

/// What `POST /admin/provider-keys/{id}/check` found.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct KeyCheck {
    pub reachable: bool,
    pub latency_ms: u32,
    /// Models (or deployments, engines) the key can reach.
    pub models: Vec<String>,
    /// In the provider's unit, where it reports one (Stability credits, OpenAI USD).
    pub balance: Option<f64>,
    /// Why the check failed (`upstream_error`, `upstream_timeout`, ...).
    pub error_code: Option<String>,
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
