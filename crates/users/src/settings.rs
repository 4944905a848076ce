//! Site settings an admin changes at run time. Stored one row per key; read on use, so a change
//! applies to the next request on every instance without a restart. A single instance keeps
//! them in memory ([`Accounts::site_settings`]) since it sees every change.

use std::sync::RwLock;

use confab_core::Generation;
use confab_credits::tiers::TierMultipliers;
use confab_store::entity::setting;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};
use serde::{Deserialize, Serialize};

use crate::{Accounts, UsersError};

/// The settings that govern accounts and the site's public face.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SiteSettings {
    /// The site's name, 1 to 64 characters.
    pub site_name: String,
    /// Whether anyone may register.
    pub registration_enabled: bool,
    /// Whether registering needs an e-mailed code.
    pub require_email_verification: bool,
    /// Credits a new account starts with.
    pub registration_reward: i64,
    /// Credits a daily check-in earns.
    pub check_in_reward: i64,
    /// The IANA time zone whose calendar days check-ins count (e.g. `Asia/Shanghai`).
    pub time_zone: String,
    /// What each tier pays, in percent of the catalog prices.
    pub tier_multipliers: TierMultipliers,
}

impl Default for SiteSettings {
    fn default() -> Self {
        Self {
            site_name: "Confab".into(),
            registration_enabled: true,
            require_email_verification: false,
            registration_reward: 0,
            check_in_reward: 0,
            time_zone: "UTC".into(),
            tier_multipliers: TierMultipliers::default(),
        }
    }
}

impl SiteSettings {
    /// The site's time zone (UTC if the stored name is unknown, which updates refuse).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }
}

/// Largest reward an admin may set, so sums stay far from overflow.
const MAX_REWARD: i64 = 1_000_000_000;

/// A partial update: absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct SiteSettingsPatch {
    /// The site's name, 1 to 64 characters.
    #[schema(pattern = r"^\s*\S([\s\S]{0,62}\S)?\s*$")]
    pub site_name: Option<String>,
    /// Whether anyone may register.
    pub registration_enabled: Option<bool>,
    /// Whether registering needs an e-mailed code.
    pub require_email_verification: Option<bool>,
    /// 0 to 1,000,000,000.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub registration_reward: Option<i64>,
    /// 0 to 1,000,000,000.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub check_in_reward: Option<i64>,
    /// An IANA time zone name.
    #[schema(schema_with = time_zone_schema)]
    pub time_zone: Option<String>,
    /// Percentages 0 to 1000 (100 = list price).
    pub tier_multipliers: Option<TierMultipliers>,
}

/// Marks that the first admin exists; inserting it twice fails, which serialises setup.
pub(crate) const SETUP_MARKER: &str = "setup_completed_at";

pub async fn load(db: &impl ConnectionTrait) -> Result<SiteSettings, UsersError> {
    let mut settings = SiteSettings::default();
    for row in setting::Entity::find().all(db).await? {
        let value = row.value;
        match row.key.as_str() {
            "site_name" => {
                if let Some(name) = value.as_str() {
                    settings.site_name = name.to_owned();
                }
            }
            "registration_enabled" => {
                if let Some(flag) = value.as_bool() {
                    settings.registration_enabled = flag;
                }
            }
            "require_email_verification" => {
                if let Some(flag) = value.as_bool() {
                    settings.require_email_verification = flag;
                }
            }
            "registration_reward" => {
                if let Some(n) = value.as_i64() {
                    settings.registration_reward = n;
                }
            }
            "check_in_reward" => {
                if let Some(n) = value.as_i64() {
                    settings.check_in_reward = n;
                }
            }
            "time_zone" => {
                if let Some(zone) = value.as_str() {
                    settings.time_zone = zone.to_owned();
                }
            }
            TierMultipliers::SETTING => {
                if let Ok(multipliers) = serde_json::from_value::<TierMultipliers>(value)
                    && multipliers.is_valid()
                {
                    settings.tier_multipliers = multipliers;
                }
            }
            _ => {}
        }
    }
    Ok(settings)
}

