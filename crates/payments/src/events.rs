//! The record of every exchange with a gateway: what was asked or said, and what came of it.

use chrono::{DateTime, Utc};
use confab_store::entity::payment_event::{self, EventKind, EventOutcome};
use sea_orm::{ActiveModelTrait, ConnectionTrait, NotSet, Set};
use serde::Serialize;

use crate::PaymentsError;

/// One gateway event, as admins see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentEvent {
    /// The event id.
    pub id: i64,
    /// The channel it came through.
    pub channel_id: i64,
    /// The order it was about, when one was found.
    pub order_id: Option<i64>,
    /// What happened.
    pub kind: EventKind,
    /// What came of it.
    pub outcome: EventOutcome,
    /// Why, in words (always set when something was refused).
    pub reason: String,
    /// The gateway's trade number, when it gave one.
    pub trade_no: Option<String>,
    /// The amount the gateway named, in cents.
    pub amount_cents: Option<i64>,
    /// What the gateway said, without signatures or secrets.
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    /// When it happened.
    pub created_at: DateTime<Utc>,
}

impl From<payment_event::Model> for PaymentEvent {
    fn from(row: payment_event::Model) -> Self {
        Self {
            id: row.id,
            channel_id: row.channel_id,
            order_id: row.order_id,
            kind: row.kind,
            outcome: row.outcome,
            reason: row.reason,
            trade_no: row.trade_no,
            amount_cents: row.amount_cents,
            detail: row.detail,
            created_at: row.created_at,
        }
    }
}

/// An event to record.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    pub channel_id: i64,
    pub order_id: Option<i64>,
    pub kind: EventKind,
    pub outcome: EventOutcome,
    pub reason: String,
    pub trade_no: Option<String>,
    pub amount_cents: Option<i64>,
    pub detail: Option<serde_json::Value>,
}

impl NewEvent {
    pub fn new(
        channel_id: i64,
        kind: EventKind,
        outcome: EventOutcome,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            channel_id,
            order_id: None,
            kind,
            outcome,
            reason: reason.into(),
            trade_no: None,
            amount_cents: None,
            detail: None,
        }
    }
}

/// Writes the event; a failure is logged, never the gateway's problem.
pub(crate) async fn record(db: &impl ConnectionTrait, event: NewEvent, now: DateTime<Utc>) {
    let reason: String = event.reason.chars().take(255).collect();
    let written: Result<_, PaymentsError> = payment_event::ActiveModel {
        id: NotSet,
        channel_id: Set(event.channel_id),
        order_id: Set(event.order_id),
        kind: Set(event.kind),
        outcome: Set(event.outcome),
        reason: Set(reason),
        trade_no: Set(event.trade_no),
        amount_cents: Set(event.amount_cents),
        detail: Set(event.detail),
        created_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(PaymentsError::from);
    if let Err(error) = written {
        tracing::error!(error = %error, channel_id = event.channel_id, "recording a payment event failed");
    }
}
