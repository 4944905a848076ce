//! Users' API keys: `sk-` and 192 random bits, shown once and stored as SHA-256. A key carries
//! its limits (expiry, credit limit, daily requests, models, client addresses, one chat) and its
//! counters on its row; [`authenticate`] checks a request and counts it with one conditional
//! UPDATE, so the daily limit holds across concurrent requests and instances (a single instance
//! counts in memory instead: [`crate::ApiKeys`]). The credit limit
//! is enforced where credits are held (`confab-credits`), against `credits_used + credits_held`.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use confab_core::crypto::sha256_hex;
use confab_core::{Page, PageRequest};
use confab_store::entity::{api_key, chat, model, user};
use confab_store::fetch_page;
use ipnet::IpNet;
use rand::RngCore;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};

use crate::KeysError;
use crate::provider_keys::hint;

/// Keys one account may hold (deleted ones aside).
pub const MAX_KEYS_PER_USER: u64 = 100;
const MAX_LIST: usize = 100;
const MAX_CREDIT_LIMIT: i64 = 1_000_000_000_000;
const MAX_DAILY_REQUESTS: i64 = 1_000_000_000;

/// A key as its owner and admins see it: never the secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    /// The key id.
    pub id: i64,
    /// Who owns the key.
    pub user_id: i64,
    /// A name for people, 1 to 64 characters.
    pub name: String,
    /// The secret's first and last characters, e.g. `sk-a…f00d`.
    pub hint: String,
    /// A disabled key is refused (`api_key_disabled`).
    pub enabled: bool,
    /// After this the key is refused (`api_key_expired`); null: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Most credits the key may spend in all; null for no limit beyond the balance.
    pub credit_limit: Option<i64>,
    /// Credits charged to requests made with this key.
    pub credits_used: i64,
    /// Most requests per calendar day (site time zone); null for no limit.
    pub daily_request_limit: Option<i64>,
    /// Requests made with this key, ever.
    pub request_total: i64,
    /// Requests today (a calendar day in the site's time zone).
    pub request_today: i64,
    /// Catalog model names the key may use; null for every model the account may use.
    pub allowed_models: Option<Vec<String>>,
    /// Client addresses (CIDR) the key works from; null for any.
    pub allowed_ips: Option<Vec<String>>,
    /// An embed key: it may only read and talk in this chat.
    pub chat_id: Option<i64>,
    /// When the key last made a request.
    pub last_used_at: Option<DateTime<Utc>>,
    /// The address of its last request.
    pub last_used_ip: Option<String>,
    /// When the key was made.
    pub created_at: DateTime<Utc>,
    /// When its settings last changed.
    pub updated_at: DateTime<Utc>,
}

impl ApiKey {
    fn from_row(row: api_key::Model, today: &str) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            name: row.name,
            hint: row.hint,
            enabled: row.enabled,
            expires_at: row.expires_at,
            credit_limit: row.credit_limit,
            credits_used: row.credits_used,
            daily_request_limit: row.daily_request_limit,
            request_total: row.request_total,
            request_today: if row.request_day == today {
                row.request_today
            } else {
                0
            },
            allowed_models: row.allowed_models.and_then(strings),
            allowed_ips: row.allowed_ips.and_then(strings),
            chat_id: row.chat_id,
            last_used_at: row.last_used_at,
            last_used_ip: row.last_used_ip,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A key just made or rotated: the only time its secret is shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    /// `sk-` and 48 hex characters. Shown once; keep it.
    pub secret: String,
    #[serde(flatten)]
    pub key: ApiKey,
}

/// A new API key: its name and, optionally, its limits and scope.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// 1 to 64 characters.
    #[schema(pattern = r"^\s*\S([\s\S]{0,62}\S)?\s*$")]
    pub name: String,
    /// Must be in the future.
    pub expires_at: Option<DateTime<Utc>>,
    /// 0 to 10^12 credits.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub credit_limit: Option<i64>,
    /// 1 to 10^9 requests per day.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub daily_request_limit: Option<i64>,
    /// Catalog model names (at most 100).
    #[schema(schema_with = allowed_models_schema)]
    pub allowed_models: Option<Vec<String>>,
    /// Addresses or CIDR ranges, IPv4 or IPv6 (at most 100).
    #[schema(schema_with = allowed_ips_schema)]
    pub allowed_ips: Option<Vec<String>>,
    /// One of the caller's chats.
    pub chat_id: Option<i64>,
}

