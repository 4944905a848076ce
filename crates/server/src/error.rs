//! The one place errors become HTTP: every domain error converts into [`ApiError`], which is
//! answered as `{"error": {"code", "message", "type", "param"}}` with the code's status.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use confab_core::{Code, ErrorCode};
use serde::Serialize;
use utoipa::ToSchema;

/// The error body every endpoint answers with; OpenAI's SDKs read it too.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

impl ErrorBody {
    pub fn new(code: Code, message: impl Into<String>, param: Option<&'static str>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.as_str(),
                message: message.into(),
                r#type: code.error_type(),
                param: param.map(Cow::Borrowed),
            },
        }
    }
}

/// Every code the server can answer with, as an enum in the document.
fn error_code_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "Machine-readable code, e.g. `invalid_credentials`: one of a fixed set clients switch on.",
        ))
        .enum_values(Some(Code::ALL.iter().map(|code| code.as_str())))
        .examples(["invalid_credentials"])
        .build()
}

/// What went wrong: a code to switch on, a message for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code, e.g. `invalid_credentials`: one of a fixed set clients switch on.
    #[schema(schema_with = error_code_schema)]
    pub code: &'static str,
    /// For people; never contains internals.
    #[schema(example = "wrong username, email or password")]
    pub message: String,
    /// The error class, in OpenAI's vocabulary.
    #[schema(example = "authentication_error")]
    pub r#type: &'static str,
    /// The request field the error is about.
    #[schema(value_type = Option<String>, example = json!(null))]
    pub param: Option<Cow<'static, str>>,
}

#[derive(Debug)]
pub struct ApiError {
    code: Code,
    message: String,
    /// Mostly a field the code names; a field named in the request itself (an unknown one,
    /// say) is owned.
    param: Option<Cow<'static, str>>,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    pub fn with_param(mut self, param: impl Into<Cow<'static, str>>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn code(&self) -> Code {
        self.code
    }

    /// Seconds the client should wait (`Retry-After`).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl<E: ErrorCode> From<E> for ApiError {
    fn from(err: E) -> Self {
        let code = err.code();
        let message = if code == Code::Internal {
            // The cause goes to the log (inside the request's span), never to the client.
            tracing::error!(error = %err, source = ?std::error::Error::source(&err), "request failed");
            "internal server error".to_owned()
        } else {
            if code.status() >= 500 {
                // Upstream failures: the client gets a safe summary, the log the detail.
                tracing::warn!(error = ?err, "request failed upstream");
            }
            err.to_string()
        };
        Self {
            code,
            message,
            param: err.param().map(Cow::Borrowed),
            retry_after: err.retry_after(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(seconds)));
        }
        if self.code.status() == 401 {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str(),
                message: self.message.clone(),
                r#type: self.code.error_type(),
                param: self.param.clone(),
            },
        })
    }
}

/// Turns actix's body, query and path extraction failures into the error shape.
pub mod extract {
    use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};

    use super::*;

    pub fn json(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
        let api = match &err {
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                ApiError::new(Code::PayloadTooLarge, "request body is too large")
            }
            JsonPayloadError::ContentType => ApiError::new(
                Code::UnsupportedMediaType,
                "Content-Type must be application/json",
            ),
            JsonPayloadError::Deserialize(inner) => {
                ApiError::new(Code::InvalidJson, format!("body: malformed JSON: {inner}"))
                    .with_param("body")
            }
            _ => ApiError::new(Code::InvalidJson, "the request body could not be read"),
        };
        api.into()
    }

    pub fn form(err: UrlencodedError, _req: &HttpRequest) -> actix_web::Error {
        let api = match &err {
            UrlencodedError::Overflow { .. } => {
                ApiError::new(Code::PayloadTooLarge, "request body is too large")
            }
            UrlencodedError::ContentType => ApiError::new(
                Code::UnsupportedMediaType,
                "Content-Type must be application/x-www-form-urlencoded",
            ),
            UrlencodedError::Parse(inner) => {
                ApiError::new(Code::InvalidBody, format!("invalid form: {inner}"))
            }
            _ => ApiError::new(Code::InvalidBody, "the form could not be read"),
        };
        api.into()
    }

    pub fn query(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
        let detail = match &err {
            QueryPayloadError::Deserialize(inner) => inner.to_string(),
            _ => "malformed query string".to_owned(),
        };
        ApiError::new(
            Code::InvalidQuery,
            format!("invalid query parameters: {detail}"),
        )
        .into()
    }

    pub fn path(_err: PathError, _req: &HttpRequest) -> actix_web::Error {
        ApiError::new(Code::NotFound, "no such resource").into()
    }
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(Code::NotFound, "no such route"))
}

/// 405 for a method the path does not take; `allow` lists those it does (`Allow` header).
pub async fn method_not_allowed(allow: String) -> HttpResponse {
    let message = format!("method not allowed on this route; it takes {allow}");
    let mut response = ApiError::new(Code::MethodNotAllowed, message).error_response();
    if let Ok(value) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;

    use super::*;

    #[actix_web::test]
    async fn body_is_pinned() {
        let err = ApiError::from(confab_users::UsersError::RateLimited(42));
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get("retry-after").unwrap(), "42");
        let body = to_bytes(response.into_body()).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": {
                "code": "rate_limited",
                "message": "too many attempts; try again in 42 seconds",
                "type": "rate_limit_error",
                "param": null
            }})
        );
    }

    #[actix_web::test]
    async fn internal_errors_are_opaque() {
        let err = ApiError::from(confab_users::UsersError::Database(sea_orm::DbErr::Custom(
            "relation \"users\" does not exist".into(),
        )));
        let body = to_bytes(err.error_response().into_body()).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "internal_error");
        assert_eq!(json["error"]["message"], "internal server error");
        assert_eq!(json["error"]["type"], "server_error");
    }
}
