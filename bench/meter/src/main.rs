//! Hold-and-settle cycles per second: the credit work every priced request does, measured
//! without HTTP. Each cycle holds 100 credits on an account and settles a charge of 60, through
//! `confab_credits::holds::Meter` as the server uses it, against a fresh schema.
//!
//! Usage: bench-meter <database-url> <accounts> <concurrency> <seconds>
//! Prints one line: settled charges per second, cycle latency p50/p99/p99.9, and whether the
//! ledger still sums to every balance afterwards.
// A benchmark tool: a histogram that cannot be built is a bug worth a panic.
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use confab_credits::holds::{Charge, Meter};
use confab_migration::{Migrator, MigratorTrait};

use confab_store::Db;
use hdrhistogram::Histogram;
use rand::Rng;
use sea_orm::{ConnectionTrait, Statement};

const START_BALANCE: i64 = 1_000_000_000_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, accounts, concurrency, secs] = args.as_slice() else {
        return Err("usage: bench-meter <database-url> <accounts> <concurrency> <seconds>".into());
    };
    let accounts: i64 = accounts.parse()?;
    let concurrency: usize = concurrency.parse()?;
    let secs: u64 = secs.parse()?;
    let pool = u32::try_from(concurrency).unwrap_or(64).clamp(4, 64);
    let db = confab_store::connect(url, pool).await?;
    Migrator::fresh(db.connection()).await?;
    seed(&db, accounts).await?;
    // As the server builds it.
    let mut meter = Meter::new(db.clone(), Duration::from_secs(900));
    meter = meter.with_writers(confab_store::sqlite_file_of(url).as_deref())?;

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let meter = meter.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
            let mut failures = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let user = if accounts == 1 {
                    1
                } else {
                    rand::rng().random_range(1..=accounts)
                };
                let began = Instant::now();
                let now = chrono::Utc::now();
                match meter.hold(user, None, 100, "bench", now).await {
                    Ok(Some(hold)) => {
                        let charge = Charge {
                            cost: 60,
                            reason: "bench".into(),
                            reference: "bench".into(),
                        };
                        if meter
                            .settle(hold, charge, chrono::Utc::now())
                            .await
                            .is_err()
                        {
                            failures += 1;
                            continue;
                        }
                    }
                    _ => {
                        failures += 1;
                        continue;
                    }
                }
                let micros = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
                latency.saturating_record(micros);
            }
            (latency, failures)
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut failures = 0;
    for task in tasks {
        let (h, f) = task.await?;
        for value in h.iter_recorded() {
            latency.record_n(value.value_iterated_to(), value.count_at_value())?;
        }
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cycles = latency.len();
    let consistent = ledger_matches(&db, accounts).await?;
    println!(
        "accounts={accounts} concurrency={concurrency} settled/s={:.0} p50={:.3}ms p99={:.3}ms p99.9={:.3}ms cycles={cycles} failures={failures} ledger_sums_to_balances={consistent}",
        cycles as f64 / elapsed,
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        latency.value_at_quantile(0.999) as f64 / 1000.0,
    );
    Ok(())
}

/// Accounts 1..=n with a large balance, and the opening entry that makes the ledger sum to it.
async fn seed(db: &Db, accounts: i64) -> Result<(), sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let now = chrono::Utc::now();
    for first in (1..=accounts).step_by(500) {
        let last = (first + 499).min(accounts);
        let rows: Vec<String> = (first..=last)
            .map(|id| format!("({id}, {START_BALANCE}, 0, 'free', '{}')", now.to_rfc3339()))
            .collect();
        db.execute_raw(Statement::from_string(
            backend,
            format!(
                "INSERT INTO credit_accounts (user_id, balance, held, tier, updated_at) VALUES {}",
                rows.join(", ")
            ),
        ))
        .await?;
        let entries: Vec<String> = (first..=last)
            .map(|id| {
                format!(
                    "({id}, 'adjustment', {START_BALANCE}, {START_BALANCE}, 'bench', 'bench-open:{id}', {}, '{}')",
                    now.timestamp_millis(),
                    now.to_rfc3339()
                )
            })
            .collect();
        db.execute_raw(Statement::from_string(
            backend,
            format!(
                "INSERT INTO ledger_entries (user_id, kind, amount, balance_after, reason, idempotency_key, created_ms, created_at) VALUES {}",
                entries.join(", ")
            ),
        ))
        .await?;
    }
    Ok(())
}

/// Whether every account's balance equals the sum of its entries and nothing is left held.
async fn ledger_matches(db: &Db, accounts: i64) -> Result<bool, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS bad FROM credit_accounts a WHERE a.held <> 0 OR a.balance <> \
             (SELECT CAST(COALESCE(SUM(e.amount), 0) AS BIGINT) FROM ledger_entries e WHERE e.user_id = a.user_id)"
                .to_owned(),
        ))
        .await?;
    let bad: i64 = match row {
        Some(row) => row.try_get("", "bad")?,
        None => accounts,
    };
    Ok(bad == 0)
}
