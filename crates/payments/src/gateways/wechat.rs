//! WeChat Pay Native (API v3). Requests carry `Authorization: WECHATPAY2-SHA256-RSA2048 ...`,
//! a SHA256withRSA signature over `method\npath?query\ntimestamp\nnonce\nbody\n` with the
//! merchant API key; answers and notifies are signed by the platform over
//! `timestamp\nnonce\nbody\n` (headers `Wechatpay-Signature/-Timestamp/-Nonce/-Serial`). Notify
//! resources are AEAD_AES_256_GCM encrypted with the APIv3 key. Amounts are fen; CNY only.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use openssl::pkey::{PKey, Private, Public};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::crypto::{
    aes_256_gcm_open, load_private_key, load_public_key, random_hex, rsa_sign, rsa_verify,
};
use super::http::{Answer, Http};
use super::{
    Gateway, GatewayError, GatewayState, Notify, NotifyEvent, NotifyReply, OrderRef, PayAction,
    PayRequest, RefundDone, RefundRequest, parse_part, require, require_amount, require_url,
};

const NAME: &str = "wechat";

/// WeChat Pay's API base.
pub const WECHAT_API_BASE: &str = "https://api.mch.weixin.qq.com";

/// How far a notify's signed timestamp may be from now.
pub const MAX_SKEW_SECS: i64 = 300;

fn default_api_base() -> String {
    WECHAT_API_BASE.to_owned()
}

/// Public settings of a WeChat Pay Native channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WechatSettings {
    /// Merchant id (商户号).
    pub mchid: String,
    /// The AppID bound to the merchant (公众号/小程序/应用).
    pub appid: String,
    /// Serial number of the merchant API certificate (signs our requests).
    pub merchant_serial: String,
    /// Serial of the WeChat Pay platform certificate, or the platform public key id
    /// ("PUB_KEY_ID_..."), whose key signs answers and notifies.
    pub platform_serial: String,
    /// API base URL (default "https://api.mch.weixin.qq.com").
    #[serde(default = "default_api_base")]
    pub api_base: String,
}

/// Secrets of a WeChat Pay Native channel.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WechatSecrets {
    /// The merchant API private key (apiclient_key.pem).
    pub merchant_private_key: String,
    /// The platform public key (PEM public key, or the platform certificate PEM).
    pub platform_public_key: String,
    /// The APIv3 key: exactly 32 bytes.
    pub api_v3_key: String,
}

impl std::fmt::Debug for WechatSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WechatSecrets { <redacted> }")
    }
}

/// A parsed, checked WeChat Pay configuration.
pub(crate) struct Config {
    settings: WechatSettings,
    base: reqwest::Url,
    merchant_key: PKey<Private>,
    platform_key: PKey<Public>,
    api_v3_key: Vec<u8>,
}

impl Config {
    /// Parses and checks settings and secrets; keys must load, the APIv3 key must be 32 bytes.
    pub(crate) fn parse(settings: &Value, secrets: &Value) -> Result<Config, GatewayError> {
        let settings: WechatSettings = parse_part(settings, "settings")?;
        let secrets: WechatSecrets = parse_part(secrets, "secrets")?;
        require(&settings.mchid, "settings.mchid")?;
        require(&settings.appid, "settings.appid")?;
        require(&settings.merchant_serial, "settings.merchant_serial")?;
        require(&settings.platform_serial, "settings.platform_serial")?;
        let base = require_url(&settings.api_base, "settings.api_base")?;
        if secrets.api_v3_key.len() != 32 {
            return Err(GatewayError::Config(
                "secrets.api_v3_key must be exactly 32 bytes".into(),
            ));
        }
        Ok(Config {
            merchant_key: load_private_key(
                &secrets.merchant_private_key,
                "secrets.merchant_private_key",
            )?,
            platform_key: load_public_key(
                &secrets.platform_public_key,
                "secrets.platform_public_key",
            )?,
            api_v3_key: secrets.api_v3_key.into_bytes(),
            base,
            settings,
        })
    }
}

/// The WeChat Pay Native gateway.
pub struct WechatNative {
    config: Config,
    http: Http,
}

/// The platform's signature headers on an answer or notify.
struct Signed<'a> {
    signature: &'a str,
    timestamp: &'a str,
    nonce: &'a str,
    serial: &'a str,
}

impl WechatNative {
    pub(crate) fn new(config: Config, http: Http) -> WechatNative {
        WechatNative { config, http }
    }

