//! Payment gateways behind one object-safe trait, [`Gateway`]: Alipay face-to-face (QR code),
//! Epay (the 易支付 family), WeChat Pay Native (API v3) and Stripe Checkout.
//!
//! A channel is configured with public `settings` and `secrets` (both JSON objects whose shape
//! depends on the [`ChannelKind`]); [`validate`] checks them when an admin saves a channel and
//! [`build`] turns them into a `Box<dyn Gateway>`. Every HTTP call runs under the timeout given to
//! [`build`]; connect errors, timeouts and 5xx answers become [`GatewayError::Unreachable`].

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod alipay;
pub(crate) mod crypto;
pub mod epay;
pub(crate) mod http;
pub mod stripe;
pub mod wechat;

pub use alipay::{AlipayF2f, AlipaySecrets, AlipaySettings};
pub use epay::{Epay, EpaySecrets, EpaySettings};
pub use stripe::{Stripe, StripeSecrets, StripeSettings};
pub use wechat::{WechatNative, WechatSecrets, WechatSettings};

/// A payment gateway: starts payments, verifies their notifies, and queries, closes and refunds
/// orders. Implementations hold their configuration and an HTTP client; they are cheap to share.
#[async_trait]
pub trait Gateway: Send + Sync {
    /// Starts a payment: what the client shows.
    async fn create(&self, order: &PayRequest) -> Result<PayAction, GatewayError>;
    /// Checks a notify's signature, app/merchant id, decrypts if needed; returns what it says.
    fn verify_notify(
        &self,
        notify: &Notify,
        now: DateTime<Utc>,
    ) -> Result<NotifyEvent, GatewayError>;
    /// The exact answer the gateway expects after a notify was handled (sent only after commit)
    /// / refused.
    fn notify_reply(&self, accepted: bool) -> NotifyReply;
    /// Asks the gateway where an order stands.
    async fn query(&self, order: &OrderRef) -> Result<GatewayState, GatewayError>;
    /// Closes an unpaid order at the gateway where it supports that (Ok(()) where it does not
    /// need to).
    async fn close(&self, order: &OrderRef) -> Result<(), GatewayError>;
    /// Refunds (part of) a paid order. `refund_no` makes retries idempotent where the gateway
    /// supports that.
    async fn refund(&self, refund: &RefundRequest) -> Result<RefundDone, GatewayError>;
    /// Whether a successful `close` means the order can no longer be paid there.
    fn closes_orders(&self) -> bool {
        true
    }
    /// Whether a refund asked again under the same `refund_no` is refunded only once.
    fn refunds_once_per_number(&self) -> bool {
        true
    }
}

/// An order to start a payment for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRequest {
    /// Our order number, unique per channel; the gateway echoes it in notifies.
    pub out_trade_no: String,
    /// What the payer sees as the product name.
    pub subject: String,
    /// Amount in cents (minor units of `currency`, hundredths).
    pub amount_cents: i64,
    /// Upper-case ISO 4217 code, e.g. "CNY".
    pub currency: String,
    /// Payment method within the channel: "alipay", "wxpay", "qqpay" (Epay), "native"
    /// (WeChat), "card" (Stripe); gateways with one method ignore it.
    pub pay_type: String,
    /// Where the gateway sends its asynchronous notify.
    pub notify_url: String,
    /// Where the payer's browser returns after paying, where the gateway supports it.
    pub return_url: Option<String>,
    /// The payer's IP address, where the gateway wants it.
    pub client_ip: Option<String>,
    /// When the order stops accepting payment.
    pub expires_at: DateTime<Utc>,
}

/// What the client shows to let the payer pay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PayAction {
    /// Content to render as a QR code (Alipay, WeChat, some Epay types).
    pub qr_code: Option<String>,
    /// A page (or app scheme) to send the payer to (Stripe Checkout, most Epay types).
    pub pay_url: Option<String>,
    /// The gateway's handle for the payment, where later calls need it (Stripe session id, Epay
    /// trade number).
    pub gateway_ref: Option<String>,
}

/// A notify as it reached Confab's notify route, untouched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notify {
    /// HTTP method, upper case ("GET", "POST").
    pub method: String,
    /// The raw query string, without the '?'.
    pub query: String,
    /// Request headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Notify {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Form parameters, URL-decoded: from a non-JSON POST body when there is one, else from the
    /// query string.
    pub fn params(&self) -> Vec<(String, String)> {
        let json = self
            .header("content-type")
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
        let source: &[u8] =
            if self.method.eq_ignore_ascii_case("POST") && !self.body.is_empty() && !json {
                &self.body
            } else {
                self.query.as_bytes()
            };
        form_urlencoded::parse(source).into_owned().collect()
    }
}

