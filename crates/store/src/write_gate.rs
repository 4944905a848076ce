//! The queue SQLite's writers wait in (see [`crate::Db`]): one writer at a time, first come
//! first served, waited for asynchronously instead of in SQLite's busy handler. PostgreSQL locks
//! rows and needs no gate: there it is empty.

use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard, OwnedMutexGuard};

use crate::Backend;

#[derive(Clone, Default, Debug)]
pub struct WriteGate(Option<Arc<Mutex<()>>>);

impl WriteGate {
    pub fn for_backend(backend: Option<Backend>) -> Self {
        match backend {
            Some(Backend::Sqlite) => Self(Some(Arc::new(Mutex::new(())))),
            _ => Self(None),
        }
    }

    /// Held for the length of one write.
    pub async fn enter(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.0 {
            Some(gate) => Some(gate.lock().await),
            None => None,
        }
    }

    /// Like [`WriteGate::enter`], for a guard that outlives the borrow (a transaction's).
    pub async fn enter_owned(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.0 {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        }
    }

    /// For a thread outside the async runtime (SQLite's metering thread): waits in the same
    /// queue, blocking that thread only.
    pub fn enter_blocking(&self) -> Option<MutexGuard<'_, ()>> {
        self.0.as_ref().map(|gate| gate.blocking_lock())
    }
}
