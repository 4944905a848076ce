//! Paid and fulfilled in one transaction, exactly once: a conditional update moves the order
//! from unpaid to paid with the gateway's trade number (unique per channel), and the grant (a
//! `purchase` ledger entry keyed by the order, or tier days) is written in the same transaction.
//! Whoever loses the race, in this process or another instance, finds the order paid.

use chrono::{DateTime, Utc};
use confab_credits::ledger::{self, EntryKind, NewEntry};
use confab_credits::tiers;
use confab_store::entity::payment_order::{self, OrderStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, SqlErr, TransactionSession,
    TransactionTrait,
};

use crate::PaymentsError;
use crate::orders::granted_tier;

/// A payment the gateway confirmed (by a verified notify or a query).
#[derive(Debug, Clone)]
pub(crate) struct PaidTrade {
    pub trade_no: String,
    pub amount_cents: i64,
    pub currency: String,
}

/// What fulfilling did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fulfilment {
    /// This call paid the order and granted what it buys.
    Fulfilled,
    /// The order was already paid with this trade: nothing changed.
    AlreadyPaid,
    /// The order was already paid with another trade: this money needs a refund by hand.
    PaidTwice,
}

/// Whether the gateway's trade matches the order: same amount, same currency.
pub(crate) fn mismatch(order: &payment_order::Model, trade: &PaidTrade) -> Option<String> {
    if trade.amount_cents != order.amount_cents {
        return Some(format!(
            "amount {} does not match the order's {}",
            trade.amount_cents, order.amount_cents
        ));
    }
    if !trade.currency.eq_ignore_ascii_case(&order.currency) {
        return Some(format!(
            "currency {} does not match the order's {}",
            trade.currency.chars().take(8).collect::<String>(),
            order.currency
        ));
    }
    None
}

pub(crate) async fn fulfil<C>(
    db: &C,
    order: &payment_order::Model,
    trade: &PaidTrade,
    now: DateTime<Utc>,
) -> Result<Fulfilment, PaymentsError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    let claimed = payment_order::Entity::update_many()
        .col_expr(
            payment_order::Column::Status,
            Expr::value(OrderStatus::Paid),
        )
        .col_expr(
            payment_order::Column::TradeNo,
            Expr::value(trade.trade_no.as_str()),
        )
        .col_expr(payment_order::Column::PaidAt, Expr::value(now))
        .col_expr(payment_order::Column::UpdatedAt, Expr::value(now))
        .filter(payment_order::Column::Id.eq(order.id))
        .filter(payment_order::Column::TradeNo.is_null())
        .filter(payment_order::Column::Status.is_in([
            OrderStatus::Pending,
            OrderStatus::Expired,
            OrderStatus::Closed,
        ]))
        .exec(&txn)
        .await;
    let claimed = match claimed {
        Ok(result) => result.rows_affected == 1,
        // The trade already paid another order of this channel.
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            txn.rollback().await?;
            return Ok(Fulfilment::PaidTwice);
        }
        Err(error) => return Err(error.into()),
    };
    if !claimed {
        txn.rollback().await?;
        return already(db, order.id, &trade.trade_no).await;
    }
    grant(&txn, order, now).await?;
    txn.commit().await?;
    Ok(Fulfilment::Fulfilled)
}

async fn already(
    db: &impl ConnectionTrait,
    order_id: i64,
    trade_no: &str,
) -> Result<Fulfilment, PaymentsError> {
    let row = payment_order::Entity::find_by_id(order_id)
        .one(db)
        .await?
        .ok_or(PaymentsError::OrderNotFound)?;
    Ok(if row.trade_no.as_deref() == Some(trade_no) {
        Fulfilment::AlreadyPaid
    } else {
        Fulfilment::PaidTwice
    })
}

/// Credits as a `purchase` entry, or tier days. Days of a lower tier than one still running
/// (bought while it was not) go to the running tier: the money was taken, the time is given.
async fn grant(
    txn: &impl ConnectionTrait,
    order: &payment_order::Model,
    now: DateTime<Utc>,
) -> Result<(), PaymentsError> {
    match granted_tier(order.grant_kind) {
        None => {
            let entry = NewEntry {
                user_id: order.user_id,
                kind: EntryKind::Purchase,
                amount: order.grant_amount,
                reason: format!("order {}", order.out_trade_no),
                reference: Some(format!("payment_order:{}", order.id)),
                idempotency_key: format!("payment_order:{}", order.id),
                actor_id: None,
            };
            ledger::apply_in(txn, &entry, now).await?;
        }
        Some(tier) => {
            let current = tiers::tier_of(txn, order.user_id, now).await?;
            let tier = if current > tier { current } else { tier };
            tiers::grant_days(txn, order.user_id, tier, order.grant_amount, now).await?;
        }
    }
    Ok(())
}
