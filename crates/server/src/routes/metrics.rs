//! `GET /metrics` for Prometheus (see `crate::metrics` for the series).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use confab_core::Code;
use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
use secrecy::ExposeSecret;

use crate::error::{ApiError, ErrorBody};
use crate::metrics::Snapshot;
use crate::state::AppState;

/// This instance's metrics in Prometheus text format: HTTP requests by route template, method
/// and status with latency histograms, open event streams, relayed requests by provider key,
/// model and outcome with their latency, tokens and credits by model, credit holds
/// outstanding, database pool use and Redis errors. With `metrics.token` set, only a scraper
/// sending `Authorization: Bearer <token>` is answered.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "health",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        (status = 401, description = "`unauthorized`: metrics.token is set and was not sent", body = ErrorBody)))]
pub async fn metrics(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if let Some(token) = &state.metrics_token {
        let sent = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if !sent.is_some_and(|sent| same(sent.as_bytes(), token.expose_secret().as_bytes())) {
            return Err(ApiError::new(
                Code::Unauthorized,
                "send the metrics token as a bearer token",
            ));
        }
    }
    let outstanding = state.relay.meter.outstanding().await?;
    let snapshot = Snapshot {
        holds: outstanding.holds,
        held_credits: outstanding.credits,
        pool: Some(state.db.pool_use()),
        redis_errors: state.cluster.as_ref().map(|cluster| cluster.errors()),
    };
    let text = state
        .metrics
        .encode(&snapshot)
        .map_err(|_| ApiError::new(Code::Internal, "metrics could not be encoded"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .body(text))
}

/// Compares without stopping at the first difference (the time says nothing of the token).
fn same(sent: &[u8], token: &[u8]) -> bool {
    sent.len() == token.len()
        && sent
            .iter()
            .zip(token)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}
