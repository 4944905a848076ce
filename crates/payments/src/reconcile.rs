//! Asking the gateway: for orders whose notify never came (the periodic job) and on an admin's
//! `sync`. A paid order is fulfilled exactly as a notify would (same transaction, same once-only
//! rule); an unpaid one past its expiry is closed at the gateway and marked expired.

use chrono::{DateTime, Utc};
use confab_store::entity::payment_event::{EventKind, EventOutcome};
use confab_store::entity::payment_order::{self, OrderStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use crate::events::{NewEvent, record};
use crate::fulfil::{PaidTrade, fulfil, mismatch};
use crate::gateways::{Gateway, GatewayError, GatewayState, OrderRef};
use crate::notify::outcome_of;
use crate::orders::AdminOrder;
use crate::{Payments, PaymentsError};

/// Orders one pass of the periodic job looks at, oldest first.
const PASS_SIZE: u64 = 200;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Orders asked about.
    pub checked: usize,
    /// Found paid and fulfilled.
    pub fulfilled: usize,
    /// Unpaid past their expiry, now expired.
    pub expired: usize,
    /// The gateway could not be asked.
    pub failed: usize,
}

/// What asking about one order did.
enum Synced {
    Fulfilled,
    Expired,
    Unchanged,
}

pub(crate) fn order_ref(order: &payment_order::Model) -> OrderRef {
    OrderRef {
        out_trade_no: order.out_trade_no.clone(),
        gateway_ref: order.gateway_ref.clone(),
        trade_no: order.trade_no.clone(),
        amount_cents: order.amount_cents,
        currency: order.currency.clone(),
    }
}

impl Payments {
    /// One pass of the periodic job: every pending order older than `grace` (its notify is
    /// late) is asked about.
    pub async fn reconcile<C>(
        &self,
        db: &C,
        grace: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Reconciled, PaymentsError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        // Pending orders whose notify is late, and expired ones that may still be paid at the
        // gateway (it could not close them) for a day; least recently asked first, so orders
        // that stay unanswered never crowd out the others.
        let late = Condition::all()
            .add(payment_order::Column::Status.eq(OrderStatus::Pending))
            .add(payment_order::Column::CreatedAt.lte(now - grace));
        let open = Condition::all()
            .add(payment_order::Column::Status.eq(OrderStatus::Expired))
            .add(payment_order::Column::ClosedAtGateway.eq(false))
            .add(payment_order::Column::ExpiresAt.gte(now - chrono::Duration::days(1)));
        let pending = payment_order::Entity::find()
            .filter(Condition::any().add(late).add(open))
            .order_by_asc(payment_order::Column::UpdatedAt)
            .order_by_asc(payment_order::Column::Id)
            .limit(PASS_SIZE)
            .all(db)
            .await?;
        let mut done = Reconciled::default();
        for order in pending {
            done.checked += 1;
            touch(db, order.id, now).await?;
            match self.sync(db, &order, now).await {
                Ok(Synced::Fulfilled) => done.fulfilled += 1,
                Ok(Synced::Expired) => done.expired += 1,
                Ok(Synced::Unchanged) => {}
                Err(error) => {
                    done.failed += 1;
                    tracing::warn!(error = %error, order_id = order.id, "asking the gateway about an order failed");
                }
            }
        }
        Ok(done)
    }

