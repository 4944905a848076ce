//! [`SharedRests`] on Redis: one hash of key id to the end of its rest (Unix milliseconds),
//! read by every instance each second.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

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

pub struct RedisRests {
    cluster: Arc<Cluster>,
}

impl RedisRests {
    pub fn new(cluster: Arc<Cluster>) -> Self {
        Self { cluster }
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
}
