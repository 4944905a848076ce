//! Orders: stored first (counted against the per-user limit in the same transaction), then
//! made at the gateway, so a crash at any point leaves an order the reconciler can ask about;
//! read by their owner (anyone else's is not found) and by admins.

use chrono::{DateTime, Utc};
use confab_core::{Page, PageRequest};
use confab_credits::tiers::{self, Tier};
use confab_store::entity::payment_channel::{self, ChannelKind};
use confab_store::entity::payment_order::{self, GrantKind, OrderStatus};
use confab_store::entity::product;
use confab_store::entity::product::ProductStatus;
use confab_store::entity::{payment_event, payment_refund, user};
use confab_store::fetch_page;
use futures_util::StreamExt;
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, NotSet, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use crate::events::PaymentEvent;
use crate::gateways::PayRequest;
use crate::products::{MAX_AMOUNT_CENTS, MAX_DAYS};
use crate::{Payments, PaymentsError, channels};

/// The most units of a product one order may buy.
pub const MAX_QUANTITY: i32 = 100;

/// An order as its owner sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Order {
    /// What `GET /api/v1/orders/{id}` takes.
    pub id: i64,
    /// Confab's order number, as the gateway knows it.
    pub out_trade_no: String,
    /// The product bought.
    pub product_id: i64,
    /// The product's title when it was bought.
    pub title: String,
    /// The channel paid through.
    pub channel_id: i64,
    /// How the buyer pays (e.g. `alipay`, `wxpay`, `card`).
    pub pay_type: String,
    /// Units of the product.
    pub quantity: i32,
    /// What is paid, in the currency's smallest unit.
    pub amount_cents: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    /// Credits, or days of a tier.
    pub grant_kind: GrantKind,
    /// Credits or days granted in all.
    pub grant_amount: i64,
    /// Where the order is.
    pub status: OrderStatus,
    /// Content for a QR code to show, when the gateway gives one.
    pub qr_code: Option<String>,
    /// A page to send the payer to, when the gateway gives one.
    pub pay_url: Option<String>,
    /// When an unpaid order expires.
    pub expires_at: DateTime<Utc>,
    /// When the payment was confirmed.
    pub paid_at: Option<DateTime<Utc>>,
    /// Refunded so far, in cents.
    pub refunded_cents: i64,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// An order as admins see it: who bought, the gateway's trade number, what refunds took back,
/// and every gateway event.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AdminOrder {
    #[serde(flatten)]
    pub order: Order,
    /// The buyer.
    pub user_id: i64,
    /// The gateway's trade number, once paid.
    pub trade_no: Option<String>,
    /// The product as it was bought.
    #[schema(value_type = Object)]
    pub product_snapshot: serde_json::Value,
    /// Credits refunds took back.
    pub credits_taken_back: i64,
    /// Credits refunds could not take back (already spent).
    pub credits_unrecovered: i64,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Gateway events, oldest first (only in the one-order view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<PaymentEvent>>,
    /// Refunds, oldest first (only in the one-order view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunds: Option<Vec<crate::refunds::Refund>>,
}

impl From<payment_order::Model> for Order {
    fn from(row: payment_order::Model) -> Self {
        let title = row.product_snapshot["title"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Self {
            id: row.id,
            out_trade_no: row.out_trade_no,
            product_id: row.product_id,
            title,
            channel_id: row.channel_id,
            pay_type: row.pay_type,
            quantity: row.quantity,
            amount_cents: row.amount_cents,
            currency: row.currency,
            grant_kind: row.grant_kind,
            grant_amount: row.grant_amount,
            status: row.status,
            qr_code: row.qr_code,
            pay_url: row.pay_url,
            expires_at: row.expires_at,
            paid_at: row.paid_at,
            refunded_cents: row.refunded_cents,
            created_at: row.created_at,
        }
    }
}

impl AdminOrder {
    pub(crate) fn from_row(
        row: payment_order::Model,
        history: Option<(Vec<PaymentEvent>, Vec<crate::refunds::Refund>)>,
    ) -> Self {
        let (events, refunds) = history.unzip();
        Self {
            user_id: row.user_id,
            trade_no: row.trade_no.clone(),
            product_snapshot: row.product_snapshot.clone(),
            credits_taken_back: row.credits_taken_back,
            credits_unrecovered: row.credits_unrecovered,
            updated_at: row.updated_at,
            events,
            refunds,
            order: row.into(),
        }
    }
}

/// What a user orders.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// A product on sale.
    pub product_id: i64,
    /// The channel to pay through; without it, the first enabled channel serving `pay_type`.
    pub channel_id: Option<i64>,
    /// e.g. `alipay`, `wxpay`; without it, the channel's first pay type.
    pub pay_type: Option<String>,
    /// 1 to 100; 1 when absent.
    #[schema(minimum = 1, maximum = 100)]
    pub quantity: Option<i32>,
}

