//! Alipay face-to-face payment (当面付) over the OpenAPI gateway: `alipay.trade.precreate` gives
//! a QR code; `alipay.trade.query`, `.close` and `.refund` follow. Requests are forms signed
//! RSA2 (SHA256withRSA over the sorted, non-empty parameters except `sign`) with the app private
//! key; answers are verified over the raw JSON text of their `*_response` object with the Alipay
//! public key. Notifies are form POSTs signed the same way over everything except `sign` and
//! `sign_type`. CNY only.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use openssl::pkey::{PKey, Private, Public};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::collections::HashMap;

use super::crypto::{canonical, load_private_key, load_public_key, rsa_sign, rsa_verify};
use super::http::Http;
use super::{
    Gateway, GatewayError, GatewayState, Notify, NotifyEvent, NotifyReply, OrderRef, PayAction,
    PayRequest, RefundDone, RefundRequest, parse_part, require, require_amount, require_url,
};
use crate::money::{cents_to_yuan, yuan_to_cents};

const NAME: &str = "alipay";

/// Alipay's production OpenAPI gateway.
pub const ALIPAY_GATEWAY: &str = "https://openapi.alipay.com/gateway.do";
/// Alipay's sandbox OpenAPI gateway.
pub const ALIPAY_SANDBOX_GATEWAY: &str = "https://openapi-sandbox.dl.alipaydev.com/gateway.do";

fn default_gateway_url() -> String {
    ALIPAY_GATEWAY.to_owned()
}

/// Public settings of an Alipay face-to-face channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlipaySettings {
    /// The app's APPID on the Alipay open platform.
    pub app_id: String,
    /// The OpenAPI gateway (default production; the sandbox is
    /// "https://openapi-sandbox.dl.alipaydev.com/gateway.do").
    #[serde(default = "default_gateway_url")]
    pub gateway_url: String,
}

/// Secrets of an Alipay face-to-face channel.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlipaySecrets {
    /// The app's RSA private key: PEM PKCS#8 or PKCS#1, or the bare base64 Alipay's tool emits.
    pub app_private_key: String,
    /// Alipay's RSA public key (PEM or bare base64), from the open platform console.
    pub alipay_public_key: String,
}

impl std::fmt::Debug for AlipaySecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AlipaySecrets { <redacted> }")
    }
}

/// A parsed, checked Alipay configuration.
pub(crate) struct Config {
    app_id: String,
    gateway_url: String,
    app_key: PKey<Private>,
    alipay_key: PKey<Public>,
}

impl Config {
    /// Parses and checks settings and secrets; both keys must load.
    pub(crate) fn parse(settings: &Value, secrets: &Value) -> Result<Config, GatewayError> {
        let settings: AlipaySettings = parse_part(settings, "settings")?;
        let secrets: AlipaySecrets = parse_part(secrets, "secrets")?;
        require(&settings.app_id, "settings.app_id")?;
        require_url(&settings.gateway_url, "settings.gateway_url")?;
        Ok(Config {
            app_id: settings.app_id.trim().to_owned(),
            gateway_url: settings.gateway_url.trim().to_owned(),
            app_key: load_private_key(&secrets.app_private_key, "secrets.app_private_key")?,
            alipay_key: load_public_key(&secrets.alipay_public_key, "secrets.alipay_public_key")?,
        })
    }
}

/// The Alipay face-to-face gateway.
pub struct AlipayF2f {
    config: Config,
    http: Http,
}

/// Alipay's "success" code.
const OK_CODE: &str = "10000";
/// The sub_code for a trade Alipay does not know (a precreated QR code nobody scanned yet).
const TRADE_NOT_EXIST: &str = "ACQ.TRADE_NOT_EXIST";

