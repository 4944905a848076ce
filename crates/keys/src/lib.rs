//! Keys: users' API keys with their limits and counters ([`api_keys`], checked and counted
//! through [`ApiKeys`]); the admin's CRUD over
//! encrypted provider credentials ([`provider_keys`]) and the in-memory pool that picks a key
//! per request and tracks each key's health ([`pool`]).

pub mod api_keys;
mod error;
pub mod pool;
pub mod provider_keys;
mod service;

pub use error::KeysError;
pub use pool::{KeyFailures, KeyPool, Lease};
pub use service::ApiKeys;
