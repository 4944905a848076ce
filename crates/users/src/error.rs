use confab_core::{Code, ErrorCode};
use sea_orm::DbErr;

/// Everything an account operation can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("username must be 3 to 32 letters, digits, '_', '.' or '-'")]
    InvalidUsername,
    #[error("password must be 8 to 128 characters")]
    InvalidPassword,
    #[error("this password is too common; choose another")]
    PasswordTooCommon,
    #[error("email address is not valid")]
    InvalidEmail,
    #[error("password must not be only spaces or other blank characters")]
    BlankPassword,
    #[error("{1}")]
    InvalidField(&'static str, &'static str),
    #[error("the verification code is wrong, expired or already used")]
    InvalidCode,
    #[error("email verification is required: send the email and its code")]
    EmailCodeRequired(&'static str),
    #[error("username is already taken")]
    UsernameTaken,
    #[error("email is already registered")]
    EmailTaken,
    #[error("Confab is already set up")]
    AlreadyInitialized,
    #[error("registration is closed")]
    RegistrationClosed,
    #[error("wrong username, email or password")]
    InvalidCredentials,
    #[error("this account is disabled")]
    AccountDisabled,
    #[error("access token is missing")]
    MissingToken,
    #[error("access token is invalid")]
    InvalidToken,
    #[error("access token has expired")]
    TokenExpired,
    #[error("this session has ended; log in again")]
    TokenRevoked,
    #[error("refresh token is invalid, expired or already used")]
    InvalidRefreshToken,
    #[error("user not found")]
    NotFound,
    #[error("this would leave no active admin")]
    LastAdmin,
    #[error("too many attempts; try again in {0} seconds")]
    RateLimited(u64),
    #[error("attempts cannot be counted right now; try again shortly")]
    LimiterUnavailable,
    #[error("the email could not be sent")]
    EmailDelivery,
    #[error("database error")]
    Database(#[from] DbErr),
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a client is told to wait when the shared attempt counter (Redis) cannot be reached.
const LIMITER_RETRY_SECS: u64 = 5;

impl From<crate::limiter::Refusal> for UsersError {
    fn from(refusal: crate::limiter::Refusal) -> Self {
        match refusal {
            crate::limiter::Refusal::Full { retry_after_secs } => {
                UsersError::RateLimited(retry_after_secs)
            }
            crate::limiter::Refusal::Unavailable => UsersError::LimiterUnavailable,
        }
    }
}

impl ErrorCode for UsersError {
    fn code(&self) -> Code {
        match self {
            UsersError::InvalidUsername => Code::InvalidUsername,
            UsersError::InvalidPassword => Code::InvalidPassword,
            UsersError::PasswordTooCommon => Code::PasswordTooCommon,
            UsersError::InvalidEmail => Code::InvalidEmail,
            UsersError::InvalidField(..) | UsersError::BlankPassword => Code::InvalidRequest,
            UsersError::InvalidCode => Code::InvalidCode,
            UsersError::EmailCodeRequired(_) => Code::EmailCodeRequired,
            UsersError::UsernameTaken => Code::UsernameTaken,
            UsersError::EmailTaken => Code::EmailTaken,
            UsersError::AlreadyInitialized => Code::AlreadyInitialized,
            UsersError::RegistrationClosed => Code::RegistrationClosed,
            UsersError::InvalidCredentials => Code::InvalidCredentials,
            UsersError::AccountDisabled => Code::AccountDisabled,
            UsersError::MissingToken => Code::Unauthorized,
            UsersError::InvalidToken => Code::InvalidToken,
            UsersError::TokenExpired => Code::TokenExpired,
            UsersError::TokenRevoked => Code::TokenRevoked,
            UsersError::InvalidRefreshToken => Code::InvalidRefreshToken,
            UsersError::NotFound => Code::NotFound,
            UsersError::LastAdmin => Code::LastAdmin,
            UsersError::RateLimited(_) => Code::RateLimited,
            UsersError::LimiterUnavailable => Code::ServiceUnavailable,
            UsersError::EmailDelivery => Code::EmailDeliveryFailed,
            UsersError::Database(_) | UsersError::Internal(_) => Code::Internal,
        }
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            UsersError::InvalidUsername | UsersError::UsernameTaken => Some("username"),
            UsersError::InvalidPassword
            | UsersError::PasswordTooCommon
            | UsersError::BlankPassword => Some("password"),
            UsersError::InvalidEmail | UsersError::EmailTaken => Some("email"),
            UsersError::InvalidCode => Some("code"),
            UsersError::InvalidField(field, _) | UsersError::EmailCodeRequired(field) => {
                Some(field)
            }
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            UsersError::RateLimited(seconds) => Some(*seconds),
            UsersError::LimiterUnavailable => Some(LIMITER_RETRY_SECS),
            _ => None,
        }
    }
}

impl UsersError {
    /// Maps a unique-constraint violation on insert/update to the taken-name error it means.
    pub(crate) fn from_unique(err: DbErr, fallback: UsersError) -> UsersError {
        match err.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(detail)) => {
                if detail.contains("email") {
                    UsersError::EmailTaken
                } else if detail.contains("username") {
                    UsersError::UsernameTaken
                } else {
                    fallback
                }
            }
            _ => UsersError::Database(err),
        }
    }
}
