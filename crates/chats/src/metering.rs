//! Metering: the hold a request takes before it reaches a provider, the charge when it ends,
//! and the usage record every relayed request leaves (chat turns write their own record, with
//! the chat and message they belong to, but hold and settle the same way).

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use confab_core::{Code, ErrorCode};
use confab_credits::NewUsage;
use confab_credits::holds::{Charge, Hold};
use confab_credits::pricing::Rate;
use confab_keys::api_keys::KeyGrant;
use confab_providers::Usage;

use crate::ChatsError;
use crate::catalog::ModelView;
use crate::relay::{Relay, elapsed_ms};

/// Who asks: the account that pays, and the API key the request came with (its allowed models
/// and credit limit apply; the usage record names it).
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub key: Option<Arc<KeyGrant>>,
}

impl Caller {
    /// A signed-in user, without a key.
    pub fn user(user_id: i64) -> Self {
        Self { user_id, key: None }
    }

    pub fn api_key_id(&self) -> Option<i64> {
        self.key.as_ref().map(|key| key.id)
    }
}

/// How a request is paid for: the rate the caller pays and the hold taken for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Billing {
    pub rate: Rate,
    pub hold: Option<Hold>,
}

pub(crate) struct Record<'a> {
    pub caller: &'a Caller,
    /// completions | images | image_edits
    pub endpoint: &'static str,
    pub model: &'a ModelView,
    pub key_id: Option<i64>,
    pub usage: Usage,
    pub images: u32,
    pub ttft_ms: Option<u32>,
    pub latency_ms: u32,
    /// complete | interrupted | failed
    pub status: &'static str,
    pub error_code: Option<Code>,
}

/// Lets the caller use the model or says why not: a model the API key does not allow (403
/// `model_not_allowed`), one above the caller's tier (403 `tier_required`). Returns what the
/// caller pays for it (the tier's multiplier applied).
pub(crate) async fn admit(
    relay: &Relay,
    caller: &Caller,
    model: &ModelView,
) -> Result<Rate, ChatsError> {
    let (tier, rate) = relay
        .meter
        .rate_for(caller.user_id, model.prices, model.min_tier, Utc::now())
        .await?;
    let access = crate::catalog::ModelAccess {
        tier: tier.rank(),
        key: caller.key.as_deref(),
    };
    access.check(model)?;
    Ok(rate)
}

/// Holds `amount` of the caller's credits, and of their key's credit limit (nothing for a free
/// request): 402 `insufficient_credits` or `credit_limit_reached` before any provider is
/// called when it does not fit.
pub(crate) async fn hold(
    relay: &Relay,
    caller: &Caller,
    amount: i64,
    reference: &str,
) -> Result<Option<Hold>, ChatsError> {
    Ok(relay
        .meter
        .hold(
            caller.user_id,
            caller.api_key_id(),
            amount,
            reference,
            Utc::now(),
        )
        .await?)
}

/// Charges `cost` against the hold and releases the rest; returns what was (or, while the
/// database refuses, will be) charged.
pub(crate) async fn settle(relay: &Relay, hold: Option<Hold>, charge: Charge) -> i64 {
    match hold {
        Some(hold) => relay.meter.settle_surely(hold, charge).await,
        None => 0,
    }
}

/// What a relayed request's tokens or images cost; a failure that produced nothing is free.
pub(crate) fn cost_of(rate: &Rate, status: &str, usage: Usage, images: u32) -> i64 {
    if status == "failed" && usage.completion_tokens == 0 && images == 0 {
        0
    } else {
        rate.cost(usage.prompt_tokens, usage.completion_tokens, images)
    }
}

/// Settles the request's hold and writes its usage record with what was charged.
pub(crate) async fn record(relay: &Relay, billing: Billing, r: Record<'_>) -> i64 {
    let cost = cost_of(&billing.rate, r.status, r.usage, r.images);
    let reason = if r.images > 0 {
        format!("{} {}: {} images", r.endpoint, r.model.name, r.images)
    } else {
        format!(
            "{} {}: {} prompt + {} completion tokens",
            r.endpoint, r.model.name, r.usage.prompt_tokens, r.usage.completion_tokens
        )
    };
    let cost = settle(
        relay,
        billing.hold,
        Charge {
            cost,
            reason,
            reference: r.endpoint.to_owned(),
        },
    )
    .await;
    relay
        .usage
        .record(NewUsage {
            user_id: r.caller.user_id,
            chat_id: None,
            message_id: None,
            api_key_id: r.caller.api_key_id(),
            endpoint: r.endpoint,
            model: r.model.name.clone(),
            provider_key_id: r.key_id,
            prompt_tokens: r.usage.prompt_tokens,
            completion_tokens: r.usage.completion_tokens,
            images: r.images,
            ttft_ms: r.ttft_ms,
            latency_ms: r.latency_ms,
            status: r.status,
            error_code: r.error_code.map(|c| c.as_str().to_owned()),
            cost,
            at: Utc::now(),
        })
        .await;
    cost
}

/// A failure before any key answered still leaves a record.
pub(crate) async fn record_failure(
    relay: &Relay,
    billing: Billing,
    caller: &Caller,
    endpoint: &'static str,
    model: &ModelView,
    error: &ChatsError,
    started_at: Instant,
) {
    record(
        relay,
        billing,
        Record {
            caller,
            endpoint,
            model,
            key_id: None,
            usage: Usage::default(),
            images: 0,
            ttft_ms: None,
            latency_ms: elapsed_ms(started_at),
            status: "failed",
            error_code: Some(error.code()),
        },
    )
    .await;
}

/// The most a completion can cost: its prompt (estimated only when prompts are priced) and
/// every token it may generate. A worst case above what anyone can pay is refused (400 naming
/// `max_tokens`), never capped: it would be held and charged less than it costs.
pub(crate) fn worst_case(
    model: &ModelView,
    rate: &Rate,
    max_tokens: Option<u32>,
    prompt_tokens: impl FnOnce() -> u32,
) -> Result<i64, ChatsError> {
    let max_output =
        max_tokens.unwrap_or_else(|| u32::try_from(model.max_output_tokens).unwrap_or(4096));
    let prompt = if rate.prices.per_1k_prompt_tokens > 0 {
        prompt_tokens()
    } else {
        0
    };
    rate.checked_cost(prompt, max_output, 0)
        .ok_or(ChatsError::CostTooHigh("max_tokens"))
}
