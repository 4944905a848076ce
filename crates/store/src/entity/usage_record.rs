use sea_orm::entity::prelude::*;

/// One relayed request: who, which model and key, tokens, latency and outcome.
/// `created_ms` (unix milliseconds) is the sortable time column for range queries on every
/// backend.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_records")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub chat_id: Option<i64>,
    pub message_id: Option<i64>,
    pub api_key_id: Option<i64>,
    /// chat | completions | images | image_edits
    pub endpoint: String,
    pub model: String,
    pub provider_key_id: Option<i64>,
    pub prompt_tokens: i32,
    pub completion_tokens: i32,
    pub images: i32,
    pub ttft_ms: Option<i32>,
    pub latency_ms: i32,
    /// complete | interrupted | failed
    pub status: String,
    pub error_code: Option<String>,
    pub cost: i64,
    pub created_ms: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
