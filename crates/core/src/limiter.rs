//! Counting attempts (logins, codes, redemptions) per key in a window: in process
//! ([`InMemoryLimiter`]) for one instance, or shared through Redis (`confab-cluster`) when
//! several must agree.
//!
//! An attempt is counted *before* the work it guards (a password check, a code comparison), in
//! the same step that decides whether it may go ahead: a burst of concurrent attempts can never
//! get more than `limit` of them past, because none of them waits for another's outcome to be
//! counted. An attempt that turns out not to be a failure is given back with
//! [`FailureLimiter::release`] (or the whole key forgotten with [`FailureLimiter::reset`]).
//! With Redis the same shape is `INCR` + `PEXPIRE NX` (one script), `DECR` and `DEL`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// Why an attempt may not go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The window is full; it ends in this many seconds (at least 1).
    Full { retry_after_secs: u64 },
    /// The shared count cannot be reached: what it guards is refused rather than let through
    /// unchecked (it guards credentials and credits).
    Unavailable,
}

#[async_trait]
pub trait FailureLimiter: Send + Sync + 'static {
    /// Counts one attempt against `key` and says whether it may go ahead: `Ok` while the
    /// window (which starts at its first attempt and lasts `window`) holds at most `limit`
    /// attempts, this one included; [`Refusal::Full`] once it is full. The count and the
    /// decision are one atomic step.
    async fn attempt(&self, key: &str, limit: u32, window: Duration) -> Result<(), Refusal>;
    /// Gives back one attempt counted by [`FailureLimiter::attempt`] that was not a failure.
    async fn release(&self, key: &str);
    /// Forgets `key`, e.g. after a successful login.
    async fn reset(&self, key: &str);

    /// Counts one attempt against each `(key, limit)` in order, all in `window`; refused at the
    /// first that is full (or cannot be counted), giving back the ones counted before it.
    async fn attempt_all(&self, counts: &[(&str, u32)], window: Duration) -> Result<(), Refusal> {
        for (counted, (key, limit)) in counts.iter().enumerate() {
            if let Err(refusal) = self.attempt(key, *limit, window).await {
                let counted: Vec<&str> = counts[..counted].iter().map(|(key, _)| *key).collect();
                self.release_all(&counted).await;
                return Err(refusal);
            }
        }
        Ok(())
    }

    /// Gives back one attempt on each of `keys`.
    async fn release_all(&self, keys: &[&str]) {
        for key in keys {
            self.release(key).await;
        }
    }
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

    fn seconds_left(&self, now: Instant) -> u64 {
        let left = self.length.saturating_sub(now.duration_since(self.started));
        // Round up: a client told "0" would retry into the same full window.
        left.as_secs()
            .saturating_add(u64::from(left.subsec_nanos() > 0))
            .max(1)
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
    async fn attempt(&self, key: &str, limit: u32, window: Duration) -> Result<(), Refusal> {
        let now = Instant::now();
        let mut windows = self.lock();
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, w| !w.expired(now));
        }
        let fresh = Window {
            started: now,
            length: window,
            count: 0,
        };
        let entry = windows.entry(key.to_owned()).or_insert(fresh);
        if entry.expired(now) {
            *entry = Window {
                started: now,
                length: window,
                count: 0,
            };
        }
        if entry.count >= limit {
            return Err(Refusal::Full {
                retry_after_secs: entry.seconds_left(now),
            });
        }
        entry.count += 1;
        Ok(())
    }

    async fn release(&self, key: &str) {
        let now = Instant::now();
        let mut windows = self.lock();
        if let Some(window) = windows.get_mut(key)
            && !window.expired(now)
        {
            window.count = window.count.saturating_sub(1);
        }
    }

    async fn reset(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn admits_the_limit_then_refuses_until_the_window_ends() {
        let limiter = InMemoryLimiter::default();
        for _ in 0..3 {
            assert!(limiter.attempt("k", 3, MINUTE).await.is_ok());
        }
        let Err(Refusal::Full { retry_after_secs }) = limiter.attempt("k", 3, MINUTE).await else {
            panic!("a full window refuses");
        };
        assert!((1..=60).contains(&retry_after_secs), "{retry_after_secs}");
        assert!(limiter.attempt("other", 3, MINUTE).await.is_ok());
        limiter.reset("k").await;
        assert!(limiter.attempt("k", 3, MINUTE).await.is_ok());
    }

    #[tokio::test]
    async fn a_released_attempt_can_be_used_again() {
        let limiter = InMemoryLimiter::default();
        assert!(limiter.attempt("k", 1, MINUTE).await.is_ok());
        assert!(limiter.attempt("k", 1, MINUTE).await.is_err());
        limiter.release("k").await;
        assert!(limiter.attempt("k", 1, MINUTE).await.is_ok());
        // Releasing more than was counted never makes room beyond the limit.
        limiter.release("k").await;
        limiter.release("k").await;
        assert!(limiter.attempt("k", 1, MINUTE).await.is_ok());
        assert!(limiter.attempt("k", 1, MINUTE).await.is_err());
    }

    #[tokio::test]
    async fn a_window_that_ended_starts_over() {
        let limiter = InMemoryLimiter::default();
        let short = Duration::from_millis(20);
        assert!(limiter.attempt("k", 1, short).await.is_ok());
        assert!(limiter.attempt("k", 1, short).await.is_err());
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(limiter.attempt("k", 1, short).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_gets_exactly_the_limit_past() {
        let limiter = Arc::new(InMemoryLimiter::default());
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                tokio::spawn(async move { limiter.attempt("k", 5, MINUTE).await.is_ok() })
            })
            .collect();
        let mut admitted = 0;
        for task in tasks {
            admitted += usize::from(task.await.unwrap());
        }
        assert_eq!(admitted, 5);
    }
}
