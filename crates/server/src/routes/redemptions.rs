//! Card codes: users redeem them; admins create batches (codes returned once, as JSON or CSV),
//! list codes with their status, and void codes or whole batches.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use confab_core::PageRequest;
use confab_credits::redemption_guard::Redeemer;
use confab_credits::redemptions::{
    self, BatchView, CodeFilter, CodeStatus, CodeView, CreatedBatch, NewBatch, Redeemed,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Admin, Caller, Client};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Query};
use crate::routes::chats::PageQuery;
use crate::routes::views::page_schema;
use crate::state::AppState;

/// A card code to redeem.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Redeem {
    /// As printed; case, dashes and spaces do not matter.
    pub code: String,
}

page_schema!(CodePage, CodeView);

page_schema!(BatchPage, BatchView);

/// How many codes were voided.
#[derive(Debug, Serialize, ToSchema)]
pub struct Voided {
    /// Codes voided now (used and already voided ones are left as they are).
    pub voided: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateQuery {
    /// `json` (default) or `csv` (`code,kind,amount,expires_at,batch_id`).
    #[param(inline)]
    pub format: Option<BatchFormat>,
}

/// How a new batch's codes are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchFormat {
    /// The batch and its codes as JSON.
    Json,
    /// A CSV file, one line per code.
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CodesQuery {
    /// Which page, from 1.
    #[param(minimum = 1, maximum = 4294967295_u64)]
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (20 when absent).
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u64>,
    pub batch_id: Option<i64>,
    pub status: Option<CodeStatus>,
    /// The first characters of a code.
    pub prefix: Option<String>,
    pub redeemed_by: Option<i64>,
}

/// Redeem a card code: credits, or days of vip / svip. Each code works once, whoever else
/// tries it at the same moment. Repeated failures are answered with 429 for a while.
#[utoipa::path(post, path = "/api/v1/redemptions", operation_id = "redeemCode", tag = "credits", security(("bearer" = [])),
    request_body = Redeem, responses(
        (status = 200, description = "Redeemed: what was granted and the account after (also to the redeemer sending the code again)", body = Redeemed),
        (status = 404, description = "`redemption_code_not_found`", body = ErrorBody),
        (status = 409, description = "`redemption_code_used`, `redemption_code_voided`, `redemption_code_expired`, `conflict` (a higher tier is running), `balance_limit_exceeded` (the balance would go above 10^15)", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many failed attempts", body = ErrorBody),
        (status = 503, description = "`service_unavailable`: failed attempts cannot be counted (the shared Redis is unreachable)", body = ErrorBody)))]
pub async fn redeem(
    state: web::Data<AppState>,
    Caller(principal): Caller,
    Client(client): Client,
    body: Json<Redeem>,
) -> Result<web::Json<Redeemed>, ApiError> {
    let who = Redeemer {
        user_id: principal.user.id,
        address: client.ip.as_deref(),
    };
    let redeemed = state
        .redemptions
        .redeem(&state.db, who, &body.code, Utc::now())
        .await?;
    Ok(web::Json(redeemed))
}

/// The codes the caller has redeemed, newest first.
#[utoipa::path(get, path = "/api/v1/redemptions", operation_id = "listRedemptions", tag = "credits", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, description = "A page of codes", body = CodePage)))]
pub async fn own(
    state: web::Data<AppState>,
    Caller(principal): Caller,
    query: Query<PageQuery>,
) -> Result<web::Json<CodePage>, ApiError> {
    let page = PageRequest::new(query.page, query.page_size)?;
    let filter = CodeFilter {
        redeemed_by: Some(principal.user.id),
        ..CodeFilter::default()
    };
    let page = redemptions::list(&state.db, &filter, page, Utc::now()).await?;
    Ok(web::Json(page.into()))
}