/// A partial update: absent fields keep their value; `null` clears a limit.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyPatch {
    /// 1 to 64 characters (trimmed).
    #[schema(pattern = r"^\s*\S([\s\S]{0,62}\S)?\s*$")]
    pub name: Option<String>,
    /// False disables the key at once.
    pub enabled: Option<bool>,
    /// In the future; null: never expires.
    #[serde(default, deserialize_with = "confab_core::nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// 0 to 10^12 credits in all; null: no limit.
    #[serde(default, deserialize_with = "confab_core::nullable")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub credit_limit: Option<Option<i64>>,
    /// 1 to 10^9 requests a day; null: no limit.
    #[serde(default, deserialize_with = "confab_core::nullable")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000)]
    pub daily_request_limit: Option<Option<i64>>,
    /// Catalog model names; null allows every model.
    #[serde(default, deserialize_with = "confab_core::nullable")]
    #[schema(schema_with = allowed_models_schema)]
    pub allowed_models: Option<Option<Vec<String>>>,
    /// Addresses or CIDR ranges; null allows any address.
    #[serde(default, deserialize_with = "confab_core::nullable")]
    #[schema(schema_with = allowed_ips_schema)]
    pub allowed_ips: Option<Option<Vec<String>>>,
    /// Binds the key to one of the caller's chats; null unbinds it.
    #[serde(default, deserialize_with = "confab_core::nullable")]
    #[schema(value_type = Option<i64>)]
    pub chat_id: Option<Option<i64>>,
}

/// What a request authenticated with a key may do, for the routes and the meter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub id: i64,
    pub user_id: i64,
    pub allowed_models: Option<Vec<String>>,
    pub chat_id: Option<i64>,
}

impl KeyGrant {
    pub fn allows_model(&self, model: &str) -> bool {
        self.allowed_models
            .as_ref()
            .is_none_or(|models| models.iter().any(|m| m == model))
    }
}

/// The calendar day a request counts on, in the site's time zone.
#[derive(Debug, Clone)]
pub struct Day {
    /// `YYYY-MM-DD`
    pub date: String,
    /// Until the next day begins, for Retry-After.
    pub seconds_left: u64,
}

/// Whether `token` looks like one of our keys (and not a JWT).
pub fn is_api_key(token: &str) -> bool {
    token.starts_with("sk-")
}

fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("sk-{}", hex_lower(&bytes))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn strings(value: serde_json::Value) -> Option<Vec<String>> {
    serde_json::from_value(value).ok()
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

fn check_expiry(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), KeysError> {
    if expires_at <= now {
        return Err(KeysError::InvalidField(
            "expires_at",
            "expires_at must be in the future",
        ));
    }
    Ok(())
}

fn check_credit_limit(limit: i64) -> Result<(), KeysError> {
    if !(0..=MAX_CREDIT_LIMIT).contains(&limit) {
        return Err(KeysError::InvalidField(
            "credit_limit",
            "credit_limit must be between 0 and 1000000000000",
        ));
    }
    Ok(())
}

fn check_daily_limit(limit: i64) -> Result<(), KeysError> {
    if !(1..=MAX_DAILY_REQUESTS).contains(&limit) {
        return Err(KeysError::InvalidField(
            "daily_request_limit",
            "daily_request_limit must be between 1 and 1000000000",
        ));
    }
    Ok(())
}

/// Every name must be in the catalog, so a typo is caught now and not at the first request.
async fn check_models(
    db: &impl ConnectionTrait,
    names: Vec<String>,
) -> Result<serde_json::Value, KeysError> {
    if names.is_empty() || names.len() > MAX_LIST {
        return Err(KeysError::InvalidField(
            "allowed_models",
            "allowed_models must name 1 to 100 models (null allows all)",
        ));
    }
    let known: Vec<String> = model::Entity::find()
        .filter(model::Column::Name.is_in(names.clone()))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.name)
        .collect();
    if let Some(unknown) = names.iter().find(|name| !known.contains(name)) {
        return Err(KeysError::Invalid(
            "allowed_models",
            format!(
                "no model is named '{}'",
                unknown.chars().take(64).collect::<String>()
            ),
        ));
    }
    Ok(serde_json::json!(names))
}

