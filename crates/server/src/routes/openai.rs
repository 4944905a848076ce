//! The OpenAI-compatible API: OpenAI's paths, request and response shapes, stream framing
//! (`data: {chunk}` ... `data: [DONE]`) and error format, so the official SDKs work unchanged.

use actix_web::{HttpResponse, web};
use confab_chats::catalog;
use confab_chats::completions::{self, CompletionEvent};
use confab_chats::images::GenerateImages;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::Consumer;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::routes::openai_types::{
    AssistantMessage, ChatCompletion, ChatCompletionEvent, ChatCompletionRequest, CompletionChoice,
    CompletionUsage, OpenAiImage, OpenAiImages, OpenAiModel, OpenAiModelList,
};
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

/// One `chat.completion.chunk`, serialized straight from borrowed parts: the relay's hot path
/// builds no intermediate JSON tree per chunk.
#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    system_fingerprint: Option<&'static str>,
    choices: &'a [Choice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<CompletionUsage>>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

impl<'a> Choice<'a> {
    fn delta(delta: Delta<'a>) -> Self {
        Self {
            index: 0,
            delta,
            logprobs: None,
            finish_reason: None,
        }
    }
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<&'a Value>,
}

/// Creates a chat completion, in OpenAI's shape. `stream: true` answers with
/// `chat.completion.chunk` events and `data: [DONE]`; `stream_options.include_usage` adds the
/// usage chunk. Fields Confab does not interpret (tools, response_format, ...) are passed to
/// OpenAI-format providers.
#[utoipa::path(post, path = "/v1/chat/completions", operation_id = "createChatCompletion", tag = "openai", security(("bearer" = []), ("apiKey" = [])),
    request_body(content = ChatCompletionRequest, description = "OpenAI's chat completion request"),
    responses(
        (status = 200, description = "`chat.completion` (JSON), or with `stream: true` server-sent events, each `data:` a `chat.completion.chunk`, ending with `data: [DONE]`",
            content((ChatCompletion = "application/json"), (ChatCompletionEvent = "text/event-stream"))),
        (status = 400, description = "`invalid_request` (see `param`), `invalid_json`", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 404, description = "`model_not_found`", body = ErrorBody),
        (status = 502, description = "`upstream_error`", body = ErrorBody),
        (status = 503, description = "`no_provider_available`", body = ErrorBody),
        (status = 504, description = "`upstream_timeout`", body = ErrorBody)))]
pub async fn chat_completions(
    state: web::Data<AppState>,
    caller: Consumer,
    body: Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    caller.unbound()?;
    let chat = completions::parse_openai_chat(&state.relay, body.into_inner())?;
    let usage_caller = caller.usage();
    let id = completion_id();
    let created = chrono::Utc::now().timestamp();
    let model = chat.model.name.clone();
    if !chat.stream {
        let completion = completions::complete(state.relay.clone(), usage_caller, chat).await?;
        return Ok(HttpResponse::Ok().json(ChatCompletion {
            id,
            object: "chat.completion",
            created,
            model,
            choices: vec![CompletionChoice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content: completion.content,
                    refusal: None,
                    tool_calls: completion.tool_calls,
                },
                logprobs: None,
                finish_reason: completion.finish_reason,
            }],
            usage: CompletionUsage::from(completion.usage.unwrap_or_default()),
            system_fingerprint: None,
        }));
    }
    let include_usage = chat.include_usage;
    let receiver = completions::stream(state.relay.clone(), usage_caller, chat).await?;
    // Clients that asked for usage see `"usage": null` on every chunk but the last.
    let usage_field = move |usage: Option<CompletionUsage>| include_usage.then_some(usage);
    let chunk = move |choices: &[Choice<'_>], usage: Option<CompletionUsage>| {
        sse::data(&Chunk {
            id: &id,
            object: "chat.completion.chunk",
            created,
            model: &model,
            system_fingerprint: None,
            choices,
            usage: usage_field(usage),
        })
    };
    // OpenAI opens every stream with the role.
    let opening = chunk(
        &[Choice::delta(Delta {
            role: Some("assistant"),
            content: Some(""),
            tool_calls: None,
        })],
        None,
    );
    // A stream that was cut ends with its error event, as OpenAI's do (its SDKs raise on it),
    // not with `[DONE]`.
    let frames = sse::stream_until(
        receiver,
        move |event| match event {
            CompletionEvent::Delta {
                content,
                tool_calls,
            } => (
                chunk(
                    &[Choice::delta(Delta {
                        role: None,
                        content: Some(&content),
                        tool_calls: tool_calls.as_ref(),
                    })],
                    None,
                ),
                false,
            ),
            CompletionEvent::Finish { reason } => (
                chunk(
                    &[Choice {
                        finish_reason: Some(&reason),
                        ..Choice::delta(Delta::default())
                    }],
                    None,
                ),
                false,
            ),
            CompletionEvent::Usage(usage) => {
                (chunk(&[], Some(CompletionUsage::from(usage))), false)
            }
            CompletionEvent::Error { code, message } => {
                (sse::data(&ErrorBody::new(code, message, None)), true)
            }
        },
        Some("data: [DONE]\n\n"),
        state.sse_keepalive,
    );
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok(opening) }),
        frames,
    );
    Ok(sse::response(body, &state.metrics))
}

