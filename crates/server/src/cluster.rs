//! One instance, or several sharing one database: what `redis.url` changes. Without Redis,
//! attempt limits are counted in process and caches need no feed (right for one instance; on
//! PostgreSQL sessions are then read from the database on every request, since other
//! instances may write). With Redis, every instance counts attempts in the same windows and
//! hears the others' changes, so sessions can be cached on PostgreSQL too.

use std::sync::Arc;
use std::time::Duration;

use confab_cluster::{Cluster, ClusterSettings, RedisChanges, RedisLimiter, RedisRests};
use confab_core::{
    ChangeFeed, FailureLimiter, InMemoryLimiter, LocalChanges, LocalRests, SharedRests,
};
use secrecy::ExposeSecret;

use crate::config::RedisSettings;

/// The shared (or in-process) parts every instance of a deployment must agree on.
pub struct Sharing {
    /// The Redis behind it all; `None` for a single instance.
    pub cluster: Option<Arc<Cluster>>,
    /// Login and verification-code attempts.
    pub account_attempts: Arc<dyn FailureLimiter>,
    /// Failed card-code redemptions.
    pub redemption_failures: Arc<dyn FailureLimiter>,
    /// Changes that cached sessions, accounts and settings depend on.
    pub changes: Arc<dyn ChangeFeed>,
    /// Changes to models and provider keys (each instance reloads its catalog and pool).
    pub provider_changes: Arc<dyn ChangeFeed>,
    /// Provider keys resting after failures.
    pub key_rests: Arc<dyn SharedRests>,
    /// Provider keys' requests per minute, counted by all instances (`None`: by each alone).
    pub provider_rpm: Option<Arc<dyn FailureLimiter>>,
}

impl Sharing {
    /// In process when `redis.url` is empty, else through Redis (no connection is made yet: a
    /// Redis down at start shows in `/readyz` and in the log, it does not stop the start).
    pub fn from_settings(redis: &RedisSettings) -> Result<Self, confab_cluster::ClusterError> {
        let url = redis.url.expose_secret();
        if url.is_empty() {
            return Ok(Self {
                cluster: None,
                account_attempts: Arc::new(InMemoryLimiter::default()),
                redemption_failures: Arc::new(InMemoryLimiter::default()),
                changes: Arc::new(LocalChanges),
                provider_changes: Arc::new(LocalChanges),
                key_rests: Arc::new(LocalRests),
                provider_rpm: None,
            });
        }
        let cluster = Cluster::new(&ClusterSettings {
            url: url.to_owned(),
            pool_size: redis.pool_size,
            timeout: Duration::from_millis(redis.timeout_ms),
            key_prefix: redis.key_prefix.clone(),
        })?;
        Ok(Self {
            account_attempts: Arc::new(RedisLimiter::new(cluster.clone())),
            redemption_failures: Arc::new(RedisLimiter::new(cluster.clone())),
            changes: RedisChanges::start(cluster.clone(), "accounts"),
            provider_changes: RedisChanges::start(cluster.clone(), "providers"),
            key_rests: Arc::new(RedisRests::new(cluster.clone())),
            provider_rpm: Some(Arc::new(RedisLimiter::new(cluster.clone()))),
            cluster: Some(cluster),
        })
    }

    /// Logs whether Redis answers now (startup goes on either way).
    pub async fn report(&self) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        match cluster.ping().await {
            Ok(()) => tracing::info!("redis: connected; limits and cache changes are shared"),
            Err(error) => tracing::error!(
                %error,
                "redis: not answering; logins and redemptions are refused until it does"
            ),
        }
    }
}