/// Normalises addresses and ranges (`10.0.0.1` → `10.0.0.1/32`).
fn check_ips(entries: Vec<String>) -> Result<serde_json::Value, KeysError> {
    if entries.is_empty() || entries.len() > MAX_LIST {
        return Err(KeysError::InvalidField(
            "allowed_ips",
            "allowed_ips must list 1 to 100 addresses or CIDR ranges (null allows any)",
        ));
    }
    let mut nets = Vec::with_capacity(entries.len());
    for entry in entries {
        let entry = entry.trim();
        let net = entry
            .parse::<IpNet>()
            .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| {
                KeysError::Invalid(
                    "allowed_ips",
                    format!(
                        "'{}' is not an IP address or CIDR range",
                        entry.chars().take(64).collect::<String>()
                    ),
                )
            })?;
        nets.push(net.trunc().to_string());
    }
    Ok(serde_json::json!(nets))
}

/// The chat must be the owner's and not deleted.
async fn check_chat(
    db: &impl ConnectionTrait,
    user_id: i64,
    chat_id: i64,
) -> Result<(), KeysError> {
    let found = chat::Entity::find_by_id(chat_id)
        .filter(chat::Column::UserId.eq(user_id))
        .filter(chat::Column::DeletedAt.is_null())
        .count(db)
        .await?;
    if found == 0 {
        return Err(KeysError::InvalidField(
            "chat_id",
            "chat_id must be one of your chats",
        ));
    }
    Ok(())
}

fn live(user_id: i64) -> Condition {
    Condition::all()
        .add(api_key::Column::UserId.eq(user_id))
        .add(api_key::Column::DeletedAt.is_null())
}

pub async fn create(
    db: &impl ConnectionTrait,
    user_id: i64,
    new: NewApiKey,
    today: &str,
    now: DateTime<Utc>,
) -> Result<CreatedApiKey, KeysError> {
    let name = check_name(&new.name)?;
    if let Some(expiry) = new.expires_at {
        check_expiry(expiry, now)?;
    }
    if let Some(limit) = new.credit_limit {
        check_credit_limit(limit)?;
    }
    if let Some(limit) = new.daily_request_limit {
        check_daily_limit(limit)?;
    }
    let allowed_models = match new.allowed_models {
        Some(names) => Some(check_models(db, names).await?),
        None => None,
    };
    let allowed_ips = new.allowed_ips.map(check_ips).transpose()?;
    if let Some(chat_id) = new.chat_id {
        check_chat(db, user_id, chat_id).await?;
    }
    let count = api_key::Entity::find()
        .filter(live(user_id))
        .count(db)
        .await?;
    if count >= MAX_KEYS_PER_USER {
        return Err(KeysError::TooManyKeys(MAX_KEYS_PER_USER));
    }
    let secret = new_secret();
    let row = api_key::ActiveModel {
        user_id: Set(user_id),
        name: Set(name),
        secret_hash: Set(sha256_hex(&secret)),
        hint: Set(hint(&secret)),
        enabled: Set(true),
        expires_at: Set(new.expires_at),
        credit_limit: Set(new.credit_limit),
        credits_used: Set(0),
        credits_held: Set(0),
        daily_request_limit: Set(new.daily_request_limit),
        request_total: Set(0),
        request_today: Set(0),
        request_day: Set(String::new()),
        allowed_models: Set(allowed_models),
        allowed_ips: Set(allowed_ips),
        chat_id: Set(new.chat_id),
        last_used_at: Set(None),
        last_used_ip: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(CreatedApiKey {
        secret,
        key: ApiKey::from_row(row, today),
    })
}

async fn find_own(
    db: &impl ConnectionTrait,
    user_id: i64,
    id: i64,
) -> Result<api_key::Model, KeysError> {
    api_key::Entity::find_by_id(id)
        .filter(live(user_id))
        .one(db)
        .await?
        .ok_or(KeysError::ApiKeyNotFound)
}

pub async fn get(
    db: &impl ConnectionTrait,
    user_id: i64,
    id: i64,
    today: &str,
) -> Result<ApiKey, KeysError> {
    Ok(ApiKey::from_row(find_own(db, user_id, id).await?, today))
}

/// The caller's keys, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    user_id: i64,
    page: PageRequest,
    today: &str,
) -> Result<Page<ApiKey>, KeysError> {
    let query = api_key::Entity::find()
        .filter(live(user_id))
        .order_by_desc(api_key::Column::Id);
    Ok(fetch_page(db, query, page)
        .await?
        .map(|row| ApiKey::from_row(row, today)))
}

