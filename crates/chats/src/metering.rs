//! The usage record every relayed request leaves (chat turns write their own, with the chat
//! and message they belong to).

use std::time::Instant;

use chrono::Utc;
use confab_core::{Code, ErrorCode};
use confab_credits::NewUsage;
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

pub(crate) async fn record(relay: &Relay, r: Record<'_>) {
    // A failure that produced nothing is not charged.
    let cost = if r.status == "failed" && r.usage.completion_tokens == 0 && r.images == 0 {
        0
    } else {
        r.model
            .prices
            .cost(r.usage.prompt_tokens, r.usage.completion_tokens, r.images)
    };
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
}

/// A failure before any key answered still leaves a record.
pub(crate) async fn record_failure(
    relay: &Relay,
    caller: Caller,
    endpoint: &'static str,
    model: &ModelView,
    error: &ChatsError,
    started_at: Instant,
) {
    record(
        relay,
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
