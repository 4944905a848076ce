//! Credits: the ledger ([`ledger`]), what a request costs ([`pricing`]) and the record every
//! request leaves ([`usage`]).

pub mod check_ins;
mod error;
pub mod holds;
pub mod ledger;
pub mod pricing;
pub mod reports;
pub mod tiers;
pub mod usage;

pub use error::CreditsError;
pub use pricing::Prices;
pub use usage::{NewUsage, UsageWriter};
