//! Sending a request and turning a non-success answer into a [`ProviderError`], the same way
//! for every adapter.

use std::time::Duration;

use serde_json::Value;

use crate::ProviderError;

/// Sends and waits for the response head at most `limit`; maps error statuses.
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    limit: Duration,
) -> Result<reqwest::Response, ProviderError> {
    let response = tokio::time::timeout(limit, request.send())
        .await
        .map_err(|_| ProviderError::Timeout)?
        .map_err(ProviderError::from_reqwest)?;
    if response.status().is_success() {
        return Ok(response);
    }
    Err(error_from(response).await)
}

/// Reads the whole body as JSON within `limit` (for answers that are small by nature).
pub(crate) async fn json_body<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    limit: Duration,
) -> Result<T, ProviderError> {
    let bytes = tokio::time::timeout(limit, response.bytes())
        .await
        .map_err(|_| ProviderError::Timeout)?
        .map_err(ProviderError::from_reqwest)?;
    serde_json::from_slice(&bytes).map_err(|e| ProviderError::Malformed(e.to_string()))
}

async fn error_from(response: reqwest::Response) -> ProviderError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = tokio::time::timeout(Duration::from_secs(5), response.bytes())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    ProviderError::from_status(status, error_message(&body), retry_after)
}

/// The message out of any provider's error body: OpenAI `{"error":{"message"}}`, Ollama
/// `{"error":"..."}`, Stability `{"errors":[...]}`; otherwise the start of the text.
fn error_message(body: &[u8]) -> String {
    let text = || {
        String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .to_owned()
    };
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return text();
    };
    let found = value
        .pointer("/error/message")
        .or_else(|| value.get("error"))
        .or_else(|| value.pointer("/errors/0"))
        .or_else(|| value.get("message"));
    match found {
        Some(Value::String(message)) => message.chars().take(300).collect(),
        _ => text(),
    }
}

#[cfg(test)]
mod tests {
    use super::error_message;

    #[test]
    fn reads_each_providers_error_shape() {
        assert_eq!(
            error_message(br#"{"error":{"message":"bad key","type":"x"}}"#),
            "bad key"
        );
        assert_eq!(
            error_message(br#"{"error":"model not found"}"#),
            "model not found"
        );
        assert_eq!(
            error_message(br#"{"id":"1","name":"bad_request","errors":["prompt: required"]}"#),
            "prompt: required"
        );
        assert_eq!(error_message(b"gateway down"), "gateway down");
    }
}
