//! Sending a message in a chat: store the question, build the context along the parent chain,
//! relay to a provider, and keep the answer as it streams. A background task owns the answer,
//! so whatever happens to the client (done, error, disconnect) the message ends in a final
//! state with the tokens it used.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use confab_core::Code;
use confab_credits::NewUsage;
use confab_credits::holds::Charge;
use confab_providers::{ChatEvent, ChatRequest, Usage};
use confab_store::entity::{chat, message};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::ChatsError;
use crate::catalog::Modality;
use crate::chats::{self, DEFAULT_TITLE, MessageStatus, MessageView};
use crate::error::upstream_message;
use crate::metering::{self, Billing, Caller, worst_case};
use crate::relay::{Relay, Relayed, elapsed_ms};
use crate::tokens::{self, Turn};

/// A message to send in a chat, and how to answer it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// The message: 1 to 100,000 characters (trimmed).
    #[schema(pattern = r"^\s*\S([\s\S]{0,99998}\S)?\s*$")]
    pub content: String,
    /// Default: the chat's model.
    pub model: Option<String>,
    /// The message this one answers; default: the chat's newest message. Pointing at an older
    /// message branches (or regenerates) from there.
    pub parent_id: Option<i64>,
    /// 0 to 2.
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f64>,
    /// 0 to 1.
    #[schema(minimum = 0, maximum = 1)]
    pub top_p: Option<f64>,
    /// 1 to the model's max output.
    #[schema(minimum = 1)]
    pub max_tokens: Option<u32>,
    /// -2 to 2.
    #[schema(minimum = -2, maximum = 2)]
    pub presence_penalty: Option<f64>,
    /// -2 to 2.
    #[schema(minimum = -2, maximum = 2)]
    pub frequency_penalty: Option<f64>,
    /// Default true: server-sent events. False: one JSON reply.
    pub stream: Option<bool>,
}

/// Tokens of one request.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct UsageView {
    /// Prompt tokens (the history and the message).
    pub prompt_tokens: u32,
    /// Answer tokens.
    pub completion_tokens: u32,
    /// Their sum.
    pub total_tokens: u32,
}

/// What the client receives, in order: one `Message`, any number of `Delta`s, then `Done` or
/// `Error`.
#[derive(Debug, Clone)]
pub enum ChatStreamEvent {
    Message {
        user_message: MessageView,
        assistant_message_id: i64,
    },
    Delta {
        content: String,
    },
    Done {
        message: MessageView,
        usage: UsageView,
        cost: i64,
    },
    Error {
        code: Code,
        message: String,
    },
}

fn invalid(param: &'static str, message: &str) -> ChatsError {
    ChatsError::Invalid(param, message.to_owned())
}

fn check_range(
    param: &'static str,
    value: Option<f64>,
    min: f64,
    max: f64,
) -> Result<(), ChatsError> {
    match value {
        Some(v) if !(min..=max).contains(&v) || v.is_nan() => Err(ChatsError::Invalid(
            param,
            format!("{param} must be between {min} and {max}"),
        )),
        _ => Ok(()),
    }
}

/// Starts answering; returns the event stream once the provider has produced its first event.
/// Before that, failures are errors (the question and a failed answer are stored).
pub async fn send_message(
    relay: Arc<Relay>,
    caller: Caller,
    chat_id: i64,
    request: SendMessage,
) -> Result<mpsc::Receiver<ChatStreamEvent>, ChatsError> {
    relay
        .clone()
        .detached(async move { start_turn(relay, caller, chat_id, request).await })
        .await
}

