use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

pub use super::product::GrantKind;

/// Where an order is: pending until paid, expired or closed; a paid order may be refunded.
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
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Waiting for the payment.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Paid and fulfilled (in one transaction).
    #[sea_orm(string_value = "paid")]
    Paid,
    /// Not paid in time; a payment that still arrives is honoured.
    #[sea_orm(string_value = "expired")]
    Expired,
    /// Closed before payment (by the user or at the gateway).
    #[sea_orm(string_value = "closed")]
    Closed,
    /// Paid, then refunded in full.
    #[sea_orm(string_value = "refunded")]
    Refunded,
    /// Paid, then refunded in part.
    #[sea_orm(string_value = "partially_refunded")]
    PartiallyRefunded,
}

/// One purchase: a snapshot of the product as bought, the gateway's trade once paid.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub out_trade_no: String,
    pub user_id: i64,
    pub product_id: i64,
    pub channel_id: i64,
    pub pay_type: String,
    pub quantity: i32,
    pub amount_cents: i64,
    pub currency: String,
    pub product_snapshot: Json,
    pub grant_kind: GrantKind,
    /// In all (the product's grant times the quantity).
    pub grant_amount: i64,
    pub status: OrderStatus,
    pub trade_no: Option<String>,
    pub gateway_ref: Option<String>,
    pub qr_code: Option<String>,
    pub pay_url: Option<String>,
    pub expires_at: DateTimeUtc,
    pub paid_at: Option<DateTimeUtc>,
    pub closed_at_gateway: bool,
    pub refunded_cents: i64,
    pub credits_taken_back: i64,
    pub credits_unrecovered: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
