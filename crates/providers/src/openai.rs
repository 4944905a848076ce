//! OpenAI and Azure OpenAI: the same JSON and SSE, different paths and auth header.
//! OpenAI: `{base}/v1/...` with `Authorization: Bearer`. Azure:
//! `{base}/openai/deployments/{deployment}/...?api-version=` with `api-key`.

use std::collections::VecDeque;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::clients::Clients;
use crate::http::{json_body, send};
use crate::lines::{Step, chat_events};
use crate::{
    ChatEvent, ChatRequest, ChatStream, CheckReport, Completion, GeneratedImage, ImageEditRequest,
    ImageRequest, Provider, ProviderError, ProviderKind, Target, Timeouts, Usage,
};

pub struct OpenAi {
    clients: Clients,
    timeouts: Timeouts,
}

impl OpenAi {
    pub(crate) fn new(clients: Clients, timeouts: Timeouts) -> Self {
        Self { clients, timeouts }
    }

    /// `operation` is the path after `/v1/` (OpenAI) or after the deployment (Azure).
    fn post(&self, target: &Target, operation: &str) -> reqwest::RequestBuilder {
        let base = target.base_url.trim_end_matches('/');
        match target.kind {
            ProviderKind::AzureOpenAi => self
                .clients
                .client()
                .post(format!(
                    "{base}/openai/deployments/{}/{operation}",
                    target.model
                ))
                .query(&[("api-version", azure_version(target))])
                .header("api-key", &target.api_key),
            _ => self
                .clients
                .client()
                .post(format!("{}/{operation}", v1_base(base)))
                .bearer_auth(&target.api_key),
        }
    }

    fn chat_body(target: &Target, request: &ChatRequest, stream: bool) -> Value {
        let mut body: Map<String, Value> = request.extra.clone();
        body.insert("model".into(), Value::String(target.model.clone()));
        body.insert("messages".into(), Value::Array(request.messages.clone()));
        body.insert("stream".into(), Value::Bool(stream));
        if stream {
            // Always ask for usage: the caller's bill depends on it, even when its own client
            // did not ask to see it.
            body.insert("stream_options".into(), json!({"include_usage": true}));
        } else {
            body.remove("stream_options");
        }
        for (name, value) in request.sampling("max_tokens") {
            body.insert(name.to_owned(), value);
        }
        if let Some(stop) = request.stop.clone() {
            body.insert("stop".into(), stop);
        }
        Value::Object(body)
    }

    async fn images(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<GeneratedImage>, ProviderError> {
        let response = send(request, self.timeouts.request).await?;
        let body: ImagesResponse = json_body(response, self.timeouts.request).await?;
        let mut images = Vec::with_capacity(body.data.len());
        for item in body.data {
            let bytes = match (item.b64_json, item.url) {
                (Some(b64), _) => STANDARD
                    .decode(b64)
                    .map_err(|e| ProviderError::Malformed(e.to_string()))?,
                (None, Some(url)) => self.download(&url).await?,
                (None, None) => {
                    return Err(ProviderError::Malformed("an image without data".into()));
                }
            };
            images.push(GeneratedImage {
                bytes: Bytes::from(bytes),
                content_type: "image/png".into(),
                revised_prompt: item.revised_prompt,
                seed: None,
            });
        }
        Ok(images)
    }

    async fn download(&self, url: &str) -> Result<Vec<u8>, ProviderError> {
        let response = send(self.clients.client().get(url), self.timeouts.request).await?;
        let bytes = tokio::time::timeout(self.timeouts.request, response.bytes())
            .await
            .map_err(|_| ProviderError::Timeout)?
            .map_err(ProviderError::from_reqwest)?;
        Ok(bytes.to_vec())
    }
}

fn v1_base(base: &str) -> String {
    if base.ends_with("/v1") {
        base.to_owned()
    } else {
        format!("{base}/v1")
    }
}

fn azure_version(target: &Target) -> &str {
    target.api_version.as_deref().unwrap_or("2024-10-21")
}

#[async_trait::async_trait]
impl Provider for OpenAi {
    async fn stream_chat(
        &self,
        target: &Target,
        request: &ChatRequest,
    ) -> Result<ChatStream, ProviderError> {
        let http = self
            .post(target, "chat/completions")
            .json(&Self::chat_body(target, request, true));
        let response = send(http, self.timeouts.first_byte).await?;
        Ok(chat_events(
            response,
            self.timeouts.idle,
            parse_sse_line,
            "the stream ended without [DONE]",
        ))
    }

