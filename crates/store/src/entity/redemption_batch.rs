use sea_orm::entity::prelude::*;

/// A batch of card codes an admin created at once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "redemption_batches")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// credits | vip_days | svip_days
    pub kind: String,
    pub amount: i64,
    pub quantity: i32,
    pub expires_at: Option<DateTimeUtc>,
    pub note: String,
    pub created_by: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
