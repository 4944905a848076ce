//! Refunds: the amount is reserved on the order first (a conditional update, so two admins can
//! never refund more than was paid), then asked of the gateway; only when the gateway refunded
//! are the credits (or tier days) the refunded part granted taken back, as far as the balance
//! allows (never below zero or what is held). What could not be taken back is recorded.

use chrono::{DateTime, Utc};
use confab_credits::ledger::{self, EntryKind, NewEntry};
use confab_credits::tiers;
use confab_store::entity::credit_account;
use confab_store::entity::payment_event::{EventKind, EventOutcome};
use confab_store::entity::payment_order::{self, OrderStatus};
use confab_store::entity::payment_refund::{self, RefundStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, NotSet, QueryFilter, QuerySelect,
    Set, TransactionSession, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use crate::events::{NewEvent, record};
use crate::gateways::{GatewayError, RefundRequest};
use crate::orders::{AdminOrder, granted_tier};
use crate::{Payments, PaymentsError};

/// What an admin refunds.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    /// In cents; what is left to refund when absent.
    #[schema(minimum = 1)]
    pub amount_cents: Option<i64>,
    /// 1 to 200 characters; passed to the gateway where it takes one.
    #[schema(pattern = r"^\s*\S([\s\S]{0,198}\S)?\s*$")]
    pub reason: String,
}

/// A refund as admins see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Refund {
    /// The refund id.
    pub id: i64,
    /// The order refunded.
    pub order_id: i64,
    /// Confab's refund number (the gateway's idempotency key).
    pub refund_no: String,
    /// Refunded, in cents.
    pub amount_cents: i64,
    /// Why, as the admin gave it.
    pub reason: String,
    /// Where the refund is.
    pub status: RefundStatus,
    /// The gateway's id for it, once it refunded.
    pub gateway_refund_id: Option<String>,
    /// Credits (or days) taken back from the buyer.
    pub credits_taken_back: i64,
    /// Credits (or days) the refunded part granted that were already spent.
    pub credits_unrecovered: i64,
    /// The admin who refunded.
    pub actor_id: i64,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
}

impl From<payment_refund::Model> for Refund {
    fn from(row: payment_refund::Model) -> Self {
        Self {
            id: row.id,
            order_id: row.order_id,
            refund_no: row.refund_no,
            amount_cents: row.amount_cents,
            reason: row.reason,
            status: row.status,
            gateway_refund_id: row.gateway_refund_id,
            credits_taken_back: row.credits_taken_back,
            credits_unrecovered: row.credits_unrecovered,
            actor_id: row.actor_id,
            created_at: row.created_at,
        }
    }
}

/// A refund and the order after it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Refunded {
    /// The refund made.
    pub refund: Refund,
    /// The order after it.
    pub order: AdminOrder,
}

fn check_reason(reason: &str) -> Result<String, PaymentsError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(PaymentsError::InvalidField(
            "reason",
            "reason must be 1 to 200 characters",
        ));
    }
    Ok(reason.to_owned())
}

/// Reserves `amount` of what is left to refund; false when less is left.
async fn reserve(
    db: &impl ConnectionTrait,
    order_id: i64,
    amount: i64,
    now: DateTime<Utc>,
) -> Result<bool, PaymentsError> {
    let reserved = payment_order::Entity::update_many()
        .col_expr(
            payment_order::Column::RefundedCents,
            Expr::col(payment_order::Column::RefundedCents).add(amount),
        )
        .col_expr(payment_order::Column::UpdatedAt, Expr::value(now))
        .filter(payment_order::Column::Id.eq(order_id))
        .filter(
            payment_order::Column::Status
                .is_in([OrderStatus::Paid, OrderStatus::PartiallyRefunded]),
        )
        .filter(
            Expr::col(payment_order::Column::RefundedCents)
                .lte(Expr::col(payment_order::Column::AmountCents).sub(amount)),
        )
        .exec(db)
        .await?;
    Ok(reserved.rows_affected == 1)
}

/// Reserves the amount on the order and records the refund, in one transaction: a reservation
/// never outlives a failure to record it.
async fn reserve_and_record<C>(
    db: &C,
    order: &payment_order::Model,
    amount: i64,
    (reason, actor_id): (String, i64),
    now: DateTime<Utc>,
) -> Result<payment_refund::Model, PaymentsError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    if !reserve(&txn, order.id, amount, now).await? {
        txn.rollback().await?;
        let left = order.amount_cents - order.refunded_cents;
        return Err(PaymentsError::RefundExceedsPaid(Ord::max(left, 0)));
    }
    let row = payment_refund::ActiveModel {
        id: NotSet,
        order_id: Set(order.id),
        refund_no: Set(crate::orders::new_number("rf", now)),
        amount_cents: Set(amount),
        reason: Set(reason),
        status: Set(RefundStatus::Pending),
        gateway_refund_id: Set(None),
        credits_taken_back: Set(0),
        credits_unrecovered: Set(0),
        actor_id: Set(actor_id),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(row)
}

