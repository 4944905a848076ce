//! Chat sessions and their messages. Every lookup is scoped to the owner: another user's chat
//! is a 404, never a 403, so ids reveal nothing.

use chrono::{DateTime, Utc};
use confab_core::{Page, PageRequest};
use confab_store::entity::{chat, message};
use confab_store::fetch_page;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};

use crate::ChatsError;

pub const DEFAULT_TITLE: &str = "New chat";

/// A new chat; every field has a default.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChat {
    /// Default "New chat"; the first message names an untitled chat.
    #[schema(pattern = r"^\s*\S([\s\S]{0,253}\S)?\s*$")]
    pub title: Option<String>,
    /// The model messages use when they name none.
    pub model: Option<String>,
    /// Up to 20,000 characters.
    #[schema(max_length = 20000)]
    pub system_prompt: Option<String>,
}

/// A chat's new title, model or system prompt; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatPatch {
    /// 1 to 255 characters (trimmed).
    #[schema(pattern = r"^\s*\S([\s\S]{0,253}\S)?\s*$")]
    pub title: Option<String>,
    /// A chat model of the catalog.
    pub model: Option<String>,
    /// Up to 20,000 characters; blank removes it.
    #[schema(max_length = 20000)]
    pub system_prompt: Option<String>,
}

/// A chat: a conversation with one model.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChatView {
    /// The chat id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// The model new messages go to, unless they name another.
    pub model: Option<String>,
    /// Instructions sent before the conversation.
    pub system_prompt: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last changed (a message, a rename).
    pub updated_at: DateTime<Utc>,
}