    /// The `Authorization` header value for one request.
    fn authorization(
        &self,
        method: &str,
        path_and_query: &str,
        body: &str,
        timestamp: i64,
        nonce: &str,
    ) -> Result<String, GatewayError> {
        let message = format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n{body}\n");
        let signature = rsa_sign(&self.config.merchant_key, message.as_bytes())?;
        let s = &self.config.settings;
        Ok(format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"{}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{}\"",
            s.mchid, s.merchant_serial
        ))
    }

    /// Verifies the platform's signature over `timestamp\nnonce\nbody\n`.
    fn verify_signed(&self, signed: &Signed<'_>, body: &[u8]) -> Result<(), GatewayError> {
        if signed.serial != self.config.settings.platform_serial {
            return Err(GatewayError::BadSignature);
        }
        let mut message = format!("{}\n{}\n", signed.timestamp, signed.nonce).into_bytes();
        message.extend_from_slice(body);
        message.push(b'\n');
        rsa_verify(&self.config.platform_key, &message, signed.signature)
    }

    /// An API URL from path segments (each percent-encoded) and a query.
    fn url(
        &self,
        segments: &[&str],
        query: Option<(&str, &str)>,
    ) -> Result<reqwest::Url, GatewayError> {
        let mut url = self.config.base.clone();
        url.path_segments_mut()
            .map_err(|_| GatewayError::Config("settings.api_base cannot be a base URL".into()))?
            .pop_if_empty()
            .extend(segments);
        if let Some((k, v)) = query {
            url.query_pairs_mut().append_pair(k, v);
        }
        Ok(url)
    }

    /// Sends a signed request; a 2xx answer must carry a valid platform signature, a 4xx is
    /// `Refused { code, message }` from WeChat's error body.
    async fn call(
        &self,
        method: Method,
        url: reqwest::Url,
        body: Option<&Value>,
    ) -> Result<Answer, GatewayError> {
        let body_text = body.map(Value::to_string).unwrap_or_default();
        let path_and_query = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let auth = self.authorization(
            method.as_str(),
            &path_and_query,
            &body_text,
            Utc::now().timestamp(),
            &random_hex(16),
        )?;
        let mut request = self
            .http
            .client()
            .request(method, url)
            .header("Authorization", auth)
            .header("Accept", "application/json")
            .header(
                "User-Agent",
                concat!("confab-payments/", env!("CARGO_PKG_VERSION")),
            );
        if body.is_some() {
            request = request
                .header("Content-Type", "application/json")
                .body(body_text);
        }
        let answer = self.http.send(request, NAME).await?;
        if !answer.ok() {
            let json: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            let code = json["code"].as_str().unwrap_or("HTTP_ERROR").to_owned();
            let message = json["message"]
                .as_str()
                .map_or_else(|| format!("HTTP {}", answer.status), str::to_owned);
            return Err(GatewayError::Refused { code, message });
        }
        let signed = Signed {
            signature: answer.header("wechatpay-signature").unwrap_or_default(),
            timestamp: answer.header("wechatpay-timestamp").unwrap_or_default(),
            nonce: answer.header("wechatpay-nonce").unwrap_or_default(),
            serial: answer.header("wechatpay-serial").unwrap_or_default(),
        };
        self.verify_signed(&signed, &answer.body)?;
        Ok(answer)
    }

    /// Decrypts a notify's `resource` into its JSON.
    fn open_resource(&self, resource: &Value) -> Result<Value, GatewayError> {
        if resource["algorithm"].as_str() != Some("AEAD_AES_256_GCM") {
            return Err(GatewayError::malformed(
                "wechat notify: unknown resource algorithm",
            ));
        }
        let field = |name: &str| {
            resource[name].as_str().ok_or_else(|| {
                GatewayError::Malformed(format!("wechat notify lacks resource.{name}"))
            })
        };
        let plain = aes_256_gcm_open(
            &self.config.api_v3_key,
            field("nonce")?.as_bytes(),
            resource["associated_data"]
                .as_str()
                .unwrap_or("")
                .as_bytes(),
            field("ciphertext")?,
        )?;
        serde_json::from_slice(&plain)
            .map_err(|_| GatewayError::malformed("wechat notify resource is not JSON"))
    }
}

/// Reads `amount.total` and `amount.currency` (default CNY).
fn amount_of(v: &Value) -> Result<(i64, String), GatewayError> {
    let total = v["amount"]["total"]
        .as_i64()
        .ok_or_else(|| GatewayError::malformed("wechat: amount.total missing"))?;
    let currency = v["amount"]["currency"]
        .as_str()
        .unwrap_or("CNY")
        .to_ascii_uppercase();
    Ok((total, currency))
}

