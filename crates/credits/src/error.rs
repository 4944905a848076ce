use confab_core::{Code, ErrorCode};
use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum CreditsError {
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error("not enough credits")]
    InsufficientCredits,
    #[error(
        "this would take the balance above {max} credits, the most an account can hold",
        max = confab_core::MAX_CREDITS
    )]
    BalanceLimitExceeded,
    #[error("this API key has reached its credit limit")]
    CreditLimitReached,
    #[error("this idempotency key was already used for a different change")]
    IdempotencyConflict,
    #[error("user not found")]
    UserNotFound,
    #[error("already checked in today")]
    AlreadyCheckedIn,
    #[error("no such card code")]
    CodeNotFound,
    #[error("this card code has already been used")]
    CodeUsed,
    #[error("this card code has been voided")]
    CodeVoided,
    #[error("this card code has expired")]
    CodeExpired,
    #[error("your {0} tier is still running; redeem this code after it ends")]
    HigherTierActive(&'static str),
    #[error("database error")]
    Database(#[from] DbErr),
}

impl ErrorCode for CreditsError {
    fn code(&self) -> Code {
        match self {
            CreditsError::Invalid(..) => Code::InvalidRequest,
            CreditsError::InsufficientCredits => Code::InsufficientCredits,
            CreditsError::CreditLimitReached => Code::CreditLimitReached,
            CreditsError::BalanceLimitExceeded => Code::BalanceLimitExceeded,
            CreditsError::IdempotencyConflict => Code::Conflict,
            CreditsError::UserNotFound => Code::NotFound,
            CreditsError::AlreadyCheckedIn => Code::AlreadyCheckedIn,
            CreditsError::CodeNotFound => Code::RedemptionCodeNotFound,
            CreditsError::CodeUsed => Code::RedemptionCodeUsed,
            CreditsError::CodeVoided => Code::RedemptionCodeVoided,
            CreditsError::CodeExpired => Code::RedemptionCodeExpired,
            CreditsError::HigherTierActive(_) => Code::Conflict,
            CreditsError::Database(_) => Code::Internal,
        }
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            CreditsError::Invalid(param, _) => Some(param),
            CreditsError::IdempotencyConflict => Some("idempotency_key"),
            CreditsError::BalanceLimitExceeded => Some("amount"),
            CreditsError::CodeNotFound
            | CreditsError::CodeUsed
            | CreditsError::CodeVoided
            | CreditsError::CodeExpired
            | CreditsError::HigherTierActive(_) => Some("code"),
            _ => None,
        }
    }
}
