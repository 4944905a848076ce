//! The live pool: every enabled key, decrypted once, held in memory so choosing a key costs no
//! database round trip. Choice: the highest priority with a usable key, then weighted random
//! among equals. Health: 401/403 disables the key (in the database, so every instance stops);
//! 429, 5xx, timeouts and broken streams rest it for a backoff that doubles per consecutive
//! failure, after which it is tried again by itself. With several instances, a rest one of
//! them decides is shared ([`SharedRests`]) and a key disabled by one is announced to all.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use confab_core::{
    ChangeFeed, FailureLimiter, LocalChanges, LocalRests, Refusal, SecretBox, SharedRests,
};
use confab_providers::{ProviderError, ProviderKind, Target};
use confab_store::entity::provider_key;
use rand::Rng;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::KeysError;
use crate::provider_keys::{self, SECRET_PURPOSE};

/// A failure streak no instance extended for this long is forgotten (the shared count; each
/// instance's own lasts until its next success).
const STREAK_KEPT: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

struct PoolKey {
    id: i64,
    kind: ProviderKind,
    base_url: String,
    api_key: String,
    api_version: Option<String>,
    models: HashSet<String>,
    deployments: HashMap<String, String>,
    priority: i32,
    weight: u32,
    rpm_limit: Option<u32>,
    daily_token_limit: Option<u64>,
}

#[derive(Default)]
struct Health {
    failures: u32,
    cooling_until: Option<Instant>,
    minute_started: Option<Instant>,
    minute_requests: u32,
    day: i64,
    day_tokens: u64,
}

/// A chosen key, resolved for one model.
#[derive(Debug, Clone)]
pub struct Lease {
    pub key_id: i64,
    /// The key's requests-per-minute limit, for [`KeyPool::admit`].
    pub rpm_limit: Option<u32>,
    pub target: Target,
}

/// Why no key could be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoKey {
    /// No enabled key serves the model at all.
    NoneServes,
    /// Keys exist but all rest (or hit their limits); the soonest is usable after this long.
    AllResting(Duration),
}

pub struct KeyPool {
    secret_box: SecretBox,
    backoff: Backoff,
    keys: RwLock<Arc<Vec<PoolKey>>>,
    health: Mutex<HashMap<i64, Health>>,
    rests: Arc<dyn SharedRests>,
    changes: Arc<dyn ChangeFeed>,
    /// Requests per key and minute counted with the other instances (`None`: this instance's
    /// own count in [`Health`] is the whole count).
    shared_rpm: Option<Arc<dyn FailureLimiter>>,
    failures: Option<Arc<dyn KeyFailures>>,
}

/// Sees every failed provider call, retried on another key or not (metrics, for one).
pub trait KeyFailures: Send + Sync + 'static {
    /// Key `key_id` failed with the error `code` (`upstream_timeout`, `rate_limited`, ...).
    fn failed(&self, key_id: i64, code: &str);
}

/// What a pool shares with the other instances of a deployment.
pub struct PoolSharing {
    /// Rests one instance decides, for all.
    pub rests: Arc<dyn SharedRests>,
    /// Announced when a key is disabled because its provider refused it.
    pub changes: Arc<dyn ChangeFeed>,
    /// Counts each key's requests per minute across instances.
    pub rpm: Arc<dyn FailureLimiter>,
}

impl KeyPool {
    pub fn new(secret_box: SecretBox, backoff: Backoff) -> Self {
        Self {
            secret_box,
            backoff,
            keys: RwLock::new(Arc::new(Vec::new())),
            health: Mutex::new(HashMap::new()),
            rests: Arc::new(LocalRests),
            changes: Arc::new(LocalChanges),
            shared_rpm: None,
            failures: None,
        }
    }

    /// Shows every failed call to `failures`.
    pub fn observed_by(mut self, failures: Arc<dyn KeyFailures>) -> Self {
        self.failures = Some(failures);
        self
    }

    /// Shares rests and rpm counts with the other instances, and announces when a key is
    /// disabled because its provider refused it (the others then reload their pools).
    pub fn shared(mut self, sharing: PoolSharing) -> Self {
        self.rests = sharing.rests;
        self.changes = sharing.changes;
        self.shared_rpm = Some(sharing.rpm);
        self
    }

    /// Counts the leased key's request in its minute across instances; `Err` with the wait
    /// when the other instances used the minute up (pick another key). Without a shared count,
    /// or when it cannot be read (a provider's rate limit guards neither money nor
    /// credentials), [`KeyPool::pick`]'s own count decides.
    pub async fn admit(&self, lease: &Lease) -> Result<(), Duration> {
        let (Some(shared), Some(limit)) = (&self.shared_rpm, lease.rpm_limit) else {
            return Ok(());
        };
        let counted = shared
            .attempt(
                &format!("provider-key-rpm:{}", lease.key_id),
                limit,
                Duration::from_secs(60),
            )
            .await;
        match counted {
            Ok(()) | Err(Refusal::Unavailable) => Ok(()),
            Err(Refusal::Full { retry_after_secs }) => Err(Duration::from_secs(retry_after_secs)),
        }
    }

