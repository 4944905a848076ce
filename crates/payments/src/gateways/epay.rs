//! Epay (彩虹易支付 and compatibles). Create through `POST {api_url}mapi.php`, query and refund
//! through `{api_url}api.php?act=...`; MD5 signatures: the canonical string (no `sign`,
//! `sign_type` or empty values; sorted; `k=v&...`) immediately followed by the key, lower-case
//! hex. Notifies arrive as a GET query (or a form POST); only `trade_status=TRADE_SUCCESS` is
//! paid. CNY only.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::crypto::{canonical, ct_eq, md5_hex};
use super::http::Http;
use super::{
    Gateway, GatewayError, GatewayState, Notify, NotifyEvent, NotifyReply, OrderRef, PayAction,
    PayRequest, RefundDone, RefundRequest, parse_part, require, require_amount, require_url,
};
use crate::money::{cents_to_yuan, yuan_to_cents};

const NAME: &str = "epay";

/// Public settings of an Epay channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EpaySettings {
    /// Merchant id (商户ID).
    pub pid: String,
    /// Base URL of the Epay site, e.g. "https://pay.example.com/" (a missing trailing slash is
    /// added).
    pub api_url: String,
}

/// Secrets of an Epay channel.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EpaySecrets {
    /// The merchant key (商户密钥) for MD5 signatures.
    pub key: String,
}

impl std::fmt::Debug for EpaySecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpaySecrets { key: <redacted> }")
    }
}

/// A parsed, checked Epay configuration.
pub(crate) struct Config {
    pid: String,
    base: String,
    key: String,
}

impl Config {
    /// Parses and checks settings and secrets.
    pub(crate) fn parse(settings: &Value, secrets: &Value) -> Result<Config, GatewayError> {
        let settings: EpaySettings = parse_part(settings, "settings")?;
        let secrets: EpaySecrets = parse_part(secrets, "secrets")?;
        require(&settings.pid, "settings.pid")?;
        require(&secrets.key, "secrets.key")?;
        require_url(&settings.api_url, "settings.api_url")?;
        let mut base = settings.api_url.trim().to_owned();
        if !base.ends_with('/') {
            base.push('/');
        }
        Ok(Config {
            pid: settings.pid.trim().to_owned(),
            base,
            key: secrets.key,
        })
    }
}

/// The Epay gateway.
pub struct Epay {
    config: Config,
    http: Http,
}

impl Epay {
    pub(crate) fn new(config: Config, http: Http) -> Epay {
        Epay { config, http }
    }

    /// `md5(canonical + key)` over the parameters.
    fn sign(&self, params: &[(String, String)]) -> Result<String, GatewayError> {
        let text = canonical(params, &["sign", "sign_type"]);
        md5_hex(format!("{text}{}", self.config.key).as_bytes())
    }

    /// Sends a request and returns its JSON after checking `code == 1`.
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, GatewayError> {
        let answer = self.http.send(request, NAME).await?;
        let json: Value = answer.json(NAME)?;
        let code = json_int(&json["code"]);
        if code != Some(1) {
            let code = code.map_or_else(|| "unknown".to_owned(), |c| c.to_string());
            let msg = json["msg"].as_str().unwrap_or("no message").to_owned();
            return Err(GatewayError::refused(code, msg));
        }
        Ok(json)
    }
}

/// An integer that Epay sends as a number or as a string.
fn json_int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn require_cny(currency: &str) -> Result<(), GatewayError> {
    if currency != "CNY" {
        return Err(GatewayError::Config(format!(
            "currency {currency} is not supported by epay (CNY only)"
        )));
    }
    Ok(())
}

