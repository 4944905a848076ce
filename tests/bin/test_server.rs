//! The real server as a child process, for tests that kill it (tests/api/crash.rs) or read its logs (tests/api/logs.rs). Settings
//! come from the environment as for `confab`; it prints `port=N` once it listens, and logs to
//! stdout as `confab` does.

use std::io::Write;
use std::process::ExitCode;

use confab_server::{Application, Settings};

#[actix_web::main]
async fn main() -> ExitCode {
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("test server: {error}");
            return ExitCode::from(2);
        }
    };
    // Logs go to stdout, after the port line (tests/api/logs.rs reads them).
    confab_server::telemetry::init(&settings.log);
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("test server: {error}");
            return ExitCode::FAILURE;
        }
    };
    app.drain_on_signals();
    println!("port={}", app.port());
    let _ = std::io::stdout().flush();
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