/// Who orders.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// The buyer.
    pub user_id: i64,
    /// The buyer's address (WeChat and Epay want it).
    pub client_ip: Option<String>,
}

/// Which orders an admin lists.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Only this buyer's.
    pub user_id: Option<i64>,
    /// Only in this status.
    pub status: Option<OrderStatus>,
    /// Only through this channel.
    pub channel_id: Option<i64>,
    /// Made at or after.
    pub from: Option<DateTime<Utc>>,
    /// Made before.
    pub to: Option<DateTime<Utc>>,
}

/// 26 characters: a two-letter `prefix`, the UTC time to the second, 40 random bits. Letters
/// and digits only, which every gateway accepts (WeChat: 6 to 32).
pub(crate) fn new_number(prefix: &str, now: DateTime<Utc>) -> String {
    let mut bytes = [0u8; 5];
    rand::rng().fill_bytes(&mut bytes);
    let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{}{random}", now.format("%Y%m%d%H%M%S"))
}

/// The channel an order goes through, and the pay type.
async fn pick_channel(
    db: &impl ConnectionTrait,
    new: &NewOrder,
) -> Result<(payment_channel::Model, String), PaymentsError> {
    let serves = |row: &payment_channel::Model, pay_type: &str| {
        row.pay_types
            .as_array()
            .is_some_and(|types| types.iter().any(|t| t.as_str() == Some(pay_type)))
    };
    let first_type =
        |row: &payment_channel::Model| row.pay_types[0].as_str().unwrap_or_default().to_owned();
    match (new.channel_id, new.pay_type.as_deref()) {
        (Some(id), pay_type) => {
            let row = channels::find(db, id).await?;
            if !row.enabled {
                return Err(PaymentsError::ChannelUnavailable(
                    "this payment channel is disabled".into(),
                ));
            }
            let pay_type = pay_type.map_or_else(|| first_type(&row), str::to_owned);
            if !serves(&row, &pay_type) {
                return Err(PaymentsError::ChannelUnavailable(format!(
                    "this payment channel does not take '{}'",
                    pay_type.chars().take(16).collect::<String>()
                )));
            }
            Ok((row, pay_type))
        }
        (None, Some(pay_type)) => {
            let rows = payment_channel::Entity::find()
                .filter(payment_channel::Column::DeletedAt.is_null())
                .filter(payment_channel::Column::Enabled.eq(true))
                .order_by_asc(payment_channel::Column::SortOrder)
                .order_by_asc(payment_channel::Column::Id)
                .all(db)
                .await?;
            let row = rows
                .into_iter()
                .find(|row| serves(row, pay_type))
                .ok_or_else(|| {
                    PaymentsError::ChannelUnavailable(format!(
                        "no payment channel takes '{}'",
                        pay_type.chars().take(16).collect::<String>()
                    ))
                })?;
            Ok((row, pay_type.to_owned()))
        }
        (None, None) => Err(PaymentsError::InvalidField(
            "channel_id",
            "give channel_id or pay_type",
        )),
    }
}

