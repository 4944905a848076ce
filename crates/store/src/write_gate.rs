//! SQLite has one writer at a time, and a writer that finds the lock taken sleeps in SQLite's
//! busy handler (1, 2, 5, 10 … ms) before trying again: under contention, short transactions
//! wait milliseconds for locks held microseconds. On SQLite (one instance by design) hot write
//! paths queue here instead, in process, and never meet a busy lock. PostgreSQL locks rows and
//! needs no gate.

use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard};

use crate::Backend;

#[derive(Clone, Default)]
pub struct WriteGate(Option<Arc<Mutex<()>>>);

impl WriteGate {
    pub fn for_backend(backend: Option<Backend>) -> Self {
        match backend {
            Some(Backend::Sqlite) => Self(Some(Arc::new(Mutex::new(())))),
            _ => Self(None),
        }
    }

    /// Held for the length of one write transaction.
    pub async fn enter(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.0 {
            Some(gate) => Some(gate.lock().await),
            None => None,
        }
    }
}
