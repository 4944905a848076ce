//! The model catalog: what users may pick (`GET /api/v1/models`) and the admin's CRUD.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use confab_chats::catalog::{self, ModelPatch, ModelView, NewModel, PublicModel};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Admin, Consumer};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::state::AppState;

/// The models the caller may use.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicModelList {
    /// The models, in sort order.
    pub items: Vec<PublicModel>,
}

/// Every model of the catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    /// The models, in sort order.
    pub items: Vec<ModelView>,
}

/// The models the caller may use, with their prices.
#[utoipa::path(get, path = "/api/v1/models", operation_id = "listModels", tag = "chats", security(("bearer" = []), ("apiKey" = [])),
    responses(
        (status = 200, description = "Enabled models the caller's tier (and API key) allows", body = PublicModelList),
        (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn public(
    state: web::Data<AppState>,
    caller: Consumer,
) -> Result<web::Json<PublicModelList>, ApiError> {
    let usage = caller.usage();
    let access = catalog::access_of(&state.db, &usage).await?;
    let items = state
        .catalog()
        .available(&access)
        .iter()
        .map(|m| PublicModel::from(m.as_ref()))
        .collect();
    Ok(web::Json(PublicModelList { items }))
}

/// Every catalog entry, enabled or not.
#[utoipa::path(get, path = "/api/v1/admin/models", operation_id = "adminListModels", tag = "providers", security(("bearer" = [])),
    responses((status = 200, description = "The catalog", body = ModelList),
        (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    _admin: Admin,
) -> Result<web::Json<ModelList>, ApiError> {
    Ok(web::Json(ModelList {
        items: catalog::list(&state.db).await?,
    }))
}

/// Add a model to the catalog.
#[utoipa::path(post, path = "/api/v1/admin/models", operation_id = "adminCreateModel", tag = "providers", security(("bearer" = [])),
    request_body = NewModel, responses(
        (status = 201, description = "Added", body = ModelView),
        (status = 400, description = "`invalid_request`", body = ErrorBody),
        (status = 409, description = "`conflict`: the name is taken", body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    _admin: Admin,
    body: Json<NewModel>,
) -> Result<HttpResponse, ApiError> {
    let model = catalog::create(&state.db, body.into_inner(), Utc::now()).await?;
    state.reload_providers().await?;
    Ok(HttpResponse::Created().json(model))
}

/// One catalog entry.
#[utoipa::path(get, path = "/api/v1/admin/models/{id}", operation_id = "adminGetModel", tag = "providers", security(("bearer" = [])),
    params(("id" = i64, Path,)), responses(
        (status = 200, description = "The model", body = ModelView),
        (status = 404, description = "`model_not_found`", body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<web::Json<ModelView>, ApiError> {
    Ok(web::Json(catalog::get(&state.db, id.into_inner()).await?))
}

/// Change a catalog entry.
#[utoipa::path(patch, path = "/api/v1/admin/models/{id}", operation_id = "adminUpdateModel", tag = "providers", security(("bearer" = [])),
    params(("id" = i64, Path,)), request_body = ModelPatch, responses(
        (status = 200, description = "Changed", body = ModelView),
        (status = 400, description = "`invalid_request`", body = ErrorBody),
        (status = 404, description = "`model_not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: another model has this name", body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
    body: Json<ModelPatch>,
) -> Result<web::Json<ModelView>, ApiError> {
    let model = catalog::update(&state.db, id.into_inner(), body.into_inner(), Utc::now()).await?;
    state.reload_providers().await?;
    Ok(web::Json(model))
}

/// Remove a catalog entry (past messages keep its name).
#[utoipa::path(delete, path = "/api/v1/admin/models/{id}", operation_id = "adminDeleteModel", tag = "providers", security(("bearer" = [])),
    params(("id" = i64, Path,)), responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "`model_not_found`", body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    catalog::delete(&state.db, id.into_inner()).await?;
    state.reload_providers().await?;
    Ok(HttpResponse::NoContent().finish())
}