/// "yyyy-MM-dd HH:mm:ss" in Beijing time, as Alipay's `timestamp` wants it.
fn beijing_time(now: DateTime<Utc>) -> String {
    now.with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn require_cny(currency: &str) -> Result<(), GatewayError> {
    if currency != "CNY" {
        return Err(GatewayError::Config(format!(
            "currency {currency} is not supported by alipay_f2f (CNY only)"
        )));
    }
    Ok(())
}

/// A text field of a JSON object, if present and non-empty.
fn text(v: &Value, name: &str) -> Option<String> {
    v[name]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl AlipayF2f {
    pub(crate) fn new(config: Config, http: Http) -> AlipayF2f {
        AlipayF2f { config, http }
    }

    /// The signed form of one API call.
    fn signed_params(
        &self,
        method: &str,
        biz: &Value,
        notify_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, String)>, GatewayError> {
        let mut params: Vec<(String, String)> = [
            ("app_id", self.config.app_id.as_str()),
            ("method", method),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("version", "1.0"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        params.push(("timestamp".into(), beijing_time(now)));
        params.push(("biz_content".into(), biz.to_string()));
        if let Some(url) = notify_url {
            params.push(("notify_url".into(), url.to_owned()));
        }
        let sign = rsa_sign(
            &self.config.app_key,
            canonical(&params, &["sign"]).as_bytes(),
        )?;
        params.push(("sign".into(), sign));
        Ok(params)
    }

    /// Calls `method` and returns its verified `*_response` object when `code` is 10000; a
    /// business error is `Refused { code: sub_code or code, .. }`.
    async fn call(
        &self,
        method: &str,
        biz: Value,
        notify_url: Option<&str>,
    ) -> Result<Value, GatewayError> {
        let params = self.signed_params(method, &biz, notify_url, Utc::now())?;
        let request = self
            .http
            .client()
            .post(&self.config.gateway_url)
            .form(&params);
        let answer = self.http.send(request, NAME).await?;
        verify_answer(&self.config.alipay_key, method, &answer.body)
    }
}

/// Checks an Alipay answer: finds `{method}_response` (or `error_response`), verifies `sign` over
/// its raw text (required on success), and maps a non-10000 code to `Refused`.
fn verify_answer(key: &PKey<Public>, method: &str, body: &[u8]) -> Result<Value, GatewayError> {
    let top: HashMap<String, Box<RawValue>> = serde_json::from_slice(body)
        .map_err(|_| GatewayError::malformed("alipay answered something not JSON"))?;
    let name = format!("{}_response", method.replace('.', "_"));
    let raw = top
        .get(&name)
        .or_else(|| top.get("error_response"))
        .ok_or_else(|| GatewayError::Malformed(format!("alipay answer lacks {name}")))?;
    let sign: Option<String> = match top.get("sign") {
        Some(s) => Some(
            serde_json::from_str(s.get())
                .map_err(|_| GatewayError::malformed("alipay answer sign is not a string"))?,
        ),
        None => None,
    };
    let response: Value = serde_json::from_str(raw.get())
        .map_err(|_| GatewayError::malformed("alipay response is not an object"))?;
    let code = text(&response, "code").unwrap_or_default();
    match &sign {
        Some(sign) => rsa_verify(key, raw.get().as_bytes(), sign)?,
        // Alipay leaves errors about the request itself (bad app id, bad signature) unsigned.
        None if code != OK_CODE => {}
        None => return Err(GatewayError::BadSignature),
    }
    if code != OK_CODE {
        let code = text(&response, "sub_code").unwrap_or(code);
        let message = text(&response, "sub_msg")
            .or_else(|| text(&response, "msg"))
            .unwrap_or_default();
        return Err(GatewayError::Refused { code, message });
    }
    Ok(response)
}

#[async_trait]
impl Gateway for AlipayF2f {
    async fn create(&self, order: &PayRequest) -> Result<PayAction, GatewayError> {
        require_cny(&order.currency)?;
        require_amount(order.amount_cents, "amount")?;
        let minutes = (order.expires_at - Utc::now()).num_seconds().div_euclid(60);
        let biz = json!({
            "out_trade_no": order.out_trade_no,
            "total_amount": cents_to_yuan(order.amount_cents),
            "subject": order.subject,
            "timeout_express": format!("{}m", minutes.clamp(1, 15 * 24 * 60)),
        });
        let response = self
            .call("alipay.trade.precreate", biz, Some(&order.notify_url))
            .await?;
        let qr_code = text(&response, "qr_code")
            .ok_or_else(|| GatewayError::malformed("alipay precreate answer lacks qr_code"))?;
        Ok(PayAction {
            qr_code: Some(qr_code),
            pay_url: None,
            gateway_ref: None,
        })
    }

    fn verify_notify(
        &self,
        notify: &Notify,
        _now: DateTime<Utc>,
    ) -> Result<NotifyEvent, GatewayError> {
        let params = notify.params();
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let sign = get("sign").ok_or(GatewayError::BadSignature)?;
        let content = canonical(&params, &["sign", "sign_type"]);
        rsa_verify(&self.config.alipay_key, content.as_bytes(), sign)?;
        if get("app_id") != Some(self.config.app_id.as_str()) {
            return Err(GatewayError::WrongMerchant);
        }
        let field = |name: &str| {
            get(name)
                .map(str::to_owned)
                .ok_or_else(|| GatewayError::Malformed(format!("alipay notify lacks {name}")))
        };
        let amount_cents = yuan_to_cents(&field("total_amount")?)
            .map_err(|_| GatewayError::malformed("alipay notify total_amount"))?;
        let status = field("trade_status")?;
        Ok(NotifyEvent {
            out_trade_no: field("out_trade_no")?,
            trade_no: field("trade_no")?,
            amount_cents,
            currency: "CNY".into(),
            paid: status == "TRADE_SUCCESS" || status == "TRADE_FINISHED",
            status,
        })
    }

    fn notify_reply(&self, accepted: bool) -> NotifyReply {
        NotifyReply {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: if accepted { "success" } else { "failure" }.into(),
        }
    }

    async fn query(&self, order: &OrderRef) -> Result<GatewayState, GatewayError> {
        let mut biz = json!({ "out_trade_no": order.out_trade_no });
        if let Some(trade_no) = &order.trade_no {
            biz["trade_no"] = json!(trade_no);
        }
        let response = match self.call("alipay.trade.query", biz, None).await {
            Err(GatewayError::Refused { code, .. }) if code == TRADE_NOT_EXIST => {
                return Ok(GatewayState::Pending);
            }
            other => other?,
        };
        let status = text(&response, "trade_status").unwrap_or_default();
        match status.as_str() {
            "TRADE_SUCCESS" | "TRADE_FINISHED" => {
                let amount = text(&response, "total_amount")
                    .ok_or_else(|| GatewayError::malformed("alipay query lacks total_amount"))?;
                Ok(GatewayState::Paid {
                    trade_no: text(&response, "trade_no")
                        .ok_or_else(|| GatewayError::malformed("alipay query lacks trade_no"))?,
                    amount_cents: yuan_to_cents(&amount)
                        .map_err(|_| GatewayError::malformed("alipay query total_amount"))?,
                    currency: "CNY".into(),
                })
            }
            // Unpaid and timed out, or paid and then refunded in full.
            "TRADE_CLOSED" => Ok(GatewayState::Closed),
            "WAIT_BUYER_PAY" => Ok(GatewayState::Pending),
            _ => Err(GatewayError::malformed(
                "alipay query: unknown trade_status",
            )),
        }
    }

    async fn close(&self, order: &OrderRef) -> Result<(), GatewayError> {
        let biz = json!({ "out_trade_no": order.out_trade_no });
        match self.call("alipay.trade.close", biz, None).await {
            // Never scanned: Alipay has no trade to close; the QR code lapses by timeout_express.
            Err(GatewayError::Refused { code, .. }) if code == TRADE_NOT_EXIST => Ok(()),
            other => other.map(drop),
        }
    }

    async fn refund(&self, refund: &RefundRequest) -> Result<RefundDone, GatewayError> {
        require_cny(&refund.currency)?;
        require_amount(refund.amount_cents, "refund amount")?;
        let mut biz = json!({
            "out_trade_no": refund.out_trade_no,
            "refund_amount": cents_to_yuan(refund.amount_cents),
            "out_request_no": refund.refund_no,
            "refund_reason": refund.reason,
        });
        if let Some(trade_no) = &refund.trade_no {
            biz["trade_no"] = json!(trade_no);
        }
        // fund_change "N" means this out_request_no was refunded before: still done.
        self.call("alipay.trade.refund", biz, None).await?;
        Ok(RefundDone {
            gateway_refund_id: refund.refund_no.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::crypto::tests::key_pair;
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    struct Keys {
        app_private: String,
        app_public: String,
        alipay_private: String,
        alipay_public: String,
    }

    fn keys() -> Keys {
        let (app_private, app_public) = key_pair();
        let (alipay_private, alipay_public) = key_pair();
        Keys {
            app_private,
            app_public,
            alipay_private,
            alipay_public,
        }
    }

    fn gateway(k: &Keys) -> AlipayF2f {
        let config = Config::parse(
            &json!({"app_id": "2021000000000001"}),
            &json!({"app_private_key": k.app_private, "alipay_public_key": k.alipay_public}),
        )
        .unwrap();
        AlipayF2f::new(
            config,
            Http::new(reqwest::Client::new(), Duration::from_secs(1)),
        )
    }

    fn sign_with(private_pem: &str, content: &str) -> String {
        rsa_sign(
            &load_private_key(private_pem, "k").unwrap(),
            content.as_bytes(),
        )
        .unwrap()
    }

    fn notify_body(params: &[(&str, &str)], key: &str) -> Vec<u8> {
        let owned: Vec<(String, String)> = params
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        let sign = sign_with(key, &canonical(&owned, &["sign", "sign_type"]));
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.extend_pairs(params);
        s.append_pair("sign_type", "RSA2")
            .append_pair("sign", &sign);
        s.finish().into_bytes()
    }

    fn post(body: Vec<u8>) -> Notify {
        Notify {
            method: "POST".into(),
            query: String::new(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            )],
            body,
        }
    }

    const PAID: &[(&str, &str)] = &[
        ("notify_time", "2024-05-01 12:00:00"),
        ("notify_type", "trade_status_sync"),
        ("notify_id", "ac05099524730693a8b330c5ecf72da9786"),
        ("app_id", "2021000000000001"),
        ("charset", "utf-8"),
        ("version", "1.0"),
        ("trade_no", "2024050122001"),
        ("out_trade_no", "ord-7"),
        ("trade_status", "TRADE_SUCCESS"),
        ("total_amount", "88.88"),
        ("subject", "积分 & 会员"),
        (
            "fund_bill_list",
            "[{\"amount\":\"88.88\",\"fundChannel\":\"ALIPAYACCOUNT\"}]",
        ),
        ("passback_params", ""),
    ];

    #[test]
    fn verifies_a_notify_round_trip() {
        let k = keys();
        let g = gateway(&k);
        let event = g
            .verify_notify(&post(notify_body(PAID, &k.alipay_private)), Utc::now())
            .unwrap();
        assert_eq!(
            event,
            NotifyEvent {
                out_trade_no: "ord-7".into(),
                trade_no: "2024050122001".into(),
                amount_cents: 8888,
                currency: "CNY".into(),
                paid: true,
                status: "TRADE_SUCCESS".into(),
            }
        );
    }

    #[test]
    fn refuses_tampered_wrong_key_wrong_app() {
        let k = keys();
        let g = gateway(&k);
        let body = String::from_utf8(notify_body(PAID, &k.alipay_private)).unwrap();
        let tampered = body.replace("total_amount=88.88", "total_amount=0.01");
        assert_eq!(
            g.verify_notify(&post(tampered.into_bytes()), Utc::now()),
            Err(GatewayError::BadSignature)
        );
        // Signed with the app's own key instead of Alipay's.
        assert_eq!(
            g.verify_notify(&post(notify_body(PAID, &k.app_private)), Utc::now()),
            Err(GatewayError::BadSignature)
        );
        let mut other = PAID.to_vec();
        other[3] = ("app_id", "2021000000000002");
        assert_eq!(
            g.verify_notify(&post(notify_body(&other, &k.alipay_private)), Utc::now()),
            Err(GatewayError::WrongMerchant)
        );
        let mut unpaid = PAID.to_vec();
        unpaid[8] = ("trade_status", "WAIT_BUYER_PAY");
        let event = g
            .verify_notify(&post(notify_body(&unpaid, &k.alipay_private)), Utc::now())
            .unwrap();
        assert!(!event.paid);
    }

    #[test]
    fn request_signature_verifies_with_the_app_public_key() {
        let k = keys();
        let g = gateway(&k);
        let now = Utc.with_ymd_and_hms(2024, 1, 31, 16, 30, 5).unwrap();
        let params = g
            .signed_params(
                "alipay.trade.query",
                &json!({"out_trade_no": "x"}),
                None,
                now,
            )
            .unwrap();
        let get = |n: &str| params.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(get("timestamp"), "2024-02-01 00:30:05");
        assert_eq!(get("sign_type"), "RSA2");
        let content = canonical(&params, &["sign"]);
        assert!(content.contains("sign_type=RSA2"));
        let pk = load_public_key(&k.app_public, "k").unwrap();
        assert_eq!(rsa_verify(&pk, content.as_bytes(), &get("sign")), Ok(()));
    }

    #[test]
    fn answers_are_verified_over_the_raw_response_text() {
        let k = keys();
        let pk = load_public_key(&k.alipay_public, "k").unwrap();
        let inner = r#"{"code":"10000","msg":"Success","out_trade_no":"o1","qr_code":"https://qr.alipay.com/x"}"#;
        let sign = sign_with(&k.alipay_private, inner);
        let body = format!(r#"{{"alipay_trade_precreate_response":{inner},"sign":"{sign}"}}"#);
        let ok = verify_answer(&pk, "alipay.trade.precreate", body.as_bytes()).unwrap();
        assert_eq!(ok["qr_code"], "https://qr.alipay.com/x");
        let tampered = body.replace("/x", "/y");
        assert_eq!(
            verify_answer(&pk, "alipay.trade.precreate", tampered.as_bytes()),
            Err(GatewayError::BadSignature)
        );
        let unsigned = format!(r#"{{"alipay_trade_precreate_response":{inner}}}"#);
        assert_eq!(
            verify_answer(&pk, "alipay.trade.precreate", unsigned.as_bytes()),
            Err(GatewayError::BadSignature)
        );
        let error = r#"{"alipay_trade_query_response":{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}}"#;
        assert_eq!(
            verify_answer(&pk, "alipay.trade.query", error.as_bytes()),
            Err(GatewayError::Refused {
                code: "ACQ.TRADE_NOT_EXIST".into(),
                message: "交易不存在".into()
            })
        );
    }

    #[test]
    fn config_needs_loadable_keys() {
        let k = keys();
        let err = Config::parse(
            &json!({"app_id": "1"}),
            &json!({"app_private_key": "nope", "alipay_public_key": k.alipay_public}),
        )
        .err()
        .unwrap();
        assert_eq!(
            err,
            GatewayError::Config("secrets.app_private_key is not an RSA private key in PEM".into())
        );
        let c = Config::parse(
            &json!({"app_id": "1"}),
            &json!({"app_private_key": k.app_private, "alipay_public_key": k.alipay_public}),
        )
        .unwrap();
        assert_eq!(c.gateway_url, ALIPAY_GATEWAY);
    }
}
