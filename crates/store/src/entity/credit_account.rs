use sea_orm::entity::prelude::*;

/// A user's credits: `balance` is the sum of their ledger entries; `held` is what running
/// requests have reserved (never more than the balance, so what is available never goes
/// negative). Created with the first entry.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credit_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    pub balance: i64,
    pub held: i64,
    /// free | vip | svip
    pub tier: String,
    pub tier_expires_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
