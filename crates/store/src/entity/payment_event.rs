use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What happened between Confab and a gateway.
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
pub enum EventKind {
    /// The gateway called the notify URL.
    #[sea_orm(string_value = "notify")]
    Notify,
    /// Confab asked the gateway for an order's state (the periodic job or an admin's sync).
    #[sea_orm(string_value = "query")]
    Query,
    /// Confab closed an unpaid order at the gateway.
    #[sea_orm(string_value = "close")]
    Close,
    /// Confab asked the gateway for a refund.
    #[sea_orm(string_value = "refund")]
    Refund,
}

/// What came of it.
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
pub enum EventOutcome {
    /// The order was paid (fulfilled) or the call succeeded.
    #[sea_orm(string_value = "accepted")]
    Accepted,
    /// Already handled: nothing changed, the gateway got its success answer.
    #[sea_orm(string_value = "duplicate")]
    Duplicate,
    /// Nothing changed: signature, merchant, order, amount or currency did not match.
    #[sea_orm(string_value = "refused")]
    Refused,
    /// The gateway was unreachable or refused the call.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// The gateway said the order is not paid (yet).
    #[sea_orm(string_value = "unpaid")]
    Unpaid,
}

/// One gateway event, kept for admins (with the reason when something was refused).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub channel_id: i64,
    pub order_id: Option<i64>,
    pub kind: EventKind,
    pub outcome: EventOutcome,
    pub reason: String,
    pub trade_no: Option<String>,
    pub amount_cents: Option<i64>,
    /// What the gateway said, secrets and signatures left out.
    pub detail: Option<Json>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
