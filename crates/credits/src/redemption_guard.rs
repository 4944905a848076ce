//! Card codes against guessing: every redemption is counted per user and per address before
//! the code is looked at (so no burst gets more guesses past the limit), and one that was not a
//! failed guess is given back. The counts live behind [`FailureLimiter`]: in process for one
//! instance, in Redis for several.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use confab_core::{FailureLimiter, Refusal};
use sea_orm::{ConnectionTrait, TransactionTrait};

use crate::CreditsError;
use crate::redemptions::{self, Redeemed};

/// How many failed redemptions are allowed in a window before the caller must wait.
#[derive(Debug, Clone, Copy)]
pub struct RedemptionLimits {
    /// Failed redemptions per user.
    pub per_user: u32,
    /// Failed redemptions per address, whoever the users.
    pub per_address: u32,
    /// The window both are counted in.
    pub window: Duration,
}

impl Default for RedemptionLimits {
    fn default() -> Self {
        Self {
            per_user: 10,
            per_address: 100,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Who redeems: the account, and the address the request came from.
#[derive(Debug, Clone, Copy)]
pub struct Redeemer<'a> {
    pub user_id: i64,
    pub address: Option<&'a str>,
}

/// Redeems card codes under [`RedemptionLimits`].
pub struct GuardedRedemptions {
    limiter: Arc<dyn FailureLimiter>,
    limits: RedemptionLimits,
}

impl GuardedRedemptions {
    pub fn new(limiter: Arc<dyn FailureLimiter>, limits: RedemptionLimits) -> Self {
        Self { limiter, limits }
    }

    /// Redeems `code` for `who` (see [`redemptions::redeem`]); 429 `rate_limited` once the
    /// user's or the address's failures fill the window, 503 when they cannot be counted.
    pub async fn redeem<C>(
        &self,
        db: &C,
        who: Redeemer<'_>,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Redeemed, CreditsError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let (user_key, address_key) = (
            format!("redeem:user:{}", who.user_id),
            format!("redeem:ip:{}", who.address.unwrap_or("unknown")),
        );
        let counts = [
            (user_key.as_str(), self.limits.per_user),
            (address_key.as_str(), self.limits.per_address),
        ];
        self.limiter
            .attempt_all(&counts, self.limits.window)
            .await
            .map_err(|refusal| match refusal {
                Refusal::Full { retry_after_secs } => {
                    CreditsError::TooManyFailures(retry_after_secs)
                }
                Refusal::Unavailable => CreditsError::LimiterUnavailable,
            })?;
        let result = redemptions::redeem(db, who.user_id, code, now).await;
        if !result.as_ref().is_err_and(CreditsError::is_failed_guess) {
            self.limiter.release_all(&[&user_key, &address_key]).await;
        }
        result
    }
}
