//! Metering: the hold a request takes before it reaches a provider, the charge when it ends,
//! and the usage record every relayed request leaves (chat turns write their own record, with
//! the chat and message they belong to, but hold and settle the same way).

use std::time::Instant;

use chrono::Utc;
use confab_core::{Code, ErrorCode};
use confab_credits::NewUsage;
use confab_credits::holds::{Charge, Hold};
use confab_providers::Usage;

use crate::ChatsError;
use crate::catalog::ModelView;
use crate::relay::{Relay, elapsed_ms};

/// Who asks, for the usage record.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub user_id: i64,
    pub api_key_id: Option<i64>,
}

pub(crate) struct Record<'a> {
    pub caller: Caller,
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

/// Refuses a model above the caller's tier (403 `tier_required`); free models cost no lookup.
pub(crate) async fn check_tier(
    relay: &Relay,
    user_id: i64,
    model: &ModelView,
) -> Result<(), ChatsError> {
    if model.min_tier <= 0 {
        return Ok(());
    }
    let tier = confab_credits::tiers::tier_of(&relay.db, user_id, Utc::now()).await?;
    if tier.rank() < model.min_tier {
        return Err(ChatsError::TierRequired(model.name.clone()));
    }
    Ok(())
}

/// Holds `amount` of the caller's credits (nothing for a free request): 402
/// `insufficient_credits` before any provider is called when it does not fit.
pub(crate) async fn hold(
    relay: &Relay,
    user_id: i64,
    amount: i64,
    reference: &str,
) -> Result<Option<Hold>, ChatsError> {
    Ok(relay
        .meter
        .hold(user_id, amount, reference, Utc::now())
        .await?)
}

/// Charges `cost` against the hold and releases the rest; returns what was charged. A failure
/// here leaves the hold to expire, so the user is never charged twice (and here not at all).
pub(crate) async fn settle(relay: &Relay, hold: Option<Hold>, charge: Charge) -> i64 {
    let Some(hold) = hold else { return 0 };
    match relay.meter.settle(hold, charge, Utc::now()).await {
        Ok(charged) => charged,
        Err(error) => {
            tracing::error!(%error, hold_id = hold.id, "settling a hold failed; it will expire uncharged");
            0
        }
    }
}

/// What a relayed request's tokens or images cost; a failure that produced nothing is free.
pub(crate) fn cost_of(model: &ModelView, status: &str, usage: Usage, images: u32) -> i64 {
    if status == "failed" && usage.completion_tokens == 0 && images == 0 {
        0
    } else {
        model
            .prices
            .cost(usage.prompt_tokens, usage.completion_tokens, images)
    }
}

/// Settles the request's hold and writes its usage record with what was charged.
pub(crate) async fn record(relay: &Relay, hold: Option<Hold>, r: Record<'_>) -> i64 {
    let cost = cost_of(r.model, r.status, r.usage, r.images);
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
        hold,
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
            api_key_id: r.caller.api_key_id,
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
    hold: Option<Hold>,
    caller: Caller,
    endpoint: &'static str,
    model: &ModelView,
    error: &ChatsError,
    started_at: Instant,
) {
    record(
        relay,
        hold,
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
/// every token it may generate.
pub(crate) fn worst_case(
    model: &ModelView,
    max_tokens: Option<u32>,
    prompt_tokens: impl FnOnce() -> u32,
) -> i64 {
    let max_output =
        max_tokens.unwrap_or_else(|| u32::try_from(model.max_output_tokens).unwrap_or(4096));
    let prompt = if model.prices.per_1k_prompt_tokens > 0 {
        prompt_tokens()
    } else {
        0
    };
    model.prices.cost(prompt, max_output, 0)
}
