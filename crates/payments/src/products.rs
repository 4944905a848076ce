//! Products: what can be bought, at a price in integer cents, granting credits or tier days.
//! Admins manage them; anyone may list the ones on sale. An order copies the product as it was,
//! so changing a price never changes an order already made.

use chrono::{DateTime, Utc};
use confab_core::{MAX_CREDITS, Page, PageRequest};
use confab_store::entity::product::{self, GrantKind, ProductStatus};
use confab_store::fetch_page;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, NotSet, QueryFilter, QueryOrder,
    Set,
};
use serde::{Deserialize, Serialize};

use crate::PaymentsError;

/// The highest price or order amount: 10^10 cents.
pub const MAX_AMOUNT_CENTS: i64 = 10_000_000_000;

/// The most days one product (or one order) may grant.
pub const MAX_DAYS: i64 = 3650;

/// A product as everyone sees it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Product {
    /// The product id.
    pub id: i64,
    /// What the buyer sees first.
    pub title: String,
    /// Longer text, possibly empty.
    pub description: String,
    /// The price in the currency's smallest unit (cents, fen).
    pub price_cents: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    /// A struck-through "was" price, if any.
    pub original_price_cents: Option<i64>,
    /// A short label such as "new" or "best value".
    pub badge: Option<String>,
    /// Credits, or days of a tier.
    pub grant_kind: GrantKind,
    /// Credits, or days of the tier, one unit grants.
    pub grant_amount: i64,
    /// Whether it can be ordered.
    pub status: ProductStatus,
    /// Lower first.
    pub sort_order: i32,
    /// Paid orders one account may have of this product; null for no limit.
    pub per_user_limit: Option<i32>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<product::Model> for Product {
    fn from(row: product::Model) -> Self {
        Self {
            id: row.id,
            title: row.title,
            description: row.description,
            price_cents: row.price_cents,
            currency: row.currency,
            original_price_cents: row.original_price_cents,
            badge: row.badge,
            grant_kind: row.grant_kind,
            grant_amount: row.grant_amount,
            status: row.status,
            sort_order: row.sort_order,
            per_user_limit: row.per_user_limit,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A new product.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    /// 1 to 64 characters.
    #[schema(pattern = r"^\s*\S([\s\S]{0,62}\S)?\s*$")]
    pub title: String,
    /// Up to 1,000 characters.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub description: String,
    /// 1 to 10^10 (in cents).
    #[schema(minimum = 1, maximum = 10_000_000_000_i64)]
    pub price_cents: i64,
    /// ISO 4217 code; CNY when absent.
    #[schema(pattern = r"^\s*[A-Za-z]{3}\s*$")]
    pub currency: Option<String>,
    /// A struck-through former price, for display.
    #[schema(minimum = 1, maximum = 10_000_000_000_i64)]
    pub original_price_cents: Option<i64>,
    /// Up to 16 characters.
    #[schema(pattern = r"^\s*\S([\s\S]{0,14}\S)?\s*$")]
    pub badge: Option<String>,
    /// What a purchase grants.
    pub grant_kind: GrantKind,
    /// Credits (1 to 10^12) or days (1 to 3650).
    #[schema(minimum = 1, minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub grant_amount: i64,
    /// `on_sale` when absent.
    pub status: Option<ProductStatus>,
    /// Lower first.
    #[serde(default)]
    pub sort_order: i32,
    /// 1 or more; null for no limit.
    #[schema(minimum = 1, minimum = 1)]
    pub per_user_limit: Option<i32>,
}

/// A partial update; absent fields keep their value, `null` clears an optional one.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    /// 1 to 64 characters (trimmed).
    #[schema(pattern = r"^\s*\S([\s\S]{0,62}\S)?\s*$")]
    pub title: Option<String>,
    /// Up to 1,000 characters.
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    /// 1 to 10^10 cents.
    #[schema(minimum = 1, maximum = 10_000_000_000_i64)]
    pub price_cents: Option<i64>,
    /// ISO 4217 code.
    #[schema(pattern = r"^\s*[A-Za-z]{3}\s*$")]
    pub currency: Option<String>,
    /// A struck-through former price; null removes it.
    #[serde(default, deserialize_with = "confab_core::nullable")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 10_000_000_000_i64)]
    pub original_price_cents: Option<Option<i64>>,
    /// Up to 16 characters shown on the product; null removes it.
    #[serde(default, deserialize_with = "confab_core::nullable")]
    #[schema(value_type = Option<String>, pattern = r"^\s*\S([\s\S]{0,14}\S)?\s*$")]
    pub badge: Option<Option<String>>,
    /// What a purchase grants.
    pub grant_kind: Option<GrantKind>,
    /// Credits (1 to 10^12) or days (1 to 3650).
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub grant_amount: Option<i64>,
    /// On sale or off sale.
    pub status: Option<ProductStatus>,
    /// Lower first.
    pub sort_order: Option<i32>,
    /// Purchases per account; null: no limit.
    #[serde(default, deserialize_with = "confab_core::nullable")]
    #[schema(value_type = Option<i32>, minimum = 1)]
    pub per_user_limit: Option<Option<i32>>,
}

fn check_title(title: &str) -> Result<String, PaymentsError> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > 64 {
        return Err(PaymentsError::InvalidField(
            "title",
            "title must be 1 to 64 characters",
        ));
    }
    Ok(title.to_owned())
}

