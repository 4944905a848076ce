//! The queue in front of a metering writer (SQLite's thread, PostgreSQL's task): requests
//! submit holds and settles and wait for their own answer; the writer takes whatever has
//! queued up and commits it together.

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

/// Where a writer takes its jobs from.
#[derive(Clone)]
pub(super) enum Queue {
    /// A thread of its own (SQLite).
    Thread(std::sync::mpsc::Sender<Job>),
    /// A task on the runtime (PostgreSQL).
    Task(tokio::sync::mpsc::UnboundedSender<Job>),
}

pub(super) fn stopped() -> CreditsError {
    CreditsError::Database(DbErr::Custom("the metering writer has stopped".into()))
}

impl Queue {
    async fn submit(&self, op: Op) -> Result<Done, CreditsError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { op, reply };
        let sent = match self {
            Queue::Thread(jobs) => jobs.send(job).is_ok(),
            Queue::Task(jobs) => jobs.send(job).is_ok(),
        };
        if !sent {
            return Err(stopped());
        }
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
            Done::Settled(_) => Err(stopped()),
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
            Done::Held(_) => Err(stopped()),
        }
    }
}
