//! Credits: the caller's balance and ledger; admins' adjustments and the whole ledger.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use confab_core::{Code, PageRequest};
use confab_credits::check_ins::{self, CheckedIn, Month};
use confab_credits::ledger::{self, Credits, EntryKind, EntryView, LedgerFilter};
use confab_credits::reports::{self, GroupBy, Report};
use confab_credits::tiers::{self, Tier};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Query};
use crate::routes::views::page_schema;
use crate::state::AppState;

page_schema!(EntryPage, EntryView);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OwnLedgerQuery {
    /// Which page, from 1.
    #[param(minimum = 1, maximum = 4294967295_u64)]
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (20 when absent).
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u64>,
    /// Only entries of this kind.
    #[param(value_type = Option<EntryKind>)]
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// Which page, from 1.
    #[param(minimum = 1, maximum = 4294967295_u64)]
    pub page: Option<u64>,
    /// Items per page, 1 to 100 (20 when absent).
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u64>,
    pub user_id: Option<i64>,
    /// Only entries of this kind.
    #[param(value_type = Option<EntryKind>)]
    pub kind: Option<String>,
    /// RFC 3339; entries at or after.
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339; entries before.
    pub to: Option<DateTime<Utc>>,
}

fn kind(kind: Option<&str>) -> Result<Option<EntryKind>, ApiError> {
    kind.map(|k| {
        EntryKind::parse(k).ok_or_else(|| {
            ApiError::new(Code::InvalidQuery, format!("unknown entry kind '{k}'"))
                .with_param("kind")
        })
    })
    .transpose()
}

/// The caller's balance, what is held by requests in flight, and their tier.
#[utoipa::path(get, path = "/api/v1/credits", operation_id = "getCredits", tag = "credits", security(("bearer" = [])),
    responses((status = 200, description = "The caller's credits", body = Credits),
        (status = 401, description = "Missing or bad token", body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<web::Json<Credits>, ApiError> {
    Ok(web::Json(
        ledger::credits(&state.db, caller.0.user.id).await?,
    ))
}

/// The caller's ledger entries, newest first.
#[utoipa::path(get, path = "/api/v1/credits/ledger", operation_id = "listLedgerEntries", tag = "credits", security(("bearer" = [])),
    params(OwnLedgerQuery), responses(
        (status = 200, description = "A page of entries", body = EntryPage),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody)))]
pub async fn own_ledger(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<OwnLedgerQuery>,
) -> Result<web::Json<EntryPage>, ApiError> {
    let filter = LedgerFilter {
        user_id: Some(caller.0.user.id),
        kind: kind(query.kind.as_deref())?,
        ..LedgerFilter::default()
    };
    let page = PageRequest::new(query.page, query.page_size)?;
    Ok(web::Json(EntryPage::from(
        ledger::entries(&state.db, &filter, page).await?,
    )))
}

/// Every entry, newest first, filtered by user, kind and time.
#[utoipa::path(get, path = "/api/v1/admin/ledger", operation_id = "adminListLedgerEntries", tag = "admin", security(("bearer" = [])),
    params(LedgerQuery), responses(
        (status = 200, description = "A page of entries", body = EntryPage),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn admin_ledger(
    state: web::Data<AppState>,
    _admin: Admin,
    query: Query<LedgerQuery>,
) -> Result<web::Json<EntryPage>, ApiError> {
    let filter = LedgerFilter {
        user_id: query.user_id,
        kind: kind(query.kind.as_deref())?,
        from: query.from,
        to: query.to,
    };
    let page = PageRequest::new(query.page, query.page_size)?;
    Ok(web::Json(EntryPage::from(
        ledger::entries(&state.db, &filter, page).await?,
    )))
}

/// An admin's change to a user's balance.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Adjustment {
    /// Credits to add (positive) or take (negative), at most 10^15 either way; the balance
    /// never goes below what the user has nor above 10^15.
    #[schema(schema_with = adjustment_amount_schema)]
    pub amount: i64,
    /// Shown in the user's ledger.
    #[schema(max_length = 500, pattern = r"\S")]
    pub reason: String,
    /// Sending the same key again returns the first adjustment and changes nothing.
    #[schema(min_length = 1, max_length = 128)]
    pub idempotency_key: Option<String>,
}