    async fn complete(
        &self,
        target: &Target,
        request: &ChatRequest,
    ) -> Result<Completion, ProviderError> {
        let http = self
            .post(target, "chat/completions")
            .json(&Self::chat_body(target, request, false));
        let response = send(http, self.timeouts.request).await?;
        let body: CompletionResponse = json_body(response, self.timeouts.request).await?;
        let choice = body
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| ProviderError::Malformed("no choices".into()))?;
        Ok(Completion {
            content: choice.message.content.unwrap_or_default(),
            tool_calls: choice.message.tool_calls,
            finish_reason: choice.finish_reason.unwrap_or_else(|| "stop".into()),
            usage: body.usage.map(WireUsage::into_usage),
        })
    }

    async fn generate_images(
        &self,
        target: &Target,
        request: &ImageRequest,
    ) -> Result<Vec<GeneratedImage>, ProviderError> {
        let mut body = json!({
            "model": target.model,
            "prompt": request.prompt,
            "n": request.n,
        });
        // gpt-image models always answer base64 and refuse the parameter.
        if !target.model.starts_with("gpt-image") {
            body["response_format"] = json!("b64_json");
        }
        for (name, value) in [
            ("size", &request.size),
            ("quality", &request.quality),
            ("style", &request.style),
        ] {
            if let Some(value) = value {
                body[name] = json!(value);
            }
        }
        self.images(self.post(target, "images/generations").json(&body))
            .await
    }

    async fn edit_images(
        &self,
        target: &Target,
        request: &ImageEditRequest,
    ) -> Result<Vec<GeneratedImage>, ProviderError> {
        let image = reqwest::multipart::Part::bytes(request.image.to_vec())
            .file_name("image.png")
            .mime_str(&request.image_content_type)
            .map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let mut form = reqwest::multipart::Form::new()
            .part("image", image)
            .text("prompt", request.prompt.clone())
            .text("model", target.model.clone())
            .text("n", request.n.to_string());
        if !target.model.starts_with("gpt-image") {
            form = form.text("response_format", "b64_json");
        }
        if let Some(size) = &request.size {
            form = form.text("size", size.clone());
        }
        if let Some(mask) = &request.mask {
            form = form.part(
                "mask",
                reqwest::multipart::Part::bytes(mask.to_vec()).file_name("mask.png"),
            );
        }
        self.images(self.post(target, "images/edits").multipart(form))
            .await
    }

    async fn check(&self, target: &Target) -> Result<CheckReport, ProviderError> {
        let base = target.base_url.trim_end_matches('/');
        let limit = self.timeouts.request.min(self.timeouts.first_byte);
        if target.kind == ProviderKind::AzureOpenAi {
            let request = self
                .clients
                .client()
                .get(format!("{base}/openai/deployments"))
                .query(&[("api-version", "2022-12-01")])
                .header("api-key", &target.api_key);
            let list: ModelList = json_body(send(request, limit).await?, limit).await?;
            return Ok(CheckReport {
                models: list.data.into_iter().map(|m| m.id).collect(),
                balance: None,
            });
        }
        let request = self
            .clients
            .client()
            .get(format!("{}/models", v1_base(base)))
            .bearer_auth(&target.api_key);
        let list: ModelList = json_body(send(request, limit).await?, limit).await?;
        // The balance endpoint is undocumented and often closed; its failure is no failure.
        let balance_request = self
            .clients
            .client()
            .get(format!("{base}/dashboard/billing/credit_grants"))
            .bearer_auth(&target.api_key);
        let balance = match send(balance_request, limit).await {
            Ok(response) => json_body::<Value>(response, limit)
                .await
                .ok()
                .and_then(|v| v.get("total_available").and_then(Value::as_f64)),
            Err(_) => None,
        };
        Ok(CheckReport {
            models: list.data.into_iter().map(|m| m.id).collect(),
            balance,
        })
    }
}

