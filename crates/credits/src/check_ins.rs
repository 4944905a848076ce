//! Daily check-ins: once per calendar day in the site's time zone (a unique index makes it
//! once under any concurrency), a streak of consecutive days, and the reward as a ledger entry
//! in the same transaction.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use confab_store::entity::check_in;
use confab_store::like;
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    SqlErr, TransactionSession, TransactionTrait,
};
use serde::Serialize;

use crate::CreditsError;
use crate::ledger::{self, EntryKind, NewEntry};

/// Today's check-in.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckedIn {
    /// `YYYY-MM-DD` in the site's time zone.
    pub day: String,
    /// Consecutive days up to and including today.
    pub streak: i32,
    /// Credits granted for it.
    pub reward: i64,
    /// The balance after the reward.
    pub balance: i64,
}

/// A month of the caller's check-ins.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Month {
    /// `YYYY-MM`.
    pub month: String,
    /// The days checked in, `YYYY-MM-DD`, in order.
    pub days: Vec<String>,
    /// Whether the caller checked in today (the site's day).
    pub checked_in_today: bool,
    /// The streak as of today (0 when neither today nor yesterday was checked in).
    pub streak: i32,
}

fn day_string(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// Checks the user in for today. A second check-in the same day is `already_checked_in`.
pub async fn check_in<C>(
    db: &C,
    user_id: i64,
    zone: Tz,
    reward: i64,
    now: DateTime<Utc>,
) -> Result<CheckedIn, CreditsError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let today = now.with_timezone(&zone).date_naive();
    let txn = db.begin().await?;
    // The first statement writes, and the unique (user, day) index decides who was first.
    let inserted = check_in::Entity::insert(check_in::ActiveModel {
        id: NotSet,
        user_id: Set(user_id),
        day: Set(day_string(today)),
        streak: Set(1),
        reward: Set(reward),
        created_at: Set(now),
    })
    .exec(&txn)
    .await;
    let id = match inserted {
        Ok(result) => result.last_insert_id,
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            txn.rollback().await?;
            return Err(CreditsError::AlreadyCheckedIn);
        }
        Err(error) => return Err(error.into()),
    };
    let streak = match today.pred_opt() {
        Some(yesterday) => check_in::Entity::find()
            .filter(check_in::Column::UserId.eq(user_id))
            .filter(check_in::Column::Day.eq(day_string(yesterday)))
            .one(&txn)
            .await?
            .map_or(1, |row| row.streak.saturating_add(1)),
        None => 1,
    };
    if streak > 1 {
        check_in::Entity::update_many()
            .col_expr(check_in::Column::Streak, streak.into())
            .filter(check_in::Column::Id.eq(id))
            .exec(&txn)
            .await?;
    }
    let balance = if reward > 0 {
        let entry = NewEntry {
            user_id,
            kind: EntryKind::CheckIn,
            amount: reward,
            reason: format!("check-in, day {streak} of a streak"),
            reference: Some(format!("check_in:{}", day_string(today))),
            idempotency_key: format!("check_in:{user_id}:{}", day_string(today)),
            actor_id: None,
        };
        ledger::apply_in(&txn, &entry, now).await?.balance_after
    } else {
        ledger::credits(&txn, user_id).await?.balance
    };
    txn.commit().await?;
    Ok(CheckedIn {
        day: day_string(today),
        streak,
        reward,
        balance,
    })
}

/// The days of `month` (`YYYY-MM`) the user checked in, and today's state.
pub async fn month(
    db: &impl ConnectionTrait,
    user_id: i64,
    month: Option<&str>,
    zone: Tz,
    now: DateTime<Utc>,
) -> Result<Month, CreditsError> {
    let today = now.with_timezone(&zone).date_naive();
    let first = match month {
        None => today.with_day(1),
        Some(text) => NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
            .ok()
            .filter(|_| text.len() == 7),
    }
    .ok_or_else(|| CreditsError::Invalid("month", "month must be YYYY-MM".into()))?;
    let prefix = first.format("%Y-%m").to_string();
    let days: Vec<String> = check_in::Entity::find()
        .filter(check_in::Column::UserId.eq(user_id))
        .filter(like::starts_with(
            check_in::Column::Day,
            &format!("{prefix}-"),
        ))
        .order_by_asc(check_in::Column::Day)
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.day)
        .collect();
    let mut recent = check_in::Entity::find()
        .filter(check_in::Column::UserId.eq(user_id))
        .order_by_desc(check_in::Column::Day)
        .one(db)
        .await?;
    let yesterday = today.pred_opt().map(day_string);
    let checked_in_today = recent.as_ref().is_some_and(|r| r.day == day_string(today));
    // A streak lives on until a day is missed.
    recent = recent.filter(|r| checked_in_today || Some(&r.day) == yesterday.as_ref());
    Ok(Month {
        month: prefix,
        days,
        checked_in_today,
        streak: recent.map_or(0, |r| r.streak),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use confab_migration::{Migrator, MigratorTrait};

    use super::*;

    /// A streak counts consecutive calendar days in the site's zone, and a missed day restarts
    /// it; the month lists the days checked in.
    #[tokio::test]
    async fn streaks_follow_calendar_days_in_the_site_zone() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        let zone: Tz = "Asia/Shanghai".parse().unwrap();
        // 23:30 and 00:30 Shanghai time are different days (15:30 and 16:30 UTC).
        let at = |d: u32, h: u32, m: u32| Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap();
        let first = check_in(&db, 7, zone, 10, at(1, 15, 30)).await.unwrap();
        assert_eq!((first.day.as_str(), first.streak), ("2026-03-01", 1));
        let second = check_in(&db, 7, zone, 10, at(1, 16, 30)).await.unwrap();
        assert_eq!((second.day.as_str(), second.streak), ("2026-03-02", 2));
        assert!(matches!(
            check_in(&db, 7, zone, 10, at(1, 20, 0)).await,
            Err(CreditsError::AlreadyCheckedIn)
        ));
        let third = check_in(&db, 7, zone, 10, at(3, 1, 0)).await.unwrap();
        assert_eq!((third.day.as_str(), third.streak), ("2026-03-03", 3));
        // 2026-03-04 is skipped: the streak starts over.
        let again = check_in(&db, 7, zone, 10, at(5, 1, 0)).await.unwrap();
        assert_eq!((again.day.as_str(), again.streak), ("2026-03-05", 1));
        assert_eq!(again.balance, 40);

        let march = month(&db, 7, Some("2026-03"), zone, at(5, 2, 0))
            .await
            .unwrap();
        assert_eq!(
            march.days,
            ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-05"]
        );
        assert!(march.checked_in_today);
        assert_eq!(march.streak, 1);
        // The next day, before checking in, yesterday's streak still counts.
        let next = month(&db, 7, None, zone, at(6, 2, 0)).await.unwrap();
        assert!(!next.checked_in_today);
        assert_eq!(next.streak, 1);
    }
}