fn check_description(description: &str) -> Result<String, PaymentsError> {
    if description.chars().count() > 1000 {
        return Err(PaymentsError::InvalidField(
            "description",
            "description must be at most 1000 characters",
        ));
    }
    Ok(description.trim().to_owned())
}

fn check_price(field: &'static str, cents: i64) -> Result<i64, PaymentsError> {
    if !(1..=MAX_AMOUNT_CENTS).contains(&cents) {
        return Err(PaymentsError::Invalid(
            field,
            format!("{field} must be 1 to {MAX_AMOUNT_CENTS} cents"),
        ));
    }
    Ok(cents)
}

/// Three ASCII letters, stored upper case.
pub fn check_currency(currency: &str) -> Result<String, PaymentsError> {
    let currency = currency.trim();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(PaymentsError::InvalidField(
            "currency",
            "currency must be a three-letter ISO 4217 code such as CNY or USD",
        ));
    }
    Ok(currency.to_ascii_uppercase())
}

fn check_badge(badge: &str) -> Result<String, PaymentsError> {
    let badge = badge.trim();
    if badge.is_empty() || badge.chars().count() > 16 {
        return Err(PaymentsError::InvalidField(
            "badge",
            "badge must be 1 to 16 characters (null for none)",
        ));
    }
    Ok(badge.to_owned())
}

fn check_grant(kind: GrantKind, amount: i64) -> Result<(), PaymentsError> {
    let most = match kind {
        GrantKind::Credits => MAX_CREDITS / 1000,
        GrantKind::VipDays | GrantKind::SvipDays => MAX_DAYS,
    };
    if !(1..=most).contains(&amount) {
        return Err(PaymentsError::InvalidField(
            "grant_amount",
            "grant_amount must be 1 to 1000000000000 credits, or 1 to 3650 days",
        ));
    }
    Ok(())
}

fn check_limit(limit: i32) -> Result<i32, PaymentsError> {
    if limit < 1 {
        return Err(PaymentsError::InvalidField(
            "per_user_limit",
            "per_user_limit must be at least 1 (null for no limit)",
        ));
    }
    Ok(limit)
}

