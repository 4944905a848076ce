use confab_core::{Code, ErrorCode};
use confab_keys::KeysError;
use confab_providers::ProviderError;
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum ChatsError {
    #[error("chat not found")]
    ChatNotFound,
    #[error("message not found")]
    MessageNotFound,
    #[error("model not found")]
    ModelNotFound,
    #[error("the model '{0}' does not exist or is not available")]
    UnknownModel(String),
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error(
        "{0}: at this model's prices the request could cost more than {max} credits, the most Confab handles; ask for less",
        max = confab_core::MAX_CREDITS
    )]
    CostTooHigh(&'static str),
    #[error("a model with this name already exists")]
    ModelNameTaken,
    #[error("the model '{0}' needs a higher tier")]
    TierRequired(String),
    #[error("this API key may not use the model '{0}'")]
    ModelNotAllowed(String),
    #[error("the conversation is longer than the model's context window allows")]
    ContextTooLong,
    #[error("no provider key can serve this model right now")]
    NoProvider { retry_after: Option<u64> },
    /// The instance stopped before the provider answered: nothing was charged.
    #[error("this instance is shutting down; try again")]
    ShuttingDown,
    #[error("{}", upstream_message(.0))]
    Upstream(ProviderError),
    #[error("the file is not a PNG, JPEG or WebP image")]
    UnsupportedFile,
    #[error("the file is larger than {0} bytes")]
    FileTooLarge(u64),
    #[error("file not found")]
    FileNotFound,
    #[error("storage error")]
    Io(#[from] std::io::Error),
    #[error("database error")]
    Database(#[from] DbErr),
    #[error("provider keys: {0}")]
    Keys(#[from] KeysError),
    #[error("{0}")]
    Credits(#[from] confab_credits::CreditsError),
}

impl ErrorCode for ChatsError {
    fn code(&self) -> Code {
        match self {
            ChatsError::ChatNotFound | ChatsError::MessageNotFound | ChatsError::FileNotFound => {
                Code::NotFound
            }
            ChatsError::ModelNotFound | ChatsError::UnknownModel(_) => Code::ModelNotFound,
            ChatsError::Invalid(..) | ChatsError::CostTooHigh(_) => Code::InvalidRequest,
            ChatsError::ModelNameTaken => Code::Conflict,
            ChatsError::ContextTooLong => Code::ContextLengthExceeded,
            ChatsError::TierRequired(_) => Code::TierRequired,
            ChatsError::ModelNotAllowed(_) => Code::ModelNotAllowed,
            ChatsError::NoProvider { .. } => Code::NoProviderAvailable,
            ChatsError::ShuttingDown => Code::ServiceUnavailable,
            ChatsError::Upstream(error) => match error {
                ProviderError::Timeout => Code::UpstreamTimeout,
                ProviderError::BadRequest { .. } => Code::InvalidRequest,
                _ => Code::UpstreamError,
            },
            ChatsError::UnsupportedFile => Code::UnsupportedFileType,
            ChatsError::FileTooLarge(_) => Code::PayloadTooLarge,
            ChatsError::Io(_) | ChatsError::Database(_) => Code::Internal,
            ChatsError::Keys(error) => error.code(),
            ChatsError::Credits(error) => error.code(),
        }
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            ChatsError::Invalid(param, _) | ChatsError::CostTooHigh(param) => Some(param),
            ChatsError::UnknownModel(_)
            | ChatsError::TierRequired(_)
            | ChatsError::ModelNotAllowed(_) => Some("model"),
            ChatsError::ModelNameTaken => Some("name"),
            ChatsError::ContextTooLong => Some("messages"),
            ChatsError::UnsupportedFile => Some("file"),
            ChatsError::Keys(error) => error.param(),
            ChatsError::Credits(error) => error.param(),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ChatsError::NoProvider { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// Upstream messages are the provider's words: pass through only what is safe to show.
pub fn upstream_message(error: &ProviderError) -> String {
    match error {
        ProviderError::BadRequest { message, .. } => {
            format!("the provider refused the request: {message}")
        }
        ProviderError::Timeout => "the provider did not answer in time".into(),
        ProviderError::KeyRejected { .. }
        | ProviderError::RateLimited { .. }
        | ProviderError::Server { .. } => "the provider failed to answer".into(),
        ProviderError::Connect(_) => "the provider could not be reached".into(),
        ProviderError::Malformed(_) => "the provider sent a malformed answer".into(),
        ProviderError::Disconnected(_) => "the provider closed the stream early".into(),
        ProviderError::Unsupported(what) => {
            format!("this model's provider does not support {what}")
        }
    }
}
