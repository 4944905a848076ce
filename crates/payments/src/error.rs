use confab_core::{Code, CryptoError, ErrorCode};
use confab_credits::CreditsError;
use sea_orm::DbErr;

use crate::gateways::GatewayError;

/// Everything a payment operation can refuse or fail with; the server maps each to a status
/// and error code in one place.
#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    #[error("product not found")]
    ProductNotFound,
    #[error("payment channel not found")]
    ChannelNotFound,
    #[error("order not found")]
    OrderNotFound,
    #[error("{1}")]
    InvalidField(&'static str, &'static str),
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error("this product is not on sale")]
    ProductUnavailable,
    #[error("{0}")]
    ChannelUnavailable(String),
    /// Gateways need a notify URL, and Confab builds it only from `server.public_url`.
    #[error(
        "payments need server.public_url (the address gateways call back at, e.g. https://chat.example.com); set it and restart"
    )]
    NoPublicUrl,
    #[error("this product may be bought at most {0} times per account")]
    PurchaseLimitReached(i32),
    #[error("a higher tier ({0}) is active; these days cannot be bought now")]
    HigherTierActive(&'static str),
    #[error("{0}")]
    NotRefundable(&'static str),
    #[error("only a pending order can be closed")]
    NotPending,
    #[error("at most {0} cents of this order can still be refunded")]
    RefundExceedsPaid(i64),
    /// The gateway was down, timed out, or refused the call; nothing was left half made.
    #[error("the payment gateway failed: {0}")]
    Gateway(GatewayError),
    #[error(transparent)]
    Credits(#[from] CreditsError),
    /// Stored data that cannot be read back: a server fault, never the caller's.
    #[error("{0} cannot be read")]
    Corrupt(&'static str),
    #[error("secret storage failed")]
    Crypto(#[from] CryptoError),
    #[error("database error")]
    Database(#[from] DbErr),
}

impl From<GatewayError> for PaymentsError {
    fn from(error: GatewayError) -> Self {
        PaymentsError::Gateway(error)
    }
}

impl ErrorCode for PaymentsError {
    fn code(&self) -> Code {
        match self {
            PaymentsError::ProductNotFound
            | PaymentsError::ChannelNotFound
            | PaymentsError::OrderNotFound => Code::NotFound,
            PaymentsError::InvalidField(..) | PaymentsError::Invalid(..) => Code::InvalidRequest,
            PaymentsError::ProductUnavailable => Code::ProductUnavailable,
            PaymentsError::ChannelUnavailable(_) | PaymentsError::NoPublicUrl => {
                Code::ChannelUnavailable
            }
            PaymentsError::PurchaseLimitReached(_) => Code::PurchaseLimitReached,
            PaymentsError::HigherTierActive(_) => Code::Conflict,
            PaymentsError::NotRefundable(_) => Code::OrderNotRefundable,
            PaymentsError::NotPending => Code::OrderNotPending,
            PaymentsError::RefundExceedsPaid(_) => Code::RefundExceedsPaid,
            PaymentsError::Gateway(_) => Code::PaymentGatewayError,
            PaymentsError::Credits(error) => error.code(),
            PaymentsError::Corrupt(_) | PaymentsError::Crypto(_) | PaymentsError::Database(_) => {
                Code::Internal
            }
        }
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            PaymentsError::InvalidField(param, _) | PaymentsError::Invalid(param, _) => Some(param),
            PaymentsError::ProductUnavailable
            | PaymentsError::PurchaseLimitReached(_)
            | PaymentsError::HigherTierActive(_) => Some("product_id"),
            PaymentsError::ChannelUnavailable(_) => Some("channel_id"),
            PaymentsError::RefundExceedsPaid(_) => Some("amount_cents"),
            PaymentsError::Credits(error) => error.param(),
            _ => None,
        }
    }
}