/// The adjustment's ledger entry and the balance after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdjustmentResult {
    /// The ledger entry written (the first one, when the idempotency key was used before).
    pub entry: EntryView,
    /// The user's balance after the adjustment.
    pub credits: Credits,
}

/// Adds credits to a user's balance or takes them: one ledger entry (the ledger is never
/// edited). 201 when written, 200 when `idempotency_key` was used before.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/credits", operation_id = "adminAdjustCredits", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path,)), request_body = Adjustment, responses(
        (status = 201, description = "Written", body = AdjustmentResult),
        (status = 200, description = "Replayed: the first adjustment with this key", body = AdjustmentResult),
        (status = 400, description = "`invalid_request` (`amount` zero or beyond 10^15 either way, `reason` empty)", body = ErrorBody),
        (status = 402, description = "`insufficient_credits`: would go below zero (or below what is held)", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the key was used for a different change; `balance_limit_exceeded`: the balance would go above 10^15", body = ErrorBody)))]
pub async fn adjust(
    state: web::Data<AppState>,
    admin: Admin,
    user_id: web::Path<i64>,
    body: Json<Adjustment>,
) -> Result<HttpResponse, ApiError> {
    let user_id = user_id.into_inner();
    let body = body.into_inner();
    let applied = ledger::adjust(
        &state.db,
        user_id,
        body.amount,
        body.reason,
        body.idempotency_key,
        admin.0.user.id,
        Utc::now(),
    )
    .await?;
    let result = AdjustmentResult {
        entry: applied.entry,
        credits: ledger::credits(&state.db, user_id).await?,
    };
    Ok(if applied.replayed {
        HttpResponse::Ok().json(result)
    } else {
        HttpResponse::Created().json(result)
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonthQuery {
    /// `YYYY-MM`; default this month (in the site's time zone).
    #[param(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2026-12")]
    pub month: Option<String>,
}

/// Checks in for today (a calendar day in the site's time zone): once a day, with the
/// check-in reward from settings and a streak of consecutive days.
#[utoipa::path(post, path = "/api/v1/check-ins", operation_id = "checkIn", tag = "credits", security(("bearer" = [])),
    responses(
        (status = 201, description = "Checked in", body = CheckedIn),
        (status = 401, description = "Missing or bad token", body = ErrorBody),
        (status = 409, description = "`already_checked_in`", body = ErrorBody)))]
pub async fn check_in(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let site = state.accounts.site_settings(&state.db).await?;
    let checked_in = check_ins::check_in(
        &state.db,
        caller.0.user.id,
        site.tz(),
        site.check_in_reward,
        Utc::now(),
    )
    .await?;
    Ok(HttpResponse::Created().json(checked_in))
}

/// The days of a month the caller checked in, whether today is done, and the current streak.
#[utoipa::path(get, path = "/api/v1/check-ins", operation_id = "listCheckIns", tag = "credits", security(("bearer" = [])),
    params(MonthQuery), responses(
        (status = 200, description = "The month", body = Month),
        (status = 400, description = "`invalid_request` (`month` not YYYY-MM)", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody)))]
pub async fn check_ins_of_month(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<MonthQuery>,
) -> Result<web::Json<Month>, ApiError> {
    let site = state.accounts.site_settings(&state.db).await?;
    Ok(web::Json(
        check_ins::month(
            &state.db,
            caller.0.user.id,
            query.month.as_deref(),
            site.tz(),
            Utc::now(),
        )
        .await?,
    ))
}

/// A user's new tier.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierChange {
    /// `free` clears the tier; `vip` or `svip` until `expires_at`.
    pub tier: Tier,
    /// RFC 3339; when the tier lapses back to free. Absent: it does not.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Sets a user's tier (free, vip, svip) and its expiry.