/// [`send_message`]'s work, on the task that finishes it whatever happens to the request.
async fn start_turn(
    relay: Arc<Relay>,
    caller: Caller,
    chat_id: i64,
    request: SendMessage,
) -> Result<mpsc::Receiver<ChatStreamEvent>, ChatsError> {
    let started_at = Instant::now();
    let user_id = caller.user_id;
    let db = &relay.db;
    let content = request.content.trim();
    if content.is_empty() {
        return Err(invalid("content", "content must not be empty"));
    }
    if content.chars().count() > 100_000 {
        return Err(invalid(
            "content",
            "content must be at most 100000 characters",
        ));
    }
    check_range("temperature", request.temperature, 0.0, 2.0)?;
    check_range("top_p", request.top_p, 0.0, 1.0)?;
    check_range("presence_penalty", request.presence_penalty, -2.0, 2.0)?;
    check_range("frequency_penalty", request.frequency_penalty, -2.0, 2.0)?;

    let chat = chats::find(db, user_id, chat_id).await?;
    let model_name = request
        .model
        .clone()
        .or_else(|| chat.model.clone())
        .ok_or_else(|| invalid("model", "name a model: this chat has no default model"))?;
    let model = relay.model(&model_name, Modality::Chat)?;
    let max_output = u32::try_from(model.max_output_tokens).unwrap_or(4096);
    if let Some(max_tokens) = request.max_tokens
        && !(1..=max_output).contains(&max_tokens)
    {
        return Err(ChatsError::Invalid(
            "max_tokens",
            format!("max_tokens must be between 1 and {max_output} for this model"),
        ));
    }

    // The history this message continues, oldest first, along the parent chain.
    let history = message::Entity::find()
        .filter(message::Column::ChatId.eq(chat_id))
        .order_by_asc(message::Column::Id)
        .all(db)
        .await?;
    // Sorted by id, so lookups along the chain are binary searches.
    let find = |id: i64| {
        history
            .binary_search_by_key(&id, |m| m.id)
            .ok()
            .map(|index| &history[index])
    };
    let parent_id = match request.parent_id {
        Some(id) if find(id).is_some() => Some(id),
        Some(_) => return Err(ChatsError::MessageNotFound),
        None => history.last().map(|m| m.id),
    };
    let mut chain: Vec<Turn> = Vec::new();
    let mut cursor = parent_id;
    while let Some(id) = cursor {
        let Some(row) = find(id) else {
            break;
        };
        cursor = row.parent_id;
        // Failed and empty answers are not part of the conversation.
        if row.content.is_empty() || row.status == MessageStatus::Failed.as_str() {
            continue;
        }
        let tokens = if row.role == "assistant" && row.completion_tokens > 0 {
            u32::try_from(row.completion_tokens).unwrap_or(0)
        } else {
            tokens::count(&row.content)
        };
        chain.push(Turn {
            role: row.role.clone(),
            content: row.content.clone(),
            tokens,
        });
    }
    chain.reverse();
    let question_tokens = tokens::count(content);
    chain.push(Turn {
        role: "user".into(),
        content: content.to_owned(),
        tokens: question_tokens,
    });
    let system = chat.system_prompt.as_ref().map(|prompt| Turn {
        role: "system".into(),
        content: prompt.clone(),
        tokens: tokens::count(prompt),
    });
    let reserve = request.max_tokens.unwrap_or(max_output.min(1024));
    let window = u32::try_from(model.context_window).unwrap_or(8192);
    let budget = window.saturating_sub(reserve);
    let messages =
        tokens::trim(system.as_ref(), &chain, budget).ok_or(ChatsError::ContextTooLong)?;
    let prompt_estimate = tokens::count_messages(&messages);
    let rate = metering::admit(&relay, &caller, &model).await?;
    let worst = worst_case(&model, &rate, request.max_tokens, || prompt_estimate)?;
    let hold = metering::hold(&relay, &caller, worst, &format!("chat:{}", chat.id)).await?;
    let billing = Billing { rate, hold };
    let api_key_id = caller.api_key_id();

    let params = json!({
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
        "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty,
    });
    let now = Utc::now();
    let stored = store_turn(
        &relay,
        &chat,
        user_id,
        parent_id,
        content,
        question_tokens,
        &model.name,
        params,
        now,
    )
    .await;
    let (question, answer) = match stored {
        Ok(turn) => turn,
        Err(error) => {
            metering::settle(&relay, billing.hold, nothing_charged()).await;
            return Err(error);
        }
    };

    let chat_request = ChatRequest {
        messages,
        temperature: request.temperature,
        top_p: request.top_p,
        max_tokens: request.max_tokens,
        presence_penalty: request.presence_penalty,
        frequency_penalty: request.frequency_penalty,
        ..ChatRequest::default()
    };
    let started = match relay.start_stream(&model, &chat_request).await {
        Ok(started) => started,
        Err(error) => {
            let code = confab_core::ErrorCode::code(&error);
            let outcome = Outcome {
                status: MessageStatus::Failed,
                content: String::new(),
                usage: Usage::default(),
                ttft_ms: None,
                total_ms: elapsed_ms(started_at),
                key_id: None,
                error: Some((code, error.to_string())),
            };
            finish(&relay, &answer, outcome, billing, api_key_id, now).await?;
            return Err(error);
        }
    };

    let (sender, receiver) = mpsc::channel(16);
    // Counted from here until the answer is stored and settled.
    let mut relaying = relay.streams.start();
    // The task keeps the request's span, so its log lines carry the request id.
    tokio::spawn(async move {
        let assistant_message_id = answer.id;
        // A client gone already is noticed by the pump, which still records the answer.
        let _ = sender
            .send(ChatStreamEvent::Message {
                user_message: question.into(),
                assistant_message_id,
            })
            .await;
        let relayed = relay
            .pump(
                &mut relaying,
                started,
                &sender,
                started_at,
                || prompt_estimate,
                |event| match event {
                    ChatEvent::Delta { content, .. } if !content.is_empty() => {
                        Some(ChatStreamEvent::Delta { content })
                    }
                    _ => None,
                },
            )
            .await;
        let outcome = Outcome::of(relayed, started_at);
        let usage = outcome.usage;
        let status = outcome.status;
        let error = outcome.error.clone();
        match finish(&relay, &answer, outcome, billing, api_key_id, now).await {
            Ok((saved, cost)) => {
                let event = match (status, error) {
                    (MessageStatus::Failed, Some((code, message))) => {
                        ChatStreamEvent::Error { code, message }
                    }
                    _ => ChatStreamEvent::Done {
                        message: saved,
                        usage: UsageView {
                            prompt_tokens: usage.prompt_tokens,
                            completion_tokens: usage.completion_tokens,
                            total_tokens: usage.prompt_tokens + usage.completion_tokens,
                        },
                        cost,
                    },
                };
                let _ = sender.send(event).await;
            }
            Err(error) => {
                tracing::error!(%error, message_id = assistant_message_id, "could not save an answer");
                let _ = sender
                    .send(ChatStreamEvent::Error {
                        code: Code::Internal,
                        message: "the answer could not be saved".into(),
                    })
                    .await;
            }
        }
    }
    .instrument(tracing::Span::current()));
    Ok(receiver)
}

