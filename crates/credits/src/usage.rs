//! Usage records. Relayed requests hand theirs to [`UsageWriter`], which writes them in
//! batches off the request path (one transaction per batch, plus the provider keys' counters),
//! so a busy gateway does not pay a database write per request.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use confab_core::{Page, PageRequest};
use confab_store::entity::{provider_key, usage_record};
use confab_store::{Db, fetch_page};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use crate::CreditsError;

#[derive(Debug, Clone)]
pub struct NewUsage {
    pub user_id: i64,
    pub chat_id: Option<i64>,
    pub message_id: Option<i64>,
    pub api_key_id: Option<i64>,
    pub endpoint: &'static str,
    pub model: String,
    pub provider_key_id: Option<i64>,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub images: u32,
    pub ttft_ms: Option<u32>,
    pub latency_ms: u32,
    /// complete | interrupted | failed
    pub status: &'static str,
    pub error_code: Option<String>,
    pub cost: i64,
    pub at: DateTime<Utc>,
}

enum Command {
    Record(Box<NewUsage>),
    Flush(oneshot::Sender<()>),
}

/// Sees every usage record as it is queued (metrics, for one), before it is written.
pub trait UsageObserver: Send + Sync + 'static {
    /// Called once per record, on the request's task: keep it quick.
    fn observe(&self, usage: &NewUsage);
}

/// Sends records to the background writer.
#[derive(Clone)]
pub struct UsageWriter {
    sender: mpsc::Sender<Command>,
    observer: Option<std::sync::Arc<dyn UsageObserver>>,
}

const BATCH: usize = 512;

