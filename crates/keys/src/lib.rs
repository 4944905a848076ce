//! Provider keys: the admin's CRUD over encrypted credentials ([`provider_keys`]) and the
//! in-memory pool that picks a key per request and tracks each key's health ([`pool`]).

mod error;
pub mod pool;
pub mod provider_keys;

pub use error::KeysError;
pub use pool::{KeyPool, Lease};
