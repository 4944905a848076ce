use sea_orm::entity::prelude::*;

/// A user's API key (`sk-…`). Only the SHA-256 of the secret is kept; `hint` shows its ends.
/// Counters are kept on the row so every instance enforces the same limits.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub secret_hash: String,
    pub hint: String,
    pub enabled: bool,
    pub expires_at: Option<DateTimeUtc>,
    pub credit_limit: Option<i64>,
    pub credits_used: i64,
    /// Credits held by this key's requests in flight.
    pub credits_held: i64,
    pub daily_request_limit: Option<i64>,
    pub request_total: i64,
    /// Requests on `request_day` (`YYYY-MM-DD` in the site's time zone).
    pub request_today: i64,
    pub request_day: String,
    /// JSON array of model names, or null for any.
    pub allowed_models: Option<Json>,
    /// JSON array of CIDRs, or null for any address.
    pub allowed_ips: Option<Json>,
    /// An embed key: it may only talk in this chat.
    pub chat_id: Option<i64>,
    pub last_used_at: Option<DateTimeUtc>,
    pub last_used_ip: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
