//! The tests' fake OpenAI-speaking provider as a process of its own, for checks that drive a
//! separately started server (tests/ts-client/run.sh). Prints `url=<base URL>` once it listens,
//! then serves until killed.

use std::io::Write;

use confab_tests::fake_upstream::FakeUpstream;

#[actix_web::main]
async fn main() {
    let fake = FakeUpstream::start().await;
    println!("url={}", fake.url);
    let _ = std::io::stdout().flush();
    std::future::pending::<()>().await;
}
