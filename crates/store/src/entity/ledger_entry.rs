use sea_orm::entity::prelude::*;

/// One change of a balance, never edited or deleted. `idempotency_key` is unique: writing the
/// same change twice returns the first.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// adjustment | registration_reward | check_in | redemption | usage | purchase | refund
    pub kind: String,
    /// Signed: credits added or taken.
    pub amount: i64,
    pub balance_after: i64,
    pub reason: String,
    pub reference: Option<String>,
    pub idempotency_key: String,
    /// The admin who made an adjustment.
    pub actor_id: Option<i64>,
    pub created_ms: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