    /// An admin's `sync`: ask the gateway about this order now and act on the answer.
    pub async fn sync_order<C>(
        &self,
        db: &C,
        order_id: i64,
        now: DateTime<Utc>,
    ) -> Result<AdminOrder, PaymentsError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let order = payment_order::Entity::find_by_id(order_id)
            .one(db)
            .await?
            .ok_or(PaymentsError::OrderNotFound)?;
        self.sync(db, &order, now).await?;
        crate::orders::get_any(db, order_id).await
    }

    async fn sync<C>(
        &self,
        db: &C,
        order: &payment_order::Model,
        now: DateTime<Utc>,
    ) -> Result<Synced, PaymentsError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let (channel, gateway) = self.channel_gateway(db, order.channel_id).await?;
        let mut event = NewEvent::new(channel.id, EventKind::Query, EventOutcome::Unpaid, "");
        event.order_id = Some(order.id);
        let state = match gateway.query(&order_ref(order)).await {
            Ok(state) => state,
            Err(error) => {
                event.outcome = EventOutcome::Failed;
                event.reason = format!("query failed: {error}");
                record(db, event, now).await;
                // A gateway down for long does not keep an order pending (and counting
                // against the buyer's limit) for ever; a payment that arrives is honoured.
                if order.expires_at + chrono::Duration::minutes(10) <= now {
                    mark(db, order.id, OrderStatus::Expired, false, now).await?;
                }
                return Err(error.into());
            }
        };
        match state {
            GatewayState::Paid {
                trade_no,
                amount_cents,
                currency,
            } => {
                let trade = PaidTrade {
                    trade_no,
                    amount_cents,
                    currency,
                };
                event.trade_no = Some(trade.trade_no.clone());
                event.amount_cents = Some(trade.amount_cents);
                if let Some(reason) = mismatch(order, &trade) {
                    event.outcome = EventOutcome::Refused;
                    event.reason = reason;
                    record(db, event, now).await;
                    return Ok(Synced::Unchanged);
                }
                let fulfilment = fulfil(db, order, &trade, now).await?;
                let (outcome, reason) = outcome_of(fulfilment);
                event.outcome = outcome;
                event.reason = reason.into();
                record(db, event, now).await;
                Ok(if outcome == EventOutcome::Accepted {
                    Synced::Fulfilled
                } else {
                    Synced::Unchanged
                })
            }
            GatewayState::Pending if order.expires_at <= now => {
                event.reason = "not paid by its expiry".into();
                record(db, event, now).await;
                self.expire(db, gateway.as_ref(), order, now).await?;
                Ok(Synced::Expired)
            }
            GatewayState::Pending => {
                event.reason = "not paid yet".into();
                record(db, event, now).await;
                Ok(Synced::Unchanged)
            }
            GatewayState::Closed => {
                event.reason = "closed at the gateway".into();
                record(db, event, now).await;
                mark(db, order.id, OrderStatus::Closed, true, now).await?;
                Ok(Synced::Unchanged)
            }
        }
    }

    /// Closes the order at the gateway (so it can no longer be paid), then marks it expired. A
    /// payment that still arrives is honoured; an order the gateway could not close stays on the
    /// reconciler's list for a while.
    pub(crate) async fn expire(
        &self,
        db: &impl ConnectionTrait,
        gateway: &dyn Gateway,
        order: &payment_order::Model,
        now: DateTime<Utc>,
    ) -> Result<(), PaymentsError> {
        let closed = close_at_gateway(db, gateway, order, "closed at expiry", now).await;
        if let Err(error) = &closed {
            tracing::warn!(error = %error, order_id = order.id, "closing an expired order at its gateway failed");
        }
        let closed = closed.unwrap_or(false);
        mark(db, order.id, OrderStatus::Expired, closed, now).await
    }
}

/// Closes the order at its gateway and records the attempt; true when it can no longer be paid
/// there (a gateway with nothing to close says so).
async fn close_at_gateway(
    db: &impl ConnectionTrait,
    gateway: &dyn Gateway,
    order: &payment_order::Model,
    why: &str,
    now: DateTime<Utc>,
) -> Result<bool, GatewayError> {
    let closed = gateway.close(&order_ref(order)).await;
    let mut event = NewEvent::new(
        order.channel_id,
        EventKind::Close,
        EventOutcome::Accepted,
        why,
    );
    event.order_id = Some(order.id);
    if let Err(error) = &closed {
        event.outcome = EventOutcome::Failed;
        event.reason = format!("closing failed: {error}");
    }
    record(db, event, now).await;
    closed.map(|()| gateway.closes_orders())
}

/// Marks the order as asked about now (the pass takes the least recently asked first).
async fn touch(
    db: &impl ConnectionTrait,
    order_id: i64,
    now: DateTime<Utc>,
) -> Result<(), PaymentsError> {
    payment_order::Entity::update_many()
        .col_expr(payment_order::Column::UpdatedAt, Expr::value(now))
        .filter(payment_order::Column::Id.eq(order_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Moves an unpaid (pending or expired) order to `status`; a paid order is never touched.
async fn mark(
    db: &impl ConnectionTrait,
    order_id: i64,
    status: OrderStatus,
    closed_at_gateway: bool,
    now: DateTime<Utc>,
) -> Result<(), PaymentsError> {
    payment_order::Entity::update_many()
        .col_expr(payment_order::Column::Status, Expr::value(status))
        .col_expr(
            payment_order::Column::ClosedAtGateway,
            Expr::value(closed_at_gateway),
        )
        .col_expr(payment_order::Column::UpdatedAt, Expr::value(now))
        .filter(payment_order::Column::Id.eq(order_id))
        .filter(payment_order::Column::Status.is_in([OrderStatus::Pending, OrderStatus::Expired]))
        .exec(db)
        .await?;
    Ok(())
}

impl Payments {
    /// The buyer gives up on a pending order: it is closed at the gateway (so it can no longer
    /// be paid there) and marked closed. A payment that still arrives is honoured.
    pub async fn close_order<C>(
        &self,
        db: &C,
        user_id: i64,
        order_id: i64,
        now: DateTime<Utc>,
    ) -> Result<crate::orders::Order, PaymentsError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let order = payment_order::Entity::find_by_id(order_id)
            .filter(payment_order::Column::UserId.eq(user_id))
            .one(db)
            .await?
            .ok_or(PaymentsError::OrderNotFound)?;
        if order.status != OrderStatus::Pending {
            return Err(PaymentsError::NotPending);
        }
        let (_, gateway) = self.channel_gateway(db, order.channel_id).await?;
        let closed =
            close_at_gateway(db, gateway.as_ref(), &order, "closed by the buyer", now).await?;
        mark(db, order.id, OrderStatus::Closed, closed, now).await?;
        crate::orders::get_own(db, user_id, order_id).await
    }
}
