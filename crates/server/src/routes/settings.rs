use actix_web::web;
use confab_credits::tiers::TierMultipliers;
use confab_users::settings::{SiteSettings, SiteSettingsPatch};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::state::AppState;

/// What any visitor may know about the site, e.g. to show or hide a sign-up form.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicSettings {
    /// The site's name.
    #[schema(example = "Confab")]
    pub site_name: String,
    /// Whether anyone may register.
    pub registration_enabled: bool,
    /// Whether registering needs an e-mailed code.
    pub require_email_verification: bool,
    /// Credits a new account starts with.
    pub registration_reward: i64,
    /// Credits a daily check-in earns.
    pub check_in_reward: i64,
    /// The time zone whose calendar days check-ins count.
    pub time_zone: String,
    /// What each tier pays, in percent of the listed prices.
    pub tier_multipliers: TierMultipliers,
}

/// The site's public settings.
#[utoipa::path(get, path = "/api/v1/settings", operation_id = "getPublicSettings", tag = "settings", responses(
    (status = 200, description = "Public settings", body = PublicSettings)))]
pub async fn public(state: web::Data<AppState>) -> Result<web::Json<PublicSettings>, ApiError> {
    let settings = state.accounts.site_settings(&state.db).await?;
    Ok(web::Json(PublicSettings {
        site_name: settings.site_name,
        registration_enabled: settings.registration_enabled,
        require_email_verification: settings.require_email_verification,
        registration_reward: settings.registration_reward,
        check_in_reward: settings.check_in_reward,
        time_zone: settings.time_zone,
        tier_multipliers: settings.tier_multipliers,
    }))
}

/// All site settings.
#[utoipa::path(get, path = "/api/v1/admin/settings", operation_id = "adminGetSettings", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Settings", body = SiteSettings),
        (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn admin_get(
    state: web::Data<AppState>,
    _admin: Admin,
) -> Result<web::Json<SiteSettings>, ApiError> {
    Ok(web::Json(state.accounts.site_settings(&state.db).await?))
}

/// Change site settings; absent fields keep their value. Applies at once, no restart.
#[utoipa::path(put, path = "/api/v1/admin/settings", operation_id = "adminUpdateSettings", tag = "admin", security(("bearer" = [])),
    request_body = SiteSettingsPatch, responses(
        (status = 200, description = "Settings after the change", body = SiteSettings),
        (status = 400, description = "`invalid_request`, `invalid_body`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn admin_update(
    state: web::Data<AppState>,
    _admin: Admin,
    body: Json<SiteSettingsPatch>,
) -> Result<web::Json<SiteSettings>, ApiError> {
    Ok(web::Json(
        state
            .accounts
            .update_site_settings(&state.db, body.into_inner(), chrono::Utc::now())
            .await?,
    ))
}
