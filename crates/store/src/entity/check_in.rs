use sea_orm::entity::prelude::*;

/// A user's check-in on one calendar day (`YYYY-MM-DD` in the site's time zone).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "check_ins")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub day: String,
    /// Consecutive days up to and including this one.
    pub streak: i32,
    pub reward: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
