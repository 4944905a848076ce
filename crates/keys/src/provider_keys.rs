//! The admin's provider keys: validated, the secret sealed with AES-256-GCM before it is stored,
//! and shown only as a hint.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use confab_core::{Page, PageRequest, SecretBox};
use confab_providers::ProviderKind;
use confab_store::entity::provider_key;
use confab_store::fetch_page;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};

use crate::KeysError;

/// Associated data binding the ciphertexts to this column.
pub const SECRET_PURPOSE: &str = "provider_key";

/// Whether a provider key takes traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Enabled,
    Disabled,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Enabled => "enabled",
            KeyStatus::Disabled => "disabled",
        }
    }
}

/// A key to add. `models` are catalog (public) names; `deployments` maps them to Azure
/// deployment names where those differ.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProviderKey {
    /// 1 to 64 characters (trimmed), unique.
    #[schema(pattern = r"^\s*\S([\s\S]{0,62}\S)?\s*$")]
    pub name: String,
    /// Which provider API the key speaks.
    pub kind: ProviderKind,
    /// Defaults per kind (OpenAI, Stability, local Ollama); required for Azure.
    #[schema(max_length = 512, pattern = r"^\s*(https?://\S*)?\s*$")]
    pub base_url: Option<String>,
    /// Write-only. May be empty for a bare Ollama.
    #[serde(default)]
    #[schema(max_length = 4096, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub api_key: String,
    /// Azure `api-version` (default 2024-10-21).
    pub api_version: Option<String>,
    /// Catalog model names this key serves: 1 to 200.
    #[schema(schema_with = models_schema::<false>)]
    pub models: Vec<String>,
    /// Azure: model name -> deployment name.
    #[serde(default)]
    pub deployments: BTreeMap<String, String>,
    /// Higher is tried first (default 0).
    #[schema(minimum = -1000, maximum = 1000)]
    pub priority: Option<i32>,
    /// Share of traffic among keys of equal priority (default 1).
    #[schema(minimum = 1, maximum = 1000)]
    pub weight: Option<i32>,
    /// `enabled` (default) or `disabled`.
    pub status: Option<KeyStatus>,
    /// Requests per minute this key may take (per instance); 0 or absent: no limit.
    #[schema(minimum = 0, maximum = 1000000)]
    pub rpm_limit: Option<i32>,
    /// Tokens per UTC day (per instance); 0 or absent: no limit.
    #[schema(minimum = 0)]
    pub daily_token_limit: Option<i64>,
}

/// A change; absent fields stay. Setting `status` to enabled clears the disabled reason.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderKeyPatch {
    /// 1 to 64 characters (trimmed), unique.
    #[schema(pattern = r"^\s*\S([\s\S]{0,62}\S)?\s*$")]
    pub name: Option<String>,
    /// The provider's base URL.
    #[schema(max_length = 512, pattern = r"^\s*(https?://\S*)?\s*$")]
    pub base_url: Option<String>,
    /// A new secret (write-only).
    #[schema(max_length = 4096, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub api_key: Option<String>,
    /// Azure `api-version`.
    pub api_version: Option<String>,
    /// 1 to 200 catalog model names.
    #[schema(schema_with = models_schema::<true>)]
    pub models: Option<Vec<String>>,
    /// Azure: model name -> deployment name.
    pub deployments: Option<BTreeMap<String, String>>,
    /// Higher is tried first: -1000 to 1000.
    #[schema(minimum = -1000, maximum = 1000)]
    pub priority: Option<i32>,
    /// Share of traffic among keys of equal priority: 1 to 1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub weight: Option<i32>,
    /// `enabled` clears the disabled reason.
    pub status: Option<KeyStatus>,
    /// Requests per minute; 0: no limit.
    #[schema(minimum = 0, maximum = 1000000)]
    pub rpm_limit: Option<i32>,
    /// Tokens per UTC day; 0: no limit.
    #[schema(minimum = 0)]
    pub daily_token_limit: Option<i64>,
}

