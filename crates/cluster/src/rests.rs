//! [`SharedRests`] on Redis: one hash of key id to the end of its rest (Unix milliseconds),
//! read by every instance each second; a counter per key for its failure streak; a counter
//! per key and UTC day for the tokens it served. Each change is one atomic script.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use confab_core::SharedRests;

use crate::Cluster;

/// Keeps the later of two ends, and the hash no longer than its latest rest.
static REST: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
        if current < tonumber(ARGV[2]) then
            redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        end
        if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
            redis.call('PEXPIRE', KEYS[1], ARGV[3])
        end
        return 0
        ",
    )
});

/// Adds to a counter and keeps it `ARGV[2]` milliseconds from now; answers the new value.
static ADD: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local total = redis.call('INCRBY', KEYS[1], ARGV[1])
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return total
        ",
    )
});

/// A UTC day and the one after it: a day's token count is not needed longer.
const TOKEN_DAYS_MS: u64 = 2 * 86_400_000;

pub struct RedisRests {
    cluster: Arc<Cluster>,
}

impl RedisRests {
    pub fn new(cluster: Arc<Cluster>) -> Self {
        Self { cluster }
    }

    /// Adds `amount` to counter `name` (kept `keep_ms`); `None` when Redis cannot answer.
    async fn add(&self, name: String, amount: u64, keep_ms: u64) -> Option<u64> {
        let added = self
            .cluster
            .run(|mut connection| async move {
                ADD.key(name)
                    .arg(amount)
                    .arg(keep_ms.max(1))
                    .invoke_async::<u64>(&mut connection)
                    .await
            })
            .await;
        match added {
            Ok(total) => Some(total),
            Err(error) => {
                tracing::warn!(%error, "redis: a shared provider key count cannot be written; counting locally");
                None
            }
        }
    }
}

#[async_trait]
impl SharedRests for RedisRests {
    async fn rest(&self, key_id: i64, until: DateTime<Utc>) {
        let name = self.cluster.key("key-rests");
        let until_ms = until.timestamp_millis();
        let left_ms = (until - Utc::now()).num_milliseconds().max(1);
        let recorded = self
            .cluster
            .run(|mut connection| async move {
                REST.key(name)
                    .arg(key_id)
                    .arg(until_ms)
                    .arg(left_ms)
                    .invoke_async::<i64>(&mut connection)
                    .await
            })
            .await;
        if let Err(error) = recorded {
            tracing::warn!(key_id, %error, "redis: a provider key's rest could not be shared");
        }
    }

    async fn resting(&self, now: DateTime<Utc>) -> Vec<(i64, DateTime<Utc>)> {
        let name = self.cluster.key("key-rests");
        let read = self
            .cluster
            .run(|mut connection| async move {
                redis::cmd("HGETALL")
                    .arg(name)
                    .query_async::<HashMap<i64, i64>>(&mut connection)
                    .await
            })
            .await;
        match read {
            Ok(rests) => rests
                .into_iter()
                .filter_map(|(key_id, until_ms)| {
                    DateTime::from_timestamp_millis(until_ms)
                        .filter(|until| *until > now)
                        .map(|until| (key_id, until))
                })
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "redis: shared provider key rests cannot be read");
                Vec::new()
            }
        }
    }

    async fn streak_failed(&self, key_id: i64, keep: Duration) -> Option<u32> {
        let name = self.cluster.key(&format!("key-streak:{key_id}"));
        let keep_ms = u64::try_from(keep.as_millis()).unwrap_or(u64::MAX);
        let streak = self.add(name, 1, keep_ms).await?;
        Some(u32::try_from(streak).unwrap_or(u32::MAX))
    }

    async fn streak_ended(&self, key_id: i64) {
        let name = self.cluster.key(&format!("key-streak:{key_id}"));
        let ended = self
            .cluster
            .run(|mut connection| async move {
                redis::cmd("DEL")
                    .arg(name)
                    .query_async::<u64>(&mut connection)
                    .await
            })
            .await;
        if let Err(error) = ended {
            tracing::warn!(key_id, %error, "redis: a provider key's failure streak could not be ended");
        }
    }

    async fn add_tokens(&self, key_id: i64, day: i64, tokens: u64) -> Option<u64> {
        let name = self.cluster.key(&format!("key-tokens:{key_id}:{day}"));
        self.add(name, tokens, TOKEN_DAYS_MS).await
    }
}