#[utoipa::path(put, path = "/api/v1/admin/users/{id}/tier", operation_id = "adminSetTier", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path,)), request_body = TierChange, responses(
        (status = 200, description = "The user's credits and tier", body = Credits),
        (status = 400, description = "`invalid_request` (`expires_at` in the past), `invalid_body`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn set_tier(
    state: web::Data<AppState>,
    _admin: Admin,
    user_id: web::Path<i64>,
    body: Json<TierChange>,
) -> Result<web::Json<Credits>, ApiError> {
    let body = body.into_inner();
    Ok(web::Json(
        tiers::set_tier(
            &state.db,
            user_id.into_inner(),
            body.tier,
            body.expires_at,
            Utc::now(),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OwnUsageQuery {
    /// First day, `YYYY-MM-DD` in the site's time zone (default: 29 days before `to`).
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (default: today).
    pub to: Option<NaiveDate>,
    /// day (default) | model | key
    pub group_by: Option<GroupBy>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageReportQuery {
    /// First day, `YYYY-MM-DD` in the site's time zone (default: 29 days before `to`).
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (default: today).
    pub to: Option<NaiveDate>,
    /// day (default) | model | key | user
    pub group_by: Option<GroupBy>,
    /// Only this user's requests.
    pub user_id: Option<i64>,
}

/// The caller's requests, tokens, images and credits over a date range (at most 366 days),
/// grouped by day, model or API key.
#[utoipa::path(get, path = "/api/v1/usage", operation_id = "getUsageReport", tag = "credits", security(("bearer" = [])),
    params(OwnUsageQuery), responses(
        (status = 200, description = "The report", body = Report),
        (status = 400, description = "`invalid_query`; `invalid_request` (`from` after `to`, range too long, `group_by=user`)", body = ErrorBody),
        (status = 401, description = "Missing or bad token", body = ErrorBody)))]
pub async fn own_usage(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<OwnUsageQuery>,
) -> Result<web::Json<Report>, ApiError> {
    let group_by = query.group_by.unwrap_or(GroupBy::Day);
    if group_by == GroupBy::User {
        return Err(
            ApiError::new(Code::InvalidRequest, "group_by must be day, model or key")
                .with_param("group_by"),
        );
    }
    let site = state.accounts.site_settings(&state.db).await?;
    Ok(web::Json(
        reports::report(
            &state.db,
            Some(caller.0.user.id),
            query.from,
            query.to,
            group_by,
            site.tz(),
            Utc::now(),
        )
        .await?,
    ))
}

/// Everyone's (or one user's) requests, tokens, images and credits over a date range, grouped
/// by day, model, API key or user.
#[utoipa::path(get, path = "/api/v1/admin/usage", operation_id = "adminGetUsageReport", tag = "admin", security(("bearer" = [])),
    params(UsageReportQuery), responses(
        (status = 200, description = "The report", body = Report),
        (status = 400, description = "`invalid_query`; `invalid_request` (`from` after `to`, range too long)", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn admin_usage(
    state: web::Data<AppState>,
    _admin: Admin,
    query: Query<UsageReportQuery>,
) -> Result<web::Json<Report>, ApiError> {
    let site = state.accounts.site_settings(&state.db).await?;
    Ok(web::Json(
        reports::report(
            &state.db,
            query.user_id,
            query.from,
            query.to,
            query.group_by.unwrap_or(GroupBy::Day),
            site.tz(),
            Utc::now(),
        )
        .await?,
    ))
}

/// `amount` in the document: 1 to 10^15 credits either way, never zero.
fn adjustment_amount_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    let range = |min: i64, max: i64| {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(min))
            .maximum(Some(max))
    };
    OneOfBuilder::new()
        .item(range(-confab_core::MAX_CREDITS, -1))
        .item(range(1, confab_core::MAX_CREDITS))
        .description(Some(
            "Credits to add (positive) or take (negative), never zero.",
        ))
        .build()
        .into()
}
