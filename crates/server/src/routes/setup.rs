use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::routes::views::UserView;
use crate::state::AppState;

/// The first admin account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SetupRequest {
    /// 3 to 32 letters, digits, `_`, `.`, `-`.
    #[schema(example = "admin", pattern = r"^[A-Za-z0-9_.-]{3,32}$")]
    pub username: String,
    #[schema(
        example = "a-long-admin-passphrase",
        min_length = 8,
        max_length = 128,
        pattern = r"\S"
    )]
    /// 8 to 128 characters; very common passwords are refused.
    pub password: String,
    #[schema(
        example = "admin@example.com",
        max_length = 254,
        pattern = r"^\s*([^@\s\x00-\x1f\x7f-\x9f]{1,64}@[^@\s.\x00-\x1f\x7f-\x9f]([^@\s\x00-\x1f\x7f-\x9f]*[^@\s.\x00-\x1f\x7f-\x9f])?\.[^@\s\x00-\x1f\x7f-\x9f]*[^@\s.\x00-\x1f\x7f-\x9f])?\s*$"
    )]
    /// The admin's e-mail; blank: none.
    pub email: Option<String>,
}

/// Create the first admin. Works only while no user exists.
#[utoipa::path(post, path = "/api/v1/setup", operation_id = "setup", tag = "accounts", request_body = SetupRequest,
    responses(
        (status = 201, description = "Admin created", body = UserView),
        (status = 400, description = "Invalid username, password or email", body = ErrorBody),
        (status = 409, description = "Already set up (`already_initialized`)", body = ErrorBody)))]
pub async fn setup(
    state: web::Data<AppState>,
    body: Json<SetupRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let user = state
        .accounts
        .setup(
            &state.db,
            &body.username,
            &body.password,
            body.email.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Created().json(UserView::from(user)))
}