impl From<chat::Model> for ChatView {
    fn from(row: chat::Model) -> Self {
        Self {
            id: row.id,
            title: row.title,
            model: row.model,
            system_prompt: row.system_prompt,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// How a message's answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Complete,
    /// The answer is still being generated.
    Streaming,
    /// The client went away mid-answer; the text so far is kept.
    Interrupted,
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Complete => "complete",
            MessageStatus::Streaming => "streaming",
            MessageStatus::Interrupted => "interrupted",
            MessageStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "streaming" => MessageStatus::Streaming,
            "interrupted" => MessageStatus::Interrupted,
            "failed" => MessageStatus::Failed,
            _ => MessageStatus::Complete,
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageRole {
    /// The person.
    User,
    /// The model's answer.
    Assistant,
}

/// One message of a chat.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    /// The message id.
    pub id: i64,
    /// The chat it belongs to.
    pub chat_id: i64,
    /// The message it follows (branches share a parent).
    pub parent_id: Option<i64>,
    /// Who wrote it.
    #[schema(value_type = MessageRole)]
    pub role: String,
    /// Its text (for an answer, as much as arrived).
    pub content: String,
    /// The catalog model that answered.
    pub model: Option<String>,
    /// The sampling parameters the request used.
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
    /// Whether the answer is complete, interrupted or failed.
    pub status: MessageStatus,
    /// For a user message, its own size; for an answer, the whole prompt it was given.
    pub prompt_tokens: i32,
    /// Tokens of the answer.
    pub completion_tokens: i32,
    /// Time to first token, in milliseconds.
    pub ttft_ms: Option<i32>,
    /// How long the answer took, in milliseconds.
    pub total_ms: Option<i32>,
    /// The provider key that served the answer.
    pub provider_key_id: Option<i64>,
    /// The error code of a failed answer.
    pub error_code: Option<String>,
    /// What went wrong, for people (failed answers).
    pub error: Option<String>,
    /// Credits charged for this answer (0 for questions and failures).
    pub cost: i64,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

impl From<message::Model> for MessageView {
    fn from(row: message::Model) -> Self {
        Self {
            id: row.id,
            chat_id: row.chat_id,
            parent_id: row.parent_id,
            role: row.role,
            content: row.content,
            model: row.model,
            params: row.params,
            status: MessageStatus::parse(&row.status),
            prompt_tokens: row.prompt_tokens,
            completion_tokens: row.completion_tokens,
            ttft_ms: row.ttft_ms,
            total_ms: row.total_ms,
            provider_key_id: row.provider_key_id,
            error_code: row.error_code,
            cost: row.cost,
            error: row.error,
            created_at: row.created_at,
        }
    }
}

fn check_title(title: &str) -> Result<String, ChatsError> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > 255 {
        return Err(ChatsError::Invalid(
            "title",
            "title must be 1 to 255 characters".into(),
        ));
    }
    Ok(title.to_owned())
}

fn check_system_prompt(prompt: String) -> Result<Option<String>, ChatsError> {
    if prompt.chars().count() > 20_000 {
        return Err(ChatsError::Invalid(
            "system_prompt",
            "system_prompt must be at most 20000 characters".into(),
        ));
    }
    Ok(Some(prompt).filter(|p| !p.trim().is_empty()))
}

/// `check_model` says whether a model name may be used (exists and is enabled).
pub async fn create(
    db: &impl ConnectionTrait,
    user_id: i64,
    new: NewChat,
    check_model: impl Fn(&str) -> Result<(), ChatsError>,
    now: DateTime<Utc>,
) -> Result<ChatView, ChatsError> {
    let title = match new.title {
        Some(title) => check_title(&title)?,
        None => DEFAULT_TITLE.to_owned(),
    };
    if let Some(model) = &new.model {
        check_model(model)?;
    }
    let row = chat::ActiveModel {
        user_id: Set(user_id),
        title: Set(title),
        model: Set(new.model),
        system_prompt: Set(match new.system_prompt {
            Some(prompt) => check_system_prompt(prompt)?,
            None => None,
        }),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
        ..Default::default()
    };
    Ok(row.insert(db).await?.into())
}

/// The caller's live chat, or 404.
pub async fn find(
    db: &impl ConnectionTrait,
    user_id: i64,
    chat_id: i64,
) -> Result<chat::Model, ChatsError> {
    chat::Entity::find_by_id(chat_id)
        .filter(chat::Column::UserId.eq(user_id))
        .filter(chat::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or(ChatsError::ChatNotFound)
}

/// Most recently active first.
pub async fn list(
    db: &impl ConnectionTrait,
    user_id: i64,
    page: PageRequest,
) -> Result<Page<ChatView>, ChatsError> {
    let query = chat::Entity::find()
        .filter(chat::Column::UserId.eq(user_id))
        .filter(chat::Column::DeletedAt.is_null());
    let query = query
        .order_by_desc(chat::Column::UpdatedAt)
        .order_by_desc(chat::Column::Id);
    Ok(fetch_page(db, query, page).await?.map(ChatView::from))
}

pub async fn update(
    db: &impl ConnectionTrait,
    user_id: i64,
    chat_id: i64,
    patch: ChatPatch,
    check_model: impl Fn(&str) -> Result<(), ChatsError>,
    now: DateTime<Utc>,
) -> Result<ChatView, ChatsError> {
    let mut row: chat::ActiveModel = find(db, user_id, chat_id).await?.into();
    if let Some(title) = patch.title {
        row.title = Set(check_title(&title)?);
    }
    if let Some(model) = patch.model {
        check_model(&model)?;
        row.model = Set(Some(model));
    }
    if let Some(prompt) = patch.system_prompt {
        row.system_prompt = Set(check_system_prompt(prompt)?);
    }
    row.updated_at = Set(now);
    Ok(row.update(db).await?.into())
}

/// Soft delete: the chat disappears for its owner; messages stay for usage and audit.
pub async fn delete(
    db: &impl ConnectionTrait,
    user_id: i64,
    chat_id: i64,
    now: DateTime<Utc>,
) -> Result<(), ChatsError> {
    let result = chat::Entity::update_many()
        .col_expr(chat::Column::DeletedAt, now.into())
        .filter(chat::Column::Id.eq(chat_id))
        .filter(chat::Column::UserId.eq(user_id))
        .filter(chat::Column::DeletedAt.is_null())
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Err(ChatsError::ChatNotFound);
    }
    Ok(())
}

/// A chat's messages in the order they were written (every branch; `parent_id` links them).
pub async fn messages(
    db: &impl ConnectionTrait,
    user_id: i64,
    chat_id: i64,
    page: PageRequest,
) -> Result<Page<MessageView>, ChatsError> {
    find(db, user_id, chat_id).await?;
    let query = message::Entity::find().filter(message::Column::ChatId.eq(chat_id));
    let query = query.order_by_asc(message::Column::Id);
    Ok(fetch_page(db, query, page).await?.map(MessageView::from))
}

/// Answers still `streaming` long after they started belong to a server that died mid-stream:
/// they become `interrupted` (their credit holds expire the same way, uncharged).
pub async fn interrupt_orphans(
    db: &impl ConnectionTrait,
    started_before: DateTime<Utc>,
) -> Result<u64, ChatsError> {
    use sea_orm::sea_query::Expr;
    let result = message::Entity::update_many()
        .col_expr(
            message::Column::Status,
            Expr::value(MessageStatus::Interrupted.as_str()),
        )
        .col_expr(
            message::Column::Error,
            Expr::value("the server stopped before the answer was finished"),
        )
        .filter(message::Column::Status.eq(MessageStatus::Streaming.as_str()))
        .filter(message::Column::CreatedAt.lt(started_before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
