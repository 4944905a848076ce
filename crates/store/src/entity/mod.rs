//! One module per table.

pub mod api_key;
pub mod chat;
pub mod check_in;
pub mod credit_account;
pub mod credit_hold;
pub mod file;
pub mod ledger_entry;
pub mod message;
pub mod model;
pub mod payment_channel;
pub mod payment_event;
pub mod payment_order;
pub mod payment_refund;
pub mod product;
pub mod provider_key;
pub mod redemption_batch;
pub mod redemption_code;
pub mod refresh_token;
pub mod session;
pub mod setting;
pub mod usage_record;
pub mod user;
pub mod verification_code;
