//! Stripe Checkout. `create` opens a Checkout Session (form-encoded, `Authorization: Bearer
//! sk_...`) whose `url` the payer visits; its id is the order's `gateway_ref`. Webhooks are
//! verified from `Stripe-Signature: t=..,v1=..` (HMAC-SHA256 of `"{t}.{body}"` with the
//! endpoint's signing secret, 5 minutes tolerance). Amounts are converted between Confab's cents
//! and Stripe's minor units (zero-decimal currencies such as JPY take whole units).

use async_trait::async_trait;
use chrono::{DateTime, Duration as Span, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::crypto::{ct_eq, hmac_sha256_hex};
use super::http::Http;
use super::{
    Gateway, GatewayError, GatewayState, Notify, NotifyEvent, NotifyReply, OrderRef, PayAction,
    PayRequest, RefundDone, RefundRequest, parse_part, require, require_amount, require_url,
};

const NAME: &str = "stripe";

/// Stripe's API base.
pub const STRIPE_API_BASE: &str = "https://api.stripe.com";

/// How far a webhook's signed timestamp may be from now.
pub const WEBHOOK_TOLERANCE_SECS: i64 = 300;

fn default_api_base() -> String {
    STRIPE_API_BASE.to_owned()
}

/// Public settings of a Stripe Checkout channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StripeSettings {
    /// API base URL (default "https://api.stripe.com").
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// Where Checkout sends the payer after paying, unless the order has its own return URL
    /// (may contain Stripe's `{CHECKOUT_SESSION_ID}` placeholder).
    pub success_url: String,
    /// Where Checkout sends the payer who gives up.
    pub cancel_url: String,
}

/// Secrets of a Stripe Checkout channel.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StripeSecrets {
    /// The secret (or restricted) API key, "sk_..." / "rk_...".
    pub secret_key: String,
    /// The webhook endpoint's signing secret, "whsec_..."; empty refuses every webhook.
    #[serde(default)]
    pub webhook_secret: String,
}

impl std::fmt::Debug for StripeSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StripeSecrets { <redacted> }")
    }
}

/// A parsed, checked Stripe configuration.
pub(crate) struct Config {
    settings: StripeSettings,
    base: String,
    secret_key: String,
    webhook_secret: String,
}

impl Config {
    /// Parses and checks settings and secrets.
    pub(crate) fn parse(settings: &Value, secrets: &Value) -> Result<Config, GatewayError> {
        let settings: StripeSettings = parse_part(settings, "settings")?;
        let secrets: StripeSecrets = parse_part(secrets, "secrets")?;
        require_url(&settings.api_base, "settings.api_base")?;
        require_url(&settings.success_url, "settings.success_url")?;
        require_url(&settings.cancel_url, "settings.cancel_url")?;
        require(&secrets.secret_key, "secrets.secret_key")?;
        Ok(Config {
            base: settings.api_base.trim().trim_end_matches('/').to_owned(),
            settings,
            secret_key: secrets.secret_key.trim().to_owned(),
            webhook_secret: secrets.webhook_secret.trim().to_owned(),
        })
    }
}

/// The Stripe Checkout gateway.
pub struct Stripe {
    config: Config,
    http: Http,
}

/// Currencies Stripe counts in whole units.
const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];
/// Currencies Stripe counts in thousandths.
const THREE_DECIMAL: &[&str] = &["BHD", "JOD", "KWD", "OMR", "TND"];

/// Confab cents (hundredths) to Stripe's minor units of `currency`.
pub fn to_stripe_amount(cents: i64, currency: &str) -> Result<i64, GatewayError> {
    let currency = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&currency.as_str()) {
        if cents % 100 != 0 {
            return Err(GatewayError::Config(format!(
                "{currency} amounts must be whole units"
            )));
        }
        Ok(cents / 100)
    } else if THREE_DECIMAL.contains(&currency.as_str()) {
        cents
            .checked_mul(10)
            .ok_or_else(|| GatewayError::Config("amount out of range".into()))
    } else {
        Ok(cents)
    }
}

