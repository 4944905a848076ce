//! Ollama (Qwen and other local models): `POST /api/chat` answering NDJSON, one object per
//! line, the last with `done: true` and the token counts `prompt_eval_count` / `eval_count`.

use std::collections::VecDeque;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::clients::Clients;
use crate::http::{json_body, send};
use crate::lines::{Step, chat_events};
use crate::{
    ChatEvent, ChatRequest, ChatStream, CheckReport, Completion, GeneratedImage, ImageEditRequest,
    ImageRequest, Provider, ProviderError, Target, Timeouts, Usage,
};

pub struct Ollama {
    clients: Clients,
    timeouts: Timeouts,
}

impl Ollama {
    pub(crate) fn new(clients: Clients, timeouts: Timeouts) -> Self {
        Self { clients, timeouts }
    }

    fn request(&self, target: &Target, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}{path}", target.base_url.trim_end_matches('/'));
        let builder = if path == "/api/chat" {
            self.clients.client().post(url)
        } else {
            self.clients.client().get(url)
        };
        // A bare Ollama needs no key; one behind an authenticating proxy does.
        if target.api_key.is_empty() {
            builder
        } else {
            builder.bearer_auth(&target.api_key)
        }
    }

    fn chat_body(target: &Target, request: &ChatRequest, stream: bool) -> Value {
        let mut options: Map<String, Value> = request
            .sampling("num_predict")
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        if let Some(stop) = request.stop.clone() {
            // Ollama takes a list only.
            let stop = match stop {
                Value::String(s) => json!([s]),
                other => other,
            };
            options.insert("stop".into(), stop);
        }
        json!({
            "model": target.model,
            "messages": request.messages.iter().map(to_ollama_message).collect::<Vec<_>>(),
            "stream": stream,
            "options": options,
        })
    }
}

/// OpenAI content parts become Ollama's text plus base64 `images`.
fn to_ollama_message(message: &Value) -> Value {
    let role = message.get("role").cloned().unwrap_or(json!("user"));
    match message.get("content") {
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            let mut images = Vec::new();
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        text.push_str(part.get("text").and_then(Value::as_str).unwrap_or(""))
                    }
                    Some("image_url") => {
                        let url = part
                            .pointer("/image_url/url")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        if let Some((_, data)) = url.split_once(";base64,") {
                            images.push(Value::String(data.to_owned()));
                        }
                    }
                    _ => {}
                }
            }
            json!({"role": role, "content": text, "images": images})
        }
        Some(content) => json!({"role": role, "content": content}),
        None => json!({"role": role, "content": ""}),
    }
}

#[async_trait::async_trait]
impl Provider for Ollama {
    async fn stream_chat(
        &self,
        target: &Target,
        request: &ChatRequest,
    ) -> Result<ChatStream, ProviderError> {
        let http = self
            .request(target, "/api/chat")
            .json(&Self::chat_body(target, request, true));
        let response = send(http, self.timeouts.first_byte).await?;
        Ok(chat_events(
            response,
            self.timeouts.idle,
            parse_line,
            "the stream ended before done",
        ))
    }

    async fn complete(
        &self,
        target: &Target,
        request: &ChatRequest,
    ) -> Result<Completion, ProviderError> {
        let http = self
            .request(target, "/api/chat")
            .json(&Self::chat_body(target, request, false));
        let response = send(http, self.timeouts.request).await?;
        let line: ChatLine = json_body(response, self.timeouts.request).await?;
        if let Some(error) = line.error {
            return Err(ProviderError::Server {
                status: 500,
                message: error,
            });
        }
        Ok(Completion {
            content: line.message.map(|m| m.content).unwrap_or_default(),
            tool_calls: None,
            finish_reason: line.done_reason.unwrap_or_else(|| "stop".into()),
            usage: Some(Usage {
                prompt_tokens: line.prompt_eval_count.unwrap_or(0),
                completion_tokens: line.eval_count.unwrap_or(0),
            }),
        })
    }

    async fn generate_images(
        &self,
        _target: &Target,
        _request: &ImageRequest,
    ) -> Result<Vec<GeneratedImage>, ProviderError> {
        Err(ProviderError::Unsupported("image generation"))
    }

    async fn edit_images(
        &self,
        _target: &Target,
        _request: &ImageEditRequest,
    ) -> Result<Vec<GeneratedImage>, ProviderError> {
        Err(ProviderError::Unsupported("image edits"))
    }

    async fn check(&self, target: &Target) -> Result<CheckReport, ProviderError> {
        let limit = self.timeouts.request.min(self.timeouts.first_byte);
        let response = send(self.request(target, "/api/tags"), limit).await?;
        let tags: Tags = json_body(response, limit).await?;
        Ok(CheckReport {
            models: tags.models.into_iter().map(|m| m.name).collect(),
            balance: None,
        })
    }
}

/// One NDJSON line; blank lines carry nothing, `done: true` ends the stream.
fn parse_line(line: &[u8], out: &mut VecDeque<ChatEvent>) -> Result<Step, ProviderError> {
    if line.trim_ascii().is_empty() {
        return Ok(Step::Continue);
    }
    let line: ChatLine =
        serde_json::from_slice(line).map_err(|e| ProviderError::Malformed(e.to_string()))?;
    if let Some(error) = line.error {
        return Err(ProviderError::Server {
            status: 500,
            message: error,
        });
    }
    if let Some(message) = line.message
        && !message.content.is_empty()
    {
        out.push_back(ChatEvent::Delta {
            content: message.content,
            tool_calls: None,
        });
    }
    if !line.done {
        return Ok(Step::Continue);
    }
    out.push_back(ChatEvent::Finish {
        reason: line.done_reason.unwrap_or_else(|| "stop".into()),
    });
    out.push_back(ChatEvent::Usage(Usage {
        prompt_tokens: line.prompt_eval_count.unwrap_or(0),
        completion_tokens: line.eval_count.unwrap_or(0),
    }));
    Ok(Step::Done)
}

#[derive(Deserialize)]
struct ChatLine {
    message: Option<LineMessage>,
    #[serde(default)]
    done: bool,
    done_reason: Option<String>,
    prompt_eval_count: Option<u32>,
    eval_count: Option<u32>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct LineMessage {
    #[serde(default)]
    content: String,
}

#[derive(Deserialize)]
struct Tags {
    models: Vec<Tag>,
}

#[derive(Deserialize)]
struct Tag {
    name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_line_carries_counts() {
        let mut events = VecDeque::new();
        let step = parse_line(
            br#"{"model":"qwen2.5","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":26,"eval_count":9}"#,
            &mut events,
        )
        .unwrap();
        assert!(matches!(step, Step::Done));
        assert_eq!(
            Vec::from(events),
            vec![
                ChatEvent::Finish {
                    reason: "stop".into()
                },
                ChatEvent::Usage(Usage {
                    prompt_tokens: 26,
                    completion_tokens: 9
                })
            ]
        );
    }

    #[test]
    fn content_parts_become_text_and_images() {
        let message = json!({"role":"user","content":[
            {"type":"text","text":"what is this?"},
            {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}
        ]});
        assert_eq!(
            to_ollama_message(&message),
            json!({"role":"user","content":"what is this?","images":["AAAA"]})
        );
    }
}
