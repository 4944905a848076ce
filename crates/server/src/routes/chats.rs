//! Chats and messages. Sending a message answers with server-sent events (`message`, `delta`,
//! `done` or `error`), or with one JSON reply when `stream` is false.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use confab_chats::ChatsError;
use confab_chats::catalog::Modality;
use confab_chats::chats::{self, ChatPatch, ChatView, MessageView, NewChat};
use confab_chats::conversation::{self, ChatStreamEvent, SendMessage, UsageView};
use confab_core::PageRequest;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Consumer;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Query};
use crate::routes::views::page_schema;
use crate::sse;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Which page, from 1.
    #[param(minimum = 1, maximum = 4294967295_u64)]
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (20 when absent).
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u64>,
}

page_schema!(ChatPage, ChatView);

page_schema!(MessagePage, MessageView);

/// The reply to a non-streamed message; the same as the `done` event plus the question.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageReply {
    /// The question as stored.
    pub user_message: MessageView,
    /// The answer as stored.
    pub message: MessageView,
    /// Its tokens.
    pub usage: UsageView,
    /// Credits this answer costs at the model's prices.
    pub cost: i64,
}

fn model_checker(state: &AppState) -> impl Fn(&str) -> Result<(), ChatsError> + '_ {
    |name| state.relay.model(name, Modality::Chat).map(|_| ())
}

