//! The HTTP edge every gateway shares: one timeout around send and body, a cap on the body, and
//! the mapping of transport failures and 5xx answers to [`GatewayError::Unreachable`]. Messages
//! never carry URLs (Epay's query URL holds its key).

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;

use super::GatewayError;

/// Gateways answer a few KiB; anything past this is not a gateway.
const MAX_BODY: usize = 1 << 20;

/// An HTTP client with the channel's timeout.
#[derive(Clone, Debug)]
pub(crate) struct Http {
    client: reqwest::Client,
    timeout: Duration,
}

/// A gateway's answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Answer {
    /// A header as text, if present and ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self, gateway: &str) -> Result<T, GatewayError> {
        serde_json::from_slice(&self.body)
            .map_err(|_| GatewayError::Malformed(format!("{gateway} answered something not JSON")))
    }

    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Http {
    /// Wraps a client; `timeout` bounds each call.
    pub fn new(client: reqwest::Client, timeout: Duration) -> Http {
        Http { client, timeout }
    }

    /// The client, to build requests with.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request and reads the body, all within the timeout. 5xx is `Unreachable`.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        gateway: &str,
    ) -> Result<Answer, GatewayError> {
        let call = async {
            let mut response = request.send().await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if body.len() + chunk.len() > MAX_BODY {
                    return Ok(Err(GatewayError::Malformed(format!(
                        "{gateway} answered more than {MAX_BODY} bytes"
                    ))));
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>(Ok(Answer {
                status,
                headers,
                body,
            }))
        };
        let answer = match tokio::time::timeout(self.timeout, call).await {
            Err(_) => {
                return Err(GatewayError::Unreachable(format!(
                    "{gateway} did not answer within {} ms",
                    self.timeout.as_millis()
                )));
            }
            Ok(Err(e)) => return Err(transport_error(gateway, &e)),
            Ok(Ok(answer)) => answer?,
        };
        if answer.status >= 500 {
            tracing::warn!(
                gateway,
                status = answer.status,
                "payment gateway server error"
            );
            return Err(GatewayError::Unreachable(format!(
                "{gateway} answered HTTP {}",
                answer.status
            )));
        }
        Ok(answer)
    }
}

fn transport_error(gateway: &str, e: &reqwest::Error) -> GatewayError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "broke off its answer"
    } else {
        "request failed"
    };
    tracing::warn!(gateway, error = %ErrorWithoutUrl(e), "payment gateway transport error");
    GatewayError::Unreachable(format!("{gateway}: {what}"))
}

/// Displays a reqwest error and its sources without the URL (which may carry a key).
struct ErrorWithoutUrl<'a>(&'a reqwest::Error);

impl std::fmt::Display for ErrorWithoutUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut source = std::error::Error::source(self.0);
        let mut first = true;
        while let Some(s) = source {
            if !first {
                f.write_str(": ")?;
            }
            write!(f, "{s}")?;
            first = false;
            source = s.source();
        }
        if first {
            f.write_str("reqwest error")?;
        }
        Ok(())
    }
}
