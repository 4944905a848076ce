//! One module per table.

pub mod chat;
pub mod file;
pub mod message;
pub mod model;
pub mod provider_key;
pub mod refresh_token;
pub mod session;
pub mod setting;
pub mod usage_record;
pub mod user;
pub mod verification_code;
