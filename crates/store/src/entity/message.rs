use sea_orm::entity::prelude::*;

/// One turn of a chat. Messages form a tree through `parent_id`: regenerating or editing adds a
/// sibling branch instead of rewriting history.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chat_id: i64,
    pub user_id: i64,
    pub parent_id: Option<i64>,
    /// user | assistant
    pub role: String,
    #[sea_orm(column_type = "Text")]
    pub content: String,
    pub model: Option<String>,
    /// The sampling parameters the request used (JSON object).
    pub params: Option<Json>,
    /// complete | streaming | interrupted | failed
    pub status: String,
    pub prompt_tokens: i32,
    pub completion_tokens: i32,
    pub ttft_ms: Option<i32>,
    pub total_ms: Option<i32>,
    pub provider_key_id: Option<i64>,
    pub error_code: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// Credits charged for this answer.
    pub cost: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
