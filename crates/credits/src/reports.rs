//! Usage reports: requests, tokens, images and credits over a date range, grouped by day (in
//! the site's time zone), model, API key or user, summed by the database.

use chrono::{DateTime, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use confab_store::entity::usage_record;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};

use crate::CreditsError;

const DAY_MS: i64 = 86_400_000;
/// The longest range one report covers.
pub const MAX_DAYS: i64 = 366;

/// How a usage report groups its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Day,
    Model,
    Key,
    User,
}

/// One group's sums.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportRow {
    /// The day (`YYYY-MM-DD`), model name, API key id or user id; `none` for requests made
    /// without an API key.
    pub group: String,
    /// Requests relayed.
    pub requests: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Answer tokens.
    pub completion_tokens: i64,
    /// Images generated.
    pub images: i64,
    /// Credits charged.
    pub credits: i64,
}

/// Usage summed over days, per group.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// First day, inclusive.
    pub from: String,
    /// Last day, inclusive.
    pub to: String,
    /// How the rows are grouped.
    pub group_by: GroupBy,
    /// The site's time zone, in which the days are counted.
    pub time_zone: String,
    /// One row per group, in order.
    pub rows: Vec<ReportRow>,
    /// The sums over every row.
    pub total: ReportRow,
}

#[derive(Debug, FromQueryResult)]
struct Sums {
    group: Option<String>,
    requests: i64,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    images: Option<i64>,
    credits: Option<i64>,
}

fn bigint(expr: SimpleExpr) -> SimpleExpr {
    expr.cast_as(Alias::new("BIGINT"))
}

fn start_of(day: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    zone.from_local_datetime(&midnight)
        .earliest()
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}

/// Sums the usage records of `user_id` (all users when `None`) from `from` to `to`, both
/// inclusive days in `zone` (default: the last 30 days).
pub async fn report(
    db: &impl ConnectionTrait,
    user_id: Option<i64>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    group_by: GroupBy,
    zone: Tz,
    now: DateTime<Utc>,
) -> Result<Report, CreditsError> {
    let today = now.with_timezone(&zone).date_naive();
    let to = to.unwrap_or(today);
    let from = from.unwrap_or_else(|| to - chrono::Duration::days(29));
    if from > to {
        return Err(CreditsError::Invalid(
            "from",
            "from must not be after to".into(),
        ));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(CreditsError::Invalid(
            "from",
            format!("a report covers at most {MAX_DAYS} days"),
        ));
    }
    let start_ms = start_of(from, zone).timestamp_millis();
    let end_ms = start_of(to + chrono::Duration::days(1), zone).timestamp_millis();
    // Days are cut at the zone's offset at the start of the range (exact for zones without
    // daylight saving time; an hour off around a change for the others).
    let offset_ms = i64::from(
        zone.offset_from_utc_datetime(&start_of(from, zone).naive_utc())
            .fix()
            .local_minus_utc(),
    ) * 1000;
    let group: SimpleExpr = match group_by {
        GroupBy::Day => Expr::col(usage_record::Column::CreatedMs)
            .add(offset_ms)
            .div(DAY_MS),
        GroupBy::Model => Expr::col(usage_record::Column::Model),
        GroupBy::Key => Expr::col(usage_record::Column::ApiKeyId),
        GroupBy::User => Expr::col(usage_record::Column::UserId),
    };
    let group = group.cast_as(Alias::new("TEXT"));
    let mut select = usage_record::Entity::find()
        .select_only()
        .column_as(group, "group")
        .column_as(
            bigint(Expr::col(usage_record::Column::Id).count()),
            "requests",
        )
        .column_as(
            bigint(Expr::col(usage_record::Column::PromptTokens).sum()),
            "prompt_tokens",
        )
        .column_as(
            bigint(Expr::col(usage_record::Column::CompletionTokens).sum()),
            "completion_tokens",
        )
        .column_as(
            bigint(Expr::col(usage_record::Column::Images).sum()),
            "images",
        )
        .column_as(
            bigint(Expr::col(usage_record::Column::Cost).sum()),
            "credits",
        )
        .filter(usage_record::Column::CreatedMs.gte(start_ms))
        .filter(usage_record::Column::CreatedMs.lt(end_ms))
        // By position: PostgreSQL does not match a parameterised expression with itself.
        .group_by(Expr::cust("1"))
        .order_by_asc(Expr::cust("1"));
    if let Some(user_id) = user_id {
        select = select.filter(usage_record::Column::UserId.eq(user_id));
    }
    let sums = select.into_model::<Sums>().all(db).await?;
    let mut total = ReportRow {
        group: "total".into(),
        requests: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        images: 0,
        credits: 0,
    };
    let mut rows: Vec<ReportRow> = sums
        .into_iter()
        .map(|sums| {
            let group = match (group_by, sums.group) {
                (GroupBy::Day, Some(day)) => day
                    .parse::<i64>()
                    .ok()
                    .and_then(|d| DateTime::from_timestamp_millis(d * DAY_MS))
                    .map_or(day, |d| d.format("%Y-%m-%d").to_string()),
                (_, Some(value)) => value,
                (_, None) => "none".into(),
            };
            let row = ReportRow {
                group,
                requests: sums.requests,
                prompt_tokens: sums.prompt_tokens.unwrap_or(0),
                completion_tokens: sums.completion_tokens.unwrap_or(0),
                images: sums.images.unwrap_or(0),
                credits: sums.credits.unwrap_or(0),
            };
            total.requests += row.requests;
            total.prompt_tokens += row.prompt_tokens;
            total.completion_tokens += row.completion_tokens;
            total.images += row.images;
            total.credits += row.credits;
            row
        })
        .collect();
    if matches!(group_by, GroupBy::Day) {
        rows.sort_by(|a, b| a.group.cmp(&b.group));
    }
    Ok(Report {
        from: from.format("%Y-%m-%d").to_string(),
        to: to.format("%Y-%m-%d").to_string(),
        group_by,
        time_zone: zone.name().to_owned(),
        rows,
        total,
    })
}
