//! Users' API keys: their owner's CRUD and rotation (signed in only: a key never manages keys),
//! and the admin's list of every key.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use confab_core::PageRequest;
use confab_keys::api_keys::{ApiKey, ApiKeyPatch, CreatedApiKey, NewApiKey};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Admin, Caller, day_in};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Query};
use crate::routes::chats::PageQuery;
use crate::routes::views::page_schema;
use crate::state::AppState;

page_schema!(ApiKeyPage, ApiKey);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminKeysQuery {
    /// Which page, from 1.
    #[param(minimum = 1, maximum = 4294967295_u64)]
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (20 when absent).
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u64>,
    pub user_id: Option<i64>,
}

/// Today in the site's time zone, which `request_today` counts.
async fn today(state: &AppState) -> Result<String, ApiError> {
    let site = state.accounts.site_settings(&state.db).await?;
    Ok(day_in(site.tz(), Utc::now()).date)
}

/// Create a key. The secret is in this response only; it is stored as a hash.
#[utoipa::path(post, path = "/api/v1/keys", operation_id = "createApiKey", tag = "keys", security(("bearer" = [])),
    request_body = NewApiKey, responses(
        (status = 201, description = "Created; `secret` is shown this once", body = CreatedApiKey),
        (status = 400, description = "`invalid_request` (see `param`)", body = ErrorBody),
        (status = 403, description = "`api_key_not_allowed`: keys cannot manage keys", body = ErrorBody),
        (status = 409, description = "`conflict`: too many keys", body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    Caller(principal): Caller,
    body: Json<NewApiKey>,
) -> Result<HttpResponse, ApiError> {
    let today = today(&state).await?;
    let created = state
        .api_keys
        .create(
            &state.db,
            principal.user.id,
            body.into_inner(),
            &today,
            Utc::now(),
        )
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// The caller's keys, newest first.
#[utoipa::path(get, path = "/api/v1/keys", operation_id = "listApiKeys", tag = "keys", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, description = "A page of keys", body = ApiKeyPage)))]
pub async fn list(
    state: web::Data<AppState>,
    Caller(principal): Caller,
    query: Query<PageQuery>,
) -> Result<web::Json<ApiKeyPage>, ApiError> {
    let page = PageRequest::new(query.page, query.page_size)?;
    let today = today(&state).await?;
    let page = state
        .api_keys
        .list(&state.db, principal.user.id, page, &today)
        .await?;
    Ok(web::Json(page.into()))
}

/// One of the caller's keys.
#[utoipa::path(get, path = "/api/v1/keys/{id}", operation_id = "getApiKey", tag = "keys", security(("bearer" = [])),
    params(("id" = i64, Path,)), responses(
        (status = 200, description = "The key", body = ApiKey),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    Caller(principal): Caller,
    id: web::Path<i64>,
) -> Result<web::Json<ApiKey>, ApiError> {
    let today = today(&state).await?;
    let key = state
        .api_keys
        .get(&state.db, principal.user.id, id.into_inner(), &today)
        .await?;
    Ok(web::Json(key))
}

/// Change a key's name, limits or binding; `null` clears a limit.
#[utoipa::path(patch, path = "/api/v1/keys/{id}", operation_id = "updateApiKey", tag = "keys", security(("bearer" = [])),
    params(("id" = i64, Path,)), request_body = ApiKeyPatch, responses(
        (status = 200, description = "Changed", body = ApiKey),
        (status = 400, description = "`invalid_request` (see `param`)", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    Caller(principal): Caller,
    id: web::Path<i64>,
    body: Json<ApiKeyPatch>,
) -> Result<web::Json<ApiKey>, ApiError> {
    let today = today(&state).await?;
    let key = state
        .api_keys
        .update(
            &state.db,
            principal.user.id,
            id.into_inner(),
            body.into_inner(),
            &today,
            Utc::now(),
        )
        .await?;
    Ok(web::Json(key))
}

/// Delete a key: it stops working at once.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", operation_id = "deleteApiKey", tag = "keys", security(("bearer" = [])),
    params(("id" = i64, Path,)), responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    Caller(principal): Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state
        .api_keys
        .delete(&state.db, principal.user.id, id.into_inner(), Utc::now())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new secret for the key, shown this once; the old secret stops working at once. Limits
/// and counters stay.
#[utoipa::path(post, path = "/api/v1/keys/{id}/rotate", operation_id = "rotateApiKey", tag = "keys", security(("bearer" = [])),
    params(("id" = i64, Path,)), responses(
        (status = 200, description = "Rotated; `secret` is shown this once", body = CreatedApiKey),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn rotate(
    state: web::Data<AppState>,
    Caller(principal): Caller,
    id: web::Path<i64>,
) -> Result<web::Json<CreatedApiKey>, ApiError> {
    let today = today(&state).await?;
    let rotated = state
        .api_keys
        .rotate(
            &state.db,
            principal.user.id,
            id.into_inner(),
            &today,
            Utc::now(),
        )
        .await?;
    Ok(web::Json(rotated))
}

/// Every live key, or one user's.
#[utoipa::path(get, path = "/api/v1/admin/keys", operation_id = "adminListApiKeys", tag = "keys", security(("bearer" = [])),
    params(AdminKeysQuery), responses(
        (status = 200, description = "A page of keys", body = ApiKeyPage),
        (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn admin_list(
    state: web::Data<AppState>,
    _admin: Admin,
    query: Query<AdminKeysQuery>,
) -> Result<web::Json<ApiKeyPage>, ApiError> {
    let page = PageRequest::new(query.page, query.page_size)?;
    let today = today(&state).await?;
    let page = state
        .api_keys
        .list_all(&state.db, query.user_id, page, &today)
        .await?;
    Ok(web::Json(page.into()))
}