/// The product, if it may be ordered now by this user in this quantity: its price and grant.
async fn check_product(
    db: &impl ConnectionTrait,
    user_id: i64,
    new: &NewOrder,
    now: DateTime<Utc>,
) -> Result<(product::Model, i64, i64), PaymentsError> {
    let quantity = new.quantity.unwrap_or(1);
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        return Err(PaymentsError::InvalidField(
            "quantity",
            "quantity must be 1 to 100",
        ));
    }
    let row = crate::products::find(db, new.product_id).await?;
    if row.status != ProductStatus::OnSale {
        return Err(PaymentsError::ProductUnavailable);
    }
    let amount = row
        .price_cents
        .checked_mul(i64::from(quantity))
        .filter(|amount| *amount <= MAX_AMOUNT_CENTS)
        .ok_or(PaymentsError::InvalidField(
            "quantity",
            "the order would cost more than 10^10 cents",
        ))?;
    let grant = row.grant_amount.saturating_mul(i64::from(quantity));
    let most = match row.grant_kind {
        GrantKind::Credits => confab_core::MAX_CREDITS,
        GrantKind::VipDays | GrantKind::SvipDays => MAX_DAYS,
    };
    if grant > most {
        return Err(PaymentsError::InvalidField(
            "quantity",
            "the order would grant more than one account may hold",
        ));
    }
    if let Some(limit) = row.per_user_limit {
        // Units, not orders; unpaid orders count until they expire or close.
        let taken: Option<i64> = payment_order::Entity::find()
            .select_only()
            .column_as(payment_order::Column::Quantity.sum(), "units")
            .filter(payment_order::Column::UserId.eq(user_id))
            .filter(payment_order::Column::ProductId.eq(row.id))
            .filter(
                payment_order::Column::Status
                    .is_not_in([OrderStatus::Expired, OrderStatus::Closed]),
            )
            .into_tuple()
            .one(db)
            .await?
            .flatten();
        if taken.unwrap_or(0) + i64::from(quantity) > i64::from(limit) {
            return Err(PaymentsError::PurchaseLimitReached(limit));
        }
    }
    if let Some(tier) = granted_tier(row.grant_kind) {
        let current = tiers::tier_of(db, user_id, now).await?;
        if current > tier {
            return Err(PaymentsError::HigherTierActive(current.as_str()));
        }
    }
    Ok((row, amount, grant))
}

/// Alipay, Epay and WeChat Pay take yuan only; Stripe takes what the account is set up for.
fn takes_currency(kind: ChannelKind, currency: &str) -> bool {
    match kind {
        ChannelKind::AlipayF2f | ChannelKind::Epay | ChannelKind::WechatNative => currency == "CNY",
        ChannelKind::Stripe => true,
    }
}

pub(crate) fn granted_tier(kind: GrantKind) -> Option<Tier> {
    match kind {
        GrantKind::Credits => None,
        GrantKind::VipDays => Some(Tier::Vip),
        GrantKind::SvipDays => Some(Tier::Svip),
    }
}

impl Payments {
    /// Stores the order (its units counted against the product's per-user limit in the same
    /// transaction, the buyer's row locked), then makes the payment at the gateway and adds what
    /// the client shows. A crash at any point leaves a stored order the reconciler asks the
    /// gateway about; a gateway that fails answers 502 and its order is expired (closed at the
    /// gateway where it can be), releasing the units.
    pub async fn create_order<C>(
        &self,
        db: &C,
        checkout: &Checkout,
        new: NewOrder,
        now: DateTime<Utc>,
    ) -> Result<Order, PaymentsError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let public_url = self.public_url()?;
        let (channel, pay_type) = pick_channel(db, &new).await?;
        let gateway = self.gateway(&channel)?;
        let ask = OrderAsk {
            user_id: checkout.user_id,
            new: &new,
            channel: &channel,
            pay_type,
            expires_at: now + self.order_ttl,
        };
        let (order, subject) = store_order(db, ask, now).await?;
        let request = PayRequest {
            out_trade_no: order.out_trade_no.clone(),
            subject,
            amount_cents: order.amount_cents,
            currency: order.currency.clone(),
            pay_type: order.pay_type.clone(),
            notify_url: format!("{public_url}/api/v1/payments/{}/notify", channel.id),
            return_url: None,
            client_ip: checkout.client_ip.clone(),
            expires_at: order.expires_at,
        };
        match gateway.create(&request).await {
            Ok(action) => {
                let mut made: payment_order::ActiveModel = order.into();
                made.gateway_ref = Set(action.gateway_ref);
                made.qr_code = Set(action.qr_code);
                made.pay_url = Set(action.pay_url);
                made.updated_at = Set(now);
                Ok(made.update(db).await?.into())
            }
            Err(error) => {
                // The gateway may have made it all the same (an answer lost on the way).
                self.expire(db, gateway.as_ref(), &order, now).await?;
                Err(error.into())
            }
        }
    }
}