/// Start a chat.
#[utoipa::path(post, path = "/api/v1/chats", operation_id = "createChat", tag = "chats", security(("bearer" = []), ("apiKey" = [])),
    request_body = NewChat, responses(
        (status = 201, description = "Created", body = ChatView),
        (status = 400, description = "`invalid_request`", body = ErrorBody),
        (status = 404, description = "`model_not_found`", body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Consumer,
    body: Json<NewChat>,
) -> Result<HttpResponse, ApiError> {
    caller.unbound()?;
    let chat = chats::create(
        &state.db,
        caller.user_id,
        body.into_inner(),
        model_checker(&state),
        Utc::now(),
    )
    .await?;
    Ok(HttpResponse::Created().json(chat))
}

/// The caller's chats, most recently active first.
#[utoipa::path(get, path = "/api/v1/chats", operation_id = "listChats", tag = "chats", security(("bearer" = []), ("apiKey" = [])),
    params(PageQuery), responses((status = 200, description = "A page of chats", body = ChatPage)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Consumer,
    query: Query<PageQuery>,
) -> Result<web::Json<ChatPage>, ApiError> {
    caller.unbound()?;
    let page = PageRequest::new(query.page, query.page_size)?;
    let page = chats::list(&state.db, caller.user_id, page).await?;
    Ok(web::Json(ChatPage::from(page)))
}

/// One chat (another user's is a 404).
#[utoipa::path(get, path = "/api/v1/chats/{id}", operation_id = "getChat", tag = "chats", security(("bearer" = []), ("apiKey" = [])),
    params(("id" = i64, Path,)), responses(
        (status = 200, description = "The chat", body = ChatView),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Consumer,
    id: web::Path<i64>,
) -> Result<web::Json<ChatView>, ApiError> {
    caller.in_chat(*id)?;
    let chat = chats::find(&state.db, caller.user_id, id.into_inner()).await?;
    Ok(web::Json(chat.into()))
}

/// Rename a chat or change its model or system prompt.
#[utoipa::path(patch, path = "/api/v1/chats/{id}", operation_id = "updateChat", tag = "chats", security(("bearer" = []), ("apiKey" = [])),
    params(("id" = i64, Path,)), request_body = ChatPatch, responses(
        (status = 200, description = "Changed", body = ChatView),
        (status = 400, description = "`invalid_request`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Consumer,
    id: web::Path<i64>,
    body: Json<ChatPatch>,
) -> Result<web::Json<ChatView>, ApiError> {
    caller.unbound()?;
    let chat = chats::update(
        &state.db,
        caller.user_id,
        id.into_inner(),
        body.into_inner(),
        model_checker(&state),
        Utc::now(),
    )
    .await?;
    Ok(web::Json(chat))
}

/// Delete a chat (soft: it disappears for its owner).
#[utoipa::path(delete, path = "/api/v1/chats/{id}", operation_id = "deleteChat", tag = "chats", security(("bearer" = []), ("apiKey" = [])),
    params(("id" = i64, Path,)), responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Consumer,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.unbound()?;
    chats::delete(&state.db, caller.user_id, id.into_inner(), Utc::now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A chat's messages, oldest first (all branches; follow `parent_id`).
#[utoipa::path(get, path = "/api/v1/chats/{id}/messages", operation_id = "listChatMessages", tag = "chats", security(("bearer" = []), ("apiKey" = [])),
    params(("id" = i64, Path,), PageQuery), responses(
        (status = 200, description = "A page of messages", body = MessagePage),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn messages(
    state: web::Data<AppState>,
    caller: Consumer,
    id: web::Path<i64>,
    query: Query<PageQuery>,
) -> Result<web::Json<MessagePage>, ApiError> {
    caller.in_chat(*id)?;
    let page = PageRequest::new(query.page, query.page_size)?;
    let page = chats::messages(&state.db, caller.user_id, id.into_inner(), page).await?;
    Ok(web::Json(MessagePage::from(page)))
}

/// `event: message`: the question as stored, and the id the answer will have.
#[derive(Serialize, ToSchema)]
pub struct MessageStarted {
    /// The question as stored.
    pub user_message: MessageView,
    /// The answer's message id, for `GET /api/v1/chats/{id}/messages` later.
    pub assistant_message_id: i64,
}

/// `event: delta`: the next piece of the answer.
#[derive(Serialize, ToSchema)]
pub struct MessageDelta {
    /// The next piece of the answer's text.
    pub content: String,
}

/// `event: done`: the answer as stored, its tokens and what it cost.
#[derive(Serialize, ToSchema)]
pub struct MessageDone {
    /// The answer as stored.
    pub message: MessageView,
    /// Its tokens.
    pub usage: UsageView,
    /// Credits charged.
    pub cost: i64,
}

/// The `data:` of each event of a streamed answer, by its `event:` name: `message`, `delta`,
/// `done`, or `error` (the usual error body).
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Describes what `frame` writes.
pub enum ChatEvent {
    Message(MessageStarted),
    Delta(MessageDelta),
    Done(MessageDone),
    Error(ErrorBody),
}

fn frame(event: ChatStreamEvent) -> bytes::Bytes {
    match event {
        ChatStreamEvent::Message {
            user_message,
            assistant_message_id,
        } => sse::event(
            "message",
            &MessageStarted {
                user_message,
                assistant_message_id,
            },
        ),
        ChatStreamEvent::Delta { content } => sse::event("delta", &MessageDelta { content }),
        ChatStreamEvent::Done {
            message,
            usage,
            cost,
        } => sse::event(
            "done",
            &MessageDone {
                message,
                usage,
                cost,
            },
        ),
        ChatStreamEvent::Error { code, message } => {
            sse::event("error", &ErrorBody::new(code, message, None))
        }
    }
}

/// Send a message and get the answer. Streamed (default): `text/event-stream` with
/// `event: message` (the saved question and the answer's id), `event: delta` (`{content}`),
/// then `event: done` (the saved answer, usage, cost) or `event: error`. With `stream: false`:
/// one JSON reply. Failures before the first token are retried on other keys, then answered
/// with 502/503/504; the question and a failed answer are stored either way.
#[utoipa::path(post, path = "/api/v1/chats/{id}/messages", operation_id = "sendChatMessage", tag = "chats", security(("bearer" = []), ("apiKey" = [])),
    params(("id" = i64, Path,)), request_body = SendMessage, responses(
        (status = 200, description = "The answer: server-sent events (`message`, `delta`…, then `done` or `error`), or with `stream: false` one JSON reply",
            content((ChatEvent = "text/event-stream"), (MessageReply = "application/json"))),
        (status = 400, description = "`invalid_request` (empty content, parameter out of range, a `max_tokens` that could cost more than 10^15 credits), `context_length_exceeded`", body = ErrorBody),
        (status = 404, description = "`not_found` (chat or parent), `model_not_found`", body = ErrorBody),
        (status = 502, description = "`upstream_error`", body = ErrorBody),
        (status = 503, description = "`no_provider_available`", body = ErrorBody),
        (status = 504, description = "`upstream_timeout`", body = ErrorBody)))]
pub async fn send(
    state: web::Data<AppState>,
    caller: Consumer,
    id: web::Path<i64>,
    body: Json<SendMessage>,
) -> Result<HttpResponse, ApiError> {
    caller.in_chat(*id)?;
    let request = body.into_inner();
    let streamed = request.stream.unwrap_or(true);
    let mut receiver = conversation::send_message(
        state.relay.clone(),
        caller.usage(),
        id.into_inner(),
        request,
    )
    .await?;
    if streamed {
        return Ok(sse::response(
            sse::stream(receiver, frame, None, state.sse_keepalive),
            &state.metrics,
        ));
    }
    let mut question = None;
    while let Some(event) = receiver.recv().await {
        match event {
            ChatStreamEvent::Message { user_message, .. } => question = Some(user_message),
            ChatStreamEvent::Delta { .. } => {}
            ChatStreamEvent::Done {
                message,
                usage,
                cost,
            } => {
                let user_message = question.take().ok_or_else(|| {
                    ApiError::new(confab_core::Code::Internal, "internal server error")
                })?;
                return Ok(HttpResponse::Ok().json(MessageReply {
                    user_message,
                    message,
                    usage,
                    cost,
                }));
            }
            ChatStreamEvent::Error { code, message } => return Err(ApiError::new(code, message)),
        }
    }
    Err(ApiError::new(
        confab_core::Code::Internal,
        "internal server error",
    ))
}
