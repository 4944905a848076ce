//! The network edge: what Confab asks of a model provider ([`Provider`]), the wire-neutral
//! request and event types, and one adapter per wire format. Adapters translate; they hold no
//! policy (key choice, retries and persistence belong to the callers).

mod clients;
mod error;
mod http;
mod lines;
pub mod ollama;
pub mod openai;
pub mod stability;
mod types;

pub use error::ProviderError;
pub use types::*;

use std::sync::Arc;
use std::time::Duration;

/// One upstream operation set. Adapters answer [`ProviderError::Unsupported`] for what their
/// provider cannot do (Ollama draws no images, Stability does not chat).
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// Starts a streamed completion. Returns once the upstream has answered with a success
    /// status, so errors before the first byte can be retried elsewhere.
    async fn stream_chat(
        &self,
        target: &Target,
        request: &ChatRequest,
    ) -> Result<ChatStream, ProviderError>;

    /// One non-streamed completion.
    async fn complete(
        &self,
        target: &Target,
        request: &ChatRequest,
    ) -> Result<Completion, ProviderError>;

    async fn generate_images(
        &self,
        target: &Target,
        request: &ImageRequest,
    ) -> Result<Vec<GeneratedImage>, ProviderError>;

    async fn edit_images(
        &self,
        target: &Target,
        request: &ImageEditRequest,
    ) -> Result<Vec<GeneratedImage>, ProviderError>;

    /// Lists what the key can reach (models, and the balance where the provider reports one).
    async fn check(&self, target: &Target) -> Result<CheckReport, ProviderError>;
}

/// Timeouts every adapter applies.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// Until the response head (and for streams, nothing else).
    pub first_byte: Duration,
    /// Longest silence between two stream chunks.
    pub idle: Duration,
    /// Whole non-streamed requests (completions, images, checks).
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(60),
            idle: Duration::from_secs(60),
            request: Duration::from_secs(300),
        }
    }
}

/// The adapters, one per provider kind, sharing one client per thread.
#[derive(Clone)]
pub struct Providers {
    openai: Arc<openai::OpenAi>,
    ollama: Arc<ollama::Ollama>,
    stability: Arc<stability::Stability>,
}

impl Providers {
    pub fn new(timeouts: Timeouts) -> Result<Self, ProviderError> {
        let client = clients::Clients::new(timeouts.connect)?;
        Ok(Self {
            openai: Arc::new(openai::OpenAi::new(client.clone(), timeouts)),
            ollama: Arc::new(ollama::Ollama::new(client.clone(), timeouts)),
            stability: Arc::new(stability::Stability::new(client, timeouts)),
        })
    }

    pub fn for_kind(&self, kind: ProviderKind) -> &dyn Provider {
        match kind {
            ProviderKind::OpenAi | ProviderKind::AzureOpenAi => self.openai.as_ref(),
            ProviderKind::Ollama => self.ollama.as_ref(),
            ProviderKind::Stability => self.stability.as_ref(),
        }
    }
}
