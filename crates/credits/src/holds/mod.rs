//! Metering: before a request reaches a provider its worst-case cost is held on the balance
//! (refused with `insufficient_credits` when it does not fit); when the request ends the real
//! cost is charged and the rest released, in one transaction. A server that dies leaves its
//! holds behind; [`Meter::release_expired`] frees them once they expire.

use std::time::Duration;

use chrono::{DateTime, Utc};
use confab_store::Db;
use confab_store::entity::{api_key, credit_account, credit_hold};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    QueryFilter, QuerySelect, Set, TransactionTrait,
};

use crate::CreditsError;

/// Credits reserved by requests in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outstanding {
    /// Holds open.
    pub holds: i64,
    /// Credits they reserve together.
    pub credits: i64,
}
use crate::ledger::{EntryKind, NewEntry, insert_entry};

mod fast;
mod jobs;
mod pg_writer;
mod sqlite_meter;

/// Credits reserved for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    pub id: i64,
    pub user_id: i64,
    /// The API key whose credit limit the hold also counts against.
    pub api_key_id: Option<i64>,
    pub amount: i64,
}

/// What a finished request is charged for, for its ledger entry.
#[derive(Debug, Clone)]
pub struct Charge {
    pub cost: i64,
    /// e.g. "chat gpt-4o-mini: 120 prompt + 300 completion tokens"
    pub reason: String,
    /// e.g. `message:42`
    pub reference: String,
}

/// Holds and settles against the database (the truth, shared by every instance).
#[derive(Clone)]
pub struct Meter {
    db: Db,
    /// The metering writers (see [`Meter::with_writers`]); an account always uses the same.
    writers: Vec<jobs::Queue>,
    /// How long a hold outlives its request at most (then a crash is assumed).
    ttl: Duration,
}

impl Meter {
    pub fn new(db: Db, ttl: Duration) -> Self {
        Self {
            db,
            ttl,
            writers: Vec::new(),
        }
    }

    /// Runs the hot path through faster writers: on PostgreSQL, tasks on the runtime that
    /// commit whatever has queued up together; on SQLite, a connection of its own to
    /// `sqlite_file` (the migrated database; without one, the pool is used). Must be called
    /// inside the runtime.
    pub fn with_writers(mut self, sqlite_file: Option<&str>) -> Result<Self, CreditsError> {
        self.writers = if self.is_postgres() {
            pg_writer::start(&self.db)
        } else if let Some(path) = sqlite_file {
            vec![jobs::Queue::Thread(sqlite_meter::SqliteMeter::start(
                path,
                self.db.gate().clone(),
            )?)]
        } else {
            Vec::new()
        };
        Ok(self)
    }

    /// The caller's tier now and what `prices` cost at it (see [`crate::tiers::rate_for`]),
    /// read on SQLite's metering connection when there is one.
    pub async fn rate_for(
        &self,
        user_id: i64,
        prices: crate::Prices,
        min_tier: i32,
        now: DateTime<Utc>,
    ) -> Result<(crate::tiers::Tier, crate::pricing::Rate), CreditsError> {
        if let Some(jobs::Queue::Thread(sqlite)) = self.writers.first() {
            return sqlite.rate_for(user_id, prices, now).await;
        }
        crate::tiers::rate_for(&self.db, user_id, prices, min_tier, now).await
    }

    fn writer_for(&self, user_id: i64) -> Option<&jobs::Queue> {
        let n = i64::try_from(self.writers.len()).ok().filter(|n| *n > 0)?;
        self.writers
            .get(usize::try_from(user_id.rem_euclid(n)).unwrap_or(0))
    }

    fn is_postgres(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Postgres
    }

