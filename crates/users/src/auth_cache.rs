//! An in-process cache of what `authenticate` reads (session + account), so a request with a
//! live token costs no database round trip. Only correct when this process sees every write,
//! i.e. one instance (SQLite); several instances on PostgreSQL run without it.
//!
//! Every write that changes a session or an account clears the cache after its commit and bumps
//! an epoch; a reader inserts what it read only if no clear happened since it started reading,
//! so a stale row can never be cached.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use crate::User;

/// Enough for every live session of a busy site; past it the cache starts over.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone)]
pub(crate) struct CachedSession {
    pub user: User,
    pub session_user_id: i64,
    pub revoked: bool,
    pub expires_at: DateTime<Utc>,
}

pub(crate) struct AuthCache {
    enabled: bool,
    epoch: AtomicU64,
    entries: RwLock<HashMap<i64, CachedSession>>,
}

impl AuthCache {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            epoch: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub fn get(&self, session_id: i64) -> Option<CachedSession> {
        if !self.enabled {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.get(&session_id).cloned()
    }

    /// The epoch to pass to [`AuthCache::insert`], read before the database is.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn insert(&self, session_id: i64, entry: CachedSession, read_at_epoch: u64) {
        if !self.enabled {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock that `clear` also takes, so no clear can slip in between.
        if self.epoch.load(Ordering::Acquire) != read_at_epoch {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(session_id, entry);
    }

    /// Called after any committed write to sessions or accounts.
    pub fn clear(&self) {
        if !self.enabled {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}
