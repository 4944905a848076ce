//! Wire-neutral requests and results the adapters translate to and from.

use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ProviderError;

/// Which wire format a key speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "azure_openai")]
    AzureOpenAi,
    Ollama,
    Stability,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 4] = [
        ProviderKind::OpenAi,
        ProviderKind::AzureOpenAi,
        ProviderKind::Ollama,
        ProviderKind::Stability,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::AzureOpenAi => "azure_openai",
            ProviderKind::Ollama => "ollama",
            ProviderKind::Stability => "stability",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "https://api.openai.com",
            ProviderKind::AzureOpenAi => "",
            ProviderKind::Ollama => "http://127.0.0.1:11434",
            ProviderKind::Stability => "https://api.stability.ai",
        }
    }
}

/// Where and how to call: one provider key, resolved for one model.
#[derive(Clone)]
pub struct Target {
    pub kind: ProviderKind,
    /// Without a trailing slash. OpenAI's may or may not end in `/v1`.
    pub base_url: String,
    pub api_key: String,
    /// Azure's `api-version` query parameter.
    pub api_version: Option<String>,
    /// The model name upstream (Azure: the deployment name).
    pub model: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// A chat completion request. `messages` are OpenAI-shaped message objects; `extra` holds the
/// other OpenAI fields a caller sent (tools, response_format, ...), passed through to OpenAI and
/// Azure and ignored elsewhere.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    pub messages: Vec<Value>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u32>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub stop: Option<Value>,
    pub seed: Option<i64>,
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// The sampling parameters that were set, by OpenAI's names (but the output limit's, which
    /// providers name differently), for an adapter to put into its body.
    pub(crate) fn sampling(&self, max_tokens_name: &'static str) -> Vec<(&'static str, Value)> {
        [
            ("temperature", self.temperature.map(Value::from)),
            ("top_p", self.top_p.map(Value::from)),
            (max_tokens_name, self.max_tokens.map(Value::from)),
            ("presence_penalty", self.presence_penalty.map(Value::from)),
            ("frequency_penalty", self.frequency_penalty.map(Value::from)),
            ("seed", self.seed.map(Value::from)),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
    }
}

/// Token counts as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// One step of a streamed completion.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// Generated text (possibly empty when only `tool_calls` moved).
    Delta {
        content: String,
        tool_calls: Option<Value>,
    },
    Finish {
        reason: String,
    },
    Usage(Usage),
}

pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatEvent, ProviderError>> + Send>>;

/// A whole non-streamed answer.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub content: String,
    pub tool_calls: Option<Value>,
    pub finish_reason: String,
    pub usage: Option<Usage>,
}

/// Text-to-image.
#[derive(Debug, Clone, Default)]
pub struct ImageRequest {
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub n: u32,
    /// `WIDTHxHEIGHT`.
    pub size: Option<String>,
    pub quality: Option<String>,
    pub style: Option<String>,
    pub aspect_ratio: Option<String>,
    pub seed: Option<u64>,
}

/// Image-to-image.
#[derive(Debug, Clone, Default)]
pub struct ImageEditRequest {
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub image: Bytes,
    pub image_content_type: String,
    pub mask: Option<Bytes>,
    pub n: u32,
    pub size: Option<String>,
    /// How far from the source image to move, 0..1 (Stability).
    pub strength: Option<f64>,
    pub seed: Option<u64>,
}

/// One image a provider returned, as bytes.
#[derive(Debug, Clone)]
pub struct GeneratedImage {
    pub bytes: Bytes,
    pub content_type: String,
    pub revised_prompt: Option<String>,
    pub seed: Option<u64>,
}

/// What `check` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    pub models: Vec<String>,
    /// In the provider's unit (USD for OpenAI, credits for Stability).
    pub balance: Option<f64>,
}
