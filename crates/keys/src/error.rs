use confab_core::{Code, CryptoError, ErrorCode};
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("provider key not found")]
    NotFound,
    #[error("API key not found")]
    ApiKeyNotFound,
    #[error("{1}")]
    InvalidField(&'static str, &'static str),
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error("a provider key with this name already exists")]
    NameTaken,
    #[error("keys declared in the config file are changed there")]
    ConfigManaged,
    #[error("an account may have at most {0} API keys")]
    TooManyKeys(u64),
    #[error("the API key is not valid")]
    InvalidApiKey,
    #[error("the API key has expired")]
    ApiKeyExpired,
    #[error("the API key is disabled")]
    ApiKeyDisabled,
    #[error("the account is disabled")]
    AccountDisabled,
    #[error("this API key may not be used from {0}")]
    IpNotAllowed(String),
    #[error("this API key has made its {limit} requests for today")]
    DailyLimitReached { limit: i64, retry_after: u64 },
    #[error("secret storage failed")]
    Crypto(#[from] CryptoError),
    #[error("database error")]
    Database(#[from] DbErr),
}

impl ErrorCode for KeysError {
    fn code(&self) -> Code {
        match self {
            KeysError::NotFound | KeysError::ApiKeyNotFound => Code::NotFound,
            KeysError::InvalidField(..) | KeysError::Invalid(..) => Code::InvalidRequest,
            KeysError::NameTaken | KeysError::ConfigManaged | KeysError::TooManyKeys(_) => {
                Code::Conflict
            }
            KeysError::InvalidApiKey => Code::InvalidApiKey,
            KeysError::ApiKeyExpired => Code::ApiKeyExpired,
            KeysError::ApiKeyDisabled => Code::ApiKeyDisabled,
            KeysError::AccountDisabled => Code::AccountDisabled,
            KeysError::IpNotAllowed(_) => Code::IpNotAllowed,
            KeysError::DailyLimitReached { .. } => Code::DailyLimitReached,
            KeysError::Crypto(_) | KeysError::Database(_) => Code::Internal,
        }
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            KeysError::InvalidField(param, _) | KeysError::Invalid(param, _) => Some(param),
            KeysError::NameTaken => Some("name"),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            KeysError::DailyLimitReached { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}