/// What a verified notify says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyEvent {
    /// Our order number. Empty for a Stripe event that is not about a Checkout Session.
    pub out_trade_no: String,
    /// The gateway's trade number (Stripe: the payment intent, else the session id).
    pub trade_no: String,
    /// The amount the gateway says was paid, in cents.
    pub amount_cents: i64,
    /// Upper-case ISO 4217 code.
    pub currency: String,
    /// Whether this notify reports a completed payment.
    pub paid: bool,
    /// The gateway's raw status (trade_status, trade_state, event type), for the record.
    pub status: String,
}

/// The HTTP answer to send back for a notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyReply {
    /// HTTP status code.
    pub status: u16,
    /// Content-Type header value.
    pub content_type: &'static str,
    /// Body, exactly as the gateway expects it.
    pub body: String,
}

/// An order the gateway already knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRef {
    /// Our order number.
    pub out_trade_no: String,
    /// [`PayAction::gateway_ref`] from `create` (required by Stripe).
    pub gateway_ref: Option<String>,
    /// The gateway's trade number once known (from a notify or a query).
    pub trade_no: Option<String>,
    /// The order amount in cents.
    pub amount_cents: i64,
    /// Upper-case ISO 4217 code.
    pub currency: String,
}

/// Where an order stands at the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayState {
    /// Paid (possibly refunded since).
    Paid {
        /// The gateway's trade number.
        trade_no: String,
        /// The amount paid, in cents.
        amount_cents: i64,
        /// Upper-case ISO 4217 code.
        currency: String,
    },
    /// Not paid yet (or unknown to a gateway that only learns of orders when they are scanned).
    Pending,
    /// Closed or expired without payment.
    Closed,
}

/// A refund to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// Our order number.
    pub out_trade_no: String,
    /// The gateway's trade number, when known.
    pub trade_no: Option<String>,
    /// Our refund id; the idempotency key at gateways that take one.
    pub refund_no: String,
    /// Amount to refund, in cents.
    pub amount_cents: i64,
    /// The order's total, in cents (WeChat wants both).
    pub total_cents: i64,
    /// Upper-case ISO 4217 code.
    pub currency: String,
    /// Why, as shown to the payer where the gateway passes it on.
    pub reason: String,
    /// [`PayAction::gateway_ref`] from `create`.
    pub gateway_ref: Option<String>,
}

/// A refund the gateway accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundDone {
    /// The gateway's id for the refund (or our refund_no where the gateway has none).
    pub gateway_refund_id: String,
}

/// Why a gateway call or a notify failed. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// A signature (of a notify or of a gateway answer) did not verify, or ciphertext failed its
    /// authentication tag.
    #[error("bad signature")]
    BadSignature,
    /// The notify or answer is for another app id / merchant id / pid.
    #[error("notify is for another merchant")]
    WrongMerchant,
    /// The signed timestamp is too far from now.
    #[error("timestamp too far from now")]
    Stale,
    /// The notify or answer is not in the gateway's format.
    #[error("malformed gateway message: {0}")]
    Malformed(String),
    /// The gateway could not be reached, timed out or answered a server error (HTTP 502).
    #[error("payment gateway unreachable: {0}")]
    Unreachable(String),
    /// The gateway answered with a business error.
    #[error("payment gateway refused: {code}: {message}")]
    Refused {
        /// The gateway's error code.
        code: String,
        /// The gateway's error message.
        message: String,
    },
    /// The channel's settings or secrets are unusable (names the field, never its value).
    #[error("payment channel configuration: {0}")]
    Config(String),
}

impl GatewayError {
    pub(crate) fn malformed(what: impl Into<String>) -> GatewayError {
        GatewayError::Malformed(what.into())
    }

