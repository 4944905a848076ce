//! `confab-soak`: the soak of `tests/api/soak.rs` for longer, against the server built in this
//! profile (`bench/soak.sh` runs it on the release build). It starts the fake provider and
//! Confab in this process (SQLite in a fresh directory, or `CONFAB_SOAK_DATABASE_URL`), soaks it,
//! verifies every balance and ledger, and prints requests/s and p50/p99 per route and for
//! `/healthz`.
//!
//! `confab-soak [seconds] [clients]` (defaults 60 and 32).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use confab_server::{Application, Settings};
use confab_tests::fake_upstream::FakeUpstream;
use confab_tests::soak::{Plan, World};

#[actix_web::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let secs = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let clients = args.next().and_then(|s| s.parse().ok()).unwrap_or(32);
    match soak(secs, clients).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("confab-soak: {error}");
            ExitCode::from(2)
        }
    }
}

async fn soak(secs: u64, clients: usize) -> Result<bool, Box<dyn std::error::Error>> {
    let data_dir =
        std::env::temp_dir().join(format!("confab-soak-{}", uuid::Uuid::new_v4().simple()));
    let mut settings = Settings::defaults()?;
    settings.server.port = 0;
    settings.data.dir = data_dir.clone();
    settings.log.level = "warn".into();
    // The soak buys through a payment channel, which needs one; the link is never followed.
    settings.server.public_url = "https://shop.confab.test".into();
    if let Ok(url) = std::env::var("CONFAB_SOAK_DATABASE_URL") {
        settings.database.url = url.into();
    }
    let app = Application::build(settings).await?;
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let fake = FakeUpstream::start().await;
    let plan = Plan {
        clients,
        users: 8,
        duration: Duration::from_secs(secs),
        codes: 10_000,
    };
    let world = Arc::new(World::prepare(&address, &fake.url, plan).await);
    let report = world.soak(plan).await;
    println!("{} clients for {secs} s\n{}", clients, report.table());
    for failure in report.failures.iter().take(10) {
        println!("failure: {failure}");
    }
    let problems = world.verify(Duration::from_secs(30)).await;
    for problem in &problems {
        println!("invariant: {problem}");
    }
    if problems.is_empty() {
        println!(
            "invariants: nothing held, every ledger sums to its balance, every balance as the answers say"
        );
    }
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(report.failures.is_empty() && problems.is_empty())
}
