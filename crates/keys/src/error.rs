use confab_core::{Code, CryptoError, ErrorCode};
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("provider key not found")]
    NotFound,
    #[error("{1}")]
    InvalidField(&'static str, &'static str),
    #[error("a provider key with this name already exists")]
    NameTaken,
    #[error("keys declared in the config file are changed there")]
    ConfigManaged,
    #[error("secret storage failed")]
    Crypto(#[from] CryptoError),
    #[error("database error")]
    Database(#[from] DbErr),
}

impl ErrorCode for KeysError {
    fn code(&self) -> Code {
        match self {
            KeysError::NotFound => Code::NotFound,
            KeysError::InvalidField(..) => Code::InvalidRequest,
            KeysError::NameTaken => Code::Conflict,
            KeysError::ConfigManaged => Code::Conflict,
            KeysError::Crypto(_) | KeysError::Database(_) => Code::Internal,
        }
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            KeysError::InvalidField(param, _) => Some(param),
            KeysError::NameTaken => Some("name"),
            _ => None,
        }
    }
}
