//! [`ChangeFeed`] on Redis: a counter per topic that every instance moves after a change its
//! caches of that topic depend on, and reads before it trusts them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use confab_core::ChangeFeed;

use crate::Cluster;

/// How often an announcement that failed is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

pub struct RedisChanges {
    cluster: Arc<Cluster>,
    /// Which counter: each topic's caches are forgotten on their own.
    topic: &'static str,
    /// An announcement failed and has not been made since: the other instances may still
    /// trust what this one changed.
    pending: AtomicBool,
    /// The counter could not be read last time (so the outage is logged once, not per request).
    unreadable: AtomicBool,
}

impl RedisChanges {
    /// Also starts the task that retries failed announcements (it ends with the runtime).
    pub fn start(cluster: Arc<Cluster>, topic: &'static str) -> Arc<Self> {
        let changes = Arc::new(Self {
            cluster,
            topic,
            pending: AtomicBool::new(false),
            unreadable: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&changes);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RETRY_EVERY);
            loop {
                every.tick().await;
                let Some(changes) = weak.upgrade() else {
                    return;
                };
                if changes.pending.swap(false, Ordering::AcqRel) {
                    changes.announce().await;
                }
            }
        });
        changes
    }

    fn key(&self) -> String {
        self.cluster.key(&format!("changes:{}", self.topic))
    }
}

#[async_trait]
impl ChangeFeed for RedisChanges {
    async fn announce(&self) {
        let key = self.key();
        let moved = self
            .cluster
            .run(|mut connection| async move {
                redis::cmd("INCR")
                    .arg(key)
                    .query_async::<u64>(&mut connection)
                    .await
            })
            .await;
        if let Err(error) = moved {
            self.pending.store(true, Ordering::Release);
            tracing::error!(%error, "redis: a change could not be announced to the other instances; retrying");
        }
    }

    async fn observe(&self) -> Option<u64> {
        let key = self.key();
        let seen = self
            .cluster
            .run(|mut connection| async move {
                redis::cmd("GET")
                    .arg(key)
                    .query_async::<Option<u64>>(&mut connection)
                    .await
            })
            .await;
        match seen {
            Ok(count) => {
                if self.unreadable.swap(false, Ordering::AcqRel) {
                    tracing::info!(
                        topic = self.topic,
                        "redis: the change counter answers again; caches are trusted"
                    );
                }
                Some(count.unwrap_or(0))
            }
            Err(error) => {
                if !self.unreadable.swap(true, Ordering::AcqRel) {
                    tracing::error!(topic = self.topic, %error, "redis: the change counter cannot be read; caches are not trusted until it can");
                }
                None
            }
        }
    }

    fn is_shared(&self) -> bool {
        true
    }
}
