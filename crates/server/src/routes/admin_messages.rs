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
    pub user_id: Option<i64>,
    pub chat_id: Option<i64>,
    pub model: Option<String>,
    /// complete | interrupted | failed
    pub status: Option<String>,
    pub provider_key_id: Option<i64>,
    /// chat | completions | images | image_edits
    pub endpoint: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageRecordView {
    pub id: i64,
    pub user_id: i64,
    pub chat_id: Option<i64>,
    pub message_id: Option<i64>,
    pub api_key_id: Option<i64>,
    pub endpoint: String,
    pub model: String,
    pub provider_key_id: Option<i64>,
    pub prompt_tokens: i32,
    pub completion_tokens: i32,
    pub images: i32,
    pub ttft_ms: Option<i32>,
    pub latency_ms: i32,
    pub status: String,
    pub error_code: Option<String>,
    /// Credits at the model's prices.
    pub cost: i64,
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
        status: query.status,
        provider_key_id: query.provider_key_id,
        endpoint: query.endpoint,
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
