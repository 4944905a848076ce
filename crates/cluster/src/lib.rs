//! Confab across several instances. Without Redis each instance counts and caches in process
//! (right for one instance). With Redis, a [`Cluster`] gives every instance the same attempt
//! counts ([`RedisLimiter`]), change counters for their caches ([`RedisChanges`]) and the
//! provider keys that rest ([`RedisRests`]).
//!
//! Redis down at runtime: the instances keep serving. Attempt limits guard credentials and
//! credits, so an attempt that cannot be counted is refused ([`confab_core::Refusal::Unavailable`]);
//! caches are not trusted while the change counter cannot be read; every failure is logged and
//! counted ([`Cluster::errors`]), and `/readyz` says so.

mod changes;
mod limiter;
mod rests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};

pub use changes::RedisChanges;
pub use limiter::RedisLimiter;
pub use rests::RedisRests;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("redis.url is not a Redis URL: {0}")]
    Url(String),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis pool: {0}")]
    Pool(String),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// How to reach Redis.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// `redis://host:6379/0` (or `rediss://`, with a password in the URL if needed).
    pub url: String,
    /// Connections kept open.
    pub pool_size: usize,
    /// How long a command may take before it counts as failed.
    pub timeout: Duration,
    /// Put before every key, so several sites (or test runs) can share one Redis.
    pub key_prefix: String,
}

/// A pool of Redis connections with a deadline on every command.
pub struct Cluster {
    pool: Pool,
    timeout: Duration,
    prefix: String,
    errors: AtomicU64,
}

impl Cluster {
    /// Builds the pool (no connection is made yet: a Redis that is down at start is reported
    /// by [`Cluster::ping`] and the first commands, not a reason to refuse to start).
    pub fn new(settings: &ClusterSettings) -> Result<Arc<Self>, ClusterError> {
        redis::parse_redis_url(&settings.url)
            .ok_or_else(|| ClusterError::Url("not a redis:// or rediss:// URL".into()))?;
        let mut config = Config::from_url(settings.url.clone());
        let mut pool = PoolConfig::new(settings.pool_size.max(1));
        pool.timeouts = Timeouts {
            wait: Some(settings.timeout),
            create: Some(settings.timeout),
            recycle: Some(settings.timeout),
        };
        config.pool = Some(pool);
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|error| ClusterError::Pool(error.to_string()))?;
        Ok(Arc::new(Self {
            pool,
            timeout: settings.timeout,
            prefix: settings.key_prefix.clone(),
            errors: AtomicU64::new(0),
        }))
    }

    /// Whether Redis answers now.
    pub async fn ping(&self) -> Result<(), ClusterError> {
        self.run(|mut connection| async move {
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .map(drop)
        })
        .await
    }

    /// Commands that failed or timed out since start.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The key `name` under this deployment's prefix.
    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Runs one step on a pooled connection within the deadline; a failure is counted.
    async fn run<T, F, Fut>(&self, step: F) -> Result<T, ClusterError>
    where
        F: FnOnce(deadpool_redis::Connection) -> Fut,
        Fut: Future<Output = Result<T, redis::RedisError>>,
    {
        let attempt = async {
            let connection = self
                .pool
                .get()
                .await
                .map_err(|error| ClusterError::Pool(error.to_string()))?;
            Ok::<T, ClusterError>(step(connection).await?)
        };
        let outcome = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Err(ClusterError::Timeout(self.timeout)),
        };
        if outcome.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }
}
