//! One module per table.

pub mod refresh_token;
pub mod session;
pub mod setting;
pub mod user;
pub mod verification_code;