fn nothing_charged() -> Charge {
    Charge {
        cost: 0,
        reason: String::new(),
        reference: String::new(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn store_turn(
    relay: &Relay,
    chat: &chat::Model,
    user_id: i64,
    parent_id: Option<i64>,
    content: &str,
    question_tokens: u32,
    model: &str,
    params: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(message::Model, message::Model), ChatsError> {
    let txn = relay.db.begin().await?;
    let question = message::ActiveModel {
        chat_id: Set(chat.id),
        user_id: Set(user_id),
        parent_id: Set(parent_id),
        role: Set("user".into()),
        content: Set(content.to_owned()),
        model: Set(Some(model.to_owned())),
        params: Set(None),
        status: Set(MessageStatus::Complete.as_str().into()),
        prompt_tokens: Set(i32::try_from(question_tokens).unwrap_or(i32::MAX)),
        completion_tokens: Set(0),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let answer = message::ActiveModel {
        chat_id: Set(chat.id),
        user_id: Set(user_id),
        parent_id: Set(Some(question.id)),
        role: Set("assistant".into()),
        content: Set(String::new()),
        model: Set(Some(model.to_owned())),
        params: Set(Some(params)),
        status: Set(MessageStatus::Streaming.as_str().into()),
        prompt_tokens: Set(0),
        completion_tokens: Set(0),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let mut touched: chat::ActiveModel = chat.clone().into();
    touched.updated_at = Set(now);
    if chat.title == DEFAULT_TITLE && parent_id.is_none() {
        let title: String = content.chars().take(50).collect();
        touched.title = Set(title.trim().to_owned());
    }
    touched.update(&txn).await?;
    txn.commit().await?;
    Ok((question, answer))
}

struct Outcome {
    status: MessageStatus,
    content: String,
    usage: Usage,
    ttft_ms: Option<u32>,
    total_ms: u32,
    key_id: Option<i64>,
    error: Option<(Code, String)>,
}

impl Outcome {
    fn of(relayed: Relayed, started_at: Instant) -> Self {
        let status = if relayed.failure.is_some() {
            MessageStatus::Failed
        } else if relayed.interrupted {
            MessageStatus::Interrupted
        } else {
            MessageStatus::Complete
        };
        Self {
            status,
            error: relayed
                .failure
                .as_ref()
                .map(|e| (confab_core::ErrorCode::code(e), upstream_message(e))),
            content: relayed.content,
            usage: relayed.usage,
            ttft_ms: relayed.ttft_ms,
            total_ms: elapsed_ms(started_at),
            key_id: Some(relayed.key_id),
        }
    }
}

/// Writes the answer's final state and its usage record; returns the saved answer and cost.
async fn finish(
    relay: &Relay,
    answer: &message::Model,
    outcome: Outcome,
    billing: Billing,
    api_key_id: Option<i64>,
    at: DateTime<Utc>,
) -> Result<(MessageView, i64), ChatsError> {
    let clamp = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    // A failure before any token is not charged.
    let cost = if outcome.status == MessageStatus::Failed && outcome.content.is_empty() {
        0
    } else {
        billing.rate.cost(
            outcome.usage.prompt_tokens,
            outcome.usage.completion_tokens,
            0,
        )
    };
    let model = answer.model.as_deref().unwrap_or_default();
    let cost = metering::settle(
        relay,
        billing.hold,
        Charge {
            cost,
            reason: format!(
                "chat {model}: {} prompt + {} completion tokens",
                outcome.usage.prompt_tokens, outcome.usage.completion_tokens
            ),
            reference: format!("message:{}", answer.id),
        },
    )
    .await;
    let mut row: message::ActiveModel = answer.clone().into();
    row.cost = Set(cost);
    row.content = Set(outcome.content);
    row.status = Set(outcome.status.as_str().into());
    row.prompt_tokens = Set(clamp(outcome.usage.prompt_tokens));
    row.completion_tokens = Set(clamp(outcome.usage.completion_tokens));
    row.ttft_ms = Set(outcome.ttft_ms.map(clamp));
    row.total_ms = Set(Some(clamp(outcome.total_ms)));
    row.provider_key_id = Set(outcome.key_id);
    row.error_code = Set(outcome
        .error
        .as_ref()
        .map(|(code, _)| code.as_str().to_owned()));
    row.error = Set(outcome.error.as_ref().map(|(_, message)| message.clone()));
    let saved = row.update(&relay.db).await?;
    relay
        .usage
        .record(NewUsage {
            user_id: saved.user_id,
            chat_id: Some(saved.chat_id),
            message_id: Some(saved.id),
            api_key_id,
            endpoint: "chat",
            model: saved.model.clone().unwrap_or_default(),
            provider_key_id: outcome.key_id,
            prompt_tokens: outcome.usage.prompt_tokens,
            completion_tokens: outcome.usage.completion_tokens,
            images: 0,
            ttft_ms: outcome.ttft_ms,
            latency_ms: outcome.total_ms,
            status: outcome.status.as_str(),
            error_code: saved.error_code.clone(),
            cost,
            at,
        })
        .await;
    Ok((saved.into(), cost))
}