pub async fn update(
    db: &impl ConnectionTrait,
    patch: SiteSettingsPatch,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<SiteSettings, UsersError> {
    let mut rows = Vec::new();
    if let Some(name) = patch.site_name {
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(UsersError::InvalidField(
                "site_name",
                "site_name must be 1 to 64 characters",
            ));
        }
        rows.push(("site_name", serde_json::Value::String(name)));
    }
    if let Some(flag) = patch.registration_enabled {
        rows.push(("registration_enabled", serde_json::Value::Bool(flag)));
    }
    if let Some(flag) = patch.require_email_verification {
        rows.push(("require_email_verification", serde_json::Value::Bool(flag)));
    }
    for (key, reward) in [
        ("registration_reward", patch.registration_reward),
        ("check_in_reward", patch.check_in_reward),
    ] {
        if let Some(reward) = reward {
            if !(0..=MAX_REWARD).contains(&reward) {
                let message = if key == "registration_reward" {
                    "registration_reward must be between 0 and 1000000000 credits"
                } else {
                    "check_in_reward must be between 0 and 1000000000 credits"
                };
                return Err(UsersError::InvalidField(key, message));
            }
            rows.push((key, serde_json::Value::from(reward)));
        }
    }
    if let Some(zone) = patch.time_zone {
        if zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(UsersError::InvalidField(
                "time_zone",
                "time_zone must be an IANA time zone name such as Asia/Shanghai or UTC",
            ));
        }
        rows.push(("time_zone", serde_json::Value::String(zone)));
    }
    if let Some(multipliers) = patch.tier_multipliers {
        if !multipliers.is_valid() {
            return Err(UsersError::InvalidField(
                "tier_multipliers",
                "tier multipliers are percentages from 0 to 1000 (100 = list price)",
            ));
        }
        rows.push((TierMultipliers::SETTING, serde_json::json!(multipliers)));
    }
    for (key, value) in rows {
        setting::Entity::insert(setting::ActiveModel {
            key: Set(key.to_owned()),
            value: Set(value),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(setting::Column::Key)
                .update_columns([setting::Column::Value, setting::Column::UpdatedAt])
                .to_owned(),
        )
        .exec(db)
        .await?;
    }
    load(db).await
}

/// The settings as last read, for a single instance (several instances read them on use).
pub(crate) struct SiteCache {
    enabled: bool,
    pub(crate) changed: Generation,
    value: RwLock<Option<(u64, SiteSettings)>>,
}

impl SiteCache {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            changed: Generation::default(),
            value: RwLock::new(None),
        }
    }
}

impl Accounts {
    /// The site's settings: from memory on a single instance, else from the database.
    pub async fn site_settings(
        &self,
        db: &impl ConnectionTrait,
    ) -> Result<SiteSettings, UsersError> {
        let cache = &self.site_cache;
        if !cache.enabled {
            return load(db).await;
        }
        self.sync_cached().await;
        let generation = cache.changed.current();
        {
            let value = cache.value.read().unwrap_or_else(|p| p.into_inner());
            if let Some((read_at, settings)) = value.as_ref()
                && *read_at == generation
            {
                return Ok(settings.clone());
            }
        }
        let settings = load(db).await?;
        *cache.value.write().unwrap_or_else(|p| p.into_inner()) =
            Some((generation, settings.clone()));
        Ok(settings)
    }

    /// Changes settings (see [`update`]); the next read anywhere in this process sees them.
    pub async fn update_site_settings(
        &self,
        db: &impl ConnectionTrait,
        patch: SiteSettingsPatch,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<SiteSettings, UsersError> {
        let result = update(db, patch, now).await;
        // Even a failed update may have written some rows.
        self.changed().await;
        result
    }
}

/// `time_zone` in the document: one of the IANA names the server knows.
fn time_zone_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name())))
        .description(Some(
            "An IANA time zone: the site's days (check-ins, key limits, reports).",
        ))
        .examples(["Asia/Shanghai"])
        .build()
}
