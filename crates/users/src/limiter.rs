//! The attempt limiter the accounts service counts logins and codes with (it lives in
//! `confab-core`, where the credits' redemption throttle and the shared Redis one find it too).

pub use confab_core::limiter::{FailureLimiter, InMemoryLimiter, Refusal};