    pub(crate) fn refused(code: impl Into<String>, message: impl Into<String>) -> GatewayError {
        GatewayError::Refused {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The kinds of payment channel, as stored with each channel.
pub use confab_store::entity::payment_channel::ChannelKind;

/// Builds the gateway of a channel from its settings and secrets. Every HTTP call it makes uses
/// `http` and gives up after `timeout` (send and body together).
pub fn build(
    kind: ChannelKind,
    settings: &Value,
    secrets: &Value,
    http: reqwest::Client,
    timeout: Duration,
) -> Result<Box<dyn Gateway>, GatewayError> {
    let http = http::Http::new(http, timeout);
    Ok(match kind {
        ChannelKind::AlipayF2f => Box::new(AlipayF2f::new(
            alipay::Config::parse(settings, secrets)?,
            http,
        )),
        ChannelKind::Epay => Box::new(Epay::new(epay::Config::parse(settings, secrets)?, http)),
        ChannelKind::WechatNative => Box::new(WechatNative::new(
            wechat::Config::parse(settings, secrets)?,
            http,
        )),
        ChannelKind::Stripe => {
            Box::new(Stripe::new(stripe::Config::parse(settings, secrets)?, http))
        }
    })
}

/// Checks a channel's settings and secrets (fields, URLs, that keys load) without building it,
/// so an admin learns about a mistake when saving.
pub fn validate(kind: ChannelKind, settings: &Value, secrets: &Value) -> Result<(), GatewayError> {
    match kind {
        ChannelKind::AlipayF2f => alipay::Config::parse(settings, secrets).map(drop),
        ChannelKind::Epay => epay::Config::parse(settings, secrets).map(drop),
        ChannelKind::WechatNative => wechat::Config::parse(settings, secrets).map(drop),
        ChannelKind::Stripe => stripe::Config::parse(settings, secrets).map(drop),
    }
}

/// Deserializes `settings` or `secrets` (named by `part`) into `T`. All config fields are
/// strings, so anything else is refused up front: serde's own messages would quote the value.
pub(crate) fn parse_part<T: DeserializeOwned>(
    value: &Value,
    part: &str,
) -> Result<T, GatewayError> {
    let Some(map) = value.as_object() else {
        return Err(GatewayError::Config(format!(
            "{part} must be a JSON object"
        )));
    };
    let mut clean = serde_json::Map::new();
    for (k, v) in map {
        match v {
            Value::Null => {}
            Value::String(_) => {
                clean.insert(k.clone(), v.clone());
            }
            _ => return Err(GatewayError::Config(format!("{part}.{k} must be a string"))),
        }
    }
    serde_json::from_value(Value::Object(clean)).map_err(|e| {
        let msg = e.to_string();
        if msg.starts_with("missing field") || msg.starts_with("unknown field") {
            GatewayError::Config(format!("{part}: {msg}"))
        } else {
            GatewayError::Config(format!("{part} is invalid"))
        }
    })
}

/// Refuses an empty (or all-blank) required field.
pub(crate) fn require(value: &str, field: &str) -> Result<(), GatewayError> {
    if value.trim().is_empty() {
        return Err(GatewayError::Config(format!("{field} must not be empty")));
    }
    Ok(())
}

/// Checks that `value` is an absolute http(s) URL; returns it parsed.
pub(crate) fn require_url(value: &str, field: &str) -> Result<reqwest::Url, GatewayError> {
    let url = reqwest::Url::parse(value.trim())
        .map_err(|_| GatewayError::Config(format!("{field} must be an absolute URL")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(GatewayError::Config(format!(
            "{field} must be an http(s) URL"
        )));
    }
    Ok(url)
}

/// Refuses a non-positive or absurd amount before it reaches a gateway.
pub(crate) fn require_amount(cents: i64, what: &str) -> Result<(), GatewayError> {
    if cents <= 0 {
        return Err(GatewayError::Config(format!("{what} must be positive")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn channel_kind_serde_names() {
        for (kind, name) in [
            (ChannelKind::AlipayF2f, "alipay_f2f"),
            (ChannelKind::Epay, "epay"),
            (ChannelKind::WechatNative, "wechat_native"),
            (ChannelKind::Stripe, "stripe"),
        ] {
            let text = serde_json::to_value(kind).unwrap();
            assert_eq!(text, json!(name));
            assert_eq!(serde_json::from_value::<ChannelKind>(text).unwrap(), kind);
        }
        assert!(serde_json::from_value::<ChannelKind>(json!("alipay")).is_err());
    }

    #[test]
    fn notify_params_prefer_a_form_body() {
        let mut n = Notify {
            method: "POST".into(),
            query: "a=from%20query".into(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            )],
            body: b"a=from+body&b=%E4%BD%A0".to_vec(),
        };
        assert_eq!(
            n.params(),
            vec![("a".into(), "from body".into()), ("b".into(), "你".into())]
        );
        n.method = "GET".into();
        assert_eq!(n.params(), vec![("a".into(), "from query".into())]);
        assert_eq!(n.header("Content-Type").map(|s| s.len()), Some(48));
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Demo {
        name: String,
        #[serde(default)]
        other: Option<String>,
    }

    #[test]
    fn config_errors_name_fields_but_never_values() {
        let err = |v: Value| match parse_part::<Demo>(&v, "secrets") {
            Err(GatewayError::Config(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(err(json!("x")), "secrets must be a JSON object");
        assert_eq!(err(json!({"name": 12345})), "secrets.name must be a string");
        assert!(err(json!({})).contains("missing field `name`"));
        assert!(err(json!({"name": null})).contains("missing field `name`"));
        let unknown = err(json!({"name": "hunter2", "nmae": "hunter3"}));
        assert!(unknown.contains("unknown field `nmae`"), "{unknown}");
        assert!(!unknown.contains("hunter"));
        assert!(parse_part::<Demo>(&json!({"name": "a", "other": null}), "s").is_ok());
    }

    #[test]
    fn urls_must_be_http() {
        assert!(require_url("https://pay.example.com/", "settings.api_url").is_ok());
        for bad in ["pay.example.com", "ftp://x/", "", "https://"] {
            assert!(require_url(bad, "settings.api_url").is_err(), "{bad}");
        }
    }
}
