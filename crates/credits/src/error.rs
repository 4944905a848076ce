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
    /// Too many failed redemptions in the window: wait this many seconds.
    #[error("too many failed redemptions; try again later")]
    TooManyFailures(u64),
    /// Failed redemptions cannot be counted (the shared limiter does not answer).
    #[error("redemptions cannot be counted right now; try again shortly")]
    LimiterUnavailable,
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
            CreditsError::TooManyFailures(_) => Code::RateLimited,
            CreditsError::LimiterUnavailable => Code::ServiceUnavailable,
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

    fn retry_after(&self) -> Option<u64> {
        match self {
            CreditsError::TooManyFailures(secs) => Some(*secs),
            CreditsError::LimiterUnavailable => Some(5),
            _ => None,
        }
    }
}

impl CreditsError {
    /// A code that does not work: what guessing produces, and what the redemption limits count.
    pub fn is_failed_guess(&self) -> bool {
        matches!(
            self,
            CreditsError::CodeNotFound
                | CreditsError::CodeUsed
                | CreditsError::CodeVoided
                | CreditsError::CodeExpired
        )
    }
}