async fn release(
    db: &impl ConnectionTrait,
    order_id: i64,
    amount: i64,
    now: DateTime<Utc>,
) -> Result<(), PaymentsError> {
    payment_order::Entity::update_many()
        .col_expr(
            payment_order::Column::RefundedCents,
            Expr::col(payment_order::Column::RefundedCents).sub(amount),
        )
        .col_expr(payment_order::Column::UpdatedAt, Expr::value(now))
        .filter(payment_order::Column::Id.eq(order_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Who refunds what, with which reason.
pub struct RefundAsk {
    /// The order to refund.
    pub order_id: i64,
    /// The admin refunding.
    pub actor_id: i64,
    /// How much, and why.
    pub refund: NewRefund,
}

impl Payments {
    /// Refunds (part of) a paid order at its gateway, then takes back what the part granted.
    pub async fn refund<C>(
        &self,
        db: &C,
        ask: RefundAsk,
        now: DateTime<Utc>,
    ) -> Result<Refunded, PaymentsError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let reason = check_reason(&ask.refund.reason)?;
        let order = payment_order::Entity::find_by_id(ask.order_id)
            .one(db)
            .await?
            .ok_or(PaymentsError::OrderNotFound)?;
        if !matches!(
            order.status,
            OrderStatus::Paid | OrderStatus::PartiallyRefunded
        ) {
            return Err(PaymentsError::NotRefundable(
                "only a paid order can be refunded",
            ));
        }
        let left = order.amount_cents - order.refunded_cents;
        let amount = ask.refund.amount_cents.unwrap_or(left);
        if amount < 1 {
            return Err(PaymentsError::InvalidField(
                "amount_cents",
                "amount_cents must be at least 1",
            ));
        }
        let row = reserve_and_record(db, &order, amount, (reason, ask.actor_id), now).await?;
        let refund = self.carry_out(db, &order, row, now).await?;
        Ok(Refunded {
            refund,
            order: crate::orders::get_any(db, order.id).await?,
        })
    }

    /// Asks the gateway (unless it already refunded), then takes back what the refund's part
    /// granted. A refused refund releases its reservation; a lost answer (the gateway
    /// unreachable) leaves the refund pending for [`Payments::finish_refunds`], which asks again
    /// under the same refund number.
    async fn carry_out<C>(
        &self,
        db: &C,
        order: &payment_order::Model,
        row: payment_refund::Model,
        now: DateTime<Utc>,
    ) -> Result<Refund, PaymentsError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let row = match row.gateway_refund_id.clone() {
            Some(_) => row,
            None => match self.ask_gateway(db, order, &row, now).await {
                Ok(gateway_refund_id) => {
                    // Recorded at once, so a failure below never leads to a second refund.
                    let mut done: payment_refund::ActiveModel = row.into();
                    done.gateway_refund_id = Set(Some(gateway_refund_id));
                    done.updated_at = Set(now);
                    done.update(db).await?
                }
                Err(PaymentsError::Gateway(GatewayError::Unreachable(reason))) => {
                    return Err(PaymentsError::Gateway(GatewayError::Unreachable(format!(
                        "{reason}; the refund stays pending and is asked again"
                    ))));
                }
                Err(error) => {
                    release(db, order.id, row.amount_cents, now).await?;
                    let mut failed: payment_refund::ActiveModel = row.into();
                    failed.status = Set(RefundStatus::Failed);
                    failed.updated_at = Set(now);
                    failed.update(db).await?;
                    return Err(error);
                }
            },
        };
        take_back(db, order.id, row, now).await
    }

    /// Finishes refunds left pending (the gateway's answer was lost, or taking back failed):
    /// the gateway is asked again under the same refund number, then the credits are taken back.
    pub async fn finish_refunds<C>(
        &self,
        db: &C,
        older_than: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<usize, PaymentsError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let pending = payment_refund::Entity::find()
            .filter(payment_refund::Column::Status.eq(RefundStatus::Pending))
            .filter(payment_refund::Column::UpdatedAt.lte(older_than))
            .all(db)
            .await?;
        let mut finished = 0;
        for row in pending {
            let Some(order) = payment_order::Entity::find_by_id(row.order_id)
                .one(db)
                .await?
            else {
                continue;
            };
            let (_, gateway) = self.channel_gateway(db, order.channel_id).await?;
            if row.gateway_refund_id.is_none() && !gateway.refunds_once_per_number() {
                // Asking again could refund twice: left pending for an admin, who sees it on
                // the order and checks the merchant console.
                continue;
            }
            match self.carry_out(db, &order, row, now).await {
                Ok(_) => finished += 1,
                Err(error) => {
                    tracing::warn!(error = %error, order_id = order.id, "finishing a refund failed")
                }
            }
        }
        Ok(finished)
    }

    async fn ask_gateway(
        &self,
        db: &impl ConnectionTrait,
        order: &payment_order::Model,
        refund: &payment_refund::Model,
        now: DateTime<Utc>,
    ) -> Result<String, PaymentsError> {
        let (channel, gateway) = self.channel_gateway(db, order.channel_id).await?;
        let request = RefundRequest {
            out_trade_no: order.out_trade_no.clone(),
            trade_no: order.trade_no.clone(),
            refund_no: refund.refund_no.clone(),
            amount_cents: refund.amount_cents,
            total_cents: order.amount_cents,
            currency: order.currency.clone(),
            reason: refund.reason.clone(),
            gateway_ref: order.gateway_ref.clone(),
        };
        let mut event = NewEvent::new(
            channel.id,
            EventKind::Refund,
            EventOutcome::Accepted,
            "refunded",
        );
        event.order_id = Some(order.id);
        event.amount_cents = Some(refund.amount_cents);
        let answer = gateway.refund(&request).await;
        if let Err(error) = &answer {
            event.outcome = EventOutcome::Failed;
            event.reason = format!("refund failed: {error}");
        }
        record(db, event, now).await;
        Ok(answer?.gateway_refund_id)
    }
}

/// In one transaction: what the refunded part granted is taken back as far as the balance
/// allows, the refund succeeds, the order says what was refunded. The order row is locked
/// (PostgreSQL; SQLite runs one writer at a time), so two refunds finishing at once each take
/// their own share.
async fn take_back<C>(
    db: &C,
    order_id: i64,
    refund: payment_refund::Model,
    now: DateTime<Utc>,
) -> Result<Refund, PaymentsError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    let order = payment_order::Entity::find_by_id(order_id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(PaymentsError::OrderNotFound)?;
    // What the refunds that succeeded (this one included) granted, less what they already took
    // or could not take; refunds still waiting at the gateway do not count yet. The last refund
    // takes the remainder, so a full refund takes back the whole grant.
    let earlier: i64 = payment_refund::Entity::find()
        .filter(payment_refund::Column::OrderId.eq(order_id))
        .filter(payment_refund::Column::Status.eq(RefundStatus::Succeeded))
        .all(&txn)
        .await?
        .iter()
        .map(|row| row.amount_cents)
        .sum();
    let succeeded = earlier + refund.amount_cents;
    let due_in_all = i64::try_from(
        i128::from(order.grant_amount) * i128::from(succeeded) / i128::from(order.amount_cents),
    )
    .unwrap_or(order.grant_amount);
    let due = Ord::max(
        due_in_all - order.credits_taken_back - order.credits_unrecovered,
        0,
    );
    let taken = match granted_tier(order.grant_kind) {
        None => take_credits(&txn, &order, &refund, due, now).await?,
        Some(_) => tiers::take_days(&txn, order.user_id, due, now).await?,
    };
    let mut changed: payment_order::ActiveModel = order.clone().into();
    changed.status = Set(if succeeded >= order.amount_cents {
        OrderStatus::Refunded
    } else {
        OrderStatus::PartiallyRefunded
    });
    changed.credits_taken_back = Set(order.credits_taken_back + taken);
    changed.credits_unrecovered = Set(order.credits_unrecovered + (due - taken));
    changed.updated_at = Set(now);
    changed.update(&txn).await?;
    let mut done: payment_refund::ActiveModel = refund.into();
    done.status = Set(RefundStatus::Succeeded);
    done.credits_taken_back = Set(taken);
    done.credits_unrecovered = Set(due - taken);
    done.updated_at = Set(now);
    let done = done.update(&txn).await?;
    txn.commit().await?;
    Ok(done.into())
}

/// A `refund` ledger entry for what is available of `due` (balance less what is held).
async fn take_credits(
    txn: &impl ConnectionTrait,
    order: &payment_order::Model,
    refund: &payment_refund::Model,
    due: i64,
    now: DateTime<Utc>,
) -> Result<i64, PaymentsError> {
    let entry = |taken: i64| NewEntry {
        user_id: order.user_id,
        kind: EntryKind::Refund,
        amount: -taken,
        reason: format!("refund of order {}", order.out_trade_no),
        reference: Some(format!("payment_refund:{}", refund.id)),
        idempotency_key: format!("payment_refund:{}", refund.id),
        actor_id: Some(refund.actor_id),
    };
    // A request may take a hold between the read and the write: read again and retry.
    for _ in 0..5 {
        let available = credit_account::Entity::find_by_id(order.user_id)
            .one(txn)
            .await?
            .map_or(0, |account| Ord::max(account.balance - account.held, 0));
        let taken = Ord::min(due, available);
        if taken == 0 {
            return Ok(0);
        }
        match ledger::apply_in(txn, &entry(taken), now).await {
            Ok(_) => return Ok(taken),
            Err(confab_credits::CreditsError::InsufficientCredits) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    let taken = 0;
    Ok(taken)
}
