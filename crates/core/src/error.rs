//! The one table of error codes. Domain crates implement [`ErrorCode`] on their own `thiserror`
//! enums; the HTTP layer turns any of them into the error body and status with one conversion.

/// Every error code Confab answers with. The string is part of the API contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    // 400
    InvalidJson,
    InvalidBody,
    InvalidQuery,
    InvalidRequest,
    InvalidUsername,
    InvalidPassword,
    PasswordTooCommon,
    InvalidEmail,
    InvalidCode,
    EmailCodeRequired,
    ContextLengthExceeded,
    InvalidImage,
    // 401
    Unauthorized,
    InvalidToken,
    TokenExpired,
    TokenRevoked,
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidApiKey,
    ApiKeyExpired,
    ApiKeyDisabled,
    // 402
    InsufficientCredits,
    CreditLimitReached,
    // 403
    Forbidden,
    AccountDisabled,
    RegistrationClosed,
    TierRequired,
    ModelNotAllowed,
    ApiKeyNotAllowed,
    IpNotAllowed,
    ChatNotAllowed,
    // 404, 405
    NotFound,
    RedemptionCodeNotFound,
    ModelNotFound,
    MethodNotAllowed,
    // 409
    AlreadyInitialized,
    AlreadyCheckedIn,
    UsernameTaken,
    EmailTaken,
    LastAdmin,
    Conflict,
    RedemptionCodeUsed,
    RedemptionCodeExpired,
    RedemptionCodeVoided,
    BalanceLimitExceeded,
    ProductUnavailable,
    ChannelUnavailable,
    PurchaseLimitReached,
    OrderNotRefundable,
    OrderNotPending,
    RefundExceedsPaid,
    // 413, 415
    PayloadTooLarge,
    UnsupportedMediaType,
    UnsupportedFileType,
    // 429
    RateLimited,
    DailyLimitReached,
    // 5xx
    Internal,
    EmailDeliveryFailed,
    ServiceUnavailable,
    NoProviderAvailable,
    UpstreamError,
    UpstreamTimeout,
    PaymentGatewayError,
}

impl Code {
    /// Every code, in declaration order (the OpenAPI document lists them as an enum).
    pub const ALL: [Code; 63] = [
        Code::InvalidJson,
        Code::InvalidBody,
        Code::InvalidQuery,
        Code::InvalidRequest,
        Code::InvalidUsername,
        Code::InvalidPassword,
        Code::PasswordTooCommon,
        Code::InvalidEmail,
        Code::InvalidCode,
        Code::EmailCodeRequired,
        Code::ContextLengthExceeded,
        Code::InvalidImage,
        Code::Unauthorized,
        Code::InvalidToken,
        Code::TokenExpired,
        Code::TokenRevoked,
        Code::InvalidCredentials,
        Code::InvalidRefreshToken,
        Code::InvalidApiKey,
        Code::ApiKeyExpired,
        Code::ApiKeyDisabled,
        Code::InsufficientCredits,
        Code::CreditLimitReached,
        Code::Forbidden,
        Code::AccountDisabled,
        Code::RegistrationClosed,
        Code::TierRequired,
        Code::ModelNotAllowed,
        Code::ApiKeyNotAllowed,
        Code::IpNotAllowed,
        Code::ChatNotAllowed,
        Code::NotFound,
        Code::RedemptionCodeNotFound,
        Code::ModelNotFound,
        Code::MethodNotAllowed,
        Code::AlreadyInitialized,
        Code::AlreadyCheckedIn,
        Code::UsernameTaken,
        Code::EmailTaken,
        Code::LastAdmin,
        Code::Conflict,
        Code::RedemptionCodeUsed,
        Code::RedemptionCodeExpired,
        Code::RedemptionCodeVoided,
        Code::BalanceLimitExceeded,
        Code::ProductUnavailable,
        Code::ChannelUnavailable,
        Code::PurchaseLimitReached,
        Code::OrderNotRefundable,
        Code::OrderNotPending,
        Code::RefundExceedsPaid,
        Code::PayloadTooLarge,
        Code::UnsupportedMediaType,
        Code::UnsupportedFileType,
        Code::RateLimited,
        Code::DailyLimitReached,
        Code::Internal,
        Code::EmailDeliveryFailed,
        Code::ServiceUnavailable,
        Code::NoProviderAvailable,
        Code::UpstreamError,
        Code::UpstreamTimeout,
        Code::PaymentGatewayError,
    ];