/// Stripe's minor units of `currency` to Confab cents (rounded down for three-decimal ones).
pub fn from_stripe_amount(amount: i64, currency: &str) -> Result<i64, GatewayError> {
    let currency = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&currency.as_str()) {
        amount
            .checked_mul(100)
            .ok_or_else(|| GatewayError::malformed("stripe amount out of range"))
    } else if THREE_DECIMAL.contains(&currency.as_str()) {
        Ok(amount.div_euclid(10))
    } else {
        Ok(amount)
    }
}

fn text(v: &Value, name: &str) -> Option<String> {
    v[name]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// (amount in cents, upper-case currency) of a Checkout Session or other object.
fn amount_of(object: &Value, field: &str) -> Result<(i64, String), GatewayError> {
    let currency = text(object, "currency")
        .unwrap_or_default()
        .to_ascii_uppercase();
    let amount = match object[field].as_i64() {
        Some(a) => from_stripe_amount(a, &currency)?,
        None => 0,
    };
    Ok((amount, currency))
}

impl Stripe {
    pub(crate) fn new(config: Config, http: Http) -> Stripe {
        Stripe { config, http }
    }

    /// Calls the API with a form body; returns the JSON of a 2xx answer. Errors come back as
    /// `Refused { code: error.code or error.type, message }`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        form: Option<&[(String, String)]>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, GatewayError> {
        let url = format!("{}{path}", self.config.base);
        let mut request = self
            .http
            .client()
            .request(method, url)
            .bearer_auth(&self.config.secret_key);
        if let Some(form) = form {
            request = request.form(form);
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let answer = self.http.send(request, NAME).await?;
        let json: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        if answer.status == 401 {
            return Err(GatewayError::refused(
                "invalid_api_key",
                "Stripe refused the secret key",
            ));
        }
        if !answer.ok() {
            let error = &json["error"];
            let code = text(error, "code")
                .or_else(|| text(error, "type"))
                .unwrap_or_else(|| format!("http_{}", answer.status));
            let message = text(error, "message").unwrap_or_default();
            return Err(GatewayError::Refused { code, message });
        }
        if !json.is_object() {
            return Err(GatewayError::malformed(
                "stripe answered something not JSON",
            ));
        }
        Ok(json)
    }

    fn session_path(order_ref: Option<&str>, suffix: &str) -> Result<String, GatewayError> {
        let id = order_ref
            .filter(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
            .ok_or_else(|| {
                GatewayError::malformed("stripe order has no Checkout Session id (gateway_ref)")
            })?;
        Ok(format!("/v1/checkout/sessions/{id}{suffix}"))
    }

    /// Checks `Stripe-Signature` against the raw body; returns the signed timestamp.
    fn check_signature(&self, notify: &Notify) -> Result<i64, GatewayError> {
        if self.config.webhook_secret.is_empty() {
            return Err(GatewayError::BadSignature);
        }
        let header = notify
            .header("stripe-signature")
            .ok_or(GatewayError::BadSignature)?;
        let mut timestamp = None;
        let mut candidates = Vec::new();
        for item in header.split(',') {
            match item.trim().split_once('=') {
                Some(("t", t)) if timestamp.is_none() => timestamp = Some(t),
                Some(("v1", sig)) => candidates.push(sig),
                _ => {}
            }
        }
        let t = timestamp.ok_or(GatewayError::BadSignature)?;
        let mut payload = format!("{t}.").into_bytes();
        payload.extend_from_slice(&notify.body);
        let expected = hmac_sha256_hex(self.config.webhook_secret.as_bytes(), &payload)?;
        let mut matched = false;
        for sig in candidates {
            // Check all, not just until the first match: timing says nothing about which.
            matched |= ct_eq(expected.as_bytes(), sig.as_bytes());
        }
        if !matched {
            return Err(GatewayError::BadSignature);
        }
        t.parse().map_err(|_| GatewayError::BadSignature)
    }
}

/// What a verified event says about our order.
fn event_of(event: &Value) -> Result<NotifyEvent, GatewayError> {
    let kind =
        text(event, "type").ok_or_else(|| GatewayError::malformed("stripe event lacks type"))?;
    let object = &event["data"]["object"];
    if !object.is_object() {
        return Err(GatewayError::malformed("stripe event lacks data.object"));
    }
    let metadata_no = text(&object["metadata"], "out_trade_no");
    if object["object"].as_str() == Some("checkout.session") {
        let (amount_cents, currency) = amount_of(object, "amount_total")?;
        let completes = kind == "checkout.session.completed"
            || kind == "checkout.session.async_payment_succeeded";
        return Ok(NotifyEvent {
            out_trade_no: text(object, "client_reference_id")
                .or(metadata_no)
                .ok_or_else(|| {
                    GatewayError::malformed("stripe session lacks client_reference_id")
                })?,
            trade_no: text(object, "payment_intent")
                .or_else(|| text(object, "id"))
                .unwrap_or_default(),
            amount_cents,
            currency,
            paid: completes && object["payment_status"].as_str() == Some("paid"),
            status: kind,
        });
    }
    let (amount_cents, currency) = amount_of(object, "amount")?;
    Ok(NotifyEvent {
        out_trade_no: metadata_no.unwrap_or_default(),
        trade_no: text(object, "id").unwrap_or_default(),
        amount_cents,
        currency,
        paid: false,
        status: kind,
    })
}

#[async_trait]
impl Gateway for Stripe {
    async fn create(&self, order: &PayRequest) -> Result<PayAction, GatewayError> {
        require_amount(order.amount_cents, "amount")?;
        let unit_amount = to_stripe_amount(order.amount_cents, &order.currency)?;
        let now = Utc::now();
        // Stripe takes 30 minutes to 24 hours from creation; leave a minute of margin each way.
        let expires_at = order.expires_at.clamp(
            now + Span::minutes(31),
            now + Span::hours(24) - Span::minutes(1),
        );
        let s = &self.config.settings;
        let form: Vec<(String, String)> = [
            ("mode", "payment".to_owned()),
            ("client_reference_id", order.out_trade_no.clone()),
            ("metadata[out_trade_no]", order.out_trade_no.clone()),
            (
                "payment_intent_data[metadata][out_trade_no]",
                order.out_trade_no.clone(),
            ),
            (
                "line_items[0][price_data][currency]",
                order.currency.to_ascii_lowercase(),
            ),
            (
                "line_items[0][price_data][unit_amount]",
                unit_amount.to_string(),
            ),
            (
                "line_items[0][price_data][product_data][name]",
                order.subject.clone(),
            ),
            ("line_items[0][quantity]", "1".to_owned()),
            (
                "success_url",
                order
                    .return_url
                    .clone()
                    .unwrap_or_else(|| s.success_url.clone()),
            ),
            ("cancel_url", s.cancel_url.clone()),
            ("expires_at", expires_at.timestamp().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let json = self
            .call(Method::POST, "/v1/checkout/sessions", Some(&form), None)
            .await?;
        let id =
            text(&json, "id").ok_or_else(|| GatewayError::malformed("stripe session lacks id"))?;
        let url = text(&json, "url")
            .ok_or_else(|| GatewayError::malformed("stripe session lacks url"))?;
        Ok(PayAction {
            qr_code: None,
            pay_url: Some(url),
            gateway_ref: Some(id),
        })
    }

    fn verify_notify(
        &self,
        notify: &Notify,
        now: DateTime<Utc>,
    ) -> Result<NotifyEvent, GatewayError> {
        let t = self.check_signature(notify)?;
        if (now.timestamp() - t).abs() > WEBHOOK_TOLERANCE_SECS {
            return Err(GatewayError::Stale);
        }
        let event: Value = serde_json::from_slice(&notify.body)
            .map_err(|_| GatewayError::malformed("stripe event is not JSON"))?;
        event_of(&event)
    }

    fn notify_reply(&self, accepted: bool) -> NotifyReply {
        NotifyReply {
            status: if accepted { 200 } else { 400 },
            content_type: "application/json",
            body: format!("{{\"received\":{accepted}}}"),
        }
    }

    async fn query(&self, order: &OrderRef) -> Result<GatewayState, GatewayError> {
        let path = Self::session_path(order.gateway_ref.as_deref(), "")?;
        let session = self.call(Method::GET, &path, None, None).await?;
        if text(&session, "client_reference_id").is_some_and(|no| no != order.out_trade_no) {
            return Err(GatewayError::malformed(
                "stripe session belongs to another order",
            ));
        }
        let status = session["status"].as_str().unwrap_or_default();
        let paid = session["payment_status"].as_str() == Some("paid");
        if status == "complete" && paid {
            let (amount_cents, currency) = amount_of(&session, "amount_total")?;
            return Ok(GatewayState::Paid {
                trade_no: text(&session, "payment_intent")
                    .or_else(|| text(&session, "id"))
                    .unwrap_or_default(),
                amount_cents,
                currency,
            });
        }
        Ok(if status == "expired" {
            GatewayState::Closed
        } else {
            GatewayState::Pending
        })
    }

    async fn close(&self, order: &OrderRef) -> Result<(), GatewayError> {
        let path = Self::session_path(order.gateway_ref.as_deref(), "/expire")?;
        self.call(Method::POST, &path, Some(&[]), None)
            .await
            .map(drop)
    }

    async fn refund(&self, refund: &RefundRequest) -> Result<RefundDone, GatewayError> {
        require_amount(refund.amount_cents, "refund amount")?;
        let payment_intent = match refund.trade_no.clone().filter(|t| t.starts_with("pi_")) {
            Some(pi) => pi,
            None => {
                let path = Self::session_path(refund.gateway_ref.as_deref(), "")?;
                let session = self.call(Method::GET, &path, None, None).await?;
                text(&session, "payment_intent").ok_or_else(|| {
                    GatewayError::refused("not_paid", "the Checkout Session has no payment")
                })?
            }
        };
        let form: Vec<(String, String)> = vec![
            ("payment_intent".into(), payment_intent),
            (
                "amount".into(),
                to_stripe_amount(refund.amount_cents, &refund.currency)?.to_string(),
            ),
            ("metadata[refund_no]".into(), refund.refund_no.clone()),
            ("metadata[out_trade_no]".into(), refund.out_trade_no.clone()),
            ("metadata[reason]".into(), refund.reason.clone()),
        ];
        let json = self
            .call(
                Method::POST,
                "/v1/refunds",
                Some(&form),
                Some(&refund.refund_no),
            )
            .await?;
        Ok(RefundDone {
            gateway_refund_id: text(&json, "id")
                .ok_or_else(|| GatewayError::malformed("stripe refund lacks id"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn gateway(webhook_secret: &str) -> Stripe {
        let config = Config::parse(
            &json!({"success_url": "https://app.example/paid", "cancel_url": "https://app.example/"}),
            &json!({"secret_key": "sk_test_123", "webhook_secret": webhook_secret}),
        )
        .unwrap();
        Stripe::new(
            config,
            Http::new(reqwest::Client::new(), Duration::from_secs(1)),
        )
    }

    fn completed() -> String {
        json!({"id": "evt_1", "object": "event", "type": "checkout.session.completed",
               "data": {"object": {"id": "cs_test_1", "object": "checkout.session",
                 "client_reference_id": "ord-3", "payment_intent": "pi_1", "amount_total": 1999,
                 "currency": "usd", "payment_status": "paid", "status": "complete",
                 "metadata": {"out_trade_no": "ord-3"}}}})
        .to_string()
    }

    fn webhook(body: &str, t: i64, secret: &str) -> Notify {
        let sig = hmac_sha256_hex(secret.as_bytes(), format!("{t}.{body}").as_bytes()).unwrap();
        Notify {
            method: "POST".into(),
            query: String::new(),
            headers: vec![(
                "stripe-signature".into(),
                format!("t={t},v1={sig},v0=deadbeef"),
            )],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn verifies_a_completed_session() {
        let g = gateway("whsec_abc");
        let now = Utc::now();
        let event = g
            .verify_notify(&webhook(&completed(), now.timestamp(), "whsec_abc"), now)
            .unwrap();
        assert_eq!(
            event,
            NotifyEvent {
                out_trade_no: "ord-3".into(),
                trade_no: "pi_1".into(),
                amount_cents: 1999,
                currency: "USD".into(),
                paid: true,
                status: "checkout.session.completed".into(),
            }
        );
    }

    #[test]
    fn any_v1_may_match_during_secret_rotation() {
        let g = gateway("whsec_new");
        let now = Utc::now();
        let t = now.timestamp();
        let body = completed();
        let old = hmac_sha256_hex(b"whsec_old", format!("{t}.{body}").as_bytes()).unwrap();
        let new = hmac_sha256_hex(b"whsec_new", format!("{t}.{body}").as_bytes()).unwrap();
        let mut n = webhook(&body, t, "whsec_new");
        n.headers = vec![(
            "stripe-signature".into(),
            format!("t={t},v1={old},v1={new}"),
        )];
        assert!(g.verify_notify(&n, now).is_ok());
    }

    #[test]
    fn refuses_wrong_secret_tampering_staleness_and_empty_secret() {
        let now = Utc::now();
        let t = now.timestamp();
        let g = gateway("whsec_abc");
        assert_eq!(
            g.verify_notify(&webhook(&completed(), t, "whsec_other"), now),
            Err(GatewayError::BadSignature)
        );
        let mut tampered = webhook(&completed(), t, "whsec_abc");
        tampered.body = completed().replace("1999", "1").into_bytes();
        assert_eq!(
            g.verify_notify(&tampered, now),
            Err(GatewayError::BadSignature)
        );
        assert_eq!(
            g.verify_notify(&webhook(&completed(), t - 301, "whsec_abc"), now),
            Err(GatewayError::Stale)
        );
        let mut no_header = webhook(&completed(), t, "whsec_abc");
        no_header.headers.clear();
        assert_eq!(
            g.verify_notify(&no_header, now),
            Err(GatewayError::BadSignature)
        );
        let open = gateway("");
        assert_eq!(
            open.verify_notify(&webhook(&completed(), t, "whsec_any"), now),
            Err(GatewayError::BadSignature)
        );
    }

    #[test]
    fn other_events_are_not_payments() {
        let g = gateway("whsec_abc");
        let now = Utc::now();
        let unpaid = completed().replace("\"paid\"", "\"unpaid\"");
        let e = g
            .verify_notify(&webhook(&unpaid, now.timestamp(), "whsec_abc"), now)
            .unwrap();
        assert!(!e.paid);
        let other = json!({"type": "charge.refunded", "data": {"object": {"id": "ch_1",
            "object": "charge", "amount": 500, "currency": "jpy"}}})
        .to_string();
        let e = g
            .verify_notify(&webhook(&other, now.timestamp(), "whsec_abc"), now)
            .unwrap();
        assert_eq!(
            (
                e.paid,
                e.out_trade_no.as_str(),
                e.amount_cents,
                e.currency.as_str()
            ),
            (false, "", 50000, "JPY")
        );
    }

    #[test]
    fn amounts_convert_per_currency() {
        assert_eq!(to_stripe_amount(1999, "usd"), Ok(1999));
        assert_eq!(to_stripe_amount(100000, "JPY"), Ok(1000));
        assert!(to_stripe_amount(100050, "JPY").is_err());
        assert_eq!(to_stripe_amount(1234, "KWD"), Ok(12340));
        assert_eq!(from_stripe_amount(1000, "jpy"), Ok(100000));
        assert_eq!(from_stripe_amount(12340, "KWD"), Ok(1234));
    }

    #[test]
    fn replies() {
        let g = gateway("x");
        assert_eq!(g.notify_reply(true).body, "{\"received\":true}");
        assert_eq!(g.notify_reply(false).status, 400);
    }
}
