use actix_web::{HttpResponse, web};
use confab_users::accounts::ProfilePatch;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::routes::views::UserView;
use crate::state::AppState;

/// The caller's own account.
#[utoipa::path(get, path = "/api/v1/me", operation_id = "getMe", tag = "me", security(("bearer" = [])), responses(
    (status = 200, description = "The account", body = UserView),
    (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn get(Caller(principal): Caller) -> web::Json<UserView> {
    web::Json(principal.user.into())
}

/// Profile fields a user may change. Other fields in the body (role, credits, ...) are ignored.
/// An empty string clears a field.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProfileUpdate {
    #[schema(
        example = "Alice",
        pattern = r"^\s*([^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?)?\s*$"
    )]
    /// 1 to 64 characters; blank removes it.
    pub nickname: Option<String>,
    #[schema(
        example = "https://example.com/alice.png",
        pattern = r"^\s*(https://[^\s\x00-\x1f\x7f-\x9f]{1,2040}|http://[^\s\x00-\x1f\x7f-\x9f]{1,2041})?\s*$"
    )]
    /// An http(s) URL of at most 2,048 characters; blank removes it.
    pub avatar_url: Option<String>,
}

/// Change the caller's nickname or avatar.
#[utoipa::path(patch, path = "/api/v1/me", operation_id = "updateMe", tag = "me", security(("bearer" = [])),
    request_body = ProfileUpdate, responses(
        (status = 200, description = "Updated account", body = UserView),
        (status = 400, description = "`invalid_request` (nickname or avatar_url)", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    Caller(principal): Caller,
    body: Json<ProfileUpdate>,
) -> Result<web::Json<UserView>, ApiError> {
    let body = body.into_inner();
    let user = state
        .accounts
        .update_profile(
            &state.db,
            principal.user.id,
            ProfilePatch {
                nickname: body.nickname,
                avatar_url: body.avatar_url,
            },
        )
        .await?;
    Ok(web::Json(user.into()))
}

/// The caller's current password and a new one.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChange {
    /// The password now.
    pub current_password: String,
    #[schema(
        example = "a new long passphrase",
        min_length = 8,
        max_length = 128,
        pattern = r"\S"
    )]
    /// 8 to 128 characters, taken exactly as sent; very common passwords are refused.
    pub new_password: String,
}

/// Change the caller's password. Every other session of the account ends; this one stays.
#[utoipa::path(put, path = "/api/v1/me/password", operation_id = "changePassword", tag = "me", security(("bearer" = [])),
    request_body = PasswordChange, responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "`invalid_password`, `password_too_common`", body = ErrorBody),
        (status = 401, description = "`invalid_credentials` (wrong current password)", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
        (status = 503, description = "`service_unavailable`: attempts cannot be counted (the shared Redis is unreachable)", body = ErrorBody)))]
pub async fn change_password(
    state: web::Data<AppState>,
    Caller(principal): Caller,
    body: Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    state
        .accounts
        .change_password(
            &state.db,
            &principal,
            &body.current_password,
            &body.new_password,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
