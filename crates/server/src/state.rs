use std::sync::Arc;

use confab_chats::Relay;
use confab_chats::catalog::Catalog;
use confab_chats::files::FileStore;
use confab_keys::{ApiKeys, KeyPool};
use confab_payments::Payments;
use confab_store::Db;
use confab_users::Accounts;

/// What every handler can reach: the pool and the domain services.
pub struct AppState {
    pub db: Db,
    pub accounts: Arc<Accounts>,
    pub api_keys: Arc<ApiKeys>,
    pub relay: Arc<Relay>,
    pub payments: Arc<Payments>,
    pub files: FileStore,
    /// What stored files' links start with (from configuration only; empty: relative links).
    pub file_base: String,
    pub trust_forwarded_for: bool,
    /// How long an event stream may stay silent before a `: ping` comment is written.
    pub sse_keepalive: std::time::Duration,
    /// Card-code redemption, guarded against guessing.
    pub redemptions: Arc<confab_credits::redemption_guard::GuardedRedemptions>,
    /// Announces model and provider-key changes to the other instances.
    pub provider_changes: Arc<dyn confab_core::ChangeFeed>,
    /// Set once the instance shuts down (new requests are refused).
    pub drain: Arc<crate::drain::Drain>,
    /// What `/metrics` answers.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// `metrics.token`; `None`: `/metrics` is open.
    pub metrics_token: Option<secrecy::SecretString>,
    /// The Redis the instances share (`None`: a single instance), for readiness.
    pub cluster: Option<Arc<confab_cluster::Cluster>>,
}

impl AppState {
    pub fn pool(&self) -> &KeyPool {
        &self.relay.pool
    }

    pub fn catalog(&self) -> &Catalog {
        &self.relay.catalog
    }

    /// After an admin changed models or provider keys: this instance reloads its catalog and
    /// key pool at once (both, so a model it lists has the keys committed before it), and the
    /// others hear of it.
    pub async fn reload_providers(&self) -> Result<(), crate::error::ApiError> {
        self.relay.catalog.reload(&self.db).await?;
        self.relay.pool.reload(&self.db).await?;
        self.provider_changes.announce().await;
        Ok(())
    }
}
