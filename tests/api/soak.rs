//! The soak, bounded: 32 clients over every route that writes for about 15 s, on the database
//! under test, while a prober calls `/healthz`. No 5xx, no unexpected answer, no request that
//! never answers, `/healthz` always answering; afterwards nothing held, every ledger summing to
//! its balance, and every balance what the clients' complete answers say it must be.

use std::sync::Arc;
use std::time::Duration;

use confab_tests::soak::{Plan, World};

use crate::fake_upstream::FakeUpstream;

/// Seconds of load (`CONFAB_SOAK_SECS` to change).
fn soak_secs() -> u64 {
    std::env::var("CONFAB_SOAK_SECS")
        .ok()
        .and_then(|secs| secs.parse().ok())
        .unwrap_or(15)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_clients_over_every_writing_route_keep_every_invariant() {
    let app = crate::helpers::spawn_app_with(|settings| {
        crate::chats::chat_settings(settings);
        // The soak buys through a payment channel; the link is never followed.
        settings.server.public_url = crate::payments::PUBLIC_URL.into();
    })
    .await;
    let fake = FakeUpstream::start().await;
    let plan = Plan {
        clients: 32,
        users: 8,
        duration: Duration::from_secs(soak_secs()),
        codes: 2_000,
    };
    let world = Arc::new(World::prepare(&app.address, &fake.url, plan).await);
    let report = world.soak(plan).await;
    println!("{}", report.table());
    assert!(
        report.failures.is_empty(),
        "{} unexpected answers, first ones: {:#?}",
        report.failures.len(),
        &report.failures[..report.failures.len().min(10)]
    );
    for (route, latencies) in &report.routes {
        assert!(!latencies.0.is_empty(), "{route} was never called");
    }
    assert!(!report.healthz.0.is_empty(), "the prober never ran");
    let problems = world.verify(Duration::from_secs(10)).await;
    assert!(problems.is_empty(), "{problems:#?}");
}
