//! Confab's tables as sea-orm entities, and [`connect`] for SQLite or PostgreSQL.

mod connect;
pub mod entity;

pub use connect::{Backend, connect, sqlite_url_for};
pub use sea_orm;
