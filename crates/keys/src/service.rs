//! [`ApiKeys`]: the API-key operations the server calls. Several instances (PostgreSQL) check
//! and count every request in the database, which keeps the daily limit exact across them. A
//! single instance (SQLite) sees every write, so it keeps what a check reads in memory and counts
//! in memory too, writing the counters behind in one batch a second: a request with a known key
//! then costs no database round trip, as a signed-in one does. Counts are written before any view
//! of a key is read, and at shutdown; a crash loses at most the last second's counts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use confab_core::crypto::sha256_hex;
use confab_core::{Generation, Page, PageRequest};
use confab_store::Db;
use confab_store::entity::api_key;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};

use crate::KeysError;
use crate::api_keys::{
    self, ApiKey, ApiKeyPatch, CreatedApiKey, Day, KeyGrant, KeyRecord, KeyUse, NewApiKey,
};

/// Enough for every key in use on a busy site; past it the cache starts over.
const MAX_CACHED: usize = 100_000;

pub struct ApiKeys {
    memory: Option<Memory>,
}

/// What a single instance keeps: key records by secret hash, and each used key's counters.
struct Memory {
    keys_changed: Generation,
    owners_changed: Generation,
    records: RwLock<HashMap<String, Cached>>,
    counters: Mutex<HashMap<i64, Counter>>,
    /// One batch written at a time, so a view waits for the one in flight.
    flushing: tokio::sync::Mutex<()>,
}

struct Cached {
    record: KeyRecord,
    keys_generation: u64,
    owners_generation: u64,
}

/// A key's counters as this process knows them; `unsaved` uses are not in its row yet.
struct Counter {
    day: String,
    today: i64,
    unsaved: i64,
    last_used_at: DateTime<Utc>,
    last_used_ip: Option<String>,
}

/// One key's counters on their way to its row.
struct Batch {
    id: i64,
    unsaved: i64,
    day: String,
    today: i64,
    last_used_at: DateTime<Utc>,
    last_used_ip: Option<String>,
}

impl ApiKeys {
    /// `single_instance`: whether this process sees every write (then it keeps keys in memory);
    /// `owner_changes` moves whenever an account's role or status changes.
    pub fn new(single_instance: bool, owner_changes: Generation) -> Self {
        Self {
            memory: single_instance.then(|| Memory {
                keys_changed: Generation::default(),
                owners_changed: owner_changes,
                records: RwLock::new(HashMap::new()),
                counters: Mutex::new(HashMap::new()),
                flushing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Checks a presented key and counts the request against its daily limit
    /// (see [`api_keys::authenticate`]).
    pub async fn authenticate(
        &self,
        db: &impl ConnectionTrait,
        secret: &str,
        client_ip: Option<IpAddr>,
        day: &Day,
        now: DateTime<Utc>,
    ) -> Result<KeyGrant, KeysError> {
        let Some(memory) = &self.memory else {
            return api_keys::authenticate(db, secret, client_ip, day, now).await;
        };
        if !api_keys::is_api_key(secret) {
            return Err(KeysError::InvalidApiKey);
        }
        let record = memory.record(db, &sha256_hex(secret)).await?;
        record.check(client_ip, now)?;
        memory.count(
            &record,
            &KeyUse {
                client_ip,
                day,
                now,
            },
        )?;
        Ok(record.grant())
    }

    /// Writes the counters kept in memory to their rows.
    pub async fn flush(&self, db: &Db) -> Result<(), KeysError> {
        match &self.memory {
            Some(memory) => memory.flush(db).await,
            None => Ok(()),
        }
    }

    /// Writes the counters behind every `every`, until the process ends.
    pub fn spawn_flusher(self: &Arc<Self>, db: Db, every: Duration) {
        if self.memory.is_none() {
            return;
        }
        let keys = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(keys) = keys.upgrade() else { return };
                if let Err(err) = keys.flush(&db).await {
                    tracing::warn!(error = %err, "writing API key counters failed; retrying");
                }
            }
        });
    }

    pub async fn create(
        &self,
        db: &Db,
        user_id: i64,
        new: NewApiKey,
        today: &str,
        now: DateTime<Utc>,
    ) -> Result<CreatedApiKey, KeysError> {
        api_keys::create(db, user_id, new, today, now).await
    }

    pub async fn get(
        &self,
        db: &Db,
        user_id: i64,
        id: i64,
        today: &str,
    ) -> Result<ApiKey, KeysError> {
        self.flush(db).await?;
        api_keys::get(db, user_id, id, today).await
    }

    pub async fn list(
        &self,
        db: &Db,
        user_id: i64,
        page: PageRequest,
        today: &str,
    ) -> Result<Page<ApiKey>, KeysError> {
        self.flush(db).await?;
        api_keys::list(db, user_id, page, today).await
    }

    /// Every account's keys, or one account's, for admins.
    pub async fn list_all(
        &self,
        db: &Db,
        user_id: Option<i64>,
        page: PageRequest,
        today: &str,
    ) -> Result<Page<ApiKey>, KeysError> {
        self.flush(db).await?;
        api_keys::list_all(db, user_id, page, today).await
    }

    pub async fn update(
        &self,
        db: &Db,
        user_id: i64,
        id: i64,
        patch: ApiKeyPatch,
        today: &str,
        now: DateTime<Utc>,
    ) -> Result<ApiKey, KeysError> {
        self.flush(db).await?;
        let result = api_keys::update(db, user_id, id, patch, today, now).await;
        self.changed();
        result
    }

    pub async fn delete(
        &self,
        db: &Db,
        user_id: i64,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), KeysError> {
        let result = api_keys::delete(db, user_id, id, now).await;
        self.changed();
        result
    }

    pub async fn rotate(
        &self,
        db: &Db,
        user_id: i64,
        id: i64,
        today: &str,
        now: DateTime<Utc>,
    ) -> Result<CreatedApiKey, KeysError> {
        self.flush(db).await?;
        let result = api_keys::rotate(db, user_id, id, today, now).await;
        self.changed();
        result
    }

    /// After a key was written: every cached record is stale.
    fn changed(&self) {
        if let Some(memory) = &self.memory {
            memory.keys_changed.bump();
        }
    }
}

impl Memory {
    async fn record(
        &self,
        db: &impl ConnectionTrait,
        secret_hash: &str,
    ) -> Result<KeyRecord, KeysError> {
        // Read before the database: a write committed meanwhile makes the entry stale.
        let keys_generation = self.keys_changed.current();
        let owners_generation = self.owners_changed.current();
        {
            let records = self.records.read().unwrap_or_else(|p| p.into_inner());
            if let Some(cached) = records.get(secret_hash)
                && cached.keys_generation == keys_generation
                && cached.owners_generation == owners_generation
            {
                return Ok(cached.record.clone());
            }
        }
        let record = KeyRecord::find(db, secret_hash)
            .await?
            .ok_or(KeysError::InvalidApiKey)?;
        let mut records = self.records.write().unwrap_or_else(|p| p.into_inner());
        if records.len() >= MAX_CACHED {
            records.clear();
        }
        records.insert(
            secret_hash.to_owned(),
            Cached {
                record: record.clone(),
                keys_generation,
                owners_generation,
            },
        );
        Ok(record)
    }