/// Every live key, or one user's, newest first.
pub async fn list_all(
    db: &impl ConnectionTrait,
    user_id: Option<i64>,
    page: PageRequest,
    today: &str,
) -> Result<Page<ApiKey>, KeysError> {
    let mut query = api_key::Entity::find()
        .filter(api_key::Column::DeletedAt.is_null())
        .order_by_desc(api_key::Column::Id);
    if let Some(user_id) = user_id {
        query = query.filter(api_key::Column::UserId.eq(user_id));
    }
    Ok(fetch_page(db, query, page)
        .await?
        .map(|row| ApiKey::from_row(row, today)))
}

pub async fn update(
    db: &impl ConnectionTrait,
    user_id: i64,
    id: i64,
    patch: ApiKeyPatch,
    today: &str,
    now: DateTime<Utc>,
) -> Result<ApiKey, KeysError> {
    let row = find_own(db, user_id, id).await?;
    let mut active: api_key::ActiveModel = row.into();
    if let Some(name) = patch.name {
        active.name = Set(check_name(&name)?);
    }
    if let Some(enabled) = patch.enabled {
        active.enabled = Set(enabled);
    }
    if let Some(expiry) = patch.expires_at {
        if let Some(expiry) = expiry {
            check_expiry(expiry, now)?;
        }
        active.expires_at = Set(expiry);
    }
    if let Some(limit) = patch.credit_limit {
        if let Some(limit) = limit {
            check_credit_limit(limit)?;
        }
        active.credit_limit = Set(limit);
    }
    if let Some(limit) = patch.daily_request_limit {
        if let Some(limit) = limit {
            check_daily_limit(limit)?;
        }
        active.daily_request_limit = Set(limit);
    }
    if let Some(models) = patch.allowed_models {
        active.allowed_models = Set(match models {
            Some(names) => Some(check_models(db, names).await?),
            None => None,
        });
    }
    if let Some(ips) = patch.allowed_ips {
        active.allowed_ips = Set(ips.map(check_ips).transpose()?);
    }
    if let Some(chat_id) = patch.chat_id {
        if let Some(chat_id) = chat_id {
            check_chat(db, user_id, chat_id).await?;
        }
        active.chat_id = Set(chat_id);
    }
    active.updated_at = Set(now);
    Ok(ApiKey::from_row(active.update(db).await?, today))
}

/// Deleting stops the key at once; the row stays for the usage records that name it.
pub async fn delete(
    db: &impl ConnectionTrait,
    user_id: i64,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), KeysError> {
    let deleted = api_key::Entity::update_many()
        .col_expr(api_key::Column::DeletedAt, Expr::value(now))
        .col_expr(api_key::Column::UpdatedAt, Expr::value(now))
        .filter(api_key::Column::Id.eq(id))
        .filter(live(user_id))
        .exec(db)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(KeysError::ApiKeyNotFound);
    }
    Ok(())
}