/// What an order is made of before the gateway hears of it.
struct OrderAsk<'a> {
    user_id: i64,
    new: &'a NewOrder,
    channel: &'a payment_channel::Model,
    pay_type: String,
    expires_at: DateTime<Utc>,
}

/// Checks the product and stores the order in one transaction, with the buyer's row locked
/// (PostgreSQL; SQLite has one writer), so concurrent orders cannot both pass the per-user
/// limit. Answers the stored order and the product's title.
async fn store_order<C>(
    db: &C,
    ask: OrderAsk<'_>,
    now: DateTime<Utc>,
) -> Result<(payment_order::Model, String), PaymentsError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    user::Entity::find_by_id(ask.user_id)
        .lock_exclusive()
        .one(&txn)
        .await?;
    let (product, amount_cents, grant_amount) =
        check_product(&txn, ask.user_id, ask.new, now).await?;
    if !takes_currency(ask.channel.kind, &product.currency) {
        return Err(PaymentsError::ChannelUnavailable(format!(
            "this payment channel does not take {}",
            product.currency
        )));
    }
    let title = product.title.clone();
    let row = payment_order::ActiveModel {
        id: NotSet,
        out_trade_no: Set(new_number("cf", now)),
        user_id: Set(ask.user_id),
        product_id: Set(product.id),
        channel_id: Set(ask.channel.id),
        pay_type: Set(ask.pay_type),
        quantity: Set(ask.new.quantity.unwrap_or(1)),
        amount_cents: Set(amount_cents),
        currency: Set(product.currency.clone()),
        product_snapshot: Set(serde_json::json!(crate::products::Product::from(
            product.clone()
        ))),
        grant_kind: Set(product.grant_kind),
        grant_amount: Set(grant_amount),
        status: Set(OrderStatus::Pending),
        trade_no: Set(None),
        gateway_ref: Set(None),
        qr_code: Set(None),
        pay_url: Set(None),
        expires_at: Set(ask.expires_at),
        paid_at: Set(None),
        closed_at_gateway: Set(false),
        refunded_cents: Set(0),
        credits_taken_back: Set(0),
        credits_unrecovered: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok((row, title))
}

