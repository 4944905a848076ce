//! Provider keys that rest (after a 429, a 5xx, a timeout): one instance that finds a key
//! failing makes every instance rest it, the backoff doubles with the failures of all of them
//! (one streak), and a key's daily token limit counts the tokens all of them used. One instance
//! has nobody to tell ([`LocalRests`]: it counts on its own); several share these through Redis.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
pub trait SharedRests: Send + Sync + 'static {
    /// Records that key `key_id` rests until `until`, for every instance (a later end wins).
    async fn rest(&self, key_id: i64, until: DateTime<Utc>);
    /// The rests recorded by any instance that have not ended by `now` (empty when they
    /// cannot be read: each instance still rests what it saw fail itself).
    async fn resting(&self, now: DateTime<Utc>) -> Vec<(i64, DateTime<Utc>)>;
    /// Adds a failure to key `key_id`'s streak, which every instance extends and a success
    /// anywhere ends; forgotten `keep` after its last failure. Answers the streak's length, or
    /// `None` when there is no shared streak (or it cannot be read): the caller counts its own.
    async fn streak_failed(&self, key_id: i64, keep: Duration) -> Option<u32>;
    /// Ends key `key_id`'s failure streak for every instance.
    async fn streak_ended(&self, key_id: i64);
    /// Adds `tokens` to what key `key_id` used on `day` (UTC days since the epoch) across
    /// instances; answers the day's total so far, or `None` without a shared count (or when it
    /// cannot be read): the caller counts its own.
    async fn add_tokens(&self, key_id: i64, day: i64, tokens: u64) -> Option<u64>;
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

    async fn streak_failed(&self, _key_id: i64, _keep: Duration) -> Option<u32> {
        None
    }

    async fn streak_ended(&self, _key_id: i64) {}

    async fn add_tokens(&self, _key_id: i64, _day: i64, _tokens: u64) -> Option<u64> {
        None
    }
}