impl UsageWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db, interval: Duration) -> Self {
        let (sender, receiver) = mpsc::channel(16 * BATCH);
        tokio::spawn(run(db, receiver, interval));
        Self {
            sender,
            observer: None,
        }
    }

    /// Shows every record to `observer` as it is queued.
    pub fn observed_by(mut self, observer: std::sync::Arc<dyn UsageObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Queues a record. When the queue is full the caller waits: records are never dropped.
    pub async fn record(&self, usage: NewUsage) {
        tracing::info!(
            endpoint = usage.endpoint,
            model = %usage.model,
            provider_key_id = usage.provider_key_id,
            status = usage.status,
            error_code = usage.error_code.as_deref(),
            ttft_ms = usage.ttft_ms,
            latency_ms = usage.latency_ms,
            prompt_tokens = usage.prompt_tokens,
            completion_tokens = usage.completion_tokens,
            cost = usage.cost,
            "relayed"
        );
        if let Some(observer) = &self.observer {
            observer.observe(&usage);
        }
        if self
            .sender
            .send(Command::Record(Box::new(usage)))
            .await
            .is_err()
        {
            tracing::error!("the usage writer has stopped; a usage record is lost");
        }
    }

    /// Waits until everything queued before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Command::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// Waits for a record, lets the batch gather for `interval` (not woken by each record, so a busy
/// gateway pays no cross-thread wake-up per request), then writes everything queued at once.
async fn run(db: Db, mut receiver: mpsc::Receiver<Command>, interval: Duration) {
    let mut batch: Vec<NewUsage> = Vec::with_capacity(BATCH);
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = receiver.recv().await {
        let flushing = matches!(first, Command::Flush(_));
        take(first, &mut batch, &mut waiting);
        if !flushing {
            tokio::time::sleep(interval).await;
        }
        while let Ok(command) = receiver.try_recv() {
            take(command, &mut batch, &mut waiting);
        }
        write(&db, &mut batch).await;
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
    write(&db, &mut batch).await;
}

fn take(command: Command, batch: &mut Vec<NewUsage>, waiting: &mut Vec<oneshot::Sender<()>>) {
    match command {
        Command::Record(usage) => batch.push(*usage),
        Command::Flush(done) => waiting.push(done),
    }
}

async fn write(db: &Db, batch: &mut Vec<NewUsage>) {
    if batch.is_empty() {
        return;
    }
    let records = std::mem::take(batch);
    for attempt in 1..=3 {
        match write_batch(db, &records).await {
            Ok(()) => return,
            Err(error) => {
                tracing::error!(%error, attempt, count = records.len(), "writing usage records failed");
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
        }
    }
}

async fn write_batch(db: &Db, records: &[NewUsage]) -> Result<(), sea_orm::DbErr> {
    let txn = db.begin().await?;
    // Key counters first: on SQLite a transaction that starts by writing never has to upgrade
    // a read lock.
    let mut per_key: HashMap<i64, (i64, i64, i64, DateTime<Utc>)> = HashMap::new();
    for record in records {
        if let Some(key_id) = record.provider_key_id {
            let entry = per_key.entry(key_id).or_insert((0, 0, 0, record.at));
            entry.0 += 1;
            entry.1 += i64::from(record.prompt_tokens);
            entry.2 += i64::from(record.completion_tokens);
            entry.3 = Ord::max(entry.3, record.at);
        }
    }
    for (key_id, (requests, prompt, completion, last)) in per_key {
        provider_key::Entity::update_many()
            .col_expr(
                provider_key::Column::RequestCount,
                Expr::col(provider_key::Column::RequestCount).add(requests),
            )
            .col_expr(
                provider_key::Column::PromptTokens,
                Expr::col(provider_key::Column::PromptTokens).add(prompt),
            )
            .col_expr(
                provider_key::Column::CompletionTokens,
                Expr::col(provider_key::Column::CompletionTokens).add(completion),
            )
            .col_expr(provider_key::Column::LastUsedAt, last.into())
            .filter(provider_key::Column::Id.eq(key_id))
            .exec(&txn)
            .await?;
    }
    for chunk in records.chunks(64) {
        usage_record::Entity::insert_many(chunk.iter().map(active))
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await
}

fn active(record: &NewUsage) -> usage_record::ActiveModel {
    let clamp = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    usage_record::ActiveModel {
        id: NotSet,
        user_id: Set(record.user_id),
        chat_id: Set(record.chat_id),
        message_id: Set(record.message_id),
        api_key_id: Set(record.api_key_id),
        endpoint: Set(record.endpoint.to_owned()),
        model: Set(record.model.clone()),
        provider_key_id: Set(record.provider_key_id),
        prompt_tokens: Set(clamp(record.prompt_tokens)),
        completion_tokens: Set(clamp(record.completion_tokens)),
        images: Set(clamp(record.images)),
        ttft_ms: Set(record.ttft_ms.map(clamp)),
        latency_ms: Set(clamp(record.latency_ms)),
        status: Set(record.status.to_owned()),
        error_code: Set(record.error_code.clone()),
        cost: Set(record.cost),
        created_ms: Set(record.at.timestamp_millis()),
        created_at: Set(record.at),
    }
}

/// Filters for the admin's list.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub user_id: Option<i64>,
    pub chat_id: Option<i64>,
    pub model: Option<String>,
    pub status: Option<String>,
    pub provider_key_id: Option<i64>,
    pub endpoint: Option<String>,
}

/// Newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &UsageFilter,
    page: PageRequest,
) -> Result<Page<usage_record::Model>, CreditsError> {
    let mut query = usage_record::Entity::find();
    if let Some(user_id) = filter.user_id {
        query = query.filter(usage_record::Column::UserId.eq(user_id));
    }
    if let Some(chat_id) = filter.chat_id {
        query = query.filter(usage_record::Column::ChatId.eq(chat_id));
    }
    if let Some(model) = &filter.model {
        query = query.filter(usage_record::Column::Model.eq(model.as_str()));
    }
    if let Some(status) = &filter.status {
        query = query.filter(usage_record::Column::Status.eq(status.as_str()));
    }
    if let Some(key_id) = filter.provider_key_id {
        query = query.filter(usage_record::Column::ProviderKeyId.eq(key_id));
    }
    if let Some(endpoint) = &filter.endpoint {
        query = query.filter(usage_record::Column::Endpoint.eq(endpoint.as_str()));
    }
    let query = query.order_by_desc(usage_record::Column::Id);
    Ok(fetch_page(db, query, page).await?)
}