    /// Rests the keys other instances found failing, as long as they rest there.
    pub async fn adopt_rests(&self) {
        let now = Utc::now();
        let resting = self.rests.resting(now).await;
        if resting.is_empty() {
            return;
        }
        let instant = Instant::now();
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        for (key_id, until) in resting {
            let Ok(left) = (until - now).to_std() else {
                continue;
            };
            let state = health.entry(key_id).or_default();
            let shared = instant + left;
            if state.cooling_until.is_none_or(|mine| mine < shared) {
                state.cooling_until = Some(shared);
            }
        }
    }

    pub fn secret_box(&self) -> &SecretBox {
        &self.secret_box
    }

    /// Reads every enabled key from the database. Called at start, after each change through
    /// this instance, and periodically so changes made through other instances arrive.
    pub async fn reload(&self, db: &impl ConnectionTrait) -> Result<(), KeysError> {
        let rows = provider_key::Entity::find()
            .filter(provider_key::Column::Status.eq("enabled"))
            .all(db)
            .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(kind) = ProviderKind::parse(&row.kind) else {
                continue;
            };
            let api_key = match self.secret_box.open(SECRET_PURPOSE, &row.secret_ciphertext) {
                Ok(secret) => secret,
                Err(error) => {
                    tracing::error!(key_id = row.id, %error, "cannot decrypt a provider key (was the master key changed?); skipped");
                    continue;
                }
            };
            keys.push(PoolKey {
                id: row.id,
                kind,
                base_url: row.base_url,
                api_key,
                api_version: row.api_version,
                models: serde_json::from_value(row.models).unwrap_or_default(),
                deployments: serde_json::from_value(row.deployments).unwrap_or_default(),
                priority: row.priority,
                weight: u32::try_from(row.weight.max(1)).unwrap_or(1),
                rpm_limit: row.rpm_limit.and_then(|v| u32::try_from(v).ok()),
                daily_token_limit: row.daily_token_limit.and_then(|v| u64::try_from(v).ok()),
            });
        }
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(())
    }

    /// Chooses a key serving `model`. `upstream` says, per provider kind, what the model is
    /// called there (None: this kind cannot serve it). Keys in `exclude` were tried already.
    pub fn pick(
        &self,
        model: &str,
        upstream: impl Fn(ProviderKind) -> Option<String>,
        exclude: &[i64],
    ) -> Result<Lease, NoKey> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner()).clone();
        let now = Instant::now();
        let today = Utc::now().timestamp().div_euclid(86_400);
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        let mut serving = false;
        let mut soonest: Option<Duration> = None;
        let mut best: Vec<&PoolKey> = Vec::new();
        for key in keys.iter() {
            if !key.models.contains(model) || upstream(key.kind).is_none() {
                continue;
            }
            serving = true;
            if exclude.contains(&key.id) {
                continue;
            }
            let state = health.entry(key.id).or_default();
            if let Some(until) = state.cooling_until
                && until > now
            {
                let wait = until - now;
                soonest = Some(soonest.map_or(wait, |s| s.min(wait)));
                continue;
            }
            if let (Some(limit), Some(started)) = (key.rpm_limit, state.minute_started)
                && now.duration_since(started) < Duration::from_secs(60)
                && state.minute_requests >= limit
            {
                let wait = Duration::from_secs(60) - now.duration_since(started);
                soonest = Some(soonest.map_or(wait, |s| s.min(wait)));
                continue;
            }
            if let Some(limit) = key.daily_token_limit
                && state.day == today
                && state.day_tokens >= limit
            {
                continue;
            }
            match best.first() {
                Some(top) if top.priority > key.priority => {}
                Some(top) if top.priority == key.priority => best.push(key),
                _ => {
                    best.clear();
                    best.push(key);
                }
            }
        }
        let chosen = match best.len() {
            0 if serving => {
                return Err(NoKey::AllResting(
                    soonest.unwrap_or(Duration::from_secs(60)),
                ));
            }
            0 => return Err(NoKey::NoneServes),
            1 => best[0],
            _ => {
                let total: u32 = best.iter().map(|k| k.weight).sum();
                let mut roll = rand::rng().random_range(0..total);
                let mut chosen = best[0];
                for key in &best {
                    if roll < key.weight {
                        chosen = key;
                        break;
                    }
                    roll -= key.weight;
                }
                chosen
            }
        };
        let state = health.entry(chosen.id).or_default();
        match state.minute_started {
            Some(started) if now.duration_since(started) < Duration::from_secs(60) => {
                state.minute_requests += 1;
            }
            _ => {
                state.minute_started = Some(now);
                state.minute_requests = 1;
            }
        }
        let name = upstream(chosen.kind).unwrap_or_else(|| model.to_owned());
        let upstream_model = match chosen.kind {
            ProviderKind::AzureOpenAi => chosen.deployments.get(model).cloned().unwrap_or(name),
            _ => name,
        };
        Ok(Lease {
            key_id: chosen.id,
            rpm_limit: chosen.rpm_limit,
            target: Target {
                kind: chosen.kind,
                base_url: chosen.base_url.clone(),
                api_key: chosen.api_key.clone(),
                api_version: chosen.api_version.clone(),
                model: upstream_model,
            },
        })
    }

    /// A request on the key went through: its failure streak ends (on every instance), and
    /// its tokens count toward the key's daily limit, across instances. A key that used its
    /// day up rests until the UTC day ends, on every instance.
    pub async fn succeeded(&self, key_id: i64, tokens: u64) {
        let today = Utc::now().timestamp().div_euclid(86_400);
        let had_streak = {
            let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
            let state = health.entry(key_id).or_default();
            // A rest set (here, or adopted from another instance) means a streak may be open.
            let had_streak = state.failures > 0 || state.cooling_until.is_some();
            state.failures = 0;
            state.cooling_until = None;
            if state.day != today {
                state.day = today;
                state.day_tokens = 0;
            }
            state.day_tokens += tokens;
            had_streak
        };
        if had_streak {
            self.rests.streak_ended(key_id).await;
        }
        let Some(limit) = self.daily_token_limit(key_id) else {
            return;
        };
        let total = self.rests.add_tokens(key_id, today, tokens).await;
        let used = {
            let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
            let state = health.entry(key_id).or_default();
            state.day_tokens = state.day_tokens.max(total.unwrap_or(0));
            state.day_tokens
        };
        let day_ends = DateTime::from_timestamp((today + 1) * 86_400, 0);
        if used >= limit
            && let Some(Ok(left)) = day_ends.map(|end| (end - Utc::now()).to_std())
        {
            self.rest_everywhere(key_id, left).await;
        }
    }

    fn daily_token_limit(&self, key_id: i64) -> Option<u64> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .find(|key| key.id == key_id)
            .and_then(|key| key.daily_token_limit)
    }

    /// A request on the key failed with `error`: disable, rest, or leave it, by cause.
    pub async fn failed(
        &self,
        db: &impl ConnectionTrait,
        key_id: i64,
        error: &ProviderError,
        now: DateTime<Utc>,
    ) {
        if let Some(failures) = &self.failures {
            use confab_core::ErrorCode;
            failures.failed(key_id, error.code().as_str());
        }
        match error {
            ProviderError::KeyRejected { status, message } => {
                let reason = format!("the provider answered {status}: {message}");
                tracing::warn!(key_id, %reason, "disabling a provider key");
                if let Err(error) = provider_keys::disable(db, key_id, &reason, now).await {
                    tracing::error!(key_id, %error, "could not record a provider key as disabled");
                }
                // Rare: rebuilding the whole snapshot from the database is simplest.
                if let Err(error) = self.reload(db).await {
                    tracing::error!(%error, "could not reload provider keys");
                }
                self.changes.announce().await;
            }
            ProviderError::BadRequest { .. } | ProviderError::Unsupported(_) => {}
            _ => {
                let retry_after = match error {
                    ProviderError::RateLimited { retry_after_secs } => {
                        retry_after_secs.map(Duration::from_secs)
                    }
                    _ => None,
                };
                let rest = self.backoff(key_id, retry_after).await;
                tracing::info!(key_id, rest_ms = rest.as_millis() as u64, %error, "provider key resting");
                self.rest_everywhere(key_id, rest).await;
            }
        }
    }

    /// Rests the key for `rest` here and, through the shared rests, on every instance.
    async fn rest_everywhere(&self, key_id: i64, rest: Duration) {
        {
            let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
            health.entry(key_id).or_default().cooling_until = Some(Instant::now() + rest);
        }
        if let Ok(rest) = chrono::Duration::from_std(rest) {
            self.rests.rest(key_id, Utc::now() + rest).await;
        }
    }

    /// The key's backoff after one more failure: it doubles per consecutive failure, counted
    /// over every instance (at least what the provider asked for, at most the maximum).
    async fn backoff(&self, key_id: i64, retry_after: Option<Duration>) -> Duration {
        let shared = self.rests.streak_failed(key_id, STREAK_KEPT).await;
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        let state = health.entry(key_id).or_default();
        state.failures = shared.unwrap_or_else(|| state.failures.saturating_add(1));
        let doubling = 2u32.saturating_pow(state.failures.saturating_sub(1).min(16));
        let backoff = self
            .backoff
            .base
            .saturating_mul(doubling)
            .min(self.backoff.max);
        retry_after
            .map_or(backoff, |r| r.max(backoff))
            .min(self.backoff.max)
    }

    /// When a resting key is tried again, for admin views.
    pub fn cooling_until(&self, key_id: i64) -> Option<DateTime<Utc>> {
        let health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        let until = health.get(&key_id)?.cooling_until?;
        let left = until.checked_duration_since(Instant::now())?;
        Some(Utc::now() + chrono::Duration::from_std(left).ok()?)
    }
}
