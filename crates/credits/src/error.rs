use confab_core::{Code, ErrorCode};
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum CreditsError {
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error("not enough credits")]
    InsufficientCredits,
    #[error("this API key has reached its credit limit")]
    CreditLimitReached,
    #[error("this idempotency key was already used for a different change")]
    IdempotencyConflict,
    #[error("user not found")]
    UserNotFound,
    #[error("already checked in today")]
    AlreadyCheckedIn,
    #[error("database error")]
    Database(#[from] DbErr),
}

impl ErrorCode for CreditsError {
    fn code(&self) -> Code {
        match self {
            CreditsError::Invalid(..) => Code::InvalidRequest,
            CreditsError::InsufficientCredits => Code::InsufficientCredits,
            CreditsError::CreditLimitReached => Code::CreditLimitReached,
            CreditsError::IdempotencyConflict => Code::Conflict,
            CreditsError::UserNotFound => Code::NotFound,
            CreditsError::AlreadyCheckedIn => Code::AlreadyCheckedIn,
            CreditsError::Database(_) => Code::Internal,
        }
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            CreditsError::Invalid(param, _) => Some(param),
            CreditsError::IdempotencyConflict => Some("idempotency_key"),
            _ => None,
        }
    }
}
