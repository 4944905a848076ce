use std::time::Duration;

use actix_web::{HttpResponse, web};
use confab_core::Code;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Whether the server (and for readiness, its database) answers.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` (alive), or `ready` (the database, and Redis if configured, answer).
    #[schema(schema_with = health_status_schema)]
    pub status: &'static str,
}

fn health_status_schema() -> utoipa::openapi::Object {
    confab_core::schema::one_of(
        &["ok", "ready"],
        "`ok` (alive), or `ready` (the database, and Redis if configured, answer).",
    )
}

/// The process is up. Touches nothing (no database, no lock): a worker that answers this is
/// not stuck.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "health",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// How long the readiness probe waits for the database before it answers 503.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The process can reach its database and, when instances share one, Redis (answered within
/// two seconds either way). Without Redis a clustered instance keeps serving, but refuses
/// logins and redemptions (their limits cannot be counted), so it is not ready. An instance
/// shutting down answers 503 here (and to every request but `/healthz`).
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "health", responses(
    (status = 200, description = "Ready", body = Health),
    (status = 503, description = "Database or Redis unreachable or not answering", body = ErrorBody)))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let probe = state.db.execute_unprepared("SELECT 1");
    let failure = match tokio::time::timeout(READY_TIMEOUT, probe).await {
        Ok(Ok(_)) => None,
        Ok(Err(err)) => Some(err.to_string()),
        Err(_) => Some(format!("no answer within {} s", READY_TIMEOUT.as_secs())),
    };
    if let Some(failure) = failure {
        tracing::warn!(error = %failure, "readiness check failed: database");
        return Err(ApiError::new(
            Code::ServiceUnavailable,
            "database unreachable",
        ));
    }
    if let Some(cluster) = &state.cluster
        && let Err(error) = cluster.ping().await
    {
        tracing::warn!(%error, "readiness check failed: redis");
        return Err(ApiError::new(Code::ServiceUnavailable, "redis unreachable"));
    }
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}
