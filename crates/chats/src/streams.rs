//! The streams an instance is relaying, so a shutdown can wait for them and, once its grace
//! period is over, end the rest the way a vanished client would (the answer is kept as
//! interrupted, what was used is charged, the hold is settled) instead of leaving holds behind.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::watch;

pub struct Streams {
    active: AtomicUsize,
    stop: watch::Sender<bool>,
}

impl Default for Streams {
    fn default() -> Self {
        Self {
            active: AtomicUsize::new(0),
            stop: watch::channel(false).0,
        }
    }
}

impl Streams {
    /// Streams being relayed now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Ends every stream being relayed (and any started later) as interrupted.
    pub fn stop_all(&self) {
        self.stop.send_replace(true);
    }

    /// Counts a stream until the answer is dropped; [`Relaying::stopped`] tells it to end.
    pub fn start(&self) -> Relaying<'_> {
        self.active.fetch_add(1, Ordering::AcqRel);
        Relaying {
            streams: self,
            stop: self.stop.subscribe(),
        }
    }
}

/// One stream being relayed.
pub struct Relaying<'a> {
    streams: &'a Streams,
    stop: watch::Receiver<bool>,
}

impl Relaying<'_> {
    /// Resolves once the instance stops its streams (never, otherwise).
    pub async fn stopped(&mut self) {
        if self.stop.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Relaying<'_> {
    fn drop(&mut self) {
        self.streams.active.fetch_sub(1, Ordering::AcqRel);
    }
}
