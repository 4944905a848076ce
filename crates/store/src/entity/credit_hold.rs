use sea_orm::entity::prelude::*;

/// Credits a request in flight has reserved: its worst-case cost. Settled with the real cost
/// when the request ends; released (charging nothing) by the sweeper once `expires_ms` passes,
/// if the server that made it died.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credit_holds")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// The API key the request came with; its credit limit counts the hold.
    pub api_key_id: Option<i64>,
    pub amount: i64,
    /// What the hold is for, e.g. `message:42` or `completion:chatcmpl-…`.
    pub reference: String,
    /// held | settled | expired
    pub status: String,
    /// What was finally charged.
    pub charged: Option<i64>,
    pub expires_ms: i64,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
