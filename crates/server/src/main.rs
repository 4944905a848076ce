use std::process::ExitCode;

use confab_server::{Application, Settings, openapi, telemetry};

// mimalloc returns freed memory to the system: with glibc's malloc the 19 MiB an argon2 hash
// takes stays resident in each thread's arena long after the login is over.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => serve().await,
        Some("openapi") => match serde_json::to_string_pretty(&openapi::document()) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("cannot render the OpenAPI document: {err}");
                ExitCode::FAILURE
            }
        },
        Some(other) => {
            eprintln!("unknown command {other:?}; usage: confab [serve|openapi]");
            ExitCode::from(2)
        }
    }
}

async fn serve() -> ExitCode {
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("confab: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!("confab could not start: {err}");
            return ExitCode::FAILURE;
        }
    };
    app.drain_on_signals();
    match app.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("confab stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!("confab stopped with an error: {err}");
            ExitCode::FAILURE
        }
    }
}
