//! The `/v1` bodies as OpenAI documents them. The request types describe what
//! `POST /v1/chat/completions` reads (the body itself is read field by field, so fields Confab
//! does not interpret pass through to OpenAI-format providers); the answer types are what the
//! handlers serialize.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Who wrote a message of the conversation.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    /// Instructions for the model.
    System,
    /// Instructions for the model (OpenAI's newer name for `system`).
    Developer,
    /// The person.
    User,
    /// The model.
    Assistant,
    /// A tool's result, answering an assistant's `tool_calls`.
    Tool,
}

/// One message of the conversation sent.
#[derive(Debug, ToSchema)]
pub struct ChatRequestMessage {
    /// Who wrote the message.
    pub role: ChatRole,
    /// Text, or OpenAI's array of content parts; null on an assistant message with tool calls.
    #[schema(schema_with = message_content_schema)]
    pub content: Option<Value>,
    /// An optional name for the participant.
    pub name: Option<String>,
    /// On assistant messages: the tool calls it made, as OpenAI sends them.
    #[schema(value_type = Option<Vec<Object>>)]
    pub tool_calls: Option<Vec<Value>>,
    /// On tool messages: which call this answers.
    pub tool_call_id: Option<String>,
}

/// `stream_options`.
#[derive(Debug, ToSchema)]
pub struct StreamOptions {
    /// Adds a last chunk with the request's `usage` (and `"usage": null` on the others).
    pub include_usage: Option<bool>,
}

/// OpenAI's chat completion request. Other OpenAI fields (`tools`, `tool_choice`,
/// `response_format`, `logit_bias`, `user`, …) are passed to OpenAI-format providers.
#[derive(Debug, ToSchema)]
pub struct ChatCompletionRequest {
    /// A catalog model's public name (`GET /v1/models`).
    #[schema(min_length = 1, example = "gpt-4o-mini")]
    pub model: String,
    /// The conversation so far, oldest first.
    #[schema(min_items = 1)]
    pub messages: Vec<ChatRequestMessage>,
    /// True: server-sent `chat.completion.chunk` events, then `data: [DONE]`.
    pub stream: Option<bool>,
    /// Options of a streamed answer.
    pub stream_options: Option<StreamOptions>,
    /// 0 to 2.
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f64>,
    /// 0 to 1.
    #[schema(minimum = 0, maximum = 1)]
    pub top_p: Option<f64>,
    /// 1 to the model's max output.
    #[schema(minimum = 1)]
    pub max_tokens: Option<u32>,
    /// OpenAI's newer name for `max_tokens`.
    #[schema(minimum = 1)]
    pub max_completion_tokens: Option<u32>,
    /// -2 to 2.
    #[schema(minimum = -2, maximum = 2)]
    pub presence_penalty: Option<f64>,
    /// -2 to 2.
    #[schema(minimum = -2, maximum = 2)]
    pub frequency_penalty: Option<f64>,
    /// Only 1: Confab answers with one choice.
    #[schema(minimum = 1, maximum = 1)]
    pub n: Option<u32>,
    /// Where the model stops: a string, or a list of up to 4 strings.
    #[schema(schema_with = stop_schema)]
    pub stop: Option<Value>,
    /// Asks the provider for deterministic sampling where it can.
    pub seed: Option<i64>,
}

/// OpenAI's `usage` object.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct CompletionUsage {
    /// Tokens of the conversation sent.
    pub prompt_tokens: u32,
    /// Tokens of the answer.
    pub completion_tokens: u32,
    /// Their sum.
    pub total_tokens: u32,
}

impl From<confab_providers::Usage> for CompletionUsage {
    fn from(usage: confab_providers::Usage) -> Self {
        Self {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.prompt_tokens + usage.completion_tokens,
        }
    }
}

/// The model's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssistantMessage {
    /// Always `assistant`.
    #[schema(schema_with = assistant_role)]
    pub role: &'static str,
    /// The answer's text (empty when the model only called tools).
    pub content: String,
    /// Always null: refusals come as content.
    #[schema(value_type = Option<String>)]
    pub refusal: Option<()>,
    /// The tools the model called, as the provider sent them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub tool_calls: Option<Value>,
}

/// The one choice of a completion.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompletionChoice {
    /// Always 0.
    pub index: u32,
    /// The model's answer.
    pub message: AssistantMessage,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    pub logprobs: Option<()>,
    /// `stop`, `length`, `tool_calls` or `content_filter`.
    #[schema(example = "stop")]
    pub finish_reason: String,
}

/// `chat.completion`: the whole answer (`stream` false or absent).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatCompletion {
    /// This completion's id (`chatcmpl-…`).
    #[schema(example = "chatcmpl-Xb1QmKk0b9x4R2dLhJ6sPz3T")]
    pub id: String,
    /// Always `chat.completion`.
    #[schema(schema_with = completion_object)]
    pub object: &'static str,
    /// Unix seconds.
    pub created: i64,
    /// The catalog name asked for.
    pub model: String,
    /// One choice: Confab answers with one.
    pub choices: Vec<CompletionChoice>,
    /// Tokens the request used.
    pub usage: CompletionUsage,
    /// Always null.
    #[schema(value_type = Option<String>)]
    pub system_fingerprint: Option<()>,
}

