//! The OpenAI-compatible API: OpenAI's paths, request and response shapes, stream framing
//! (`data: {chunk}` ... `data: [DONE]`) and error format, so the official SDKs work unchanged.

use actix_web::{HttpResponse, web};
use bytes::Bytes;
use confab_chats::completions::{self, Caller as UsageCaller, CompletionEvent};
use confab_providers::Usage;
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::sse;
use crate::state::AppState;

fn completion_id() -> String {
    use rand::Rng;
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!("chatcmpl-{suffix}")
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    })
}

/// Creates a chat completion, in OpenAI's shape. `stream: true` answers with
/// `chat.completion.chunk` events and `data: [DONE]`; `stream_options.include_usage` adds the
/// usage chunk. Fields Confab does not interpret (tools, response_format, ...) are passed to
/// OpenAI-format providers.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai", security(("bearer" = [])),
    request_body(content = Object, description = "OpenAI's chat completion request"),
    responses(
        (status = 200, description = "`chat.completion`, or a stream of `chat.completion.chunk`", body = Object),
        (status = 400, description = "`invalid_request` (see `param`), `invalid_json`", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 404, description = "`model_not_found`", body = ErrorBody),
        (status = 502, description = "`upstream_error`", body = ErrorBody),
        (status = 503, description = "`no_provider_available`", body = ErrorBody),
        (status = 504, description = "`upstream_timeout`", body = ErrorBody)))]
pub async fn chat_completions(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let chat = completions::parse_openai_chat(&state.relay, body.into_inner())?;
    let usage_caller = UsageCaller {
        user_id: caller.0.user.id,
        api_key_id: None,
    };
    let id = completion_id();
    let created = chrono::Utc::now().timestamp();
    let model = chat.model.name.clone();
    if !chat.stream {
        let completion = completions::complete(&state.relay, usage_caller, chat).await?;
        let mut message =
            json!({"role": "assistant", "content": completion.content, "refusal": null});
        if let Some(tool_calls) = completion.tool_calls {
            message["tool_calls"] = tool_calls;
        }
        return Ok(HttpResponse::Ok().json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": null,
                "finish_reason": completion.finish_reason,
            }],
            "usage": usage_json(&completion.usage.unwrap_or_default()),
            "system_fingerprint": null,
        })));
    }
    let include_usage = chat.include_usage;
    let receiver = completions::stream(state.relay.clone(), usage_caller, chat).await?;
    let chunk = move |choices: Value, usage: Option<Value>| {
        let mut chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": null,
            "choices": choices,
        });
        if include_usage {
            chunk["usage"] = usage.unwrap_or(Value::Null);
        }
        sse::data(&chunk)
    };
    // OpenAI opens every stream with the role.
    let opening = chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]),
        None,
    );
    let frames = sse::stream(
        receiver,
        move |event| match event {
            CompletionEvent::Delta {
                content,
                tool_calls,
            } => {
                let mut delta = json!({"content": content});
                if let Some(tool_calls) = tool_calls {
                    delta["tool_calls"] = tool_calls;
                }
                chunk(
                    json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": null}]),
                    None,
                )
            }
            CompletionEvent::Finish { reason } => chunk(
                json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": reason}]),
                None,
            ),
            CompletionEvent::Usage(usage) if include_usage => {
                chunk(json!([]), Some(usage_json(&usage)))
            }
            CompletionEvent::Usage(_) => Bytes::new(),
            CompletionEvent::Error { code, message } => {
                sse::data(&ErrorBody::new(code, message, None))
            }
        },
        Some("data: [DONE]\n\n"),
        state.sse_keepalive,
    );
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok(opening) }),
        futures_util::StreamExt::filter(frames, |frame| {
            std::future::ready(!matches!(frame, Ok(bytes) if bytes.is_empty()))
        }),
    );
    Ok(sse::response(body))
}

/// Lists the models, in OpenAI's shape.
#[utoipa::path(get, path = "/v1/models", tag = "openai", security(("bearer" = [])),
    responses((status = 200, description = "`{object: list, data: [model]}`", body = Object),
        (status = 401, description = "Missing or bad token", body = ErrorBody)))]
pub async fn models(state: web::Data<AppState>, _caller: Caller) -> HttpResponse {
    let data: Vec<Value> = state
        .catalog()
        .available(0)
        .iter()
        .map(|m| {
            json!({
                "id": m.name,
                "object": "model",
                "created": m.created_at.timestamp(),
                "owned_by": "confab",
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({"object": "list", "data": data}))
}

/// One model, in OpenAI's shape.
#[utoipa::path(get, path = "/v1/models/{model}", tag = "openai", security(("bearer" = [])),
    params(("model" = String, Path,)),
    responses((status = 200, description = "The model", body = Object),
        (status = 404, description = "`model_not_found`", body = ErrorBody)))]
pub async fn model(
    state: web::Data<AppState>,
    _caller: Caller,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let model = state
        .catalog()
        .get(&name)
        .ok_or_else(|| confab_chats::ChatsError::UnknownModel(name.into_inner()))?;
    Ok(HttpResponse::Ok().json(json!({
        "id": model.name,
        "object": "model",
        "created": model.created_at.timestamp(),
        "owned_by": "confab",
    })))
}
