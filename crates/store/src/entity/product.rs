use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What a product grants when its order is paid.
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
pub enum GrantKind {
    /// `grant_amount` credits.
    #[sea_orm(string_value = "credits")]
    Credits,
    /// `grant_amount` days of the vip tier.
    #[sea_orm(string_value = "vip_days")]
    VipDays,
    /// `grant_amount` days of the svip tier.
    #[sea_orm(string_value = "svip_days")]
    SvipDays,
}

/// Whether a product can be ordered.
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
pub enum ProductStatus {
    #[sea_orm(string_value = "on_sale")]
    OnSale,
    #[sea_orm(string_value = "off_sale")]
    OffSale,
}

/// Something to buy: a price in integer cents and what it grants.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub title: String,
    pub description: String,
    pub price_cents: i64,
    pub currency: String,
    pub original_price_cents: Option<i64>,
    pub badge: Option<String>,
    pub grant_kind: GrantKind,
    pub grant_amount: i64,
    pub status: ProductStatus,
    pub sort_order: i32,
    pub per_user_limit: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