    /// Reserves `amount` of the user's available credits, and of the API key's credit limit when
    /// the request came with a key. A zero amount (a free model) holds nothing and touches no
    /// table.
    pub async fn hold(
        &self,
        user_id: i64,
        api_key_id: Option<i64>,
        amount: i64,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Hold>, CreditsError> {
        if amount <= 0 {
            return Ok(None);
        }
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::hours(1));
        let expires_ms = (now + ttl).timestamp_millis();
        let reference: String = reference.chars().take(128).collect();
        // PostgreSQL's writers take keyless holds (one row to check); SQLite's takes all.
        let writer = self
            .writer_for(user_id)
            .filter(|_| api_key_id.is_none() || !self.is_postgres());
        if let Some(writer) = writer {
            let id = writer
                .hold(user_id, api_key_id, amount, reference, expires_ms, now)
                .await?
                .ok_or(CreditsError::InsufficientCredits)?;
            return Ok(Some(Hold {
                id,
                user_id,
                api_key_id,
                amount,
            }));
        }
        let txn = self.db.begin().await?;
        // The first statement writes (SQLite then holds the write lock from the start).
        let reserved = credit_account::Entity::update_many()
            .col_expr(
                credit_account::Column::Held,
                Expr::col(credit_account::Column::Held).add(amount),
            )
            .col_expr(credit_account::Column::UpdatedAt, Expr::value(now))
            .filter(credit_account::Column::UserId.eq(user_id))
            .filter(
                Expr::col(credit_account::Column::Balance)
                    .sub(Expr::col(credit_account::Column::Held))
                    .gte(amount),
            )
            .exec(&txn)
            .await?;
        if reserved.rows_affected == 0 {
            txn.rollback().await?;
            return Err(CreditsError::InsufficientCredits);
        }
        if let Some(key_id) = api_key_id {
            // Always after the account row, so two holds never wait on each other in a cycle.
            let within_limit = api_key::Entity::update_many()
                .col_expr(
                    api_key::Column::CreditsHeld,
                    Expr::col(api_key::Column::CreditsHeld).add(amount),
                )
                .filter(api_key::Column::Id.eq(key_id))
                .filter(
                    Condition::any()
                        .add(api_key::Column::CreditLimit.is_null())
                        .add(
                            Expr::col(api_key::Column::CreditsUsed)
                                .add(Expr::col(api_key::Column::CreditsHeld))
                                .add(amount)
                                .lte(Expr::col(api_key::Column::CreditLimit)),
                        ),
                )
                .exec(&txn)
                .await?;
            if within_limit.rows_affected == 0 {
                txn.rollback().await?;
                return Err(CreditsError::CreditLimitReached);
            }
        }
        let row = credit_hold::Entity::insert(credit_hold::ActiveModel {
            id: NotSet,
            user_id: Set(user_id),
            api_key_id: Set(api_key_id),
            amount: Set(amount),
            reference: Set(reference),
            status: Set("held".into()),
            charged: Set(None),
            expires_ms: Set(expires_ms),
            created_at: Set(now),
            finished_at: Set(None),
        })
        .exec_with_returning(&txn)
        .await?;
        txn.commit().await?;
        Ok(Some(Hold {
            id: row.id,
            user_id,
            api_key_id,
            amount,
        }))
    }

