//! Credits: the ledger ([`ledger`]), holds on it for requests in flight ([`holds`]), what a
//! request costs ([`pricing`], [`tiers`]), check-ins and card codes ([`check_ins`],
//! [`redemptions`], guarded against guessing by [`redemption_guard`]), the record every request leaves ([`usage`]) and reports over them
//! ([`reports`]).

pub mod check_ins;
mod error;
pub mod holds;
pub mod ledger;
pub mod pricing;
pub mod redemption_guard;
pub mod redemptions;
pub mod reports;
pub mod tiers;
pub mod usage;

pub use error::CreditsError;
pub use pricing::Prices;
pub use usage::{NewUsage, UsageObserver, UsageWriter};
