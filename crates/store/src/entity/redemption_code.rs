use sea_orm::entity::prelude::*;

/// One card code. Only its SHA-256 is kept, and the first characters (`prefix`) for search.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "redemption_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub batch_id: i64,
    pub code_hash: String,
    pub prefix: String,
    /// credits | vip_days | svip_days
    pub kind: String,
    pub amount: i64,
    pub expires_at: Option<DateTimeUtc>,
    /// unused | used | voided
    pub status: String,
    pub redeemed_by: Option<i64>,
    pub redeemed_at: Option<DateTimeUtc>,
    pub voided_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