/// One SSE line: `data: {chunk}` or `data: [DONE]`; other lines (blank separators, `event:`,
/// `:` comments) carry nothing.
fn parse_sse_line(line: &[u8], out: &mut VecDeque<ChatEvent>) -> Result<Step, ProviderError> {
    let Some(data) = line.strip_prefix(b"data:") else {
        return Ok(Step::Continue);
    };
    let data = data.trim_ascii_start();
    if data == b"[DONE]" {
        return Ok(Step::Done);
    }
    parse_chunk(data, out)?;
    Ok(Step::Continue)
}

fn parse_chunk(data: &[u8], out: &mut VecDeque<ChatEvent>) -> Result<(), ProviderError> {
    let chunk: StreamChunk =
        serde_json::from_slice(data).map_err(|e| ProviderError::Malformed(e.to_string()))?;
    if let Some(error) = chunk.error {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("stream error")
            .to_owned();
        return Err(ProviderError::Server {
            status: 500,
            message,
        });
    }
    for choice in chunk.choices {
        let content = choice.delta.content.unwrap_or_default();
        if !content.is_empty() || choice.delta.tool_calls.is_some() {
            out.push_back(ChatEvent::Delta {
                content,
                tool_calls: choice.delta.tool_calls,
            });
        }
        if let Some(reason) = choice.finish_reason {
            out.push_back(ChatEvent::Finish { reason });
        }
    }
    if let Some(usage) = chunk.usage {
        out.push_back(ChatEvent::Usage(usage.into_usage()));
    }
    Ok(())
}

#[derive(Deserialize)]
struct StreamChunk {
    #[serde(default)]
    choices: Vec<StreamChoice>,
    usage: Option<WireUsage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct StreamChoice {
    #[serde(default)]
    delta: Delta,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    content: Option<String>,
    tool_calls: Option<Value>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

impl WireUsage {
    fn into_usage(self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
        }
    }
}

#[derive(Deserialize)]
struct CompletionResponse {
    choices: Vec<CompletionChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct CompletionChoice {
    message: Delta,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ImagesResponse {
    data: Vec<ImageItem>,
}

#[derive(Deserialize)]
struct ImageItem {
    b64_json: Option<String>,
    url: Option<String>,
    revised_prompt: Option<String>,
}

#[derive(Deserialize)]
struct ModelList {
    data: Vec<ModelItem>,
}

#[derive(Deserialize)]
struct ModelItem {
    id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_yields_delta_finish_and_usage() {
        let mut out = VecDeque::new();
        parse_chunk(
            br#"{"id":"c","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#,
            &mut out,
        )
        .unwrap();
        parse_chunk(
            br#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#,
            &mut out,
        )
        .unwrap();
        parse_chunk(
            br#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            Vec::from(out),
            vec![
                ChatEvent::Delta {
                    content: "Hi".into(),
                    tool_calls: None
                },
                ChatEvent::Finish {
                    reason: "stop".into()
                },
                ChatEvent::Usage(Usage {
                    prompt_tokens: 5,
                    completion_tokens: 2
                }),
            ]
        );
    }

    #[test]
    fn malformed_chunk_is_an_error() {
        let mut out = VecDeque::new();
        assert!(matches!(
            parse_chunk(b"{not json", &mut out),
            Err(ProviderError::Malformed(_))
        ));
    }

    #[test]
    fn v1_base_is_not_doubled() {
        assert_eq!(
            v1_base("https://api.openai.com"),
            "https://api.openai.com/v1"
        );
        assert_eq!(v1_base("http://x/v1"), "http://x/v1");
    }
}