/// A key as admins see it: never the secret, only its hint.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderKeyView {
    /// The key id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Which provider API it speaks.
    pub kind: ProviderKind,
    /// The provider's base URL.
    pub base_url: String,
    /// Masked: the first and last characters only.
    pub api_key: String,
    /// Azure `api-version`.
    pub api_version: Option<String>,
    /// Catalog model names it serves.
    pub models: Vec<String>,
    /// Azure: model name -> deployment name.
    pub deployments: BTreeMap<String, String>,
    /// Higher is tried first.
    pub priority: i32,
    /// Share of traffic among keys of equal priority.
    pub weight: i32,
    /// Whether it takes traffic.
    pub status: KeyStatus,
    /// Why it was disabled (by an admin, or after the provider refused the key).
    pub disabled_reason: Option<String>,
    /// Requests per minute; null: no limit.
    pub rpm_limit: Option<i32>,
    /// Tokens per UTC day; null: no limit.
    pub daily_token_limit: Option<i64>,
    /// `api` (added here) or `config` (declared in the config file).
    #[schema(schema_with = source_schema)]
    pub source: String,
    /// Requests it served.
    pub request_count: i64,
    /// Prompt tokens it served.
    pub prompt_tokens: i64,
    /// Answer tokens it served.
    pub completion_tokens: i64,
    /// When it last served a request.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Set while the key rests after 429/5xx answers; it is tried again after this.
    pub cooling_until: Option<DateTime<Utc>>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl ProviderKeyView {
    pub fn from_model(row: provider_key::Model, cooling_until: Option<DateTime<Utc>>) -> Self {
        Self {
            id: row.id,
            name: row.name,
            kind: ProviderKind::parse(&row.kind).unwrap_or(ProviderKind::OpenAi),
            base_url: row.base_url,
            api_key: row.secret_hint,
            api_version: row.api_version,
            models: serde_json::from_value(row.models).unwrap_or_default(),
            deployments: serde_json::from_value(row.deployments).unwrap_or_default(),
            priority: row.priority,
            weight: row.weight,
            status: if row.status == "enabled" {
                KeyStatus::Enabled
            } else {
                KeyStatus::Disabled
            },
            disabled_reason: row.disabled_reason,
            rpm_limit: row.rpm_limit,
            daily_token_limit: row.daily_token_limit,
            source: row.source,
            request_count: row.request_count,
            prompt_tokens: row.prompt_tokens,
            completion_tokens: row.completion_tokens,
            last_used_at: row.last_used_at,
            cooling_until,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// `sk-proj-abc…wxyz`: enough to recognise a key, never enough to use it.
pub fn hint(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.is_empty() {
        return String::new();
    }
    if chars.len() < 12 {
        return "****".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

fn check_name(name: &str) -> Result<String, KeysError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(KeysError::InvalidField(
            "name",
            "name must be 1 to 64 characters",
        ));
    }
    Ok(name.to_owned())
}

fn check_base_url(kind: ProviderKind, base_url: Option<&str>) -> Result<String, KeysError> {
    let url = base_url
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .unwrap_or(kind.default_base_url())
        .trim_end_matches('/');
    if url.is_empty() {
        return Err(KeysError::InvalidField(
            "base_url",
            "base_url is required for this kind (e.g. https://NAME.openai.azure.com)",
        ));
    }
    let valid = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 512
        && !url.contains(char::is_whitespace);
    if !valid {
        return Err(KeysError::InvalidField(
            "base_url",
            "base_url must be an http(s) URL of at most 512 characters",
        ));
    }
    Ok(url.to_owned())
}

fn check_secret(kind: ProviderKind, secret: &str) -> Result<(), KeysError> {
    if secret.chars().count() > 4096 || secret.chars().any(char::is_control) {
        return Err(KeysError::InvalidField(
            "api_key",
            "api_key must be at most 4096 printable characters",
        ));
    }
    if secret.is_empty() && kind != ProviderKind::Ollama {
        return Err(KeysError::InvalidField("api_key", "api_key is required"));
    }
    Ok(())
}

fn check_models(models: &[String]) -> Result<Vec<String>, KeysError> {
    if models.is_empty() || models.len() > 200 {
        return Err(KeysError::InvalidField(
            "models",
            "models must list 1 to 200 model names",
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(models.len());
    for model in models {
        let model = model.trim();
        if model.is_empty() || model.chars().count() > 64 {
            return Err(KeysError::InvalidField(
                "models",
                "each model name must be 1 to 64 characters",
            ));
        }
        if !out.iter().any(|m| m == model) {
            out.push(model.to_owned());
        }
    }
    Ok(out)
}

/// A field's allowed range and the message that says so.
type Bounds = (&'static str, i32, i32, &'static str);
const PRIORITY: Bounds = (
    "priority",
    -1000,
    1000,
    "priority must be between -1000 and 1000",
);
const WEIGHT: Bounds = ("weight", 1, 1000, "weight must be between 1 and 1000");
const RPM_LIMIT: Bounds = (
    "rpm_limit",
    0,
    1_000_000,
    "rpm_limit must be between 0 and 1000000",
);

fn check_range((param, min, max, message): Bounds, value: i32) -> Result<i32, KeysError> {
    if value < min || value > max {
        return Err(KeysError::InvalidField(param, message));
    }
    Ok(value)
}

fn positive_or_none<T: PartialOrd + Default>(value: T) -> Option<T> {
    (value > T::default()).then_some(value)
}

fn check_limits(rpm: Option<i32>, daily: Option<i64>) -> Result<(), KeysError> {
    if let Some(rpm) = rpm {
        check_range(RPM_LIMIT, rpm)?;
    }
    if daily.is_some_and(|d| d < 0) {
        return Err(KeysError::InvalidField(
            "daily_token_limit",
            "daily_token_limit must not be negative",
        ));
    }
    Ok(())
}

async fn name_taken(
    db: &impl ConnectionTrait,
    name: &str,
    except: Option<i64>,
) -> Result<bool, KeysError> {
    let mut query = provider_key::Entity::find().filter(provider_key::Column::Name.eq(name));
    if let Some(id) = except {
        query = query.filter(provider_key::Column::Id.ne(id));
    }
    Ok(query.count(db).await? > 0)
}

/// Adds a key (`source` is `api` or `config`).
pub async fn create(
    db: &impl ConnectionTrait,
    secret_box: &SecretBox,
    new: NewProviderKey,
    source: &str,
    now: DateTime<Utc>,
) -> Result<provider_key::Model, KeysError> {
    let name = check_name(&new.name)?;
    let base_url = check_base_url(new.kind, new.base_url.as_deref())?;
    check_secret(new.kind, &new.api_key)?;
    let models = check_models(&new.models)?;
    let priority = check_range(PRIORITY, new.priority.unwrap_or(0))?;
    let weight = check_range(WEIGHT, new.weight.unwrap_or(1))?;
    check_limits(new.rpm_limit, new.daily_token_limit)?;
    if name_taken(db, &name, None).await? {
        return Err(KeysError::NameTaken);
    }
    let row = provider_key::ActiveModel {
        name: Set(name),
        kind: Set(new.kind.as_str().to_owned()),
        base_url: Set(base_url),
        secret_ciphertext: Set(secret_box.seal(SECRET_PURPOSE, &new.api_key)?),
        secret_hint: Set(hint(&new.api_key)),
        api_version: Set(new.api_version.filter(|v| !v.trim().is_empty())),
        models: Set(serde_json::json!(models)),
        deployments: Set(serde_json::json!(new.deployments)),
        priority: Set(priority),
        weight: Set(weight),
        status: Set(new.status.unwrap_or(KeyStatus::Enabled).as_str().to_owned()),
        disabled_reason: Set(None),
        rpm_limit: Set(new.rpm_limit.and_then(positive_or_none)),
        daily_token_limit: Set(new.daily_token_limit.and_then(positive_or_none)),
        source: Set(source.to_owned()),
        request_count: Set(0),
        prompt_tokens: Set(0),
        completion_tokens: Set(0),
        last_used_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    Ok(row.insert(db).await?)
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<provider_key::Model, KeysError> {
    provider_key::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(KeysError::NotFound)
}

pub async fn list(
    db: &impl ConnectionTrait,
    kind: Option<ProviderKind>,
    page: PageRequest,
) -> Result<Page<provider_key::Model>, KeysError> {
    let mut query = provider_key::Entity::find();
    if let Some(kind) = kind {
        query = query.filter(provider_key::Column::Kind.eq(kind.as_str()));
    }
    let query = query
        .order_by_desc(provider_key::Column::Priority)
        .order_by_asc(provider_key::Column::Id);
    Ok(fetch_page(db, query, page).await?)
}

pub async fn update(
    db: &impl ConnectionTrait,
    secret_box: &SecretBox,
    id: i64,
    patch: ProviderKeyPatch,
    now: DateTime<Utc>,
) -> Result<provider_key::Model, KeysError> {
    let current = get(db, id).await?;
    let kind = ProviderKind::parse(&current.kind).unwrap_or(ProviderKind::OpenAi);
    let mut row: provider_key::ActiveModel = current.into();
    if let Some(name) = patch.name {
        let name = check_name(&name)?;
        if name_taken(db, &name, Some(id)).await? {
            return Err(KeysError::NameTaken);
        }
        row.name = Set(name);
    }
    if let Some(url) = patch.base_url {
        row.base_url = Set(check_base_url(kind, Some(&url))?);
    }
    if let Some(secret) = patch.api_key {
        check_secret(kind, &secret)?;
        row.secret_ciphertext = Set(secret_box.seal(SECRET_PURPOSE, &secret)?);
        row.secret_hint = Set(hint(&secret));
    }
    if let Some(version) = patch.api_version {
        row.api_version = Set(Some(version).filter(|v| !v.trim().is_empty()));
    }
    if let Some(models) = patch.models {
        row.models = Set(serde_json::json!(check_models(&models)?));
    }
    if let Some(deployments) = patch.deployments {
        row.deployments = Set(serde_json::json!(deployments));
    }
    if let Some(priority) = patch.priority {
        row.priority = Set(check_range(PRIORITY, priority)?);
    }
    if let Some(weight) = patch.weight {
        row.weight = Set(check_range(WEIGHT, weight)?);
    }
    check_limits(patch.rpm_limit, patch.daily_token_limit)?;
    if let Some(rpm) = patch.rpm_limit {
        row.rpm_limit = Set(positive_or_none(rpm));
    }
    if let Some(daily) = patch.daily_token_limit {
        row.daily_token_limit = Set(positive_or_none(daily));
    }
    if let Some(status) = patch.status {
        row.status = Set(status.as_str().to_owned());
        row.disabled_reason = Set(match status {
            KeyStatus::Enabled => None,
            KeyStatus::Disabled => Some("disabled by an admin".into()),
        });
    }
    row.updated_at = Set(now);
    Ok(row.update(db).await?)
}

pub async fn delete(db: &impl ConnectionTrait, id: i64) -> Result<(), KeysError> {
    let result = provider_key::Entity::delete_by_id(id).exec(db).await?;
    if result.rows_affected == 0 {
        return Err(KeysError::NotFound);
    }
    Ok(())
}

/// Takes a key out of rotation because the provider refused it (401/403).
pub async fn disable(
    db: &impl ConnectionTrait,
    id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), KeysError> {
    let reason: String = reason.chars().take(255).collect();
    provider_key::Entity::update_many()
        .col_expr(provider_key::Column::Status, "disabled".into())
        .col_expr(provider_key::Column::DisabledReason, reason.into())
        .col_expr(provider_key::Column::UpdatedAt, now.into())
        .filter(provider_key::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Makes the config file's keys exist as declared (matched by name). A key of the same name
/// added through the API is left alone, with a warning.
pub async fn sync_declared(
    db: &impl ConnectionTrait,
    secret_box: &SecretBox,
    declared: Vec<NewProviderKey>,
    now: DateTime<Utc>,
) -> Result<(), KeysError> {
    for key in declared {
        let existing = provider_key::Entity::find()
            .filter(provider_key::Column::Name.eq(key.name.trim()))
            .one(db)
            .await?;
        match existing {
            None => {
                create(db, secret_box, key, "config", now).await?;
            }
            Some(row) if row.source != "config" => {
                tracing::warn!(name = %row.name, "a config-declared provider key has the name of an API-managed key; skipped");
            }
            Some(row) => {
                let same_secret = secret_box
                    .open(SECRET_PURPOSE, &row.secret_ciphertext)
                    .is_ok_and(|s| s == key.api_key);
                let patch = ProviderKeyPatch {
                    name: None,
                    base_url: key.base_url,
                    api_key: (!same_secret).then_some(key.api_key),
                    api_version: key.api_version,
                    models: Some(key.models),
                    deployments: Some(key.deployments),
                    priority: key.priority,
                    weight: key.weight,
                    // A new secret earns a new chance; otherwise a disable by health stays.
                    status: (!same_secret).then_some(KeyStatus::Enabled).or(key.status),
                    rpm_limit: key.rpm_limit,
                    daily_token_limit: key.daily_token_limit,
                };
                update(db, secret_box, row.id, patch, now).await?;
            }
        }
    }
    Ok(())
}

/// `source` in the document.
fn source_schema() -> utoipa::openapi::Object {
    confab_core::schema::one_of(
        &["api", "config"],
        "`api` (added here) or `config` (declared in the config file).",
    )
}

/// `models` in the document: 1 to 200 names of 1 to 64 characters; null too on patches.
fn models_schema<const NULLABLE: bool>() -> utoipa::openapi::Array {
    let name = confab_core::schema::text(1, 64, Some(confab_core::schema::NOT_BLANK));
    confab_core::schema::list(
        name,
        1,
        200,
        NULLABLE,
        "Catalog model names this key serves.",
    )
}

#[cfg(test)]
mod tests {
    use super::hint;

    #[test]
    fn hints_never_reveal_the_middle() {
        assert_eq!(hint("sk-proj-abcdefghijklmnop"), "sk-p…mnop");
        assert_eq!(hint("short"), "****");
        assert_eq!(hint(""), "");
    }
}
