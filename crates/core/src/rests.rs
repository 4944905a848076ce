//! Provider keys that rest (after a 429, a 5xx, a timeout): one instance that finds a key
//! failing makes every instance rest it. One instance has nobody to tell ([`LocalRests`]);
//! several share the rests through Redis.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
pub trait SharedRests: Send + Sync + 'static {
    /// Records that key `key_id` rests until `until`, for every instance (a later end wins).
    async fn rest(&self, key_id: i64, until: DateTime<Utc>);
    /// The rests recorded by any instance that have not ended by `now` (empty when they
    /// cannot be read: each instance still rests what it saw fail itself).
    async fn resting(&self, now: DateTime<Utc>) -> Vec<(i64, DateTime<Utc>)>;
}

/// A single instance: its own rests are all there are.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalRests;

#[async_trait]
impl SharedRests for LocalRests {
    async fn rest(&self, _key_id: i64, _until: DateTime<Utc>) {}

    async fn resting(&self, _now: DateTime<Utc>) -> Vec<(i64, DateTime<Utc>)> {
        Vec::new()
    }
}
