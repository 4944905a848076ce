use actix_web::{HttpResponse, web};
use confab_core::Code;
use confab_users::Role;
use confab_users::accounts::Registration;
use confab_users::codes::CodePurpose;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Caller, Client};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::routes::views::{TokenResponse, UserView};
use crate::state::AppState;

/// A new account. `email` and `code` are required when the site requires email verification.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// 3-32 letters, digits, `_`, `.`, `-`; unique ignoring case.
    #[schema(example = "alice", pattern = r"^[A-Za-z0-9_.-]{3,32}$")]
    pub username: String,
    /// 8-128 characters, taken exactly as sent; very common passwords are refused.
    #[schema(
        example = "correct horse battery staple",
        min_length = 8,
        max_length = 128,
        pattern = r"\S"
    )]
    pub password: String,
    #[schema(
        example = "alice@example.com",
        max_length = 254,
        pattern = r"^\s*([^@\s\x00-\x1f\x7f-\x9f]{1,64}@[^@\s.\x00-\x1f\x7f-\x9f]([^@\s\x00-\x1f\x7f-\x9f]*[^@\s.\x00-\x1f\x7f-\x9f])?\.[^@\s\x00-\x1f\x7f-\x9f]*[^@\s.\x00-\x1f\x7f-\x9f])?\s*$"
    )]
    /// Required when the site requires e-mail verification; blank: none.
    pub email: Option<String>,
    /// The code emailed by `POST /api/v1/auth/verification-codes` with purpose `register`.
    #[schema(example = "123456")]
    pub code: Option<String>,
    #[schema(
        example = "Alice",
        pattern = r"^\s*([^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?)?\s*$"
    )]
    /// 1 to 64 characters shown instead of the username; blank: none.
    pub nickname: Option<String>,
}

/// Register an account.
#[utoipa::path(post, path = "/api/v1/auth/register", operation_id = "register", tag = "accounts",
    request_body = RegisterRequest, responses(
        (status = 201, description = "Registered", body = UserView),
        (status = 400, description = "`invalid_username`, `invalid_password`, `password_too_common`, `invalid_email`, `email_code_required`, `invalid_code`", body = ErrorBody),
        (status = 403, description = "`registration_closed`", body = ErrorBody),
        (status = 409, description = "`username_taken`, `email_taken`", body = ErrorBody)))]
pub async fn register(
    state: web::Data<AppState>,
    body: Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let user = state
        .accounts
        .register(
            &state.db,
            Registration {
                username: body.username,
                password: body.password,
                email: body.email,
                code: body.code,
                nickname: body.nickname,
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(UserView::from(user)))
}

/// Asks for a verification code by e-mail.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeRequest {
    #[schema(
        example = "alice@example.com",
        max_length = 254,
        pattern = r"^\s*[^@\s\x00-\x1f\x7f-\x9f]{1,64}@[^@\s.\x00-\x1f\x7f-\x9f]([^@\s\x00-\x1f\x7f-\x9f]*[^@\s.\x00-\x1f\x7f-\x9f])?\.[^@\s\x00-\x1f\x7f-\x9f]*[^@\s.\x00-\x1f\x7f-\x9f]\s*$"
    )]
    /// Where to send the code.
    pub email: String,
    /// What the code will be good for.
    pub purpose: CodePurpose,
}

/// A code was sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeAccepted {
    /// Seconds the code stays valid.
    #[schema(example = 600)]
    pub expires_in: i64,
    /// Seconds before another code can be asked for this address.
    #[schema(example = 60)]
    pub resend_after: i64,
}

/// Email a six-digit code for registration, login or password reset. The answer is the same
/// whether or not the address has an account.
#[utoipa::path(post, path = "/api/v1/auth/verification-codes", operation_id = "requestVerificationCode", tag = "accounts",
    request_body = CodeRequest, responses(
        (status = 202, description = "Accepted; a code is on its way if the address can use it", body = CodeAccepted),
        (status = 400, description = "`invalid_email`, `invalid_body`", body = ErrorBody),
        (status = 429, description = "`rate_limited` (resend cooldown); see Retry-After", body = ErrorBody),
        (status = 503, description = "`service_unavailable`: requests cannot be counted (the shared Redis is unreachable)", body = ErrorBody),
        (status = 502, description = "`email_delivery_failed`", body = ErrorBody)))]
