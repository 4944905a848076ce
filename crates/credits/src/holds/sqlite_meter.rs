//! SQLite's metering path: holds and settles run on a thread of their own with a connection of
//! its own (statements prepared once), never on an async worker: SQLite's work, a checkpoint's
//! sync included, blocks that thread only. The thread takes whatever queued up meanwhile and
//! commits it in one transaction (each operation in its savepoint), inside the same write gate
//! as every other writer of the process, so it never meets a held write lock and a burst pays
//! one commit.

use std::sync::mpsc;

use chrono::{DateTime, SecondsFormat, Utc};
use confab_store::WriteGate;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sea_orm::DbErr;
use tokio::sync::oneshot;

use super::fast::usage_entry;
use super::jobs::{Done, Job, MAX_BATCH, Op};
use crate::CreditsError;
use crate::pricing::{Prices, Rate};
use crate::tiers::{Tier, TierMultipliers};

type RateAnswer = Result<(Tier, Rate), CreditsError>;

enum Work {
    Write(Job),
    /// A read: what the caller's tier makes of `prices` now.
    Rate {
        user_id: i64,
        prices: Prices,
        now: DateTime<Utc>,
        reply: oneshot::Sender<RateAnswer>,
    },
}

/// The way to the metering thread; the thread ends when the last handle is dropped.
pub(super) struct SqliteMeter {
    work: mpsc::Sender<Work>,
}

impl SqliteMeter {
    /// Opens the database file (already migrated) and starts the thread.
    pub(super) fn start(path: &str, gate: WriteGate) -> Result<std::sync::Arc<Self>, CreditsError> {
        let connection = Connection::open(path).map_err(database)?;
        connection
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON; \
                 PRAGMA wal_autocheckpoint = {};",
                confab_store::WAL_AUTOCHECKPOINT_PAGES
            ))
            .map_err(database)?;
        let (work, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("confab-meter".into())
            .spawn(move || serve(connection, &gate, &queue))
            .map_err(|error| database_message(format!("metering thread: {error}")))?;
        Ok(std::sync::Arc::new(Self { work }))
    }

    /// Runs one hold or settle (committed with whatever else queued up).
    pub(super) async fn run(&self, op: Op) -> Result<Done, CreditsError> {
        let (reply, answer) = oneshot::channel();
        self.work
            .send(Work::Write(Job { op, reply }))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// The caller's tier and what `prices` cost at it, read on the metering connection (two
    /// indexed reads there cost less than the pool's hand-offs).
    pub(super) async fn rate_for(
        &self,
        user_id: i64,
        prices: Prices,
        now: DateTime<Utc>,
    ) -> RateAnswer {
        let (reply, answer) = oneshot::channel();
        self.work
            .send(Work::Rate {
                user_id,
                prices,
                now,
                reply,
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> CreditsError {
    database_message("the metering thread has stopped".into())
}

/// The thread: waits for work, takes what else has queued up, answers reads, commits writes.
fn serve(mut connection: Connection, gate: &WriteGate, queue: &mpsc::Receiver<Work>) {
    while let Ok(first) = queue.recv() {
        let mut writes = Vec::new();
        let mut next = Some(first);
        while let Some(work) = next.take() {
            match work {
                Work::Write(job) => writes.push(job),
                Work::Rate {
                    user_id,
                    prices,
                    now,
                    reply,
                } => {
                    let _ = reply.send(rate_for(&connection, user_id, prices, now));
                }
            }
            if writes.len() < MAX_BATCH {
                next = queue.try_recv().ok();
            }
        }
        if writes.is_empty() {
            continue;
        }
        let results = {
            let _gate = gate.enter_blocking();
            commit_batch(&mut connection, &writes)
        };
        for (job, result) in writes.into_iter().zip(results) {
            // A caller that went away no longer needs the answer; the work stands.
            let _ = job.reply.send(result);
        }
    }
}

/// One transaction for the batch, each operation in a savepoint of its own (a refused one
/// undoes only itself). When the commit fails, every operation failed.
fn commit_batch(connection: &mut Connection, jobs: &[Job]) -> Vec<Result<Done, CreditsError>> {
    let fail_all = |error: rusqlite::Error| {
        let message = error.to_string();
        jobs.iter()
            .map(|_| Err(database_message(format!("sqlite: {message}"))))
            .collect()
    };
    let mut txn = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(txn) => txn,
        Err(error) => return fail_all(error),
    };
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let result = match txn.savepoint() {
            Ok(savepoint) => match apply(&savepoint, &job.op) {
                Ok(done) => savepoint.commit().map(|()| done).map_err(database),
                // Dropping the savepoint rolls it back.
                Err(error) => Err(error),
            },
            Err(error) => Err(database(error)),
        };
        results.push(result);
    }
    match txn.commit() {
        Ok(()) => results,
        Err(error) => fail_all(error),
    }
}

/// The caller's tier now and what `prices` cost at it.
fn rate_for(
    connection: &Connection,
    user_id: i64,
    prices: Prices,
    now: DateTime<Utc>,
) -> RateAnswer {
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
    let multipliers =
        TierMultipliers::from_setting(setting.and_then(|value| serde_json::from_str(&value).ok()));
    Ok((tier, multipliers.rate(prices, tier)))
}

fn database_message(message: String) -> CreditsError {
    CreditsError::Database(DbErr::Custom(message))
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
