//! SQLite's metering writer: one thread with its own connection runs holds and settles, and
//! commits whatever has queued up meanwhile in one transaction (group commit), each operation
//! inside its own savepoint so one refusal never undoes another.
//!
//! Why a thread of its own: through the async pool every statement is a hand-off to the
//! connection's worker thread and back, and on a small machine those wake-ups, not SQLite,
//! were most of a hold-and-settle cycle. Here the statements run back to back, prepared once.
//! The thread takes the same write gate as every other writer in the process, so it never
//! waits in SQLite's busy handler.

use std::sync::mpsc::{Receiver, channel};

use chrono::{DateTime, SecondsFormat, Utc};
use confab_store::WriteGate;
use rusqlite::{Connection, OptionalExtension, params};
use sea_orm::DbErr;

use super::fast::usage_entry;
use super::jobs::{Done, Job, MAX_BATCH, Op, Queue};
use crate::CreditsError;

/// Opens the database file (already migrated) and starts the thread.
pub(super) fn start(path: &str, gate: WriteGate) -> Result<Queue, CreditsError> {
    let connection = Connection::open(path).map_err(database)?;
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
        )
        .map_err(database)?;
    let (jobs, queue) = channel();
    std::thread::Builder::new()
        .name("confab-meter".into())
        .spawn(move || run(connection, queue, gate))
        .map_err(|error| CreditsError::Database(DbErr::Custom(error.to_string())))?;
    Ok(Queue::Thread(jobs))
}

fn database(error: rusqlite::Error) -> CreditsError {
    CreditsError::Database(DbErr::Custom(format!("sqlite: {error}")))
}

/// Timestamps as the rest of the schema stores them (sqlx's encoding of `DateTime<Utc>`).
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn run(mut connection: Connection, queue: Receiver<Job>, gate: WriteGate) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let _gate = gate.blocking_enter();
        let results = run_batch(&mut connection, &batch);
        for (job, result) in batch.into_iter().zip(results) {
            // A caller that went away no longer needs the answer; the work stands.
            let _ = job.reply.send(result);
        }
    }
}

/// One transaction for the batch; a failed commit fails every operation in it.
fn run_batch(connection: &mut Connection, batch: &[Job]) -> Vec<Result<Done, CreditsError>> {
    let fail_all = |error: rusqlite::Error| {
        let message = format!("sqlite: {error}");
        batch
            .iter()
            .map(|_| Err(CreditsError::Database(DbErr::Custom(message.clone()))))
            .collect()
    };
    let mut txn =
        match connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
            Ok(txn) => txn,
            Err(error) => return fail_all(error),
        };
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let result = match txn.savepoint() {
            Ok(mut savepoint) => {
                let result = apply(&savepoint, &job.op);
                let kept = if result.is_ok() {
                    savepoint.commit()
                } else {
                    savepoint.rollback()
                };
                kept.map_err(database).and(result)
            }
            Err(error) => Err(database(error)),
        };
        results.push(result);
    }
    match txn.commit() {
        Ok(()) => results,
        Err(error) => fail_all(error),
    }
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