/// One of the user's orders; anyone else's is not found.
pub async fn get_own(
    db: &impl ConnectionTrait,
    user_id: i64,
    id: i64,
) -> Result<Order, PaymentsError> {
    payment_order::Entity::find_by_id(id)
        .filter(payment_order::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .map(Order::from)
        .ok_or(PaymentsError::OrderNotFound)
}

/// The user's orders, newest first.
pub async fn list_own(
    db: &impl ConnectionTrait,
    user_id: i64,
    page: PageRequest,
) -> Result<Page<Order>, PaymentsError> {
    let query = payment_order::Entity::find()
        .filter(payment_order::Column::UserId.eq(user_id))
        .order_by_desc(payment_order::Column::Id);
    Ok(fetch_page(db, query, page).await?.map(Order::from))
}

fn filtered(filter: &OrderFilter) -> sea_orm::Select<payment_order::Entity> {
    let mut query = payment_order::Entity::find();
    if let Some(user_id) = filter.user_id {
        query = query.filter(payment_order::Column::UserId.eq(user_id));
    }
    if let Some(status) = filter.status {
        query = query.filter(payment_order::Column::Status.eq(status));
    }
    if let Some(channel_id) = filter.channel_id {
        query = query.filter(payment_order::Column::ChannelId.eq(channel_id));
    }
    if let Some(from) = filter.from {
        query = query.filter(payment_order::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(payment_order::Column::CreatedAt.lt(to));
    }
    query.order_by_desc(payment_order::Column::Id)
}

/// Every order matching `filter`, newest first, for admins.
pub async fn list_all(
    db: &impl ConnectionTrait,
    filter: &OrderFilter,
    page: PageRequest,
) -> Result<Page<AdminOrder>, PaymentsError> {
    Ok(fetch_page(db, filtered(filter), page)
        .await?
        .map(|row| AdminOrder::from_row(row, None)))
}

/// One order with its gateway events, for admins.
pub async fn get_any(db: &impl ConnectionTrait, id: i64) -> Result<AdminOrder, PaymentsError> {
    let row = payment_order::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(PaymentsError::OrderNotFound)?;
    let events = payment_event::Entity::find()
        .filter(payment_event::Column::OrderId.eq(id))
        .order_by_asc(payment_event::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(PaymentEvent::from)
        .collect();
    let refunds = payment_refund::Entity::find()
        .filter(payment_refund::Column::OrderId.eq(id))
        .order_by_asc(payment_refund::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(crate::refunds::Refund::from)
        .collect();
    Ok(AdminOrder::from_row(row, Some((events, refunds))))
}

/// At most this many orders in one export.
pub const MAX_EXPORT: u64 = 100_000;

/// The export's header line.
const CSV_HEADER: &str = "id,out_trade_no,user_id,product_id,title,channel_id,pay_type,quantity,\
    amount_cents,currency,status,trade_no,created_at,paid_at,refunded_cents,credits_taken_back,\
    credits_unrecovered\n";

/// Orders read from the database per step of an export.
const EXPORT_BATCH: u64 = 1_000;

/// The orders matching `filter`, newest first (at most [`MAX_EXPORT`]), as CSV with a header
/// line: a stream of chunks read from the database a batch at a time, so an export of any size
/// holds one batch in memory. Cells a spreadsheet would run are neutralised
/// ([`confab_core::csv`]).
pub fn export_csv<C>(
    db: C,
    filter: OrderFilter,
) -> impl futures_util::Stream<Item = Result<String, PaymentsError>> + Send + 'static
where
    C: ConnectionTrait + Send + Sync + 'static,
{
    // Keyset pages, newest first: each step reads the orders older than the last one sent.
    let rows = futures_util::stream::try_unfold(
        (db, filter, Some(i64::MAX), 0u64),
        |(db, filter, before, sent)| async move {
            let Some(before) = before.filter(|_| sent < MAX_EXPORT) else {
                return Ok(None);
            };
            let rows = filtered(&filter)
                .filter(payment_order::Column::Id.lt(before))
                .limit(EXPORT_BATCH.min(MAX_EXPORT - sent))
                .all(&db)
                .await?;
            let Some(last) = rows.last().map(|row| row.id) else {
                return Ok(None);
            };
            let count = rows.len() as u64;
            let mut chunk = String::with_capacity(rows.len() * 160);
            for row in rows {
                csv_line(&mut chunk, AdminOrder::from_row(row, None));
            }
            let next = (count == EXPORT_BATCH).then_some(last);
            Ok(Some((chunk, (db, filter, next, sent + count))))
        },
    );
    futures_util::stream::once(async { Ok(CSV_HEADER.to_owned()) }).chain(rows)
}

fn csv_line(out: &mut String, order: AdminOrder) {
    let status = serde_json::to_value(order.order.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let paid_at = order.order.paid_at.map(|at| at.to_rfc3339());
    confab_core::csv::push_line(
        out,
        &[
            order.order.id.to_string(),
            order.order.out_trade_no,
            order.user_id.to_string(),
            order.order.product_id.to_string(),
            order.order.title,
            order.order.channel_id.to_string(),
            order.order.pay_type,
            order.order.quantity.to_string(),
            order.order.amount_cents.to_string(),
            order.order.currency,
            status,
            order.trade_no.unwrap_or_default(),
            order.order.created_at.to_rfc3339(),
            paid_at.unwrap_or_default(),
            order.order.refunded_cents.to_string(),
            order.credits_taken_back.to_string(),
            order.credits_unrecovered.to_string(),
        ],
    );
}
