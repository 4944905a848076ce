//! HTTP clients, one per thread. A pooled connection is driven by a task on the runtime that
//! opened it; shared across actix's per-core workers, a stream opened on one worker and read on
//! another pays a cross-thread wake-up for every chunk. Each thread gets its own client (and
//! pool), so a request and its connection stay on one thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::ProviderError;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's client for each [`Clients`] (several exist in one process in tests).
    static CLIENTS: RefCell<HashMap<u64, reqwest::Client>> = RefCell::new(HashMap::new());
}

#[derive(Clone)]
pub(crate) struct Clients {
    id: u64,
    connect_timeout: Duration,
    /// Built at start (so a TLS setup failure stops the server there); also the fallback.
    shared: reqwest::Client,
}

fn build(connect_timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        // Nagle's algorithm would hold small requests back waiting for an ACK.
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .user_agent(concat!("confab/", env!("CARGO_PKG_VERSION")))
        .build()
}

impl Clients {
    pub(crate) fn new(connect_timeout: Duration) -> Result<Self, ProviderError> {
        Ok(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            connect_timeout,
            shared: build(connect_timeout).map_err(|e| ProviderError::Connect(e.to_string()))?,
        })
    }

    /// The calling thread's client.
    pub(crate) fn client(&self) -> reqwest::Client {
        CLIENTS.with(|clients| {
            clients
                .borrow_mut()
                .entry(self.id)
                .or_insert_with(|| {
                    build(self.connect_timeout).unwrap_or_else(|_| self.shared.clone())
                })
                .clone()
        })
    }
}
