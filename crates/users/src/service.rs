use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use confab_core::{ChangeFeed, ChangeWatch, Clock, Generation, LocalChanges};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::auth_cache::AuthCache;
use crate::limiter::FailureLimiter;
use crate::mailer::Mailer;
use crate::settings::SiteCache;
use crate::tokens::TokenKeys;

/// The knobs of authentication, from the server's configuration.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    pub code_ttl_secs: i64,
    pub code_max_attempts: i32,
    pub code_resend_cooldown_secs: i64,
    pub code_requests_per_ip_per_hour: u32,
    /// Failed logins to one account from one address in a window: what throttles a guesser
    /// without touching the owner elsewhere.
    pub login_failures_per_account_and_ip: u32,
    /// Failed logins from one address, to any account.
    pub login_failures_per_ip: u32,
    /// Failed logins to one account from every address together: a ceiling against guessing
    /// spread over many addresses, set well above the pair limit.
    pub login_failures_per_account: u32,
    pub login_failure_window: Duration,
    pub site_name: String,
    /// Cache sessions in process (see `auth_cache`): only for a single instance.
    pub cache_sessions: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "confab".into(),
            audience: "confab-api".into(),
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            code_ttl_secs: 10 * 60,
            code_max_attempts: 5,
            code_resend_cooldown_secs: 60,
            code_requests_per_ip_per_hour: 30,
            login_failures_per_account_and_ip: 5,
            login_failures_per_ip: 20,
            login_failures_per_account: 100,
            login_failure_window: Duration::from_secs(15 * 60),
            site_name: "Confab".into(),
            cache_sessions: false,
        }
    }
}

/// Where a request came from, for login records, sessions and per-IP limits.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The accounts service: holds the keys and collaborators; every method takes the database
/// connection (or transaction) to work on.
pub struct Accounts {
    pub(crate) config: AuthConfig,
    pub(crate) keys: TokenKeys,
    pub(crate) code_key: Vec<u8>,
    pub(crate) mailer: Arc<dyn Mailer>,
    pub(crate) limiter: Arc<dyn FailureLimiter>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sessions_cache: AuthCache,
    pub(crate) site_cache: SiteCache,
    /// Bumped after an account's role or status changes, for caches of what keys' owners are.
    pub(crate) owners_changed: Generation,
    /// Tells the other instances (if any) what this one changed, and hears what they did.
    pub(crate) changes: ChangeWatch,
}

impl Accounts {
    /// `secret` signs access tokens and keys the hashes of email codes (separately derived).
    pub fn new(
        config: AuthConfig,
        secret: &[u8],
        mailer: Arc<dyn Mailer>,
        limiter: Arc<dyn FailureLimiter>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let keys = TokenKeys::new(secret, &config.issuer, &config.audience);
        let code_key = derive_key(secret, b"confab verification codes");
        crate::password::warm_up();
        Self {
            sessions_cache: AuthCache::new(config.cache_sessions),
            site_cache: SiteCache::new(config.cache_sessions),
            owners_changed: Generation::default(),
            changes: ChangeWatch::new(Arc::new(LocalChanges)),
            config,
            keys,
            code_key,
            mailer,
            limiter,
            clock,
        }
    }

    /// Shares this service's changes with other instances: with a shared feed, a logout, a
    /// password change, a disabled account or a new role answered here is seen by every
    /// instance's next request (set it before serving; see [`confab_core::changes`]).
    pub fn with_change_feed(mut self, changes: Arc<dyn ChangeFeed>) -> Self {
        self.changes = ChangeWatch::new(changes);
        self
    }

    /// Whether other instances write to the same database (caches are then kept only
    /// because the change feed says when to forget them).
    pub fn is_clustered(&self) -> bool {
        self.changes.feed().is_shared()
    }

    /// Before a cache is read: forgets what this instance cached if another instance has
    /// announced a change since the last look (or the feed cannot be read).
    pub(crate) async fn sync_cached(&self) {
        if self.changes.sync(|| self.forget_cached()).await {
            tracing::debug!("another instance changed accounts or settings: caches forgotten");
        }
    }

    /// Forgets every cached session, account and site setting: after a change here, or when
    /// another instance announced one.
    pub fn forget_cached(&self) {
        self.sessions_cache.clear();
        self.site_cache.changed.bump();
        self.owners_changed.bump();
    }

    /// After a committed change that cached sessions, accounts or settings depend on: forgets
    /// them here and tells the other instances before the change is answered.
    pub(crate) async fn changed(&self) {
        self.forget_cached();
        self.changes.feed().announce().await;
    }

    /// Moves after every committed change of an account's role or status (see
    /// [`confab_core::Generation`]).
    pub fn owner_changes(&self) -> Generation {
        self.owners_changed.clone()
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Now, to the microsecond: what PostgreSQL keeps, so a value reads back as it was written.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let now = self.clock.now();
        now.duration_trunc(chrono::TimeDelta::microseconds(1))
            .unwrap_or(now)
    }
}

/// HMAC-SHA256(secret, label): a sub-key so one secret never serves two purposes directly.
fn derive_key(secret: &[u8], label: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(label);
    mac.finalize().into_bytes().to_vec()
}

pub(crate) fn keyed_hash(key: &[u8], message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}
