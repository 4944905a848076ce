//! [`FailureLimiter`] on Redis: one window per key, counted by a script so the check and the
//! count are one atomic step on every instance at once.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use confab_core::{FailureLimiter, Refusal};

use crate::Cluster;

/// Refuses without counting once `limit` attempts are in the window (answering the
/// milliseconds it has left); otherwise counts one, starting the window on the first.
static ATTEMPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local count = tonumber(redis.call('GET', KEYS[1]) or '0')
        if count >= tonumber(ARGV[2]) then
            local left = redis.call('PTTL', KEYS[1])
            if left < 0 then
                left = tonumber(ARGV[1])
            end
            return left
        end
        if redis.call('INCR', KEYS[1]) == 1 then
            redis.call('PEXPIRE', KEYS[1], ARGV[1])
        end
        return -1
        ",
    )
});

/// Gives one attempt back, never below zero and never to a window that already ended (a
/// bare DECR would create a key with no expiry).
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local count = tonumber(redis.call('GET', KEYS[1]) or '0')
        if count > 0 then
            redis.call('DECR', KEYS[1])
        end
        return 0
        ",
    )
});

pub struct RedisLimiter {
    cluster: Arc<Cluster>,
}

impl RedisLimiter {
    pub fn new(cluster: Arc<Cluster>) -> Self {
        Self { cluster }
    }

    fn key(&self, key: &str) -> String {
        self.cluster.key(&format!("limit:{key}"))
    }
}

#[async_trait]
impl FailureLimiter for RedisLimiter {
    async fn attempt(&self, key: &str, limit: u32, window: Duration) -> Result<(), Refusal> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let name = self.key(key);
        let answer = self
            .cluster
            .run(|mut connection| async move {
                ATTEMPT
                    .key(name)
                    .arg(window_ms)
                    .arg(limit)
                    .invoke_async::<i64>(&mut connection)
                    .await
            })
            .await;
        match answer {
            Ok(-1) => Ok(()),
            Ok(left_ms) => {
                let left_ms = u64::try_from(left_ms).unwrap_or(window_ms);
                Err(Refusal::Full {
                    retry_after_secs: left_ms.div_ceil(1000).max(1),
                })
            }
            Err(error) => {
                tracing::warn!(%error, "redis: an attempt could not be counted; refused");
                Err(Refusal::Unavailable)
            }
        }
    }

    async fn release(&self, key: &str) {
        let name = self.key(key);
        let released = self
            .cluster
            .run(|mut connection| async move {
                RELEASE.key(name).invoke_async::<i64>(&mut connection).await
            })
            .await;
        if let Err(error) = released {
            tracing::warn!(%error, "redis: an attempt could not be given back");
        }
    }

    async fn reset(&self, key: &str) {
        let name = self.key(key);
        let reset = self
            .cluster
            .run(|mut connection| async move {
                redis::cmd("DEL")
                    .arg(name)
                    .query_async::<i64>(&mut connection)
                    .await
            })
            .await;
        if let Err(error) = reset {
            tracing::warn!(%error, "redis: attempts could not be forgotten");
        }
    }
}
