//! Admin: the provider key pool. Every change reloads this instance's pool at once, and the
//! other instances' within a second (they hear of it through Redis).

use actix_web::{HttpResponse, web};
use chrono::Utc;
use confab_chats::relay::KeyCheck;
use confab_core::PageRequest;
use confab_keys::provider_keys::{self, NewProviderKey, ProviderKeyPatch, ProviderKeyView};
use confab_providers::ProviderKind;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Query};
use crate::routes::views::page_schema;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyListQuery {
    /// Which page, from 1.
    #[param(minimum = 1, maximum = 4294967295_u64)]
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (20 when absent).
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u64>,
    pub kind: Option<ProviderKind>,
}

page_schema!(ProviderKeyPage, ProviderKeyView);

fn view(state: &AppState, row: confab_store::entity::provider_key::Model) -> ProviderKeyView {
    let cooling = state.pool().cooling_until(row.id);
    ProviderKeyView::from_model(row, cooling)
}

/// List provider keys, highest priority first.
#[utoipa::path(get, path = "/api/v1/admin/provider-keys", operation_id = "adminListProviderKeys", tag = "providers", security(("bearer" = [])),
    params(KeyListQuery), responses(
        (status = 200, description = "A page of keys (secrets masked)", body = ProviderKeyPage),
        (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    _admin: Admin,
    query: Query<KeyListQuery>,
) -> Result<web::Json<ProviderKeyPage>, ApiError> {
    let query = query.into_inner();
    let page = PageRequest::new(query.page, query.page_size)?;
    let page = provider_keys::list(&state.db, query.kind, page).await?;
    Ok(web::Json(ProviderKeyPage::from(
        page.map(|row| view(&state, row)),
    )))
}

/// Add a provider key. The secret is encrypted (AES-256-GCM) and never shown again.
#[utoipa::path(post, path = "/api/v1/admin/provider-keys", operation_id = "adminCreateProviderKey", tag = "providers", security(("bearer" = [])),
    request_body = NewProviderKey, responses(
        (status = 201, description = "Added", body = ProviderKeyView),
        (status = 400, description = "`invalid_request` (see `param`) or `invalid_body`", body = ErrorBody),
        (status = 409, description = "`conflict`: the name is taken", body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    _admin: Admin,
    body: Json<NewProviderKey>,
) -> Result<HttpResponse, ApiError> {
    let row = provider_keys::create(
        &state.db,
        state.pool().secret_box(),
        body.into_inner(),
        "api",
        Utc::now(),
    )
    .await?;
    state.reload_providers().await?;
    Ok(HttpResponse::Created().json(view(&state, row)))
}

/// One provider key.
#[utoipa::path(get, path = "/api/v1/admin/provider-keys/{id}", operation_id = "adminGetProviderKey", tag = "providers", security(("bearer" = [])),
    params(("id" = i64, Path,)), responses(
        (status = 200, description = "The key", body = ProviderKeyView),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<web::Json<ProviderKeyView>, ApiError> {
    let row = provider_keys::get(&state.db, id.into_inner()).await?;
    Ok(web::Json(view(&state, row)))
}

/// Change a provider key; absent fields stay. `status: enabled` brings back a disabled key.
#[utoipa::path(patch, path = "/api/v1/admin/provider-keys/{id}", operation_id = "adminUpdateProviderKey", tag = "providers", security(("bearer" = [])),
    params(("id" = i64, Path,)), request_body = ProviderKeyPatch, responses(
        (status = 200, description = "Changed", body = ProviderKeyView),
        (status = 400, description = "`invalid_request`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: another key has this name", body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
    body: Json<ProviderKeyPatch>,
) -> Result<web::Json<ProviderKeyView>, ApiError> {
    let row = provider_keys::update(
        &state.db,
        state.pool().secret_box(),
        id.into_inner(),
        body.into_inner(),
        Utc::now(),
    )
    .await?;
    state.reload_providers().await?;
    Ok(web::Json(view(&state, row)))
}

/// Remove a provider key.
#[utoipa::path(delete, path = "/api/v1/admin/provider-keys/{id}", operation_id = "adminDeleteProviderKey", tag = "providers", security(("bearer" = [])),
    params(("id" = i64, Path,)), responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    provider_keys::delete(&state.db, id.into_inner()).await?;
    state.reload_providers().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Call the provider with this key: reachability, latency, models, balance.
#[utoipa::path(post, path = "/api/v1/admin/provider-keys/{id}/check", operation_id = "adminCheckProviderKey", tag = "providers", security(("bearer" = [])),
    params(("id" = i64, Path,)), responses(
        (status = 200, description = "What the provider answered (a failed check is still 200)", body = KeyCheck),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn check(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<web::Json<KeyCheck>, ApiError> {
    Ok(web::Json(state.relay.check_key(id.into_inner()).await?))
}