fn text(v: &Value, name: &str) -> Result<String, GatewayError> {
    v[name]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| GatewayError::Malformed(format!("wechat: {name} missing")))
}

fn require_cny(currency: &str) -> Result<(), GatewayError> {
    if currency != "CNY" {
        return Err(GatewayError::Config(format!(
            "currency {currency} is not supported by wechat_native (CNY only)"
        )));
    }
    Ok(())
}

#[async_trait]
impl Gateway for WechatNative {
    async fn create(&self, order: &PayRequest) -> Result<PayAction, GatewayError> {
        require_cny(&order.currency)?;
        require_amount(order.amount_cents, "amount")?;
        let s = &self.config.settings;
        let time_expire = order
            .expires_at
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .to_rfc3339_opts(SecondsFormat::Secs, false);
        let body = json!({
            "appid": s.appid,
            "mchid": s.mchid,
            "description": order.subject,
            "out_trade_no": order.out_trade_no,
            "time_expire": time_expire,
            "notify_url": order.notify_url,
            "amount": {"total": order.amount_cents, "currency": order.currency},
        });
        let url = self.url(&["v3", "pay", "transactions", "native"], None)?;
        let answer = self.call(Method::POST, url, Some(&body)).await?;
        let json: Value = answer.json(NAME)?;
        Ok(PayAction {
            qr_code: Some(text(&json, "code_url")?),
            pay_url: None,
            gateway_ref: None,
        })
    }

    fn verify_notify(
        &self,
        notify: &Notify,
        now: DateTime<Utc>,
    ) -> Result<NotifyEvent, GatewayError> {
        let header = |name: &str| notify.header(name).ok_or(GatewayError::BadSignature);
        let signed = Signed {
            signature: header("wechatpay-signature")?,
            timestamp: header("wechatpay-timestamp")?,
            nonce: header("wechatpay-nonce")?,
            serial: header("wechatpay-serial")?,
        };
        self.verify_signed(&signed, &notify.body)?;
        let timestamp: i64 = signed
            .timestamp
            .trim()
            .parse()
            .map_err(|_| GatewayError::malformed("wechat notify timestamp"))?;
        if (now.timestamp() - timestamp).abs() > MAX_SKEW_SECS {
            return Err(GatewayError::Stale);
        }
        let envelope: Value = serde_json::from_slice(&notify.body)
            .map_err(|_| GatewayError::malformed("wechat notify is not JSON"))?;
        let resource = self.open_resource(&envelope["resource"])?;
        let s = &self.config.settings;
        if resource["appid"].as_str() != Some(s.appid.as_str())
            || resource["mchid"].as_str() != Some(s.mchid.as_str())
        {
            return Err(GatewayError::WrongMerchant);
        }
        let event_type = envelope["event_type"].as_str().unwrap_or_default();
        let status = resource["trade_state"]
            .as_str()
            .unwrap_or(event_type)
            .to_owned();
        let (amount_cents, currency) = amount_of(&resource)?;
        let paid = event_type == "TRANSACTION.SUCCESS" && status == "SUCCESS";
        // A failed payment may come without a transaction id; a paid one may not.
        let trade_no = match text(&resource, "transaction_id") {
            Err(e) if paid => return Err(e),
            other => other.unwrap_or_default(),
        };
        Ok(NotifyEvent {
            out_trade_no: text(&resource, "out_trade_no")?,
            trade_no,
            amount_cents,
            currency,
            paid,
            status,
        })
    }

    fn notify_reply(&self, accepted: bool) -> NotifyReply {
        // API v3: success is 200 or 204 with no body; failure is 4xx/5xx with {code, message}.
        if accepted {
            NotifyReply {
                status: 204,
                content_type: "text/plain; charset=utf-8",
                body: String::new(),
            }
        } else {
            NotifyReply {
                status: 400,
                content_type: "application/json",
                body: json!({"code": "FAIL", "message": "失败"}).to_string(),
            }
        }
    }

    async fn query(&self, order: &OrderRef) -> Result<GatewayState, GatewayError> {
        let s = &self.config.settings;
        let url = self.url(
            &[
                "v3",
                "pay",
                "transactions",
                "out-trade-no",
                &order.out_trade_no,
            ],
            Some(("mchid", &s.mchid)),
        )?;
        let json: Value = self.call(Method::GET, url, None).await?.json(NAME)?;
        match json["trade_state"].as_str().unwrap_or_default() {
            "SUCCESS" | "REFUND" => {
                let (amount_cents, currency) = amount_of(&json)?;
                Ok(GatewayState::Paid {
                    trade_no: text(&json, "transaction_id")?,
                    amount_cents,
                    currency,
                })
            }
            "NOTPAY" | "USERPAYING" => Ok(GatewayState::Pending),
            "CLOSED" | "REVOKED" | "PAYERROR" => Ok(GatewayState::Closed),
            _ => Err(GatewayError::malformed("wechat query: unknown trade_state")),
        }
    }

