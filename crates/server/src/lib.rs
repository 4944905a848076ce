//! The Confab HTTP server: an actix-web shell over the domain crates.

pub mod auth;
pub mod cluster;
pub mod config;
pub mod cors;
pub mod drain;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod multipart;
pub mod openapi;
pub mod request_id;
pub mod routes;
pub mod secrets;
pub mod security_headers;
pub mod sse;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use config::Settings;
pub use startup::Application;
