//! The OpenAI-compatible completion: a request in OpenAI's shape relayed to whichever key
//! serves the model, answered in OpenAI's shape, leaving a usage record.

use std::sync::Arc;
use std::time::Instant;

use confab_core::{Code, ErrorCode};
use confab_providers::{ChatEvent, ChatRequest, Completion, Usage};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::catalog::{Modality, ModelView};
use crate::error::upstream_message;
pub use crate::metering::Caller;
use crate::metering::{Billing, Record, admit, hold, record, record_failure, worst_case};
use crate::relay::{Relay, Relayed, elapsed_ms};
use crate::{ChatsError, tokens};

/// A parsed `/v1/chat/completions` body.
#[derive(Debug)]
pub struct OpenAiChat {
    pub model: Arc<ModelView>,
    pub stream: bool,
    pub include_usage: bool,
    pub request: ChatRequest,
}

/// What the stream carries to the client (`Usage` only when the request asked for it).
#[derive(Debug)]
pub enum CompletionEvent {
    Delta {
        content: String,
        tool_calls: Option<Value>,
    },
    Finish {
        reason: String,
    },
    Usage(Usage),
    Error {
        code: Code,
        message: String,
    },
}

const ENDPOINT: &str = "completions";

const ROLES: [&str; 5] = ["system", "developer", "user", "assistant", "tool"];

fn invalid(param: &'static str, message: impl Into<String>) -> ChatsError {
    ChatsError::Invalid(param, message.into())
}

fn number(
    body: &mut Map<String, Value>,
    name: &'static str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, ChatsError> {
    match body.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(invalid(
                name,
                format!("{name} must be between {min} and {max}"),
            )),
        },
        Some(_) => Err(invalid(name, format!("{name} must be a number"))),
    }
}

/// One message of OpenAI's request: a known role, and its other fields of the types OpenAI
/// documents (the content itself is the provider's to read).
fn check_message(message: &Value) -> Result<(), ChatsError> {
    let role = message.get("role").and_then(Value::as_str);
    if !role.is_some_and(|r| ROLES.contains(&r)) {
        return Err(invalid(
            "messages",
            "each message needs a role: system, developer, user, assistant or tool",
        ));
    }
    let typed = |field: &str, fits: fn(&Value) -> bool| message.get(field).is_none_or(fits);
    let well_typed = typed("content", |v| {
        v.is_null()
            || v.is_string()
            || v.as_array()
                .is_some_and(|parts| parts.iter().all(Value::is_object))
    }) && typed("name", |v| v.is_null() || v.is_string())
        && typed("tool_calls", |v| {
            v.is_null()
                || v.as_array()
                    .is_some_and(|calls| calls.iter().all(Value::is_object))
        })
        && typed("tool_call_id", |v| v.is_null() || v.is_string());
    if !well_typed {
        return Err(invalid(
            "messages",
            "a message's content must be text, a list of parts or null; name and tool_call_id text; tool_calls a list of objects",
        ));
    }
    Ok(())
}

/// `stop`: a string, or a list of up to 4 strings, as OpenAI takes it.
fn stop_sequences(stop: Option<Value>) -> Result<Option<Value>, ChatsError> {
    match stop {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(Value::String(text))),
        Some(Value::Array(items)) if items.len() <= 4 && items.iter().all(Value::is_string) => {
            Ok(Some(Value::Array(items)))
        }
        Some(_) => Err(invalid(
            "stop",
            "stop must be a string or a list of up to 4 strings",
        )),
    }
}

