use sea_orm::entity::prelude::*;

/// An upstream credential in the pool. The secret is AES-256-GCM ciphertext; only the hint
/// (first and last characters) is ever shown.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provider_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// openai | azure_openai | ollama | stability
    pub kind: String,
    pub base_url: String,
    pub secret_ciphertext: String,
    pub secret_hint: String,
    pub api_version: Option<String>,
    /// Public model names (catalog names) this key serves: a JSON array of strings.
    pub models: Json,
    /// Azure: public model name -> deployment name (JSON object).
    pub deployments: Json,
    pub priority: i32,
    pub weight: i32,
    /// enabled | disabled
    pub status: String,
    pub disabled_reason: Option<String>,
    pub rpm_limit: Option<i32>,
    pub daily_token_limit: Option<i64>,
    /// api | config
    pub source: String,
    pub request_count: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub last_used_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
