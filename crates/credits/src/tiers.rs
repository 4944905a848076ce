//! Tiers: free, vip and svip, a paid tier lasting until its expiry. A model's `min_tier` (0 free,
//! 1 vip, 2 svip) is compared with the caller's tier as it is now.

use chrono::{DateTime, Duration, Utc};
use confab_store::entity::{credit_account, setting};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::CreditsError;
use crate::ledger::{self, Credits};
use crate::pricing::{Prices, Rate};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
/// A membership tier: prices are multiplied by its percentage, and models may require one.
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Free,
    Vip,
    Svip,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Vip => "vip",
            Tier::Svip => "svip",
        }
    }

    /// What a model's `min_tier` is compared with.
    pub fn rank(self) -> i32 {
        match self {
            Tier::Free => 0,
            Tier::Vip => 1,
            Tier::Svip => 2,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Tier::Free, Tier::Vip, Tier::Svip]
            .into_iter()
            .find(|t| t.as_str() == s)
    }

    /// The tier an account has at `now`: a paid tier past its expiry is free again.
    pub fn of(tier: &str, expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Self {
        match (Tier::parse(tier), expires_at) {
            (Some(Tier::Free) | None, _) => Tier::Free,
            (Some(_), Some(expiry)) if expiry <= now => Tier::Free,
            (Some(paid), _) => paid,
        }
    }
}

/// The user's tier now (free when they have no account row yet).
pub async fn tier_of(
    db: &impl ConnectionTrait,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<Tier, CreditsError> {
    Ok(credit_account::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .map_or(Tier::Free, |row| {
            Tier::of(&row.tier, row.tier_expires_at, now)
        }))
}

/// What each tier pays, in percent of the catalog prices (100 = list price). A setting an admin
/// changes at run time; the users crate stores it with the other settings under this key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierMultipliers {
    /// Percentage of list price for free accounts.
    #[schema(minimum = 0, maximum = 1000)]
    pub free: u32,
    /// Percentage for vip.
    #[schema(minimum = 0, maximum = 1000)]
    pub vip: u32,
    /// Percentage for svip.
    #[schema(minimum = 0, maximum = 1000)]
    pub svip: u32,
}

impl Default for TierMultipliers {
    fn default() -> Self {
        Self {
            free: 100,
            vip: 100,
            svip: 100,
        }
    }
}

impl TierMultipliers {
    pub const SETTING: &'static str = "tier_multipliers";
    /// Largest percentage an admin may set (10x the list price).
    pub const MAX_PERCENT: u32 = 1000;

    pub fn percent(&self, tier: Tier) -> u32 {
        match tier {
            Tier::Free => self.free,
            Tier::Vip => self.vip,
            Tier::Svip => self.svip,
        }
    }

    pub fn is_valid(&self) -> bool {
        [self.free, self.vip, self.svip]
            .iter()
            .all(|p| *p <= Self::MAX_PERCENT)
    }

    /// The stored setting, or list prices for everyone when none (or a malformed one) is set.
    pub async fn load(db: &impl ConnectionTrait) -> Result<Self, CreditsError> {
        Ok(Self::from_setting(
            setting::Entity::find_by_id(Self::SETTING)
                .one(db)
                .await?
                .map(|row| row.value),
        ))
    }

    /// The setting's stored value read as multipliers (list prices when absent or malformed).
    pub fn from_setting(value: Option<serde_json::Value>) -> Self {
        value
            .and_then(|value| serde_json::from_value::<Self>(value).ok())
            .filter(Self::is_valid)
            .unwrap_or_default()
    }

    /// What `prices` cost at `tier`.
    pub fn rate(&self, prices: Prices, tier: Tier) -> Rate {
        Rate {
            prices,
            percent: self.percent(tier),
        }
    }
}

/// The caller's tier now and what they pay for `prices` at it. Free models cost no lookup
/// beyond the tier's (and none when the model needs no tier).
pub async fn rate_for(
    db: &impl ConnectionTrait,
    user_id: i64,
    prices: Prices,
    min_tier: i32,
    now: DateTime<Utc>,
) -> Result<(Tier, Rate), CreditsError> {
    if prices.is_free() {
        let tier = if min_tier > 0 {
            tier_of(db, user_id, now).await?
        } else {
            Tier::Free
        };
        return Ok((tier, Rate::full(prices)));
    }
    let tier = tier_of(db, user_id, now).await?;
    let multipliers = TierMultipliers::load(db).await?;
    Ok((tier, multipliers.rate(prices, tier)))
}