    /// Counts a use unless the day's limit is reached, under one lock so concurrent requests
    /// never pass the limit.
    fn count(&self, record: &KeyRecord, used: &KeyUse<'_>) -> Result<(), KeysError> {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        // The row is the truth until this process first counts the key; then memory is.
        let counter = counters.entry(record.id).or_insert_with(|| Counter {
            day: record.request_day.clone(),
            today: record.request_today,
            unsaved: 0,
            last_used_at: used.now,
            last_used_ip: None,
        });
        if counter.day != used.day.date {
            counter.day.clone_from(&used.day.date);
            counter.today = 0;
        }
        if record
            .daily_request_limit
            .is_some_and(|limit| counter.today >= limit)
        {
            return Err(record.limit_reached(used.day));
        }
        counter.today += 1;
        counter.unsaved += 1;
        counter.last_used_at = used.now;
        counter.last_used_ip = used.client_ip.map(|ip| ip.to_string());
        Ok(())
    }

    async fn flush(&self, db: &Db) -> Result<(), KeysError> {
        let _one_at_a_time = self.flushing.lock().await;
        let batches = self.take_unsaved();
        if batches.is_empty() {
            return Ok(());
        }
        match write(db, &batches).await {
            Ok(()) => Ok(()),
            Err(err) => {
                let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
                for batch in &batches {
                    if let Some(counter) = counters.get_mut(&batch.id) {
                        counter.unsaved += batch.unsaved;
                    }
                }
                Err(err)
            }
        }
    }

    fn take_unsaved(&self) -> Vec<Batch> {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        counters
            .iter_mut()
            .filter(|(_, counter)| counter.unsaved > 0)
            .map(|(id, counter)| Batch {
                id: *id,
                unsaved: std::mem::take(&mut counter.unsaved),
                day: counter.day.clone(),
                today: counter.today,
                last_used_at: counter.last_used_at,
                last_used_ip: counter.last_used_ip.clone(),
            })
            .collect()
    }
}

/// One transaction for the whole batch.
async fn write(db: &Db, batches: &[Batch]) -> Result<(), KeysError> {
    let txn = db.begin().await?;
    for batch in batches {
        api_key::Entity::update_many()
            .col_expr(
                api_key::Column::RequestTotal,
                Expr::col(api_key::Column::RequestTotal).add(batch.unsaved),
            )
            .col_expr(api_key::Column::RequestToday, Expr::value(batch.today))
            .col_expr(api_key::Column::RequestDay, Expr::value(batch.day.as_str()))
            .col_expr(api_key::Column::LastUsedAt, Expr::value(batch.last_used_at))
            .col_expr(
                api_key::Column::LastUsedIp,
                Expr::value(batch.last_used_ip.clone()),
            )
            .filter(api_key::Column::Id.eq(batch.id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}