pub async fn request_code(
    state: web::Data<AppState>,
    Client(client): Client,
    body: Json<CodeRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .accounts
        .request_code(&state.db, &body.email, body.purpose, &client)
        .await?;
    let config = state.accounts.config();
    Ok(HttpResponse::Accepted().json(CodeAccepted {
        expires_in: config.code_ttl_secs,
        resend_after: config.code_resend_cooldown_secs,
    }))
}

/// Log in with `username` (a username or an email) and `password`, or with `email` and the
/// `code` sent for purpose `login`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// A username, or an e-mail address (with `password`).
    #[schema(example = "alice")]
    pub username: Option<String>,
    /// The account's e-mail, with `code` (or with `password`).
    #[schema(example = "alice@example.com")]
    pub email: Option<String>,
    /// The account's password (with `username` or `email`).
    #[schema(example = "correct horse battery staple")]
    pub password: Option<String>,
    /// The code e-mailed for purpose `login` (with `email`).
    pub code: Option<String>,
}

/// Log in.
#[utoipa::path(post, path = "/api/v1/auth/login", operation_id = "login", tag = "accounts",
    request_body = LoginRequest, responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 400, description = "`invalid_request` (missing fields), `invalid_code`", body = ErrorBody),
        (status = 401, description = "`invalid_credentials`", body = ErrorBody),
        (status = 403, description = "`account_disabled`", body = ErrorBody),
        (status = 429, description = "`rate_limited` after repeated failures; see Retry-After", body = ErrorBody),
        (status = 503, description = "`service_unavailable`: attempts cannot be counted (the shared Redis is unreachable)", body = ErrorBody)))]
pub async fn login(
    state: web::Data<AppState>,
    Client(client): Client,
    body: Json<LoginRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let body = body.into_inner();
    let pair = match (body.code, body.password) {
        (Some(code), None) => {
            let email = body.email.ok_or_else(|| {
                ApiError::new(Code::InvalidRequest, "email is required with code")
                    .with_param("email")
            })?;
            state
                .accounts
                .login_with_code(&state.db, &email, &code, &client)
                .await?
        }
        (None, Some(password)) => {
            let identifier = body.username.or(body.email).ok_or_else(|| {
                ApiError::new(Code::InvalidRequest, "username or email is required")
                    .with_param("username")
            })?;
            state
                .accounts
                .login_with_password(&state.db, &identifier, &password, &client)
                .await?
        }
        _ => {
            return Err(ApiError::new(
                Code::InvalidRequest,
                "send either password (with username or email) or code (with email)",
            )
            .with_param("password"));
        }
    };
    Ok(web::Json(pair.into()))
}

/// OAuth2 password grant, as Swagger UI's Authorize sends it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenForm {
    /// `password` (OAuth2's password grant); anything else is refused.
    #[schema(example = "password")]
    pub grant_type: Option<String>,
    /// A username or an e-mail address.
    pub username: String,
    /// The account's password.
    pub password: String,
    /// Ignored.
    pub scope: Option<String>,
}

/// Log in with an OAuth2 password form (`application/x-www-form-urlencoded`).
#[utoipa::path(post, path = "/api/v1/auth/token", operation_id = "loginWithForm", tag = "accounts",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 400, description = "`invalid_request` (grant_type other than password)", body = ErrorBody),
        (status = 401, description = "`invalid_credentials`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
        (status = 503, description = "`service_unavailable`: attempts cannot be counted (the shared Redis is unreachable)", body = ErrorBody)))]
