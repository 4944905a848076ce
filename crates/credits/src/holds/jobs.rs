//! Where the hot path's holds and settles go: on SQLite to the metering thread, on PostgreSQL
//! into the queue of a writer task; each takes whatever has queued up and commits it together,
//! while each request waits for its own answer.

use chrono::{DateTime, Utc};
use sea_orm::DbErr;
use tokio::sync::oneshot;

use super::{Charge, Hold};
use crate::CreditsError;

/// Most operations one transaction takes.
pub(super) const MAX_BATCH: usize = 256;

pub(super) enum Op {
    Hold {
        user_id: i64,
        api_key_id: Option<i64>,
        amount: i64,
        reference: String,
        expires_ms: i64,
        now: DateTime<Utc>,
    },
    Settle {
        hold: Hold,
        charge: Charge,
        now: DateTime<Utc>,
    },
}

/// A hold's id (`None`: not enough credits), or for a settle whether the hold was still held
/// (then it is settled now).
pub(super) enum Done {
    Held(Option<i64>),
    Settled(bool),
}

pub(super) struct Job {
    pub op: Op,
    pub reply: oneshot::Sender<Result<Done, CreditsError>>,
}

/// Where holds and settles go.
#[derive(Clone)]
pub(super) enum Queue {
    /// SQLite: the metering thread and its connection.
    Thread(std::sync::Arc<super::sqlite_meter::SqliteMeter>),
    /// PostgreSQL: a writer task that commits what queued up together.
    Task(tokio::sync::mpsc::UnboundedSender<Job>),
}

fn stopped() -> CreditsError {
    CreditsError::Database(DbErr::Custom("the metering writer has stopped".into()))
}

/// A writer answered a hold with a settle's answer or the other way round (a bug).
fn mismatched() -> CreditsError {
    CreditsError::Database(DbErr::Custom(
        "the metering writer answered another operation".into(),
    ))
}

impl Queue {
    async fn submit(&self, op: Op) -> Result<Done, CreditsError> {
        let jobs = match self {
            Queue::Thread(meter) => return meter.run(op).await,
            Queue::Task(jobs) => jobs,
        };
        let (reply, answer) = oneshot::channel();
        jobs.send(Job { op, reply }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// The new hold's id, or `None` when the account cannot cover `amount`.
    pub(super) async fn hold(
        &self,
        user_id: i64,
        api_key_id: Option<i64>,
        amount: i64,
        reference: String,
        expires_ms: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, CreditsError> {
        let op = Op::Hold {
            user_id,
            api_key_id,
            amount,
            reference,
            expires_ms,
            now,
        };
        match self.submit(op).await? {
            Done::Held(id) => Ok(id),
            Done::Settled(_) => Err(mismatched()),
        }
    }

    /// Settles a hold whose cost fits in it; false when it was no longer held.
    pub(super) async fn settle(
        &self,
        hold: Hold,
        charge: Charge,
        now: DateTime<Utc>,
    ) -> Result<bool, CreditsError> {
        match self.submit(Op::Settle { hold, charge, now }).await? {
            Done::Settled(settled) => Ok(settled),
            Done::Held(_) => Err(mismatched()),
        }
    }
}
