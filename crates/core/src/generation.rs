//! A change counter shared by a writer and the caches of what it writes. A cache entry keeps the
//! value read *before* the rows it caches were read, and is stale as soon as the counter moved:
//! a write committed during the read can never leave a stale entry behind, with no lock between
//! the writer and the cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Default)]
pub struct Generation(Arc<AtomicU64>);

impl Generation {
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Called after a write commits.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}
