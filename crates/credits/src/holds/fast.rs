//! PostgreSQL's hot path of metering: a hold and a settle are each one statement
//! (data-modifying CTEs), so the account row is locked only while that statement runs and
//! commits, never across round trips. (SQLite has no DML in CTEs: see `sqlite_meter`.)
//!
//! The fast settle applies only when the cost fits in the hold: then the whole cost is charged
//! without reading the balance, because the hold already guarantees it (balance - held >= 0,
//! so balance - (held - hold) >= hold >= cost).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{Charge, Hold};
use crate::CreditsError;
use crate::ledger::{EntryKind, NewEntry};

const HOLD_SQL: &str = "\
WITH reserved AS (
    UPDATE credit_accounts SET held = held + $2, updated_at = $3
    WHERE user_id = $1 AND balance - held >= $2
    RETURNING user_id
)
INSERT INTO credit_holds
    (user_id, api_key_id, amount, reference, status, charged, expires_ms, created_at, finished_at)
SELECT user_id, NULL, $2, $4, 'held', NULL, $5, $3, NULL FROM reserved
RETURNING id";

const SETTLE_SQL: &str = "\
WITH settled AS (
    UPDATE credit_holds SET status = 'settled', finished_at = $2, charged = $3
    WHERE id = $1 AND status = 'held'
    RETURNING user_id, api_key_id, amount
), account AS (
    UPDATE credit_accounts c
    SET held = c.held - s.amount, balance = c.balance - $3, updated_at = $2
    FROM settled s WHERE c.user_id = s.user_id
    RETURNING c.user_id, c.balance
), used_key AS (
    UPDATE api_keys k
    SET credits_held = k.credits_held - s.amount, credits_used = k.credits_used + $3
    FROM settled s WHERE k.id = s.api_key_id
    RETURNING k.id
), entry AS (
    INSERT INTO ledger_entries
        (user_id, kind, amount, balance_after, reason, reference, idempotency_key, actor_id,
         created_ms, created_at)
    SELECT a.user_id, 'usage', -$3, a.balance, $4, $5, $6, NULL, $7, $2
    FROM account a WHERE $3 > 0
    RETURNING id
)
SELECT COUNT(*) AS settled FROM settled";

/// Holds `amount` on the account if it has that much available; the new hold's id, or `None`.
pub(super) async fn hold_postgres(
    db: &impl ConnectionTrait,
    user_id: i64,
    amount: i64,
    reference: &str,
    expires_ms: i64,
    now: DateTime<Utc>,
) -> Result<Option<i64>, CreditsError> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            HOLD_SQL,
            [
                user_id.into(),
                amount.into(),
                now.into(),
                reference.into(),
                expires_ms.into(),
            ],
        ))
        .await?;
    Ok(match row {
        Some(row) => Some(row.try_get::<i64>("", "id")?),
        None => None,
    })
}

/// The ledger entry a settled hold leaves.
pub(super) fn usage_entry(hold: Hold, charge: &Charge) -> NewEntry {
    NewEntry {
        user_id: hold.user_id,
        kind: EntryKind::Usage,
        amount: -charge.cost,
        reason: charge.reason.clone(),
        reference: Some(charge.reference.clone()),
        idempotency_key: format!("hold:{}", hold.id),
        actor_id: None,
    }
}

/// Settles a still-held hold with a cost that fits in it; false when the hold was not held
/// (the caller then takes the careful path).
pub(super) async fn settle_postgres(
    db: &impl ConnectionTrait,
    hold: Hold,
    charge: &Charge,
    now: DateTime<Utc>,
) -> Result<bool, CreditsError> {
    let entry = usage_entry(hold, charge);
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            SETTLE_SQL,
            [
                hold.id.into(),
                now.into(),
                charge.cost.into(),
                entry.reason.into(),
                entry.reference.into(),
                entry.idempotency_key.into(),
                now.timestamp_millis().into(),
            ],
        ))
        .await?;
    let settled = match row {
        Some(row) => row.try_get::<i64>("", "settled")?,
        None => 0,
    };
    Ok(settled == 1)
}