    /// The machine-readable code string clients switch on.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::ProductUnavailable => "product_unavailable",
            Code::ChannelUnavailable => "channel_unavailable",
            Code::PurchaseLimitReached => "purchase_limit_reached",
            Code::OrderNotRefundable => "order_not_refundable",
            Code::OrderNotPending => "order_not_pending",
            Code::RefundExceedsPaid => "refund_exceeds_paid",
            Code::PaymentGatewayError => "payment_gateway_error",
            Code::InvalidJson => "invalid_json",
            Code::InvalidBody => "invalid_body",
            Code::InvalidQuery => "invalid_query",
            Code::InvalidRequest => "invalid_request",
            Code::InvalidUsername => "invalid_username",
            Code::InvalidPassword => "invalid_password",
            Code::PasswordTooCommon => "password_too_common",
            Code::InvalidEmail => "invalid_email",
            Code::InvalidCode => "invalid_code",
            Code::EmailCodeRequired => "email_code_required",
            Code::ContextLengthExceeded => "context_length_exceeded",
            Code::InvalidImage => "invalid_image",
            Code::Unauthorized => "unauthorized",
            Code::InvalidToken => "invalid_token",
            Code::TokenExpired => "token_expired",
            Code::TokenRevoked => "token_revoked",
            Code::InvalidCredentials => "invalid_credentials",
            Code::InvalidRefreshToken => "invalid_refresh_token",
            Code::InvalidApiKey => "invalid_api_key",
            Code::ApiKeyExpired => "api_key_expired",
            Code::ApiKeyDisabled => "api_key_disabled",
            Code::InsufficientCredits => "insufficient_credits",
            Code::CreditLimitReached => "credit_limit_reached",
            Code::Forbidden => "forbidden",
            Code::AccountDisabled => "account_disabled",
            Code::RegistrationClosed => "registration_closed",
            Code::TierRequired => "tier_required",
            Code::ModelNotAllowed => "model_not_allowed",
            Code::ApiKeyNotAllowed => "api_key_not_allowed",
            Code::IpNotAllowed => "ip_not_allowed",
            Code::ChatNotAllowed => "chat_not_allowed",
            Code::NotFound => "not_found",
            Code::RedemptionCodeNotFound => "redemption_code_not_found",
            Code::ModelNotFound => "model_not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::AlreadyInitialized => "already_initialized",
            Code::AlreadyCheckedIn => "already_checked_in",
            Code::UsernameTaken => "username_taken",
            Code::EmailTaken => "email_taken",
            Code::LastAdmin => "last_admin",
            Code::Conflict => "conflict",
            Code::RedemptionCodeUsed => "redemption_code_used",
            Code::RedemptionCodeExpired => "redemption_code_expired",
            Code::RedemptionCodeVoided => "redemption_code_voided",
            Code::BalanceLimitExceeded => "balance_limit_exceeded",
            Code::PayloadTooLarge => "payload_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::UnsupportedFileType => "unsupported_file_type",
            Code::RateLimited => "rate_limited",
            Code::DailyLimitReached => "daily_limit_reached",
            Code::Internal => "internal_error",
            Code::EmailDeliveryFailed => "email_delivery_failed",
            Code::ServiceUnavailable => "service_unavailable",
            Code::NoProviderAvailable => "no_provider_available",
            Code::UpstreamError => "upstream_error",
            Code::UpstreamTimeout => "upstream_timeout",
        }
    }

    /// The HTTP status this code is answered with.
    pub fn status(self) -> u16 {
        match self {
            Code::InvalidJson
            | Code::InvalidBody
            | Code::InvalidQuery
            | Code::InvalidRequest
            | Code::InvalidUsername
            | Code::InvalidPassword
            | Code::PasswordTooCommon
            | Code::InvalidEmail
            | Code::InvalidCode
            | Code::EmailCodeRequired
            | Code::ContextLengthExceeded
            | Code::InvalidImage => 400,
            Code::Unauthorized
            | Code::InvalidToken
            | Code::TokenExpired
            | Code::TokenRevoked
            | Code::InvalidCredentials
            | Code::InvalidRefreshToken
            | Code::InvalidApiKey
            | Code::ApiKeyExpired
            | Code::ApiKeyDisabled => 401,
            Code::InsufficientCredits | Code::CreditLimitReached => 402,
            Code::Forbidden
            | Code::AccountDisabled
            | Code::RegistrationClosed
            | Code::TierRequired
            | Code::ModelNotAllowed
            | Code::ApiKeyNotAllowed
            | Code::IpNotAllowed
            | Code::ChatNotAllowed => 403,
            Code::NotFound | Code::ModelNotFound | Code::RedemptionCodeNotFound => 404,
            Code::MethodNotAllowed => 405,
            Code::AlreadyInitialized
            | Code::AlreadyCheckedIn
            | Code::UsernameTaken
            | Code::EmailTaken
            | Code::LastAdmin
            | Code::Conflict
            | Code::RedemptionCodeUsed
            | Code::RedemptionCodeExpired
            | Code::RedemptionCodeVoided
            | Code::BalanceLimitExceeded
            | Code::ProductUnavailable
            | Code::ChannelUnavailable
            | Code::PurchaseLimitReached
            | Code::OrderNotRefundable
            | Code::OrderNotPending
            | Code::RefundExceedsPaid => 409,
            Code::PayloadTooLarge => 413,
            Code::UnsupportedMediaType | Code::UnsupportedFileType => 415,
            Code::RateLimited | Code::DailyLimitReached => 429,
            Code::Internal => 500,
            Code::EmailDeliveryFailed | Code::UpstreamError | Code::PaymentGatewayError => 502,
            Code::ServiceUnavailable | Code::NoProviderAvailable => 503,
            Code::UpstreamTimeout => 504,
        }
    }

    /// The OpenAI-style error `type`, so OpenAI SDKs classify Confab's errors correctly.
    pub fn error_type(self) -> &'static str {
        match self.status() {
            401 => "authentication_error",
            402 => "insufficient_quota",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            500..=599 => "server_error",
            _ => "invalid_request_error",
        }
    }
}