/// An admin sets a user's tier, until `expires_at` (or for good when `None`).
pub async fn set_tier(
    db: &impl ConnectionTrait,
    user_id: i64,
    tier: Tier,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Credits, CreditsError> {
    ledger::ensure_user(db, user_id).await?;
    if expires_at.is_some_and(|expiry| expiry <= now) {
        return Err(CreditsError::Invalid(
            "expires_at",
            "expires_at must be in the future".into(),
        ));
    }
    let expires_at = if tier == Tier::Free { None } else { expires_at };
    ledger::ensure_account(db, user_id, now).await?;
    credit_account::Entity::update_many()
        .col_expr(credit_account::Column::Tier, Expr::value(tier.as_str()))
        .col_expr(
            credit_account::Column::TierExpiresAt,
            Expr::value(expires_at),
        )
        .col_expr(credit_account::Column::UpdatedAt, Expr::value(now))
        .filter(credit_account::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    ledger::credits(db, user_id).await
}

/// Days of a tier: added to the same tier's time left, or starting now over a lower tier. A
/// higher tier still running is not cut short; the code is refused and stays unused.
pub async fn grant_days(
    txn: &impl ConnectionTrait,
    user_id: i64,
    tier: Tier,
    days: i64,
    now: DateTime<Utc>,
) -> Result<(), CreditsError> {
    ledger::ensure_account(txn, user_id, now).await?;
    // Locked (PostgreSQL), so two grants at once each add their days.
    let account = credit_account::Entity::find_by_id(user_id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(CreditsError::UserNotFound)?;
    let current = Tier::of(&account.tier, account.tier_expires_at, now);
    let expires_at = if current == tier {
        // A permanent tier (no expiry) has nothing to extend.
        account
            .tier_expires_at
            .map(|expiry| Ord::max(expiry, now) + Duration::days(days))
    } else if current < tier {
        Some(now + Duration::days(days))
    } else {
        return Err(CreditsError::HigherTierActive(current.as_str()));
    };
    credit_account::Entity::update_many()
        .col_expr(credit_account::Column::Tier, Expr::value(tier.as_str()))
        .col_expr(
            credit_account::Column::TierExpiresAt,
            Expr::value(expires_at),
        )
        .col_expr(credit_account::Column::UpdatedAt, Expr::value(now))
        .filter(credit_account::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Takes back up to `days` of the account's paid tier time (a refund of tier days), never
/// ending it before `now`; returns the days taken. A permanent tier has no time to take.
pub async fn take_days(
    txn: &impl ConnectionTrait,
    user_id: i64,
    days: i64,
    now: DateTime<Utc>,
) -> Result<i64, CreditsError> {
    let Some(account) = credit_account::Entity::find_by_id(user_id)
        .lock_exclusive()
        .one(txn)
        .await?
    else {
        return Ok(0);
    };
    let Some(expiry) = account.tier_expires_at.filter(|expiry| *expiry > now) else {
        return Ok(0);
    };
    let taken = Ord::min(days, (expiry - now).num_days());
    if taken <= 0 {
        return Ok(0);
    }
    credit_account::Entity::update_many()
        .col_expr(
            credit_account::Column::TierExpiresAt,
            Expr::value(expiry - Duration::days(taken)),
        )
        .col_expr(credit_account::Column::UpdatedAt, Expr::value(now))
        .filter(credit_account::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paid_tiers_lapse_at_expiry() {
        let now = Utc::now();
        let later = now + chrono::Duration::days(1);
        let earlier = now - chrono::Duration::seconds(1);
        assert_eq!(Tier::of("vip", Some(later), now), Tier::Vip);
        assert_eq!(Tier::of("svip", None, now), Tier::Svip);
        assert_eq!(Tier::of("vip", Some(earlier), now), Tier::Free);
        assert_eq!(Tier::of("free", Some(later), now), Tier::Free);
        assert_eq!(Tier::of("gold", None, now), Tier::Free);
        assert!(Tier::Svip.rank() > Tier::Vip.rank());
    }
}
