//! Site settings an admin changes at run time. Stored one row per key; read on use, so a change
//! applies to the next request on every instance without a restart.

use confab_store::entity::setting;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};
use serde::{Deserialize, Serialize};

use crate::UsersError;

/// The settings that govern accounts and the site's public face.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SiteSettings {
    pub site_name: String,
    pub registration_enabled: bool,
    pub require_email_verification: bool,
}

impl Default for SiteSettings {
    fn default() -> Self {
        Self {
            site_name: "Confab".into(),
            registration_enabled: true,
            require_email_verification: false,
        }
    }
}

/// A partial update: absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct SiteSettingsPatch {
    pub site_name: Option<String>,
    pub registration_enabled: Option<bool>,
    pub require_email_verification: Option<bool>,
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
