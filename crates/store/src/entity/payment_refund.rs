use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a refund is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Asked of the gateway; not answered yet (or the answer was lost).
    #[sea_orm(string_value = "pending")]
    Pending,
    /// The gateway refunded; the credits were taken back as far as the balance allowed.
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    /// The gateway refused; nothing changed.
    #[sea_orm(string_value = "failed")]
    Failed,
}

/// A refund of part or all of a paid order.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_refunds")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    #[sea_orm(unique)]
    pub refund_no: String,
    pub amount_cents: i64,
    pub reason: String,
    pub status: RefundStatus,
    pub gateway_refund_id: Option<String>,
    pub credits_taken_back: i64,
    pub credits_unrecovered: i64,
    pub actor_id: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
