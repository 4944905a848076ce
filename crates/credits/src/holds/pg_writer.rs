//! PostgreSQL's metering writers: tasks that each run the single-statement hold and settle for
//! their share of the accounts (by user id), and commit what has queued up meanwhile in one
//! transaction, so a busy account pays one WAL flush per batch instead of one per request and
//! its row is never fought over by the instance's own connections. Keyed holds (two rows to
//! check) stay on the careful path.

use confab_store::Db;
use sea_orm::{ConnectionTrait, TransactionTrait};

use super::fast::{hold_postgres, settle_postgres};
use super::jobs::{Done, Job, MAX_BATCH, Op, Queue};
use crate::CreditsError;

/// Writers per instance; an account always goes to the same one.
pub(super) const WRITERS: usize = 4;

pub(super) fn start(db: &Db) -> Vec<Queue> {
    (0..WRITERS)
        .map(|_| {
            let (jobs, mut queue) = tokio::sync::mpsc::unbounded_channel::<Job>();
            let db = db.clone();
            tokio::spawn(async move {
                while let Some(first) = queue.recv().await {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let results = run_batch(&db, &batch).await;
                    for (job, result) in batch.into_iter().zip(results) {
                        // A caller that went away no longer needs the answer; the work stands.
                        let _ = job.reply.send(result);
                    }
                }
            });
            Queue::Task(jobs)
        })
        .collect()
}

async fn run_batch(db: &Db, batch: &[Job]) -> Vec<Result<Done, CreditsError>> {
    // Alone in the queue: one statement, committed by itself (no BEGIN / COMMIT round trips).
    if let [job] = batch {
        return vec![apply(db, &job.op).await];
    }
    let fail_all = |error: &CreditsError| {
        let message = error.to_string();
        batch
            .iter()
            .map(|_| {
                Err(CreditsError::Database(sea_orm::DbErr::Custom(
                    message.clone(),
                )))
            })
            .collect()
    };
    let txn = match db.begin().await {
        Ok(txn) => txn,
        Err(error) => return fail_all(&error.into()),
    };
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        match apply(&txn, &job.op).await {
            Ok(done) => results.push(Ok(done)),
            // The transaction is aborted: nothing of the batch stands.
            Err(error) => return fail_all(&error),
        }
    }
    match txn.commit().await {
        Ok(()) => results,
        Err(error) => fail_all(&error.into()),
    }
}

async fn apply(db: &impl ConnectionTrait, op: &Op) -> Result<Done, CreditsError> {
    match op {
        Op::Hold {
            user_id,
            api_key_id: None,
            amount,
            reference,
            expires_ms,
            now,
        } => Ok(Done::Held(
            hold_postgres(db, *user_id, *amount, reference, *expires_ms, *now).await?,
        )),
        // Never queued: Meter::hold keeps keyed holds on the transaction path.
        Op::Hold { .. } => Err(CreditsError::Database(sea_orm::DbErr::Custom(
            "a keyed hold reached the PostgreSQL writer".into(),
        ))),
        Op::Settle { hold, charge, now } => Ok(Done::Settled(
            settle_postgres(db, *hold, charge, *now).await?,
        )),
    }
}