/// Adds a product (on sale unless `status` says otherwise).
pub async fn create(
    db: &impl ConnectionTrait,
    new: NewProduct,
    now: DateTime<Utc>,
) -> Result<Product, PaymentsError> {
    check_grant(new.grant_kind, new.grant_amount)?;
    let row = product::ActiveModel {
        id: NotSet,
        title: Set(check_title(&new.title)?),
        description: Set(check_description(&new.description)?),
        price_cents: Set(check_price("price_cents", new.price_cents)?),
        currency: Set(check_currency(new.currency.as_deref().unwrap_or("CNY"))?),
        original_price_cents: Set(new
            .original_price_cents
            .map(|cents| check_price("original_price_cents", cents))
            .transpose()?),
        badge: Set(new.badge.as_deref().map(check_badge).transpose()?),
        grant_kind: Set(new.grant_kind),
        grant_amount: Set(new.grant_amount),
        status: Set(new.status.unwrap_or(ProductStatus::OnSale)),
        sort_order: Set(new.sort_order),
        per_user_limit: Set(new.per_user_limit.map(check_limit).transpose()?),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(row.into())
}

/// A live (not deleted) product, on sale or not.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<product::Model, PaymentsError> {
    product::Entity::find_by_id(id)
        .filter(product::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or(PaymentsError::ProductNotFound)
}

/// A live product, for admins.
pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<Product, PaymentsError> {
    Ok(find(db, id).await?.into())
}

/// Changes a product; orders already made keep their snapshot.
pub async fn update(
    db: &impl ConnectionTrait,
    id: i64,
    patch: ProductPatch,
    now: DateTime<Utc>,
) -> Result<Product, PaymentsError> {
    let row = find(db, id).await?;
    check_grant(
        patch.grant_kind.unwrap_or(row.grant_kind),
        patch.grant_amount.unwrap_or(row.grant_amount),
    )?;
    let mut active: product::ActiveModel = row.into();
    if let Some(title) = patch.title {
        active.title = Set(check_title(&title)?);
    }
    if let Some(description) = patch.description {
        active.description = Set(check_description(&description)?);
    }
    if let Some(cents) = patch.price_cents {
        active.price_cents = Set(check_price("price_cents", cents)?);
    }
    if let Some(currency) = patch.currency {
        active.currency = Set(check_currency(&currency)?);
    }
    if let Some(cents) = patch.original_price_cents {
        active.original_price_cents = Set(cents
            .map(|cents| check_price("original_price_cents", cents))
            .transpose()?);
    }
    if let Some(badge) = patch.badge {
        active.badge = Set(badge.as_deref().map(check_badge).transpose()?);
    }
    if let Some(kind) = patch.grant_kind {
        active.grant_kind = Set(kind);
    }
    if let Some(amount) = patch.grant_amount {
        active.grant_amount = Set(amount);
    }
    if let Some(status) = patch.status {
        active.status = Set(status);
    }
    if let Some(order) = patch.sort_order {
        active.sort_order = Set(order);
    }
    if let Some(limit) = patch.per_user_limit {
        active.per_user_limit = Set(limit.map(check_limit).transpose()?);
    }
    active.updated_at = Set(now);
    Ok(active.update(db).await?.into())
}

/// Gone from every list and not orderable; orders that name it keep their snapshot.
pub async fn delete(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), PaymentsError> {
    let row = find(db, id).await?;
    let mut active: product::ActiveModel = row.into();
    active.deleted_at = Set(Some(now));
    active.status = Set(ProductStatus::OffSale);
    active.updated_at = Set(now);
    active.update(db).await?;
    Ok(())
}

/// What is on sale, in display order.
pub async fn on_sale(db: &impl ConnectionTrait) -> Result<Vec<Product>, PaymentsError> {
    let rows = product::Entity::find()
        .filter(product::Column::DeletedAt.is_null())
        .filter(product::Column::Status.eq(ProductStatus::OnSale))
        .order_by_asc(product::Column::SortOrder)
        .order_by_asc(product::Column::Id)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(Product::from).collect())
}

/// Every live product, for admins, in display order.
pub async fn list(
    db: &impl ConnectionTrait,
    page: PageRequest,
) -> Result<Page<Product>, PaymentsError> {
    let query = product::Entity::find()
        .filter(product::Column::DeletedAt.is_null())
        .order_by_asc(product::Column::SortOrder)
        .order_by_asc(product::Column::Id);
    Ok(fetch_page(db, query, page).await?.map(Product::from))
}