/// Reads OpenAI's request body. Fields Confab does not interpret (tools, response_format, ...)
/// are kept and passed through to OpenAI-format providers.
pub fn parse_openai_chat(
    relay: &Relay,
    mut body: Map<String, Value>,
) -> Result<OpenAiChat, ChatsError> {
    let model_name = match body.remove("model") {
        Some(Value::String(name)) if !name.is_empty() => name,
        _ => return Err(invalid("model", "model is required")),
    };
    let model = relay.model(&model_name, Modality::Chat)?;
    let messages = match body.remove("messages") {
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        Some(Value::Array(_)) => return Err(invalid("messages", "messages must not be empty")),
        _ => {
            return Err(invalid(
                "messages",
                "messages is required and must be an array",
            ));
        }
    };
    messages.iter().try_for_each(check_message)?;
    let stream = match body.remove("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(invalid("stream", "stream must be a boolean")),
    };
    let include_usage = match body.remove("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(options)) => match options.get("include_usage") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(include)) => *include,
            Some(_) => {
                return Err(invalid(
                    "stream_options",
                    "stream_options.include_usage must be a boolean",
                ));
            }
        },
        Some(_) => {
            return Err(invalid(
                "stream_options",
                "stream_options must be an object",
            ));
        }
    };
    match body.remove("n") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        Some(_) => return Err(invalid("n", "n must be 1: Confab returns one choice")),
    }
    let temperature = number(&mut body, "temperature", 0.0, 2.0)?;
    let top_p = number(&mut body, "top_p", 0.0, 1.0)?;
    let presence_penalty = number(&mut body, "presence_penalty", -2.0, 2.0)?;
    let frequency_penalty = number(&mut body, "frequency_penalty", -2.0, 2.0)?;
    let max_output = u64::try_from(model.max_output_tokens).unwrap_or(4096);
    let mut max_tokens = None;
    for name in ["max_completion_tokens", "max_tokens"] {
        match body.remove(name) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if (1..=max_output).contains(&v) => {
                    max_tokens = Some(u32::try_from(v).unwrap_or(u32::MAX));
                }
                _ => {
                    return Err(ChatsError::Invalid(
                        name,
                        format!("{name} must be between 1 and {max_output} for this model"),
                    ));
                }
            },
            Some(_) => return Err(invalid("max_tokens", "max_tokens must be an integer")),
        }
    }
    let stop = stop_sequences(body.remove("stop"))?;
    let seed = match body.remove("seed") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
        Some(_) => return Err(invalid("seed", "seed must be a 64-bit integer")),
    };
    Ok(OpenAiChat {
        model,
        stream,
        include_usage,
        request: ChatRequest {
            messages,
            temperature,
            top_p,
            max_tokens,
            presence_penalty,
            frequency_penalty,
            stop,
            seed,
            extra: body,
        },
    })
}

/// One non-streamed completion, finished and settled even if its client goes away.
pub async fn complete(
    relay: Arc<Relay>,
    caller: Caller,
    chat: OpenAiChat,
) -> Result<Completion, ChatsError> {
    let worker = relay.clone();
    relay
        .detached(async move { complete_now(&worker, caller, chat).await })
        .await
}

async fn complete_now(
    relay: &Relay,
    caller: Caller,
    chat: OpenAiChat,
) -> Result<Completion, ChatsError> {
    let billing = hold_worst_case(relay, &caller, &chat).await?;
    let started_at = Instant::now();
    match relay.complete(&chat.model, &chat.request).await {
        Ok((lease, mut completion)) => {
            let usage = *completion.usage.get_or_insert_with(|| Usage {
                prompt_tokens: tokens::count_messages(&chat.request.messages),
                completion_tokens: tokens::count(&completion.content),
            });
            relay
                .pool
                .succeeded(
                    lease.key_id,
                    u64::from(usage.prompt_tokens + usage.completion_tokens),
                )
                .await;
            let latency = elapsed_ms(started_at);
            record(
                relay,
                billing,
                Record {
                    caller: &caller,
                    endpoint: ENDPOINT,
                    model: &chat.model,
                    key_id: Some(lease.key_id),
                    usage,
                    images: 0,
                    ttft_ms: Some(latency),
                    latency_ms: latency,
                    status: "complete",
                    error_code: None,
                },
            )
            .await;
            Ok(completion)
        }
        Err(error) => {
            record_failure(
                relay,
                billing,
                &caller,
                ENDPOINT,
                &chat.model,
                &error,
                started_at,
            )
            .await;
            Err(error)
        }
    }
}

/// Admits the caller to the model, then holds what the completion may cost at most, before
/// any provider is called.
async fn hold_worst_case(
    relay: &Relay,
    caller: &Caller,
    chat: &OpenAiChat,
) -> Result<Billing, ChatsError> {
    let rate = admit(relay, caller, &chat.model).await?;
    let worst = worst_case(&chat.model, &rate, chat.request.max_tokens, || {
        tokens::count_messages(&chat.request.messages)
    })?;
    let hold = hold(relay, caller, worst, ENDPOINT).await?;
    Ok(Billing { rate, hold })
}