/// Lists the models, in OpenAI's shape.
#[utoipa::path(get, path = "/v1/models", operation_id = "listOpenAiModels", tag = "openai", security(("bearer" = []), ("apiKey" = [])),
    responses((status = 200, description = "The models the caller may use", body = OpenAiModelList),
        (status = 401, description = "Missing or bad token", body = ErrorBody)))]
pub async fn models(
    state: web::Data<AppState>,
    caller: Consumer,
) -> Result<HttpResponse, ApiError> {
    let usage = caller.usage();
    let access = catalog::access_of(&state.db, &usage).await?;
    let data: Vec<OpenAiModel> = state
        .catalog()
        .available(&access)
        .iter()
        .map(|m| OpenAiModel::of(m))
        .collect();
    Ok(HttpResponse::Ok().json(OpenAiModelList {
        object: "list",
        data,
    }))
}

/// One model, in OpenAI's shape.
#[utoipa::path(get, path = "/v1/models/{model}", operation_id = "getOpenAiModel", tag = "openai", security(("bearer" = []), ("apiKey" = [])),
    params(("model" = String, Path,)),
    responses((status = 200, description = "The model", body = OpenAiModel),
        (status = 404, description = "`model_not_found`", body = ErrorBody)))]
pub async fn model(
    state: web::Data<AppState>,
    caller: Consumer,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let usage = caller.usage();
    let access = catalog::access_of(&state.db, &usage).await?;
    let model = state.catalog().visible(&name, &access)?;
    Ok(HttpResponse::Ok().json(OpenAiModel::of(&model)))
}

/// Generates images, in OpenAI's shape (`{created, data: [{url | b64_json, revised_prompt}]}`).
/// URLs point at this server's stored copies.
#[utoipa::path(post, path = "/v1/images/generations", operation_id = "createImage", tag = "openai", security(("bearer" = []), ("apiKey" = [])),
    request_body(content = GenerateImages, description = "OpenAI's image generation request"),
    responses(
        (status = 200, description = "The images", body = OpenAiImages),
        (status = 400, description = "`invalid_request` (see `param`), `invalid_json`", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 404, description = "`model_not_found`", body = ErrorBody),
        (status = 502, description = "`upstream_error`", body = ErrorBody),
        (status = 503, description = "`no_provider_available`", body = ErrorBody),
        (status = 504, description = "`upstream_timeout`", body = ErrorBody)))]
pub async fn image_generations(
    state: web::Data<AppState>,
    caller: Consumer,
    body: Json<GenerateImages>,
) -> Result<HttpResponse, ApiError> {
    caller.unbound()?;
    let images = confab_chats::images::generate(
        &state.relay,
        &state.files,
        caller.usage(),
        body.into_inner(),
    )
    .await?;
    let base = &state.file_base;
    let data: Vec<OpenAiImage> = images
        .images
        .into_iter()
        .map(|image| OpenAiImage {
            url: image
                .b64_json
                .is_none()
                .then(|| format!("{base}{}", image.file.path)),
            b64_json: image.b64_json,
            revised_prompt: image.revised_prompt,
        })
        .collect();
    Ok(HttpResponse::Ok().json(OpenAiImages {
        created: images.created,
        data,
    }))
}
