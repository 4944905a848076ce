//! Graceful shutdown. On SIGTERM (or SIGINT) an instance stops taking requests (each new one is
//! answered 503 with `Connection: close`, so a load balancer or client goes elsewhere; `/readyz`
//! says so, `/healthz` stays 200), lets every request that holds credits (streams, non-streamed
//! completions, image generations and edits) finish for up to the grace period
//! (`server.shutdown_timeout_secs`), then ends the rest: streams as interrupted (what they used
//! is charged), provider calls not yet answered as failed (nothing charged). Their holds are
//! settled before the process exits: nothing is left to the sweeper.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};
use confab_chats::Relay;
use confab_core::Code;

use crate::error::ApiError;
use crate::state::AppState;

/// How long stopped requests get to store their answers and settle.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// Whether this instance is shutting down.
#[derive(Debug, Default)]
pub struct Drain {
    draining: AtomicBool,
}

impl Drain {
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    fn begin(&self) {
        self.draining.store(true, Ordering::Release);
    }
}

/// Refuses every request but liveness once the instance drains.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let draining = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|state| state.drain.is_draining());
    if draining && req.path() != "/healthz" {
        let mut response = ApiError::new(
            Code::ServiceUnavailable,
            "this instance is shutting down; try again",
        )
        .error_response();
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// What a shutdown acts on.
pub struct Shutdown {
    pub drain: Arc<Drain>,
    pub relay: Arc<Relay>,
    pub server: ServerHandle,
    pub grace: Duration,
}

impl Shutdown {
    /// Drains when SIGTERM or SIGINT arrives (the binaries call this; in-process test servers
    /// do not, so a test run keeps its own signal handling).
    pub fn on_signals(self) {
        tokio::spawn(async move {
            wait_for_signal().await;
            self.run().await;
        });
    }

    /// Refuses new requests, waits for those holding credits, stops what is left, stops the
    /// server.
    pub async fn run(self) {
        self.drain.begin();
        let relaying = &self.relay.streams;
        tracing::info!(
            relaying = relaying.active(),
            grace_secs = self.grace.as_secs(),
            "shutting down: refusing new requests, letting relayed requests finish"
        );
        if !until_idle(&self.relay, self.grace).await {
            tracing::warn!(
                relaying = relaying.active(),
                "grace period over: ending the relayed requests still open"
            );
            relaying.stop_all();
            if !until_idle(&self.relay, SETTLE_LIMIT).await {
                tracing::error!(
                    relaying = relaying.active(),
                    "relayed requests did not settle; their holds are released by the sweeper"
                );
            }
        }
        self.relay.usage.flush().await;
        self.server.stop(true).await;
    }
}

/// Waits up to `limit` for the relay to have no request; answers whether it has none.
async fn until_idle(relay: &Relay, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while relay.streams.active() > 0 {
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM; only SIGINT drains");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
