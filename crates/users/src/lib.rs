//! Accounts for Confab: registration and setup, password and email-code login, access tokens
//! (JWT) and rotating refresh tokens grouped in sessions, verification codes, and the admin
//! operations on users. Everything takes a `&impl ConnectionTrait` so callers may compose it in
//! their own transactions.

pub mod accounts;
pub mod admin;
mod auth_cache;
pub mod codes;
pub mod error;
pub mod limiter;
pub mod mailer;
pub mod model;
pub mod password;
pub mod service;
pub mod sessions;
pub mod settings;
pub mod tokens;
pub mod validate;

pub use error::UsersError;
pub use model::{Role, User, UserStatus};
pub use service::{Accounts, AuthConfig, ClientInfo};