pub async fn token(
    state: web::Data<AppState>,
    Client(client): Client,
    form: web::Form<TokenForm>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let form = form.into_inner();
    if form
        .grant_type
        .as_deref()
        .is_some_and(|grant| grant != "password")
    {
        return Err(
            ApiError::new(Code::InvalidRequest, "grant_type must be password")
                .with_param("grant_type"),
        );
    }
    let pair = state
        .accounts
        .login_with_password(&state.db, &form.username, &form.password, &client)
        .await?;
    Ok(web::Json(pair.into()))
}

/// A refresh token to exchange for a new pair.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token of the last pair; it is spent by this call.
    pub refresh_token: String,
}

/// Exchange a refresh token for a new pair. Each refresh token works once; presenting a used
/// one again ends its whole session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", operation_id = "refreshToken", tag = "accounts",
    request_body = RefreshRequest, responses(
        (status = 200, description = "New pair", body = TokenResponse),
        (status = 401, description = "`invalid_refresh_token`", body = ErrorBody),
        (status = 403, description = "`account_disabled`", body = ErrorBody)))]
pub async fn refresh(
    state: web::Data<AppState>,
    body: Json<RefreshRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let pair = state
        .accounts
        .refresh(&state.db, &body.refresh_token)
        .await?;
    Ok(web::Json(pair.into()))
}

/// End this session: the access token and its refresh tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", operation_id = "logout", tag = "accounts",
    security(("bearer" = [])), responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn logout(
    state: web::Data<AppState>,
    Caller(principal): Caller,
) -> Result<HttpResponse, ApiError> {
    state.accounts.logout(&state.db, &principal).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What a valid access token stands for.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenStatus {
    /// Always true: an invalid token is answered 401.
    pub active: bool,
    /// The account.
    #[schema(example = 1)]
    pub user_id: i64,
    /// The account's role now.
    pub role: Role,
    /// The session the token belongs to.
    #[schema(example = 12)]
    pub session_id: i64,
    /// Unix time the access token expires.
    #[schema(example = 1795000000)]
    pub expires_at: i64,
}

/// Whether the presented access token is live.
#[utoipa::path(get, path = "/api/v1/auth/check", operation_id = "checkToken", tag = "accounts",
    security(("bearer" = [])), responses(
        (status = 200, description = "Live", body = TokenStatus),
        (status = 401, description = "`unauthorized`, `invalid_token`, `token_expired`, `token_revoked`", body = ErrorBody),
        (status = 403, description = "`account_disabled`", body = ErrorBody)))]
pub async fn check(Caller(principal): Caller) -> web::Json<TokenStatus> {
    web::Json(TokenStatus {
        active: true,
        user_id: principal.user.id,
        role: principal.user.role,
        session_id: principal.session_id,
        expires_at: principal.token_expires_at,
    })
}

/// A new password, proven by an e-mailed code.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordResetRequest {
    #[schema(
        example = "alice@example.com",
        max_length = 254,
        pattern = r"^\s*[^@\s\x00-\x1f\x7f-\x9f]{1,64}@[^@\s.\x00-\x1f\x7f-\x9f]([^@\s\x00-\x1f\x7f-\x9f]*[^@\s.\x00-\x1f\x7f-\x9f])?\.[^@\s\x00-\x1f\x7f-\x9f]*[^@\s.\x00-\x1f\x7f-\x9f]\s*$"
    )]
    /// The account's e-mail.
    pub email: String,
    /// The code emailed for purpose `password_reset`.
    #[schema(example = "123456")]
    pub code: String,
    #[schema(
        example = "a new long passphrase",
        min_length = 8,
        max_length = 128,
        pattern = r"\S"
    )]
    /// 8 to 128 characters, taken exactly as sent; very common passwords are refused.
    pub new_password: String,
}

/// Set a new password with an emailed code. Every session of the account ends.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", operation_id = "resetPassword", tag = "accounts",
    request_body = PasswordResetRequest, responses(
        (status = 204, description = "Password changed"),
        (status = 400, description = "`invalid_code`, `invalid_password`, `password_too_common`, `invalid_email`", body = ErrorBody)))]
pub async fn password_reset(
    state: web::Data<AppState>,
    body: Json<PasswordResetRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .accounts
        .reset_password(&state.db, &body.email, &body.code, &body.new_password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