/// A new secret for the same key (limits and counters kept); the old one stops at once.
pub async fn rotate(
    db: &impl ConnectionTrait,
    user_id: i64,
    id: i64,
    today: &str,
    now: DateTime<Utc>,
) -> Result<CreatedApiKey, KeysError> {
    let row = find_own(db, user_id, id).await?;
    let secret = new_secret();
    let mut active: api_key::ActiveModel = row.into();
    active.secret_hash = Set(sha256_hex(&secret));
    active.hint = Set(hint(&secret));
    active.updated_at = Set(now);
    let row = active.update(db).await?;
    Ok(CreatedApiKey {
        secret,
        key: ApiKey::from_row(row, today),
    })
}

/// What a key check needs of a key and its owner, read in one go (and cached by
/// [`crate::ApiKeys`] on a single instance).
#[derive(Debug, Clone)]
pub(crate) struct KeyRecord {
    pub id: i64,
    pub user_id: i64,
    owner_status: Option<String>,
    enabled: bool,
    expires_at: Option<DateTime<Utc>>,
    allowed_ips: Option<Vec<IpNet>>,
    allowed_models: Option<Vec<String>>,
    chat_id: Option<i64>,
    pub daily_request_limit: Option<i64>,
    pub request_day: String,
    pub request_today: i64,
}

impl KeyRecord {
    /// The live key whose secret hashes to `secret_hash`, and its owner's status.
    pub(crate) async fn find(
        db: &impl ConnectionTrait,
        secret_hash: &str,
    ) -> Result<Option<Self>, KeysError> {
        let Some(key) = api_key::Entity::find()
            .filter(api_key::Column::SecretHash.eq(secret_hash))
            .filter(api_key::Column::DeletedAt.is_null())
            .one(db)
            .await?
        else {
            return Ok(None);
        };
        let owner = user::Entity::find_by_id(key.user_id).one(db).await?;
        Ok(Some(Self {
            id: key.id,
            user_id: key.user_id,
            owner_status: owner.map(|owner| owner.status),
            enabled: key.enabled,
            expires_at: key.expires_at,
            allowed_ips: key.allowed_ips.and_then(strings).map(|nets| {
                nets.iter()
                    .filter_map(|net| net.parse::<IpNet>().ok())
                    .collect()
            }),
            allowed_models: key.allowed_models.and_then(strings),
            chat_id: key.chat_id,
            daily_request_limit: key.daily_request_limit,
            request_day: key.request_day,
            request_today: key.request_today,
        }))
    }

