//! How instances tell each other that cached rows changed. One instance sees every write
//! itself, so [`LocalChanges`] has nothing to tell. Several instances (with Redis) share one
//! counter: a writer moves it after its change commits, and before it answers; a reader looks
//! at it at the start of each request and forgets what it cached when it moved, or when it
//! cannot be read. So a logout answered by one instance is refused by every other at once.

use async_trait::async_trait;

#[async_trait]
pub trait ChangeFeed: Send + Sync + 'static {
    /// Tells every instance that rows their caches hold changed; called after the commit.
    async fn announce(&self);
    /// The shared count of changes so far; `None` when it cannot be read (caches must not be
    /// trusted then). Always `Some(0)` for a single instance.
    async fn observe(&self) -> Option<u64>;
    /// Whether other instances write too (then caches are only as good as this feed).
    fn is_shared(&self) -> bool;
}

/// A single instance: every change is seen where it is made.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalChanges;

#[async_trait]
impl ChangeFeed for LocalChanges {
    async fn announce(&self) {}

    async fn observe(&self) -> Option<u64> {
        Some(0)
    }

    fn is_shared(&self) -> bool {
        false
    }
}

/// What one instance last saw of a shared feed, to tell when its caches must be forgotten.
pub struct ChangeWatch {
    feed: std::sync::Arc<dyn ChangeFeed>,
    seen: std::sync::Mutex<Option<u64>>,
}

impl ChangeWatch {
    /// Watches `feed`; nothing is seen yet, so the first [`ChangeWatch::sync`] forgets.
    pub fn new(feed: std::sync::Arc<dyn ChangeFeed>) -> Self {
        Self {
            feed,
            seen: std::sync::Mutex::new(None),
        }
    }

    /// The feed watched (to announce on).
    pub fn feed(&self) -> &std::sync::Arc<dyn ChangeFeed> {
        &self.feed
    }

    /// Reads the shared counter and runs `forget` when caches must be forgotten before this
    /// request reads them (another instance changed something since, or the counter cannot be
    /// read); answers whether it ran. `forget` runs before any other request can see the new
    /// count, so none of them reads what it forgets. A feed that is not shared is not read.
    pub async fn sync(&self, forget: impl FnOnce()) -> bool {
        if !self.feed.is_shared() {
            return false;
        }
        let now = self.feed.observe().await;
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let moved = now.is_none() || *seen != now;
        if moved {
            forget();
        }
        *seen = now;
        moved
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A feed another instance moves (`u64::MAX`: unreadable).
    #[derive(Default)]
    struct Counter(AtomicU64);

    #[async_trait]
    impl ChangeFeed for Counter {
        async fn announce(&self) {
            self.0.fetch_add(1, Ordering::AcqRel);
        }

        async fn observe(&self) -> Option<u64> {
            Some(self.0.load(Ordering::Acquire)).filter(|count| *count != u64::MAX)
        }

        fn is_shared(&self) -> bool {
            true
        }
    }

    #[tokio::test]
    async fn caches_are_forgotten_when_the_counter_moves_or_cannot_be_read() {
        let feed = Arc::new(Counter::default());
        let watch = ChangeWatch::new(feed.clone());
        assert!(
            watch.sync(|| {}).await,
            "nothing was seen before the first look"
        );
        assert!(!watch.sync(|| {}).await);
        feed.announce().await;
        assert!(watch.sync(|| {}).await);
        assert!(!watch.sync(|| {}).await);
        feed.0.store(u64::MAX, Ordering::Release);
        assert!(watch.sync(|| {}).await);
        assert!(
            watch.sync(|| {}).await,
            "still unreadable: still not trusted"
        );
        feed.0.store(7, Ordering::Release);
        assert!(watch.sync(|| {}).await);
        assert!(!watch.sync(|| {}).await);
    }
}