    async fn close(&self, order: &OrderRef) -> Result<(), GatewayError> {
        let url = self.url(
            &[
                "v3",
                "pay",
                "transactions",
                "out-trade-no",
                &order.out_trade_no,
                "close",
            ],
            None,
        )?;
        let body = json!({ "mchid": self.config.settings.mchid });
        self.call(Method::POST, url, Some(&body)).await.map(drop)
    }

    async fn refund(&self, refund: &RefundRequest) -> Result<RefundDone, GatewayError> {
        require_cny(&refund.currency)?;
        require_amount(refund.amount_cents, "refund amount")?;
        let mut body = json!({
            "out_refund_no": refund.refund_no,
            "amount": {
                "refund": refund.amount_cents,
                "total": refund.total_cents,
                "currency": refund.currency,
            },
        });
        match &refund.trade_no {
            Some(t) => body["transaction_id"] = json!(t),
            None => body["out_trade_no"] = json!(refund.out_trade_no),
        }
        if !refund.reason.is_empty() {
            body["reason"] = json!(refund.reason.chars().take(80).collect::<String>());
        }
        let url = self.url(&["v3", "refund", "domestic", "refunds"], None)?;
        let json: Value = self
            .call(Method::POST, url, Some(&body))
            .await?
            .json(NAME)?;
        Ok(RefundDone {
            gateway_refund_id: text(&json, "refund_id")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::crypto::tests::key_pair;
    use super::*;
    use base64::Engine as _;
    use openssl::symm::{Cipher, encrypt_aead};
    use std::time::Duration;

    const V3_KEY: &str = "0123456789abcdef0123456789abcdef";

    struct Setup {
        gateway: WechatNative,
        platform_private: PKey<Private>,
        merchant_public: PKey<Public>,
    }

    fn setup() -> Setup {
        let (merchant_private, merchant_public) = key_pair();
        let (platform_private, platform_public) = key_pair();
        let config = Config::parse(
            &json!({"mchid": "1900000001", "appid": "wx0001", "merchant_serial": "MSERIAL",
                    "platform_serial": "PSERIAL"}),
            &json!({"merchant_private_key": merchant_private,
                    "platform_public_key": platform_public, "api_v3_key": V3_KEY}),
        )
        .unwrap();
        Setup {
            gateway: WechatNative::new(
                config,
                Http::new(reqwest::Client::new(), Duration::from_secs(1)),
            ),
            platform_private: load_private_key(&platform_private, "k").unwrap(),
            merchant_public: load_public_key(&merchant_public, "k").unwrap(),
        }
    }

    fn encrypt(plain: &Value, key: &[u8]) -> Value {
        let mut tag = [0u8; 16];
        let mut ct = encrypt_aead(
            Cipher::aes_256_gcm(),
            key,
            Some(b"nonce0123456"),
            b"transaction",
            plain.to_string().as_bytes(),
            &mut tag,
        )
        .unwrap();
        ct.extend_from_slice(&tag);
        json!({"algorithm": "AEAD_AES_256_GCM", "original_type": "transaction",
               "associated_data": "transaction", "nonce": "nonce0123456",
               "ciphertext": base64::engine::general_purpose::STANDARD.encode(ct)})
    }

    fn transaction(appid: &str) -> Value {
        json!({"appid": appid, "mchid": "1900000001", "out_trade_no": "ord-9",
               "transaction_id": "4200001", "trade_state": "SUCCESS",
               "amount": {"total": 990, "payer_total": 900, "currency": "CNY"}})
    }

    fn notify(s: &Setup, resource: Value, ts: i64, serial: &str) -> Notify {
        let body = json!({"id": "EV-1", "create_time": "2024-05-01T12:00:00+08:00",
                          "event_type": "TRANSACTION.SUCCESS", "resource_type": "encrypt-resource",
                          "summary": "支付成功", "resource": resource})
        .to_string();
        let message = format!("{ts}\nabcnonce\n{body}\n");
        let signature = rsa_sign(&s.platform_private, message.as_bytes()).unwrap();
        Notify {
            method: "POST".into(),
            query: String::new(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("wechatpay-signature".into(), signature),
                ("wechatpay-timestamp".into(), ts.to_string()),
                ("wechatpay-nonce".into(), "abcnonce".into()),
                ("wechatpay-serial".into(), serial.into()),
            ],
            body: body.into_bytes(),
        }
    }

    #[test]
    fn verifies_and_decrypts_a_notify() {
        let s = setup();
        let now = Utc::now();
        let n = notify(
            &s,
            encrypt(&transaction("wx0001"), V3_KEY.as_bytes()),
            now.timestamp(),
            "PSERIAL",
        );
        let event = s.gateway.verify_notify(&n, now).unwrap();
        assert_eq!(
            event,
            NotifyEvent {
                out_trade_no: "ord-9".into(),
                trade_no: "4200001".into(),
                amount_cents: 990,
                currency: "CNY".into(),
                paid: true,
                status: "SUCCESS".into(),
            }
        );
    }

    #[test]
    fn refuses_each_kind_of_bad_notify() {
        let s = setup();
        let now = Utc::now();
        let ts = now.timestamp();
        let good = encrypt(&transaction("wx0001"), V3_KEY.as_bytes());
        let check =
            |n: Notify, want: GatewayError| assert_eq!(s.gateway.verify_notify(&n, now), Err(want));
        check(
            notify(&s, good.clone(), ts - 301, "PSERIAL"),
            GatewayError::Stale,
        );
        check(
            notify(&s, good.clone(), ts + 301, "PSERIAL"),
            GatewayError::Stale,
        );
        assert!(
            s.gateway
                .verify_notify(&notify(&s, good.clone(), ts - 300, "PSERIAL"), now)
                .is_ok()
        );
        check(
            notify(&s, good.clone(), ts, "OTHER"),
            GatewayError::BadSignature,
        );
        let mut tampered = notify(&s, good.clone(), ts, "PSERIAL");
        tampered.body = String::from_utf8(tampered.body)
            .unwrap()
            .replace("EV-1", "EV-2")
            .into_bytes();
        check(tampered, GatewayError::BadSignature);
        let mut unsigned = notify(&s, good.clone(), ts, "PSERIAL");
        unsigned.headers.retain(|(n, _)| n != "wechatpay-signature");
        check(unsigned, GatewayError::BadSignature);
        check(
            notify(
                &s,
                encrypt(&transaction("wx0001"), &[9u8; 32]),
                ts,
                "PSERIAL",
            ),
            GatewayError::BadSignature,
        );
        check(
            notify(
                &s,
                encrypt(&transaction("wx9999"), V3_KEY.as_bytes()),
                ts,
                "PSERIAL",
            ),
            GatewayError::WrongMerchant,
        );
    }

    #[test]
    fn authorization_header_verifies_with_the_merchant_public_key() {
        let s = setup();
        let header = s
            .gateway
            .authorization(
                "POST",
                "/v3/pay/transactions/native",
                "{\"a\":1}",
                1554208460,
                "NONCE",
            )
            .unwrap();
        assert!(header.starts_with(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1900000001\",nonce_str=\"NONCE\",signature=\""
        ));
        assert!(header.ends_with(",timestamp=\"1554208460\",serial_no=\"MSERIAL\""));
        let signature = header
            .split("signature=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let message = "POST\n/v3/pay/transactions/native\n1554208460\nNONCE\n{\"a\":1}\n";
        assert_eq!(
            rsa_verify(&s.merchant_public, message.as_bytes(), signature),
            Ok(())
        );
    }

    #[test]
    fn urls_encode_segments_and_keep_the_query_signed() {
        let s = setup();
        let url = s
            .gateway
            .url(
                &["v3", "pay", "transactions", "out-trade-no", "a b"],
                Some(("mchid", "19")),
            )
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://api.mch.weixin.qq.com/v3/pay/transactions/out-trade-no/a%20b?mchid=19"
        );
    }

    #[test]
    fn replies_per_v3() {
        let s = setup();
        assert_eq!(s.gateway.notify_reply(true).status, 204);
        assert!(s.gateway.notify_reply(true).body.is_empty());
        let no = s.gateway.notify_reply(false);
        assert_eq!(no.status, 400);
        assert!(no.body.contains("\"FAIL\""));
    }

    #[test]
    fn api_v3_key_length_is_checked() {
        let (private, public) = key_pair();
        let err = Config::parse(
            &json!({"mchid": "1", "appid": "wx", "merchant_serial": "M", "platform_serial": "P"}),
            &json!({"merchant_private_key": private, "platform_public_key": public, "api_v3_key": "short"}),
        )
        .err()
        .unwrap();
        assert_eq!(
            err,
            GatewayError::Config("secrets.api_v3_key must be exactly 32 bytes".into())
        );
    }
}