/// Create a batch of codes. The codes are in this response only (stored hashed), as JSON or,
/// with `?format=csv`, as a CSV file.
#[utoipa::path(post, path = "/api/v1/admin/redemption-codes", operation_id = "adminCreateRedemptionCodes", tag = "admin", security(("bearer" = [])),
    params(CreateQuery), request_body = NewBatch, responses(
        (status = 201, description = "The batch and its codes (or, with `format=csv`, a CSV file)",
            content((CreatedBatch = "application/json"), (String = "text/csv"))),
        (status = 400, description = "`invalid_request` (see `param`), `invalid_query`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    Admin(admin): Admin,
    query: Query<CreateQuery>,
    body: Json<NewBatch>,
) -> Result<HttpResponse, ApiError> {
    let csv = query.format == Some(BatchFormat::Csv);
    let created =
        redemptions::create_batch(&state.db, admin.user.id, body.into_inner(), Utc::now()).await?;
    if !csv {
        return Ok(HttpResponse::Created().json(created));
    }
    Ok(HttpResponse::Created()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "content-disposition",
            format!(
                "attachment; filename=\"redemption-codes-{}.csv\"",
                created.batch.id
            ),
        ))
        .body(to_csv(&created)))
}

fn to_csv(created: &CreatedBatch) -> String {
    let batch = &created.batch;
    let expires = batch.expires_at.map(|t| t.to_rfc3339()).unwrap_or_default();
    let kind = batch.kind.as_str();
    let mut out = String::with_capacity(created.codes.len() * 64 + 64);
    out.push_str("code,kind,amount,expires_at,batch_id\n");
    let (amount, batch_id) = (batch.amount.to_string(), batch.id.to_string());
    for code in &created.codes {
        confab_core::csv::push_line(&mut out, &[code, kind, &amount, &expires, &batch_id]);
    }
    out
}

/// Codes with their status (unused, used, voided, expired), newest first.
#[utoipa::path(get, path = "/api/v1/admin/redemption-codes", operation_id = "adminListRedemptionCodes", tag = "admin", security(("bearer" = [])),
    params(CodesQuery), responses(
        (status = 200, description = "A page of codes", body = CodePage),
        (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    _admin: Admin,
    query: Query<CodesQuery>,
) -> Result<web::Json<CodePage>, ApiError> {
    let page = PageRequest::new(query.page, query.page_size)?;
    let filter = CodeFilter {
        batch_id: query.batch_id,
        status: query.status,
        prefix: query.prefix.clone(),
        redeemed_by: query.redeemed_by,
    };
    let page = redemptions::list(&state.db, &filter, page, Utc::now()).await?;
    Ok(web::Json(page.into()))
}

/// Void one unused code.
#[utoipa::path(post, path = "/api/v1/admin/redemption-codes/{id}/void", operation_id = "adminVoidRedemptionCode", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path,)), responses(
        (status = 200, description = "The code, voided", body = CodeView),
        (status = 404, description = "`redemption_code_not_found`", body = ErrorBody),
        (status = 409, description = "`redemption_code_used`", body = ErrorBody)))]
pub async fn void(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<web::Json<CodeView>, ApiError> {
    Ok(web::Json(
        redemptions::void(&state.db, id.into_inner(), Utc::now()).await?,
    ))
}

/// Batches, newest first.
#[utoipa::path(get, path = "/api/v1/admin/redemption-batches", operation_id = "adminListRedemptionBatches", tag = "admin", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, description = "A page of batches", body = BatchPage)))]
pub async fn batches(
    state: web::Data<AppState>,
    _admin: Admin,
    query: Query<PageQuery>,
) -> Result<web::Json<BatchPage>, ApiError> {
    let page = PageRequest::new(query.page, query.page_size)?;
    let page = redemptions::batches(&state.db, page).await?;
    Ok(web::Json(page.into()))
}

/// Void every unused code of a batch.
#[utoipa::path(post, path = "/api/v1/admin/redemption-batches/{id}/void", operation_id = "adminVoidRedemptionBatch", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path,)), responses(
        (status = 200, description = "How many codes were voided", body = Voided),
        (status = 404, description = "`redemption_code_not_found`: no such batch", body = ErrorBody)))]
pub async fn void_batch(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<web::Json<Voided>, ApiError> {
    let voided = redemptions::void_batch(&state.db, id.into_inner(), Utc::now()).await?;
    Ok(web::Json(Voided { voided }))
}
