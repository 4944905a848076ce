//! The requests an instance is relaying that hold credits (streams, non-streamed completions,
//! image generations and edits), so a shutdown can wait for them and, once its grace period is
//! over, end the rest: a stream the way a vanished client would (the answer is kept as
//! interrupted, what was used is charged), a provider call not yet answered as failed with
//! nothing charged. Either way the hold is settled instead of being left to the sweeper.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::watch;

pub struct Streams {
    active: Arc<AtomicUsize>,
    stop: watch::Sender<bool>,
}

impl Default for Streams {
    fn default() -> Self {
        Self {
            active: Arc::new(AtomicUsize::new(0)),
            stop: watch::channel(false).0,
        }
    }
}

impl Streams {
    /// Requests being relayed now, from before their hold until it is settled.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Ends every request being relayed (and any started later).
    pub fn stop_all(&self) {
        self.stop.send_replace(true);
    }

    /// Counts a request until the guard is dropped; [`Relaying::stopped`] tells it to end.
    pub fn start(&self) -> Relaying {
        self.active.fetch_add(1, Ordering::AcqRel);
        Relaying {
            active: self.active.clone(),
            stop: self.stop.subscribe(),
        }
    }

    /// Resolves once the instance stops what it relays (never, otherwise).
    pub async fn stopped(&self) {
        wait_for_stop(self.stop.subscribe()).await;
    }
}

async fn wait_for_stop(mut stop: watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// One request being relayed; owned, so it moves into the task that finishes the request.
pub struct Relaying {
    active: Arc<AtomicUsize>,
    stop: watch::Receiver<bool>,
}

impl Relaying {
    /// Resolves once the instance stops what it relays (never, otherwise).
    pub async fn stopped(&mut self) {
        wait_for_stop(self.stop.clone()).await;
    }
}

impl Drop for Relaying {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::AcqRel);
    }
}