    /// Charges the real cost (at most what the user has, the hold included) and releases the
    /// rest. Settling twice changes nothing; a hold the sweeper already released is charged
    /// from the balance as it is. Returns what was charged.
    pub async fn settle(
        &self,
        hold: Hold,
        charge: Charge,
        now: DateTime<Utc>,
    ) -> Result<i64, CreditsError> {
        // The usual case: the cost fits in the hold, so it is charged in full and the balance
        // needs no reading. Anything else (a hold released by the sweeper, a cost above the
        // estimate, a second settle) takes the careful path below.
        if (0..=hold.amount).contains(&charge.cost) {
            let settled = match self.writer_for(hold.user_id) {
                Some(writer) => writer.settle(hold, charge.clone(), now).await?,
                None if self.is_postgres() => {
                    fast::settle_postgres(&self.db, hold, &charge, now).await?
                }
                // SQLite without its metering connection (a database in memory).
                None => false,
            };
            if settled {
                return Ok(charge.cost);
            }
        }
        let txn = self.db.begin().await?;
        let finish = |from: &'static str| {
            credit_hold::Entity::update_many()
                .col_expr(credit_hold::Column::Status, Expr::value("settled"))
                .col_expr(credit_hold::Column::FinishedAt, Expr::value(now))
                .filter(credit_hold::Column::Id.eq(hold.id))
                .filter(credit_hold::Column::Status.eq(from))
        };
        let still_held = if finish("held").exec(&txn).await?.rows_affected == 1 {
            hold.amount
        } else if finish("expired").exec(&txn).await?.rows_affected == 1 {
            0
        } else {
            // Settled before.
            txn.rollback().await?;
            return Ok(0);
        };
        let account = credit_account::Entity::find_by_id(hold.user_id)
            .lock_exclusive()
            .one(&txn)
            .await?
            .ok_or(CreditsError::InsufficientCredits)?;
        let spendable = account.balance - (account.held - still_held);
        let charged = charge.cost.clamp(0, Ord::max(spendable, 0));
        if charged < charge.cost {
            tracing::warn!(
                hold_id = hold.id,
                cost = charge.cost,
                charged,
                "a request cost more than the user had left; charged what there was"
            );
        }
        credit_account::Entity::update_many()
            .col_expr(
                credit_account::Column::Held,
                Expr::col(credit_account::Column::Held).sub(still_held),
            )
            .col_expr(
                credit_account::Column::Balance,
                Expr::col(credit_account::Column::Balance).sub(charged),
            )
            .col_expr(credit_account::Column::UpdatedAt, Expr::value(now))
            .filter(credit_account::Column::UserId.eq(hold.user_id))
            .exec(&txn)
            .await?;
        credit_hold::Entity::update_many()
            .col_expr(credit_hold::Column::Charged, Expr::value(charged))
            .filter(credit_hold::Column::Id.eq(hold.id))
            .exec(&txn)
            .await?;
        if let Some(key_id) = hold.api_key_id {
            settle_key(&txn, key_id, still_held, charged).await?;
        }
        if charged > 0 {
            let entry = NewEntry {
                user_id: hold.user_id,
                kind: EntryKind::Usage,
                amount: -charged,
                reason: charge.reason,
                reference: Some(charge.reference),
                idempotency_key: format!("hold:{}", hold.id),
                actor_id: None,
            };
            insert_entry(&txn, &entry, account.balance - charged, now).await?;
        }
        txn.commit().await?;
        Ok(charged)
    }

    /// Settles until it commits: an answer that was delivered is always charged. A few quick
    /// tries here; if the database still refuses, a task keeps trying in the background (with
    /// a growing pause) and this returns the cost that task will charge. Settling is
    /// idempotent, so a try that committed but reported an error is never charged twice. Only a
    /// crash of this process leaves the hold to the sweeper.
    pub async fn settle_surely(&self, hold: Hold, charge: Charge) -> i64 {
        let mut pause = Duration::from_millis(20);
        for attempt in 1..=3 {
            match self.settle(hold, charge.clone(), Utc::now()).await {
                Ok(charged) => return charged,
                Err(error) => {
                    tracing::warn!(%error, hold_id = hold.id, attempt, "settling a hold failed; trying again");
                }
            }
            tokio::time::sleep(pause).await;
            pause *= 4;
        }
        let cost = charge.cost;
        let meter = self.clone();
        tokio::spawn(async move {
            let mut pause = Duration::from_secs(1);
            loop {
                tokio::time::sleep(pause).await;
                match meter.settle(hold, charge.clone(), Utc::now()).await {
                    Ok(_) => return,
                    Err(error) => {
                        tracing::error!(%error, hold_id = hold.id, "settling a hold still fails; will keep trying")
                    }
                }
                pause = Ord::min(pause * 2, Duration::from_secs(60));
            }
        });
        cost
    }

    /// Holds not yet settled or released: how many, and the credits they reserve.
    pub async fn outstanding(&self) -> Result<Outstanding, CreditsError> {
        use sea_orm::FromQueryResult;
        #[derive(FromQueryResult)]
        struct Row {
            holds: i64,
            credits: Option<i64>,
        }
        let row = credit_hold::Entity::find()
            .select_only()
            .column_as(credit_hold::Column::Id.count(), "holds")
            .column_as(
                credit_hold::Column::Amount.sum().cast_as("BIGINT"),
                "credits",
            )
            .filter(credit_hold::Column::Status.eq("held"))
            .into_model::<Row>()
            .one(&self.db)
            .await?;
        Ok(row.map_or(Outstanding::default(), |row| Outstanding {
            holds: row.holds,
            credits: row.credits.unwrap_or(0),
        }))
    }

    /// Releases holds whose request should long be over (its server died): they charge
    /// nothing. Returns how many were released.
    pub async fn release_expired(&self, now: DateTime<Utc>) -> Result<usize, CreditsError> {
        let expired = credit_hold::Entity::find()
            .filter(credit_hold::Column::Status.eq("held"))
            .filter(credit_hold::Column::ExpiresMs.lt(now.timestamp_millis()))
            .limit(500)
            .all(&self.db)
            .await?;
        let mut released = 0;
        for hold in expired {
            let txn = self.db.begin().await?;
            let freed = credit_hold::Entity::update_many()
                .col_expr(credit_hold::Column::Status, Expr::value("expired"))
                .col_expr(credit_hold::Column::FinishedAt, Expr::value(now))
                .filter(credit_hold::Column::Id.eq(hold.id))
                .filter(credit_hold::Column::Status.eq("held"))
                .exec(&txn)
                .await?;
            if freed.rows_affected == 1 {
                credit_account::Entity::update_many()
                    .col_expr(
                        credit_account::Column::Held,
                        Expr::col(credit_account::Column::Held).sub(hold.amount),
                    )
                    .filter(credit_account::Column::UserId.eq(hold.user_id))
                    .exec(&txn)
                    .await?;
                if let Some(key_id) = hold.api_key_id {
                    settle_key(&txn, key_id, hold.amount, 0).await?;
                }
                released += 1;
            }
            txn.commit().await?;
        }
        Ok(released)
    }
}

/// Moves a key's held credits to used: `released` leaves the hold, `charged` is spent.
async fn settle_key(
    txn: &impl ConnectionTrait,
    key_id: i64,
    released: i64,
    charged: i64,
) -> Result<(), CreditsError> {
    api_key::Entity::update_many()
        .col_expr(
            api_key::Column::CreditsHeld,
            Expr::col(api_key::Column::CreditsHeld).sub(released),
        )
        .col_expr(
            api_key::Column::CreditsUsed,
            Expr::col(api_key::Column::CreditsUsed).add(charged),
        )
        .filter(api_key::Column::Id.eq(key_id))
        .exec(txn)
        .await?;
    Ok(())
}