/// Starts a streamed completion; the receiver yields events until the stream ends.
pub async fn stream(
    relay: Arc<Relay>,
    caller: Caller,
    chat: OpenAiChat,
) -> Result<mpsc::Receiver<CompletionEvent>, ChatsError> {
    relay
        .clone()
        .detached(async move { start_streaming(relay, caller, chat).await })
        .await
}

async fn start_streaming(
    relay: Arc<Relay>,
    caller: Caller,
    chat: OpenAiChat,
) -> Result<mpsc::Receiver<CompletionEvent>, ChatsError> {
    let billing = hold_worst_case(&relay, &caller, &chat).await?;
    let started_at = Instant::now();
    let started = match relay.start_stream(&chat.model, &chat.request).await {
        Ok(started) => started,
        Err(error) => {
            record_failure(
                &relay,
                billing,
                &caller,
                ENDPOINT,
                &chat.model,
                &error,
                started_at,
            )
            .await;
            return Err(error);
        }
    };
    let (sender, receiver) = mpsc::channel(16);
    let include_usage = chat.include_usage;
    // Counted from here until the usage is recorded and settled.
    let mut relaying = relay.streams.start();
    // The task keeps the request's span, so its log lines carry the request id.
    tokio::spawn(
        async move {
            // Deltas go out as they come; how the answer ended (its finish and usage, or why
            // it was cut) follows only once its charge is written, so an answer a client has
            // whole is charged whatever happens to this process after.
            let relayed = relay
                .pump(
                    &mut relaying,
                    started,
                    &sender,
                    started_at,
                    || tokens::count_messages(&chat.request.messages),
                    |event| match event {
                        ChatEvent::Delta {
                            content,
                            tool_calls,
                        } => Some(CompletionEvent::Delta {
                            content,
                            tool_calls,
                        }),
                        ChatEvent::Finish { .. } | ChatEvent::Usage(_) => None,
                    },
                )
                .await;
            let ending = Ending::of(&relayed);
            record(
                &relay,
                billing,
                Record {
                    caller: &caller,
                    endpoint: ENDPOINT,
                    model: &chat.model,
                    key_id: Some(relayed.key_id),
                    usage: relayed.usage,
                    images: 0,
                    ttft_ms: relayed.ttft_ms,
                    latency_ms: elapsed_ms(started_at),
                    status: ending.status,
                    error_code: ending.error_code,
                },
            )
            .await;
            for event in ending.events(&relayed, include_usage) {
                if sender.send(event).await.is_err() {
                    break;
                }
            }
        }
        .instrument(tracing::Span::current()),
    );
    Ok(receiver)
}

/// How a relayed stream ended, for its usage record and its client's last events.
struct Ending {
    /// complete | interrupted | failed
    status: &'static str,
    error_code: Option<Code>,
    /// Why the client is told it was cut (none: it was not, or nobody is listening).
    cut: Option<(Code, String)>,
}

impl Ending {
    fn of(relayed: &Relayed) -> Self {
        match &relayed.failure {
            Some(error) => Self {
                status: "failed",
                error_code: Some(error.code()),
                cut: Some((error.code(), upstream_message(error))),
            },
            None if relayed.stopped => Self {
                status: "interrupted",
                error_code: None,
                cut: Some((
                    Code::ServiceUnavailable,
                    "this instance stopped before the answer was complete; what was generated is charged".into(),
                )),
            },
            None => Self {
                status: if relayed.interrupted {
                    "interrupted"
                } else {
                    "complete"
                },
                error_code: None,
                cut: None,
            },
        }
    }

    /// The client's last events: a complete answer's finish and usage (if asked for); a cut
    /// one's usage (if asked for: it is charged) and then the error OpenAI's clients raise on.
    fn events(self, relayed: &Relayed, include_usage: bool) -> Vec<CompletionEvent> {
        let mut events = Vec::with_capacity(2);
        if self.cut.is_none() {
            let reason = relayed.finish_reason.clone();
            events.push(CompletionEvent::Finish {
                reason: reason.unwrap_or_else(|| "stop".into()),
            });
        }
        if include_usage {
            events.push(CompletionEvent::Usage(relayed.usage));
        }
        if let Some((code, message)) = self.cut {
            events.push(CompletionEvent::Error { code, message });
        }
        events
    }
}
