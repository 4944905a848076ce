use actix_web::{HttpResponse, web};
use confab_core::PageRequest;
use confab_users::admin::{AdminUserPatch, UserFilter};
use confab_users::{Role, UserStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Query};
use crate::routes::views::{UserPage, UserView};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// 1-based page number.
    #[param(example = 1, minimum = 1, maximum = 4294967295_u64)]
    pub page: Option<u64>,
    /// Items per page, 1-100.
    #[param(example = 20, minimum = 1, maximum = 100)]
    pub page_size: Option<u64>,
    /// Part of a username, email or nickname.
    pub q: Option<String>,
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
}

/// List users, newest last, with search and filters.
#[utoipa::path(get, path = "/api/v1/admin/users", operation_id = "adminListUsers", tag = "admin", security(("bearer" = [])),
    params(UserListQuery), responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an admin", body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    _admin: Admin,
    query: Query<UserListQuery>,
) -> Result<web::Json<UserPage>, ApiError> {
    let query = query.into_inner();
    let page = PageRequest::new(query.page, query.page_size)?;
    let filter = UserFilter {
        search: query.q,
        role: query.role,
        status: query.status,
    };
    let page = state.accounts.list_users(&state.db, filter, page).await?;
    Ok(web::Json(UserPage {
        items: page.items.into_iter().map(UserView::from).collect(),
        total: page.total,
        page: page.page,
        page_size: page.page_size,
    }))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/admin/users/{id}", operation_id = "adminGetUser", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")), responses(
        (status = 200, description = "The user", body = UserView),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<web::Json<UserView>, ApiError> {
    let user = state.accounts.get_user(&state.db, id.into_inner()).await?;
    Ok(web::Json(user.into()))
}

/// What an admin may change on an account; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AdminUserUpdate {
    /// `user` or `admin`; the last active admin cannot be demoted.
    pub role: Option<Role>,
    /// `active` or `disabled` (delete with `DELETE`). Disabling ends every session at once.
    #[schema(schema_with = settable_status_schema)]
    pub status: Option<UserStatus>,
    #[schema(
        example = "Alice",
        pattern = r"^\s*[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?\s*$"
    )]
    /// 1 to 64 characters (trimmed), no control characters.
    pub nickname: Option<String>,
}

/// Change a user's role, status or nickname. Takes effect on the user's very next request.
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", operation_id = "adminUpdateUser", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")), request_body = AdminUserUpdate, responses(
        (status = 200, description = "Updated", body = UserView),
        (status = 400, description = "`invalid_request`, `invalid_body`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`last_admin`: no active admin would remain", body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
    body: Json<AdminUserUpdate>,
) -> Result<web::Json<UserView>, ApiError> {
    let body = body.into_inner();
    let user = state
        .accounts
        .admin_update_user(
            &state.db,
            id.into_inner(),
            AdminUserPatch {
                role: body.role,
                status: body.status,
                nickname: body.nickname,
            },
        )
        .await?;
    Ok(web::Json(user.into()))
}

/// Delete a user: the account is disabled for good and anonymised; its records stay.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}", operation_id = "adminDeleteUser", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")), responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`last_admin`", body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state
        .accounts
        .admin_delete_user(&state.db, id.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// How many sessions a revocation ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedSessions {
    /// How many live sessions were ended.
    #[schema(example = 2)]
    pub revoked_sessions: u64,
}

/// End every session of a user; their tokens fail on the next request.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/revoke-sessions", operation_id = "adminRevokeUserSessions", tag = "admin",
    security(("bearer" = [])), params(("id" = i64, Path, description = "User id")), responses(
        (status = 200, description = "Revoked", body = RevokedSessions),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn revoke_sessions(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<web::Json<RevokedSessions>, ApiError> {
    let revoked_sessions = state
        .accounts
        .admin_revoke_sessions(&state.db, id.into_inner())
        .await?;
    Ok(web::Json(RevokedSessions { revoked_sessions }))
}

/// The statuses an admin may set: `deleted` is reached through `DELETE` only.
fn settable_status_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(["active", "disabled"]))
        .description(Some(
            "`active` or `disabled` (delete with `DELETE`); disabling ends every session at once.",
        ))
        .build()
}
