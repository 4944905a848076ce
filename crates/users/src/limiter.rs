//! Counting failures (logins, codes) per key in a window. In process for now; the trait is
//! what a shared (Redis) implementation plugs into when instances must agree.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

#[async_trait]
pub trait FailureLimiter: Send + Sync + 'static {
    /// `Err(seconds)` while `key` has `limit` or more failures in its current window.
    async fn check(&self, key: &str, limit: u32) -> Result<(), u64>;
    /// Counts one failure; the window starts at the first failure and lasts `window`.
    async fn record(&self, key: &str, window: Duration);
    /// Forgets `key`, e.g. after a successful login.
    async fn reset(&self, key: &str);
}

struct Window {
    started: Instant,
    length: Duration,
    count: u32,
}

impl Window {
    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.started) >= self.length
    }
}

/// Fixed windows in a map, pruned as it grows.
#[derive(Default)]
pub struct InMemoryLimiter {
    windows: Mutex<HashMap<String, Window>>,
}

const PRUNE_ABOVE: usize = 10_000;

impl InMemoryLimiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        // A panic while holding this lock leaves only counters behind; keep using them.
        self.windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl FailureLimiter for InMemoryLimiter {
    async fn check(&self, key: &str, limit: u32) -> Result<(), u64> {
        let now = Instant::now();
        let windows = self.lock();
        match windows.get(key) {
            Some(window) if !window.expired(now) && window.count >= limit => {
                let left = window
                    .length
                    .saturating_sub(now.duration_since(window.started));
                Err(left.as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    async fn record(&self, key: &str, window: Duration) {
        let now = Instant::now();
        let mut windows = self.lock();
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, w| !w.expired(now));
        }
        let entry = windows.entry(key.to_owned()).or_insert(Window {
            started: now,
            length: window,
            count: 0,
        });
        if entry.expired(now) {
            *entry = Window {
                started: now,
                length: window,
                count: 0,
            };
        }
        entry.count += 1;
    }

    async fn reset(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blocks_at_limit_until_window_ends() {
        let limiter = InMemoryLimiter::default();
        for _ in 0..3 {
            assert!(limiter.check("k", 3).await.is_ok());
            limiter.record("k", Duration::from_secs(60)).await;
        }
        let wait = limiter.check("k", 3).await.unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(limiter.check("other", 3).await.is_ok());
        limiter.reset("k").await;
        assert!(limiter.check("k", 3).await.is_ok());
    }
}