/// What a chunk adds to the answer.
#[derive(Debug, ToSchema)]
pub struct ChunkDelta {
    /// `assistant`, on the first chunk only.
    pub role: Option<String>,
    /// The next piece of the answer's text.
    pub content: Option<String>,
    /// Pieces of tool calls, as the provider streamed them.
    #[schema(value_type = Option<Vec<Object>>)]
    pub tool_calls: Option<Value>,
}

/// The one choice of a chunk.
#[derive(Debug, ToSchema)]
pub struct ChunkChoice {
    /// Always 0.
    pub index: u32,
    /// What this chunk adds.
    pub delta: ChunkDelta,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    pub logprobs: Option<()>,
    /// Set on the last chunk with content: `stop`, `length`, `tool_calls`, ….
    pub finish_reason: Option<String>,
}

/// `chat.completion.chunk`: one `data:` event of a streamed completion (`stream: true`); the
/// stream ends with `data: [DONE]`. A failure mid-stream is sent as a `data:` event holding
/// the usual error body.
#[derive(Debug, ToSchema)]
pub struct ChatCompletionChunk {
    /// The completion's id, the same on every chunk.
    pub id: String,
    /// Always `chat.completion.chunk`.
    #[schema(schema_with = chunk_object)]
    pub object: String,
    /// Unix seconds.
    pub created: i64,
    /// The catalog name asked for.
    pub model: String,
    /// One choice; empty on the usage chunk.
    pub choices: Vec<ChunkChoice>,
    /// With `stream_options.include_usage`: null on every chunk but the last.
    pub usage: Option<CompletionUsage>,
    /// Always null.
    pub system_fingerprint: Option<String>,
}

/// One `data:` event of a streamed completion: a chunk, or (when the stream fails part-way)
/// the usual error body. The stream ends with `data: [DONE]`.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Describes the events `chat_completions` writes.
pub enum ChatCompletionEvent {
    Chunk(ChatCompletionChunk),
    Error(crate::error::ErrorBody),
}

/// A model, in OpenAI's shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiModel {
    /// The catalog name to send as `model`.
    #[schema(example = "gpt-4o-mini")]
    pub id: String,
    /// Always `model`.
    #[schema(schema_with = model_object)]
    pub object: &'static str,
    /// When it was added to the catalog (Unix seconds).
    pub created: i64,
    /// Always `confab`.
    #[schema(schema_with = owned_by_confab)]
    pub owned_by: &'static str,
}

impl OpenAiModel {
    /// A catalog model as OpenAI lists it.
    pub fn of(model: &confab_chats::catalog::ModelView) -> Self {
        Self {
            id: model.name.clone(),
            object: "model",
            created: model.created_at.timestamp(),
            owned_by: "confab",
        }
    }
}

/// The models the caller may use, in OpenAI's shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiModelList {
    /// Always `list`.
    #[schema(schema_with = list_object)]
    pub object: &'static str,
    /// The models.
    pub data: Vec<OpenAiModel>,
}

/// One generated image: `url` or `b64_json`, as asked.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiImage {
    /// Where this server keeps the image (`response_format` `url`, the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The image, base64-encoded (`response_format` `b64_json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b64_json: Option<String>,
    /// The prompt the provider actually used, when it rewrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revised_prompt: Option<String>,
}

/// OpenAI's images answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenAiImages {
    /// Unix seconds.
    pub created: i64,
    /// The images, one per `n`.
    pub data: Vec<OpenAiImage>,
}

/// `stop` in the document: a string, a list of up to 4 strings, or null.
fn stop_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, Type};
    AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(
            ArrayBuilder::new()
                .items(ObjectBuilder::new().schema_type(Type::String))
                .max_items(Some(4)),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(
            "Where the model stops: a string, or a list of up to 4 strings.",
        ))
        .build()
        .into()
}

/// A message's `content`: text, a list of content parts, or null.
fn message_content_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, Type};
    AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::Object)))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(
            "Text, or OpenAI's array of content parts; null on an assistant message with tool calls.",
        ))
        .build()
        .into()
}

fn assistant_role() -> utoipa::openapi::Object {
    confab_core::schema::constant("assistant", "Always `assistant`.")
}

fn completion_object() -> utoipa::openapi::Object {
    confab_core::schema::constant("chat.completion", "Always `chat.completion`.")
}

fn chunk_object() -> utoipa::openapi::Object {
    confab_core::schema::constant("chat.completion.chunk", "Always `chat.completion.chunk`.")
}

fn model_object() -> utoipa::openapi::Object {
    confab_core::schema::constant("model", "Always `model`.")
}

fn owned_by_confab() -> utoipa::openapi::Object {
    confab_core::schema::constant("confab", "Always `confab`.")
}

fn list_object() -> utoipa::openapi::Object {
    confab_core::schema::constant("list", "Always `list`.")
}
