//! Confab's tables as sea-orm entities, and [`connect`] for SQLite or PostgreSQL.

mod connect;
mod db;
pub mod entity;
pub mod like;
mod page;
mod write_gate;

pub use connect::{Backend, WAL_AUTOCHECKPOINT_PAGES, connect, sqlite_file_of, sqlite_url_for};
pub use db::{Db, DbTransaction, PoolUse};
pub use page::fetch_page;
pub use sea_orm;
pub use write_gate::WriteGate;
