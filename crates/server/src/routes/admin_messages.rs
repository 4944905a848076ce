//! Admin: every relayed request's usage record (chat messages, /v1 completions, images).

use actix_web::web;
use chrono::{DateTime, Utc};
use confab_core::PageRequest;
use confab_credits::usage::{self, UsageFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;
use crate::routes::views::page_schema;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// Which page, from 1.
    #[param(minimum = 1, maximum = 4294967295_u64)]
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (20 when absent).
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u64>,
    /// Only this user's requests.
    pub user_id: Option<i64>,
    /// Only this chat's.
    pub chat_id: Option<i64>,
    /// Only this catalog model's.
    pub model: Option<String>,
    /// Only requests that ended so.
    pub status: Option<UsageStatus>,
    /// Only requests served by this provider key.
    pub provider_key_id: Option<i64>,
    /// Only requests to this route family.
    pub endpoint: Option<UsageEndpoint>,
}

/// How a relayed request ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UsageStatus {
    /// The provider's answer arrived whole.
    Complete,
    /// The answer stopped part-way (the client left, or the provider broke off).
    Interrupted,
    /// No answer.
    Failed,
}

/// Which route family a request came through.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UsageEndpoint {
    /// A chat message (`/api/v1/chats/{id}/messages`).
    Chat,
    /// `/v1/chat/completions`.
    Completions,
    /// Image generation.
    Images,
    /// Image edits.
    ImageEdits,
}

impl UsageStatus {
    /// As stored in usage records.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageStatus::Complete => "complete",
            UsageStatus::Interrupted => "interrupted",
            UsageStatus::Failed => "failed",
        }
    }
}

impl UsageEndpoint {
    /// As stored in usage records.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageEndpoint::Chat => "chat",
            UsageEndpoint::Completions => "completions",
            UsageEndpoint::Images => "images",
            UsageEndpoint::ImageEdits => "image_edits",
        }
    }
}

/// One relayed request: who, which model and key, tokens, timings, cost.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageRecordView {
    /// The record id.
    pub id: i64,
    /// Who made the request.
    pub user_id: i64,
    /// The chat, for chat messages.
    pub chat_id: Option<i64>,
    /// The assistant message, for chat messages.
    pub message_id: Option<i64>,
    /// The API key used, if any.
    pub api_key_id: Option<i64>,
    /// The route family.
    #[schema(value_type = UsageEndpoint)]
    pub endpoint: String,
    /// The catalog model.
    pub model: String,
    /// The provider key that served it.
    pub provider_key_id: Option<i64>,
    /// Tokens of the prompt.
    pub prompt_tokens: i32,
    /// Tokens of the answer.
    pub completion_tokens: i32,
    /// Images made.
    pub images: i32,
    /// Time to the first token, in milliseconds.
    pub ttft_ms: Option<i32>,
    /// Time to the end, in milliseconds.
    pub latency_ms: i32,
    /// How it ended.
    #[schema(value_type = UsageStatus)]
    pub status: String,
    /// The error's code, when it failed.
    pub error_code: Option<String>,
    /// Credits at the model's prices.
    pub cost: i64,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

page_schema!(UsageRecordPage, UsageRecordView);

/// Requests, newest first, filtered by user, chat, model, status, key or endpoint.
#[utoipa::path(get, path = "/api/v1/admin/messages", operation_id = "adminListMessages", tag = "admin", security(("bearer" = [])),
    params(UsageQuery), responses(
        (status = 200, description = "A page of usage records", body = UsageRecordPage),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    _admin: Admin,
    query: Query<UsageQuery>,
) -> Result<web::Json<UsageRecordPage>, ApiError> {
    let query = query.into_inner();
    let page = PageRequest::new(query.page, query.page_size)?;
    let filter = UsageFilter {
        user_id: query.user_id,
        chat_id: query.chat_id,
        model: query.model,
        status: query.status.map(|status| status.as_str().to_owned()),
        provider_key_id: query.provider_key_id,
        endpoint: query.endpoint.map(|endpoint| endpoint.as_str().to_owned()),
    };
    let page = usage::list(&state.db, &filter, page).await?;
    Ok(web::Json(UsageRecordPage::from(page.map(|r| {
        UsageRecordView {
            id: r.id,
            user_id: r.user_id,
            chat_id: r.chat_id,
            message_id: r.message_id,
            api_key_id: r.api_key_id,
            endpoint: r.endpoint,
            model: r.model,
            provider_key_id: r.provider_key_id,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            images: r.images,
            ttft_ms: r.ttft_ms,
            latency_ms: r.latency_ms,
            status: r.status,
            error_code: r.error_code,
            cost: r.cost,
            created_at: r.created_at,
        }
    }))))
}
