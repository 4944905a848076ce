use confab_core::{Code, ErrorCode};

/// What went wrong talking to a provider. Callers decide from it whether to retry on another
/// key and what happens to the key.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// 401/403: the key itself is bad; it should stop being used.
    #[error("the provider rejected the key ({status}): {message}")]
    KeyRejected { status: u16, message: String },
    #[error("the provider is rate limiting this key")]
    RateLimited { retry_after_secs: Option<u64> },
    /// 5xx.
    #[error("the provider failed ({status}): {message}")]
    Server { status: u16, message: String },
    /// Other 4xx: the request is at fault, another key would answer the same.
    #[error("the provider refused the request ({status}): {message}")]
    BadRequest { status: u16, message: String },
    #[error("the provider did not answer in time")]
    Timeout,
    #[error("could not reach the provider: {0}")]
    Connect(String),
    #[error("the provider sent something unreadable: {0}")]
    Malformed(String),
    #[error("the provider closed the stream early: {0}")]
    Disconnected(String),
    #[error("this provider does not support {0}")]
    Unsupported(&'static str),
}

impl ProviderError {
    /// Whether another key could answer where this one failed.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            ProviderError::BadRequest { .. } | ProviderError::Unsupported(_)
        )
    }

    pub(crate) fn from_status(status: u16, message: String, retry_after: Option<u64>) -> Self {
        match status {
            401 | 403 => ProviderError::KeyRejected { status, message },
            429 => ProviderError::RateLimited {
                retry_after_secs: retry_after,
            },
            500..=599 => ProviderError::Server { status, message },
            _ => ProviderError::BadRequest { status, message },
        }
    }

    pub(crate) fn from_reqwest(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            ProviderError::Timeout
        } else if error.is_connect() {
            ProviderError::Connect(error.to_string())
        } else if error.is_decode() {
            ProviderError::Malformed(error.to_string())
        } else {
            ProviderError::Disconnected(error.to_string())
        }
    }
}

impl ErrorCode for ProviderError {
    fn code(&self) -> Code {
        match self {
            ProviderError::Timeout => Code::UpstreamTimeout,
            ProviderError::BadRequest { .. } => Code::InvalidRequest,
            ProviderError::Unsupported(_) => Code::InvalidRequest,
            _ => Code::UpstreamError,
        }
    }
}