/// Implemented by every domain error enum: which code it is, which field it is about, and for
/// rate limits how long to wait.
pub trait ErrorCode: std::error::Error {
    fn code(&self) -> Code;

    /// The request field the error is about, if any.
    fn param(&self) -> Option<&'static str> {
        None
    }

    /// Seconds a client should wait before trying again (429).
    fn retry_after(&self) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_status() {
        assert_eq!(Code::TokenExpired.error_type(), "authentication_error");
        assert_eq!(Code::RateLimited.error_type(), "rate_limit_error");
        assert_eq!(Code::InvalidJson.error_type(), "invalid_request_error");
        assert_eq!(Code::Internal.error_type(), "server_error");
        assert_eq!(Code::Forbidden.error_type(), "permission_error");
        assert_eq!(Code::InsufficientCredits.status(), 402);
        assert_eq!(Code::InsufficientCredits.error_type(), "insufficient_quota");
    }
}

#[cfg(test)]
mod all_codes {
    use super::Code;

    /// Fails to compile when a code is added without a place here, and fails when `ALL`
    /// misses one.
    fn position(code: Code) -> usize {
        match code {
            Code::InvalidJson => 0,
            Code::InvalidBody => 1,
            Code::InvalidQuery => 2,
            Code::InvalidRequest => 3,
            Code::InvalidUsername => 4,
            Code::InvalidPassword => 5,
            Code::PasswordTooCommon => 6,
            Code::InvalidEmail => 7,
            Code::InvalidCode => 8,
            Code::EmailCodeRequired => 9,
            Code::ContextLengthExceeded => 10,
            Code::InvalidImage => 11,
            Code::Unauthorized => 12,
            Code::InvalidToken => 13,
            Code::TokenExpired => 14,
            Code::TokenRevoked => 15,
            Code::InvalidCredentials => 16,
            Code::InvalidRefreshToken => 17,
            Code::InvalidApiKey => 18,
            Code::ApiKeyExpired => 19,
            Code::ApiKeyDisabled => 20,
            Code::InsufficientCredits => 21,
            Code::CreditLimitReached => 22,
            Code::Forbidden => 23,
            Code::AccountDisabled => 24,
            Code::RegistrationClosed => 25,
            Code::TierRequired => 26,
            Code::ModelNotAllowed => 27,
            Code::ApiKeyNotAllowed => 28,
            Code::IpNotAllowed => 29,
            Code::ChatNotAllowed => 30,
            Code::NotFound => 31,
            Code::RedemptionCodeNotFound => 32,
            Code::ModelNotFound => 33,
            Code::MethodNotAllowed => 34,
            Code::AlreadyInitialized => 35,
            Code::AlreadyCheckedIn => 36,
            Code::UsernameTaken => 37,
            Code::EmailTaken => 38,
            Code::LastAdmin => 39,
            Code::Conflict => 40,
            Code::RedemptionCodeUsed => 41,
            Code::RedemptionCodeExpired => 42,
            Code::RedemptionCodeVoided => 43,
            Code::BalanceLimitExceeded => 44,
            Code::ProductUnavailable => 45,
            Code::ChannelUnavailable => 46,
            Code::PurchaseLimitReached => 47,
            Code::OrderNotRefundable => 48,
            Code::OrderNotPending => 49,
            Code::RefundExceedsPaid => 50,
            Code::PayloadTooLarge => 51,
            Code::UnsupportedMediaType => 52,
            Code::UnsupportedFileType => 53,
            Code::RateLimited => 54,
            Code::DailyLimitReached => 55,
            Code::Internal => 56,
            Code::EmailDeliveryFailed => 57,
            Code::ServiceUnavailable => 58,
            Code::NoProviderAvailable => 59,
            Code::UpstreamError => 60,
            Code::UpstreamTimeout => 61,
            Code::PaymentGatewayError => 62,
        }
    }

    #[test]
    fn all_lists_every_code_once() {
        for (index, code) in Code::ALL.iter().enumerate() {
            assert_eq!(position(*code), index, "{code:?}");
        }
        let mut names: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Code::ALL.len());
    }
}
