//! A gateway's notify, checked with the secrets of the channel it arrived for and no other:
//! signature, merchant, order (of this channel), amount and currency must all match. Anything
//! else changes nothing, is recorded with its reason, and gets the gateway's failure answer. The
//! success answer is sent only after the order is paid and fulfilled (or was already).

use chrono::{DateTime, Utc};
use confab_store::entity::payment_channel;
use confab_store::entity::payment_event::{EventKind, EventOutcome};
use confab_store::entity::payment_order;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};

use crate::events::{NewEvent, record};
use crate::fulfil::{Fulfilment, PaidTrade, fulfil, mismatch};
use crate::gateways::{Notify, NotifyEvent, NotifyReply};
use crate::{Payments, PaymentsError};

/// The answer when no gateway can be built to answer in its own words.
fn plain(status: u16, body: &str) -> NotifyReply {
    NotifyReply {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.to_owned(),
    }
}

impl Payments {
    /// Handles one notify for `channel_id`; the reply is what the gateway is sent.
    pub async fn notify<C>(
        &self,
        db: &C,
        channel_id: i64,
        notify: &Notify,
        now: DateTime<Utc>,
    ) -> NotifyReply
    where
        C: ConnectionTrait + TransactionTrait,
    {
        // A deleted or disabled channel's payments are still honoured: the money was taken.
        let channel = match payment_channel::Entity::find_by_id(channel_id)
            .one(db)
            .await
        {
            Ok(Some(channel)) => channel,
            Ok(None) => return plain(404, "unknown payment channel"),
            Err(error) => {
                tracing::error!(error = %error, channel_id, "loading a payment channel failed");
                return plain(500, "try again later");
            }
        };
        let gateway = match self.gateway(&channel) {
            Ok(gateway) => gateway,
            Err(error) => {
                tracing::error!(error = %error, channel_id, "a payment channel cannot be built");
                return plain(500, "try again later");
            }
        };
        let event = match gateway.verify_notify(notify, now) {
            Ok(event) => event,
            Err(error) => {
                let reason = format!("notify refused: {error}");
                tracing::warn!(channel_id, %reason, "payment notify refused");
                let recorded =
                    NewEvent::new(channel_id, EventKind::Notify, EventOutcome::Refused, reason);
                record(db, recorded, now).await;
                return gateway.notify_reply(false);
            }
        };
        match self.settle_notify(db, channel_id, &event, now).await {
            Ok(accepted) => gateway.notify_reply(accepted),
            Err(error) => {
                tracing::error!(error = %error, channel_id, "handling a payment notify failed");
                gateway.notify_reply(false)
            }
        }
    }

    /// After the signature: the order, the amount, the fulfilment. Ok(false) when refused.
    async fn settle_notify<C>(
        &self,
        db: &C,
        channel_id: i64,
        event: &NotifyEvent,
        now: DateTime<Utc>,
    ) -> Result<bool, PaymentsError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let mut recorded = NewEvent::new(channel_id, EventKind::Notify, EventOutcome::Refused, "");
        recorded.trade_no = Some(event.trade_no.clone()).filter(|t| !t.is_empty());
        recorded.amount_cents = Some(event.amount_cents);
        recorded.detail = Some(serde_json::json!({
            "out_trade_no": event.out_trade_no,
            "status": event.status,
            "currency": event.currency,
        }));
        let order = payment_order::Entity::find()
            .filter(payment_order::Column::OutTradeNo.eq(event.out_trade_no.as_str()))
            .one(db)
            .await?
            .filter(|order| order.channel_id == channel_id);
        recorded.order_id = order.as_ref().map(|order| order.id);
        if !event.paid {
            // Not a payment (an unpaid status, or a webhook about something else): acknowledged
            // so the gateway stops repeating it; nothing changes.
            recorded.outcome = EventOutcome::Unpaid;
            recorded.reason = format!(
                "the gateway says {}",
                event.status.chars().take(32).collect::<String>()
            );
            record(db, recorded, now).await;
            return Ok(true);
        }
        let Some(order) = order else {
            recorded.reason = "no order of this channel has this number".into();
            record(db, recorded, now).await;
            return Ok(false);
        };
        let trade = PaidTrade {
            trade_no: event.trade_no.clone(),
            amount_cents: event.amount_cents,
            currency: event.currency.clone(),
        };
        if let Some(reason) = mismatch(&order, &trade) {
            recorded.reason = reason;
            record(db, recorded, now).await;
            return Ok(false);
        }
        let fulfilment = fulfil(db, &order, &trade, now).await?;
        let (outcome, reason) = outcome_of(fulfilment);
        recorded.outcome = outcome;
        recorded.reason = reason.into();
        record(db, recorded, now).await;
        Ok(true)
    }
}

pub(crate) fn outcome_of(fulfilment: Fulfilment) -> (EventOutcome, &'static str) {
    match fulfilment {
        Fulfilment::Fulfilled => (EventOutcome::Accepted, "paid and fulfilled"),
        Fulfilment::AlreadyPaid => (EventOutcome::Duplicate, "already paid with this trade"),
        // Acknowledged (the gateway would repeat it forever); an admin refunds the second payment.
        Fulfilment::PaidTwice => (
            EventOutcome::Refused,
            "already paid with another trade: refund this payment by hand",
        ),
    }
}
