use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Which gateway a channel talks to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// Alipay face-to-face (`alipay.trade.precreate`, a QR code), RSA2.
    #[sea_orm(string_value = "alipay_f2f")]
    AlipayF2f,
    /// An Epay (易支付) merchant: pid + MD5 key.
    #[sea_orm(string_value = "epay")]
    Epay,
    /// WeChat Pay API v3, native (a QR code).
    #[sea_orm(string_value = "wechat_native")]
    WechatNative,
    /// Stripe Checkout.
    #[sea_orm(string_value = "stripe")]
    Stripe,
}

/// A configured gateway account. `settings` is public configuration; the secrets are sealed
/// with the master key and never leave the server.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_channels")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: ChannelKind,
    pub name: String,
    /// JSON array of the pay types this channel serves.
    pub pay_types: Json,
    pub settings: Json,
    pub secrets_sealed: String,
    pub enabled: bool,
    pub sort_order: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
