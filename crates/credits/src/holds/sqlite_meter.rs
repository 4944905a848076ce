//! SQLite's metering path: holds and settles run on a connection of their own, right on the
//! request's thread, each one short transaction (two to four statements, prepared once).
//!
//! Why not the async pool: there every statement is a hand-off to the connection's worker
//! thread and back, and on a small machine those wake-ups, not SQLite, were most of a cycle. A
//! thread of our own that batches still costs two wake-ups per operation; here there are none.
//! The work is tens of microseconds of SQLite. The same write gate as every other writer in the
//! process is taken first (asynchronously), so the connection never meets a held write lock.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use confab_store::WriteGate;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sea_orm::DbErr;

use super::fast::usage_entry;
use super::jobs::{Done, Op};
use crate::CreditsError;
use crate::pricing::{Prices, Rate};
use crate::tiers::{Tier, TierMultipliers};

/// The metering connection and the gate it shares with the pool's writers.
pub(super) struct SqliteMeter {
    connection: Mutex<Connection>,
    gate: WriteGate,
}

impl SqliteMeter {
    /// Opens the database file (already migrated).
    pub(super) fn open(path: &str, gate: WriteGate) -> Result<Arc<Self>, CreditsError> {
        let connection = Connection::open(path).map_err(database)?;
        connection
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                 PRAGMA wal_autocheckpoint = {};",
                confab_store::WAL_AUTOCHECKPOINT_PAGES
            ))
            .map_err(database)?;
        Ok(Arc::new(Self {
            connection: Mutex::new(connection),
            gate,
        }))
    }

    /// Runs one hold or settle in its own transaction.
    pub(super) async fn run(&self, op: Op) -> Result<Done, CreditsError> {
        let _gate = self.gate.enter().await;
        // Nothing else writes while the gate is held, so this lock is never waited for long;
        // a panic elsewhere while holding it leaves a connection that is still usable.
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let txn = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(database)?;
        let done = apply(&txn, &op)?;
        txn.commit().map_err(database)?;
        Ok(done)
    }
}

impl SqliteMeter {
    /// The caller's tier and what `prices` cost at it, read on this connection (two indexed
    /// reads here cost less than one hand-off to the pool).
    pub(super) fn rate_for(
        &self,
        user_id: i64,
        prices: Prices,
        now: DateTime<Utc>,
    ) -> Result<(Tier, Rate), CreditsError> {
        let connection = self
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let account: Option<(String, Option<String>)> = connection
            .prepare_cached("SELECT tier, tier_expires_at FROM credit_accounts WHERE user_id = ?1")
            .and_then(|mut s| {
                s.query_row(params![user_id], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
            })
            .map_err(database)?;
        let tier = account.map_or(Tier::Free, |(tier, expires_at)| {
            let expires_at = expires_at
                .and_then(|at| DateTime::parse_from_rfc3339(&at).ok())
                .map(|at| at.with_timezone(&Utc));
            Tier::of(&tier, expires_at, now)
        });
        if prices.is_free() {
            return Ok((tier, Rate::full(prices)));
        }
        let setting: Option<String> = connection
            .prepare_cached("SELECT value FROM settings WHERE key = ?1")
            .and_then(|mut s| {
                s.query_row(params![TierMultipliers::SETTING], |row| row.get(0))
                    .optional()
            })
            .map_err(database)?;
        let multipliers = TierMultipliers::from_setting(
            setting.and_then(|value| serde_json::from_str(&value).ok()),
        );
        Ok((tier, multipliers.rate(prices, tier)))
    }
}

fn database(error: rusqlite::Error) -> CreditsError {
    CreditsError::Database(DbErr::Custom(format!("sqlite: {error}")))
}

/// Timestamps as the rest of the schema stores them (sqlx's encoding of `DateTime<Utc>`).
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn apply(db: &Connection, op: &Op) -> Result<Done, CreditsError> {
    match op {
        Op::Hold {
            user_id,
            api_key_id,
            amount,
            reference,
            expires_ms,
            now,
        } => {
            let now = timestamp(*now);
            let reserved = db
                .prepare_cached(
                    "UPDATE credit_accounts SET held = held + ?2, updated_at = ?3 \
                     WHERE user_id = ?1 AND balance - held >= ?2",
                )
                .and_then(|mut s| s.execute(params![user_id, amount, now]))
                .map_err(database)?;
            if reserved == 0 {
                return Ok(Done::Held(None));
            }
            if let Some(key_id) = api_key_id {
                let within = db
                    .prepare_cached(
                        "UPDATE api_keys SET credits_held = credits_held + ?2 WHERE id = ?1 \
                         AND (credit_limit IS NULL OR credits_used + credits_held + ?2 <= credit_limit)",
                    )
                    .and_then(|mut s| s.execute(params![key_id, amount]))
                    .map_err(database)?;
                if within == 0 {
                    return Err(CreditsError::CreditLimitReached);
                }
            }
            db.prepare_cached(
                "INSERT INTO credit_holds (user_id, api_key_id, amount, reference, status, \
                 charged, expires_ms, created_at, finished_at) \
                 VALUES (?1, ?2, ?3, ?4, 'held', NULL, ?5, ?6, NULL)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    user_id, api_key_id, amount, reference, expires_ms, now
                ])
            })
            .map_err(database)?;
            Ok(Done::Held(Some(db.last_insert_rowid())))
        }
        Op::Settle { hold, charge, now } => {
            let at = timestamp(*now);
            let settled = db
                .prepare_cached(
                    "UPDATE credit_holds SET status = 'settled', finished_at = ?2, charged = ?3 \
                     WHERE id = ?1 AND status = 'held'",
                )
                .and_then(|mut s| s.execute(params![hold.id, at, charge.cost]))
                .map_err(database)?;
            if settled == 0 {
                return Ok(Done::Settled(false));
            }
            let balance: Option<i64> = db
                .prepare_cached(
                    "UPDATE credit_accounts SET held = held - ?2, balance = balance - ?3, \
                     updated_at = ?4 WHERE user_id = ?1 RETURNING balance",
                )
                .and_then(|mut s| {
                    s.query_row(params![hold.user_id, hold.amount, charge.cost, at], |row| {
                        row.get(0)
                    })
                    .optional()
                })
                .map_err(database)?;
            let Some(balance) = balance else {
                // No account: undo this one (the savepoint) and let the careful path decide.
                return Err(CreditsError::InsufficientCredits);
            };
            if let Some(key_id) = hold.api_key_id {
                db.prepare_cached(
                    "UPDATE api_keys SET credits_held = credits_held - ?2, \
                     credits_used = credits_used + ?3 WHERE id = ?1",
                )
                .and_then(|mut s| s.execute(params![key_id, hold.amount, charge.cost]))
                .map_err(database)?;
            }
            if charge.cost > 0 {
                let entry = usage_entry(*hold, charge);
                db.prepare_cached(
                    "INSERT INTO ledger_entries (user_id, kind, amount, balance_after, reason, \
                     reference, idempotency_key, actor_id, created_ms, created_at) \
                     VALUES (?1, ?9, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        entry.user_id,
                        entry.amount,
                        balance,
                        entry.reason,
                        entry.reference,
                        entry.idempotency_key,
                        now.timestamp_millis(),
                        at,
                        entry.kind.as_str()
                    ])
                })
                .map_err(database)?;
            }
            Ok(Done::Settled(true))
        }
    }
}