    /// Every refusal but the daily limit, each with its own error.
    pub(crate) fn check(
        &self,
        client_ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), KeysError> {
        match self.owner_status.as_deref() {
            Some("active") => {}
            Some("disabled") => return Err(KeysError::AccountDisabled),
            _ => return Err(KeysError::InvalidApiKey),
        }
        if !self.enabled {
            return Err(KeysError::ApiKeyDisabled);
        }
        if self.expires_at.is_some_and(|expiry| expiry <= now) {
            return Err(KeysError::ApiKeyExpired);
        }
        if let Some(allowed) = &self.allowed_ips {
            let permitted = client_ip.is_some_and(|ip| allowed.iter().any(|net| net.contains(&ip)));
            if !permitted {
                return Err(KeysError::IpNotAllowed(
                    client_ip.map_or_else(|| "an unknown address".into(), |ip| ip.to_string()),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn limit_reached(&self, day: &Day) -> KeysError {
        KeysError::DailyLimitReached {
            limit: self.daily_request_limit.unwrap_or(0),
            retry_after: Ord::max(day.seconds_left, 1),
        }
    }

    pub(crate) fn grant(&self) -> KeyGrant {
        KeyGrant {
            id: self.id,
            user_id: self.user_id,
            allowed_models: self.allowed_models.clone(),
            chat_id: self.chat_id,
        }
    }
}

/// One use of a key, as its row records it.
pub(crate) struct KeyUse<'a> {
    pub client_ip: Option<IpAddr>,
    pub day: &'a Day,
    pub now: DateTime<Utc>,
}

/// Checks a presented key (known, enabled, unexpired, from an allowed address, its account
/// active) and counts the request against its daily limit with one conditional UPDATE, which
/// holds across instances. Every refusal has its own error.
pub async fn authenticate<C: ConnectionTrait>(
    db: &C,
    secret: &str,
    client_ip: Option<IpAddr>,
    day: &Day,
    now: DateTime<Utc>,
) -> Result<KeyGrant, KeysError> {
    if !is_api_key(secret) {
        return Err(KeysError::InvalidApiKey);
    }
    let key = KeyRecord::find(db, &sha256_hex(secret))
        .await?
        .ok_or(KeysError::InvalidApiKey)?;
    key.check(client_ip, now)?;
    let used = KeyUse {
        client_ip,
        day,
        now,
    };
    if !count_in_database(db, key.id, &used).await? {
        return Err(key.limit_reached(day));
    }
    Ok(key.grant())
}

/// Counts a use unless the day's limit is reached; false when it was.
async fn count_in_database(
    db: &impl ConnectionTrait,
    key_id: i64,
    used: &KeyUse<'_>,
) -> Result<bool, KeysError> {
    let same_day = Expr::col(api_key::Column::RequestDay).eq(used.day.date.as_str());
    let counted = api_key::Entity::update_many()
        .col_expr(
            api_key::Column::RequestTotal,
            Expr::col(api_key::Column::RequestTotal).add(1),
        )
        .col_expr(
            api_key::Column::RequestToday,
            Expr::case(
                same_day.clone(),
                Expr::col(api_key::Column::RequestToday).add(1),
            )
            .finally(1)
            .into(),
        )
        .col_expr(
            api_key::Column::RequestDay,
            Expr::value(used.day.date.as_str()),
        )
        .col_expr(api_key::Column::LastUsedAt, Expr::value(used.now))
        .col_expr(
            api_key::Column::LastUsedIp,
            Expr::value(used.client_ip.map(|ip| ip.to_string())),
        )
        .filter(api_key::Column::Id.eq(key_id))
        .filter(
            Condition::any()
                .add(api_key::Column::DailyRequestLimit.is_null())
                .add(same_day.not())
                .add(
                    Expr::col(api_key::Column::RequestToday)
                        .lt(Expr::col(api_key::Column::DailyRequestLimit)),
                ),
        )
        .exec(db)
        .await?;
    Ok(counted.rows_affected > 0)
}

/// `allowed_models` in the document: 1 to 100 catalog names (null allows every model).
fn allowed_models_schema() -> utoipa::openapi::Array {
    let name = confab_core::schema::text(1, 64, Some(confab_core::schema::NOT_BLANK));
    confab_core::schema::list(
        name,
        1,
        MAX_LIST,
        true,
        "Catalog model names the key may use; null allows every model.",
    )
}

/// `allowed_ips` in the document: 1 to 100 addresses or CIDR ranges (null allows any).
fn allowed_ips_schema() -> utoipa::openapi::Array {
    let net = confab_core::schema::text(2, 64, Some(r"^\s*[0-9A-Fa-f:.]+(/[0-9]{1,3})?\s*$"));
    confab_core::schema::list(
        net,
        1,
        MAX_LIST,
        true,
        "Addresses or CIDR ranges the key may be used from; null allows any.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_recognisable() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        assert!(is_api_key(&a));
        assert_eq!(a.len(), 3 + 48);
        assert!(!is_api_key("eyJhbGciOi.x.y"));
    }

    #[test]
    fn addresses_normalise_to_networks() {
        let nets = check_ips(vec![
            "10.1.2.3".into(),
            "192.168.7.9/16".into(),
            "::1".into(),
        ])
        .unwrap();
        assert_eq!(
            nets,
            serde_json::json!(["10.1.2.3/32", "192.168.0.0/16", "::1/128"])
        );
        assert!(check_ips(vec!["10.0.0.300".into()]).is_err());
        assert!(check_ips(vec![]).is_err());
    }
}