#[async_trait]
impl Gateway for Epay {
    async fn create(&self, order: &PayRequest) -> Result<PayAction, GatewayError> {
        require_cny(&order.currency)?;
        require_amount(order.amount_cents, "amount")?;
        let mut params: Vec<(String, String)> = vec![
            ("pid".into(), self.config.pid.clone()),
            ("type".into(), order.pay_type.clone()),
            ("out_trade_no".into(), order.out_trade_no.clone()),
            ("notify_url".into(), order.notify_url.clone()),
            ("name".into(), order.subject.clone()),
            ("money".into(), cents_to_yuan(order.amount_cents)),
            (
                "clientip".into(),
                order
                    .client_ip
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1".into()),
            ),
        ];
        if let Some(url) = &order.return_url {
            params.push(("return_url".into(), url.clone()));
        }
        let sign = self.sign(&params)?;
        params.push(("sign".into(), sign));
        params.push(("sign_type".into(), "MD5".into()));
        let url = format!("{}mapi.php", self.config.base);
        let json = self
            .call(self.http.client().post(url).form(&params))
            .await?;
        let qr_code = text(&json["qrcode"]);
        let pay_url = text(&json["payurl"]).or_else(|| text(&json["urlscheme"]));
        if qr_code.is_none() && pay_url.is_none() {
            return Err(GatewayError::malformed(
                "epay answered neither payurl, qrcode nor urlscheme",
            ));
        }
        Ok(PayAction {
            qr_code,
            pay_url,
            gateway_ref: text(&json["trade_no"]),
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
        };
        let sign = get("sign").ok_or(GatewayError::BadSignature)?;
        let expected = self.sign(&params)?;
        if !ct_eq(expected.as_bytes(), sign.to_ascii_lowercase().as_bytes()) {
            return Err(GatewayError::BadSignature);
        }
        if get("pid").map(str::trim) != Some(self.config.pid.as_str()) {
            return Err(GatewayError::WrongMerchant);
        }
        let field = |name: &str| {
            get(name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| GatewayError::Malformed(format!("epay notify lacks {name}")))
        };
        let money = field("money")?;
        let amount_cents = yuan_to_cents(&money)
            .map_err(|_| GatewayError::malformed("epay notify money is not an amount"))?;
        let status = field("trade_status")?;
        Ok(NotifyEvent {
            out_trade_no: field("out_trade_no")?,
            trade_no: field("trade_no")?,
            amount_cents,
            currency: "CNY".into(),
            paid: status == "TRADE_SUCCESS",
            status,
        })
    }

    fn notify_reply(&self, accepted: bool) -> NotifyReply {
        NotifyReply {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: if accepted { "success" } else { "fail" }.into(),
        }
    }

    async fn query(&self, order: &OrderRef) -> Result<GatewayState, GatewayError> {
        let url = format!("{}api.php", self.config.base);
        let query = [
            ("act", "order"),
            ("pid", self.config.pid.as_str()),
            ("key", self.config.key.as_str()),
            ("out_trade_no", order.out_trade_no.as_str()),
        ];
        let json = self.call(self.http.client().get(url).query(&query)).await?;
        // 0 unpaid, 1 paid, 2 refunded (so it was paid), 3 frozen, 4 pre-authorized.
        match json_int(&json["status"]) {
            Some(1) | Some(2) => {
                let money = text(&json["money"])
                    .ok_or_else(|| GatewayError::malformed("epay order lacks money"))?;
                Ok(GatewayState::Paid {
                    trade_no: text(&json["trade_no"])
                        .ok_or_else(|| GatewayError::malformed("epay order lacks trade_no"))?,
                    amount_cents: yuan_to_cents(&money)
                        .map_err(|_| GatewayError::malformed("epay order money"))?,
                    currency: "CNY".into(),
                })
            }
            Some(_) => Ok(GatewayState::Pending),
            None => Err(GatewayError::malformed("epay order lacks status")),
        }
    }

    async fn close(&self, _order: &OrderRef) -> Result<(), GatewayError> {
        // Epay has no close: its orders expire on their own.
        Ok(())
    }

    fn closes_orders(&self) -> bool {
        // Nothing to close: an order stays payable until the gateway drops it.
        false
    }

    fn refunds_once_per_number(&self) -> bool {
        // `out_refund_no` is sent, but Epay sites do not promise to honour it.
        false
    }

    async fn refund(&self, refund: &RefundRequest) -> Result<RefundDone, GatewayError> {
        require_cny(&refund.currency)?;
        require_amount(refund.amount_cents, "refund amount")?;
        let mut form: Vec<(&str, String)> = vec![
            ("pid", self.config.pid.clone()),
            ("key", self.config.key.clone()),
            ("money", cents_to_yuan(refund.amount_cents)),
            ("out_refund_no", refund.refund_no.clone()),
        ];
        match &refund.trade_no {
            Some(t) => form.push(("trade_no", t.clone())),
            None => form.push(("out_trade_no", refund.out_trade_no.clone())),
        }
        let url = format!("{}api.php", self.config.base);
        let request = self
            .http
            .client()
            .post(url)
            .query(&[("act", "refund")])
            .form(&form);
        self.call(request).await?;
        Ok(RefundDone {
            gateway_refund_id: refund.refund_no.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn gateway() -> Epay {
        let config = Config::parse(
            &json!({"pid": "1001", "api_url": "https://pay.example.com"}),
            &json!({"key": "secretkey"}),
        )
        .unwrap();
        Epay::new(
            config,
            Http::new(reqwest::Client::new(), Duration::from_secs(1)),
        )
    }

    fn signed(params: &[(&str, &str)], key: &str) -> String {
        let owned: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let sign =
            md5_hex(format!("{}{key}", canonical(&owned, &["sign", "sign_type"])).as_bytes())
                .unwrap();
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.extend_pairs(params);
        s.append_pair("sign", &sign).append_pair("sign_type", "MD5");
        s.finish()
    }

    fn notify(query: String) -> Notify {
        Notify {
            method: "GET".into(),
            query,
            ..Notify::default()
        }
    }

    const PAID: &[(&str, &str)] = &[
        ("pid", "1001"),
        ("trade_no", "2024T1"),
        ("out_trade_no", "ord-1"),
        ("type", "alipay"),
        ("name", "VIP 会员"),
        ("money", "12.30"),
        ("trade_status", "TRADE_SUCCESS"),
        ("param", ""),
    ];

    #[test]
    fn known_sign_vector() {
        // md5("a=1&b=2key")
        let g = gateway();
        let params = vec![
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ];
        let expected = md5_hex(b"a=1&b=2secretkey").unwrap();
        assert_eq!(g.sign(&params).unwrap(), expected);
    }

    #[test]
    fn verifies_a_paid_notify() {
        let g = gateway();
        let event = g
            .verify_notify(&notify(signed(PAID, "secretkey")), Utc::now())
            .unwrap();
        assert_eq!(
            event,
            NotifyEvent {
                out_trade_no: "ord-1".into(),
                trade_no: "2024T1".into(),
                amount_cents: 1230,
                currency: "CNY".into(),
                paid: true,
                status: "TRADE_SUCCESS".into(),
            }
        );
        // The same as a form POST.
        let post = Notify {
            method: "POST".into(),
            query: String::new(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: signed(PAID, "secretkey").into_bytes(),
        };
        assert!(g.verify_notify(&post, Utc::now()).unwrap().paid);
    }

    #[test]
    fn refuses_tampered_wrong_key_and_wrong_pid() {
        let g = gateway();
        let tampered = signed(PAID, "secretkey").replace("money=12.30", "money=0.01");
        assert_eq!(
            g.verify_notify(&notify(tampered), Utc::now()),
            Err(GatewayError::BadSignature)
        );
        assert_eq!(
            g.verify_notify(&notify(signed(PAID, "otherkey")), Utc::now()),
            Err(GatewayError::BadSignature)
        );
        let unsigned = "pid=1001&out_trade_no=ord-1".to_owned();
        assert_eq!(
            g.verify_notify(&notify(unsigned), Utc::now()),
            Err(GatewayError::BadSignature)
        );
        let mut other_pid = PAID.to_vec();
        other_pid[0] = ("pid", "1002");
        assert_eq!(
            g.verify_notify(&notify(signed(&other_pid, "secretkey")), Utc::now()),
            Err(GatewayError::WrongMerchant)
        );
    }

    #[test]
    fn unpaid_status_is_not_paid() {
        let g = gateway();
        let mut closed = PAID.to_vec();
        closed[6] = ("trade_status", "TRADE_CLOSED");
        let event = g
            .verify_notify(&notify(signed(&closed, "secretkey")), Utc::now())
            .unwrap();
        assert!(!event.paid);
        assert_eq!(event.status, "TRADE_CLOSED");
    }

    #[test]
    fn replies_exactly() {
        let g = gateway();
        assert_eq!(g.notify_reply(true).body, "success");
        assert_eq!(g.notify_reply(false).body, "fail");
    }

    #[test]
    fn config_checks() {
        let ok = json!({"pid": "1", "api_url": "https://p.example/"});
        assert!(Config::parse(&ok, &json!({"key": "k"})).is_ok());
        assert!(matches!(
            Config::parse(&ok, &json!({"key": ""})),
            Err(GatewayError::Config(m)) if m == "secrets.key must not be empty"
        ));
        assert!(
            Config::parse(
                &json!({"pid": "1", "api_url": "nope"}),
                &json!({"key": "k"})
            )
            .is_err()
        );
        assert!(Config::parse(&ok, &json!({"key": "k", "extra": "x"})).is_err());
    }
}
