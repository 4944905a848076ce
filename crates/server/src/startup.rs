//! Building the application from settings: data directory, database, migrations, secrets,
//! services, and the HTTP server bound to its listener (port 0 picks a free one, for tests).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use confab_chats::Relay;
use confab_chats::catalog::Catalog;
use confab_chats::files::FileStore;
use confab_core::{ChangeWatch, SecretBox, SystemClock};
use confab_credits::UsageWriter;
use confab_credits::holds::Meter;
use confab_credits::redemption_guard::{GuardedRedemptions, RedemptionLimits};
use confab_keys::pool::{Backoff, PoolSharing};
use confab_keys::{ApiKeys, KeyPool};
use confab_migration::{Migrator, MigratorTrait};
use confab_payments::{Payments, PaymentsConfig};
use confab_providers::{Providers, Timeouts};
use confab_store::Db;
use confab_users::mailer::{LogMailer, Mailer, SmtpMailer, SmtpSettings};
use confab_users::{Accounts, AuthConfig};
use sea_orm::{EntityTrait, PaginatorTrait};
use secrecy::ExposeSecret;
use utoipa_swagger_ui::SwaggerUi;

use crate::cluster::Sharing;
use crate::config::Settings;
use crate::drain::{Drain, Shutdown};
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::{error, openapi, request_id, routes, secrets};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("secret: {0}")]
    Secret(std::io::Error),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("provider keys: {0}")]
    Keys(#[from] confab_keys::KeysError),
    #[error("credits: {0}")]
    Credits(#[from] confab_credits::CreditsError),
    #[error("payments: {0}")]
    Payments(#[from] confab_payments::PaymentsError),
    #[error("model catalog: {0}")]
    Catalog(#[from] confab_chats::ChatsError),
    #[error("providers: {0}")]
    Providers(#[from] confab_providers::ProviderError),
    #[error("secrets.master_key: {0}")]
    MasterKey(#[from] confab_core::CryptoError),
    #[error("redis: {0}")]
    Redis(#[from] confab_cluster::ClusterError),
    #[error("email: {0}")]
    Email(String),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

/// What stored files' links start with: `server.public_url`; else this listener's own address
/// when clients can use it (a specific host, as in the zero-config start); else nothing (links
/// relative to the API). Never a request's Host header.
fn file_base(settings: &Settings, port: u16) -> String {
    let public = settings.server.public_url.trim_end_matches('/');
    if !public.is_empty() {
        return public.to_owned();
    }
    match settings.server.host.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_unspecified() => String::new(),
        Ok(std::net::IpAddr::V6(ip)) => format!("http://[{ip}]:{port}"),
        Ok(ip) => format!("http://{ip}:{port}"),
        Err(_) => format!("http://{}:{port}", settings.server.host),
    }
}

pub struct Application {
    server: Server,
    port: u16,
    db: Db,
    api_keys: Arc<ApiKeys>,
    relay: Arc<Relay>,
    drain: Arc<Drain>,
    grace: Duration,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let data_dir = settings.data.dir.clone();
        std::fs::create_dir_all(&data_dir).map_err(|source| StartupError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;

        let url = match settings.database.url.expose_secret() {
            "" => confab_store::sqlite_url_for(&data_dir.join("confab.db")),
            url => url.to_owned(),
        };
        let db = confab_store::connect(&url, settings.database.max_connections).await?;
        Migrator::up(db.connection(), None).await?;

        let secret = match settings.auth.jwt_secret.expose_secret() {
            "" => secrets::load_or_create(&data_dir, "jwt_secret").map_err(StartupError::Secret)?,
            configured => configured.to_owned(),
        };
        let sharing = Sharing::from_settings(&settings.redis)?;
        sharing.report().await;
        let single_instance =
            confab_store::Backend::of_url(&url) == Some(confab_store::Backend::Sqlite);
        let accounts = Arc::new(
            Accounts::new(
                auth_config(&settings, single_instance || sharing.cluster.is_some()),
                secret.as_bytes(),
                mailer(&settings)?,
                sharing.account_attempts.clone(),
                Arc::new(SystemClock),
            )
            .with_change_feed(sharing.changes.clone()),
        );

        // Keys' daily counters stay in their rows when other instances count them too.
        let api_keys = Arc::new(ApiKeys::new(single_instance, accounts.owner_changes()));
        api_keys.spawn_flusher(db.clone(), Duration::from_secs(1));
        let metrics = Arc::new(Metrics::new());
        let relay = Arc::new(
            relay(
                &settings,
                &db,
                &data_dir,
                &url,
                Shared {
                    sharing: &sharing,
                    metrics: &metrics,
                },
            )
            .await?,
        );
        let payments = Arc::new(Payments::new(
            relay.pool.secret_box().clone(),
            &PaymentsConfig {
                gateway_timeout: Duration::from_secs(settings.payments.gateway_timeout_secs),
                order_ttl: Duration::from_secs(settings.payments.order_ttl_secs),
                public_url: Some(settings.server.public_url.clone()),
            },
        )?);
        payments.check_public_url(&db).await?;
        spawn_reconciler(payments.clone(), db.clone(), &settings);
        // Off the async workers: building the token encoding is ~100 ms of CPU.
        drop(tokio::task::spawn_blocking(confab_chats::tokens::warm_up));
        spawn_crash_sweeper(
            relay.clone(),
            Duration::from_secs(settings.credits.hold_ttl_secs),
            Duration::from_secs(settings.credits.sweep_secs),
        );
        spawn_reloads(
            relay.clone(),
            Duration::from_secs(settings.providers.reload_secs),
            ChangeWatch::new(sharing.provider_changes.clone()),
        );

        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address).map_err(|source| StartupError::Bind {
            address: address.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                address: address.clone(),
                source,
            })?
            .port();

        let files = FileStore::open(data_dir.join("files"), settings.files.max_upload_bytes)
            .map_err(|source| StartupError::DataDir {
                path: data_dir.join("files").display().to_string(),
                source,
            })?;
        let drain = Arc::new(Drain::default());
        let state = web::Data::new(AppState {
            db: db.clone(),
            accounts,
            api_keys: api_keys.clone(),
            relay: relay.clone(),
            payments,
            files,
            file_base: file_base(&settings, port),
            trust_forwarded_for: settings.server.trust_forwarded_for,
            sse_keepalive: Duration::from_millis(settings.server.sse_keepalive_ms),
            redemptions: Arc::new(GuardedRedemptions::new(
                sharing.redemption_failures.clone(),
                RedemptionLimits {
                    per_user: settings.credits.redemption_failures_per_user,
                    per_address: settings.credits.redemption_failures_per_ip,
                    window: Duration::from_secs(settings.credits.redemption_failure_window_secs),
                },
            )),
            provider_changes: sharing.provider_changes.clone(),
            drain: drain.clone(),
            metrics,
            metrics_token: Some(settings.metrics.token.clone())
                .filter(|token| !token.expose_secret().is_empty()),
            cluster: sharing.cluster.clone(),
        });
        let body_limit = settings.server.body_limit_bytes;
        let cors_origins = settings.server.cors_allowed_origins.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(body_limit)
                        .error_handler(error::extract::json),
                )
                .app_data(
                    web::FormConfig::default()
                        .limit(body_limit)
                        .error_handler(error::extract::form),
                )
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(web::QueryConfig::default().error_handler(error::extract::query))
                .app_data(web::PathConfig::default().error_handler(error::extract::path))
                .wrap(from_fn(crate::drain::middleware))
                .wrap(from_fn(crate::metrics::middleware))
                .wrap(from_fn(crate::security_headers::middleware))
                .wrap(from_fn(request_id::middleware))
                .wrap(crate::cors::middleware(&cors_origins))
                .configure(routes::configure)
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi::document()))
                .default_service(web::to(error::not_found))
        })
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        // Signals are handled by [`Application::drain_on_signals`], which drains first.
        .disable_signals()
        // Nagle's algorithm would hold small SSE frames back for up to 40 ms.
        .tcp_nodelay(true)
        .listen(listener)
        .map_err(|source| StartupError::Bind { address, source })?;
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.run();

        let app = Self {
            server,
            port,
            db,
            api_keys,
            relay,
            drain,
            grace: Duration::from_secs(settings.server.shutdown_timeout_secs),
        };
        app.announce(&settings).await;
        Ok(app)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Drains and stops on SIGTERM or SIGINT (see [`crate::drain`]); without it the server
    /// runs until the process ends.
    pub fn drain_on_signals(&self) {
        self.shutdown().on_signals();
    }

    /// What drains this application, to run on a signal or when a caller decides.
    pub fn shutdown(&self) -> Shutdown {
        Shutdown {
            drain: self.drain.clone(),
            relay: self.relay.clone(),
            server: self.server.handle(),
            grace: self.grace,
        }
    }

    /// Serves until stopped (by [`Application::drain_on_signals`] or [`Shutdown::run`]),
    /// then writes the counters kept in memory.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if let Err(err) = self.api_keys.flush(&self.db).await {
            tracing::error!(error = %err, "writing API key counters at shutdown failed");
        }
        served
    }

    async fn announce(&self, settings: &Settings) {
        let base = format!("http://{}:{}", settings.server.host, self.port);
        tracing::info!("Confab listening on {base} (API docs at {base}/docs)");
        match confab_store::entity::user::Entity::find()
            .count(&self.db)
            .await
        {
            Ok(0) => tracing::info!(
                "No users yet. Create the first admin with: curl -X POST {base}/api/v1/setup \
                 -H 'Content-Type: application/json' \
                 -d '{{\"username\":\"admin\",\"password\":\"<at least 8 characters>\"}}'"
            ),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "could not count users"),
        }
    }
}

/// What the relay shares with the rest of the instance and with other instances.
struct Shared<'a> {
    sharing: &'a Sharing,
    metrics: &'a Arc<Metrics>,
}

/// The completion pipeline: master key, provider adapters, the key pool (with the config
/// file's keys synced in), the catalog and the usage writer.
async fn relay(
    settings: &Settings,
    db: &Db,
    data_dir: &std::path::Path,
    url: &str,
    shared: Shared<'_>,
) -> Result<Relay, StartupError> {
    let sharing = shared.sharing;
    let master_key = match settings.secrets.master_key.expose_secret() {
        "" => secrets::load_or_create(data_dir, "master_key").map_err(StartupError::Secret)?,
        configured => configured.to_owned(),
    };
    let secret_box = SecretBox::from_hex(&master_key)?;
    let p = &settings.providers;
    let providers = Providers::new(Timeouts {
        connect: Duration::from_secs(p.connect_timeout_secs),
        first_byte: Duration::from_secs(p.first_byte_timeout_secs),
        idle: Duration::from_secs(p.idle_timeout_secs),
        request: Duration::from_secs(p.request_timeout_secs),
    })?;
    confab_keys::provider_keys::sync_declared(db, &secret_box, p.keys.clone(), chrono::Utc::now())
        .await?;
    let mut pool = KeyPool::new(
        secret_box,
        Backoff {
            base: Duration::from_millis(p.cooldown_base_ms),
            max: Duration::from_secs(p.cooldown_max_secs),
        },
    );
    if let Some(rpm) = &sharing.provider_rpm {
        pool = pool.shared(PoolSharing {
            rests: sharing.key_rests.clone(),
            changes: sharing.provider_changes.clone(),
            rpm: rpm.clone(),
        });
    }
    let pool = Arc::new(pool.observed_by(shared.metrics.clone()));
    pool.reload(db).await?;
    let catalog = Arc::new(Catalog::default());
    catalog.reload(db).await?;
    let mut meter = Meter::new(
        db.clone(),
        Duration::from_secs(settings.credits.hold_ttl_secs),
    );
    meter = meter.with_writers(confab_store::sqlite_file_of(url).as_deref())?;
    Ok(Relay {
        db: db.clone(),
        providers,
        pool,
        catalog,
        usage: UsageWriter::start(db.clone(), Duration::from_millis(20))
            .observed_by(shared.metrics.clone()),
        meter,
        max_attempts: p.max_attempts,
        streams: Default::default(),
    })
}

/// Cleans up after servers that died mid-request: releases their expired credit holds
/// (uncharged) and marks their unfinished answers interrupted.
fn spawn_crash_sweeper(relay: Arc<Relay>, ttl: Duration, every: Duration) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        loop {
            ticker.tick().await;
            let now = chrono::Utc::now();
            match relay.meter.release_expired(now).await {
                Ok(0) => {}
                Ok(released) => tracing::info!(released, "released expired credit holds"),
                Err(error) => tracing::warn!(%error, "releasing expired credit holds failed"),
            }
            let started_before = now - chrono::Duration::from_std(ttl).unwrap_or_default();
            match confab_chats::chats::interrupt_orphans(&relay.db, started_before).await {
                Ok(0) => {}
                Ok(marked) => {
                    tracing::info!(marked, "marked answers of a stopped server interrupted")
                }
                Err(error) => tracing::warn!(%error, "marking orphaned answers failed"),
            }
        }
    });
}

/// Re-reads keys and catalog now and then, so changes made through other instances arrive.
/// The periodic ask-the-gateway pass over pending orders whose notify is late.
fn spawn_reconciler(payments: Arc<Payments>, db: Db, settings: &Settings) {
    let every = Duration::from_secs(settings.payments.reconcile_secs);
    let timeout_secs = i64::try_from(settings.payments.gateway_timeout_secs).unwrap_or(3600);
    let grace = chrono::Duration::seconds(
        i64::try_from(settings.payments.notify_grace_secs).unwrap_or(i64::MAX / 1000),
    );
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = chrono::Utc::now();
            // Well past any refund still in flight in a request.
            let settled = now - chrono::Duration::seconds(2 * timeout_secs);
            if let Err(error) = payments.finish_refunds(&db, settled, now).await {
                tracing::warn!(error = %error, "finishing pending refunds failed");
            }
            match payments.reconcile(&db, grace, now).await {
                Ok(done) if done.fulfilled + done.expired + done.failed > 0 => tracing::info!(
                    checked = done.checked,
                    fulfilled = done.fulfilled,
                    expired = done.expired,
                    failed = done.failed,
                    "reconciled pending orders"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %error, "reconciling pending orders failed"),
            }
        }
    });
}

/// How often instances sharing Redis look for each other's model and key changes.
const SHARED_TICK: Duration = Duration::from_secs(1);

/// Reloads the pool and the catalog every `every`; with other instances, also within a
/// second of a change they announce, and rests the keys they found failing.
fn spawn_reloads(relay: Arc<Relay>, every: Duration, watch: ChangeWatch) {
    let tick = if watch.feed().is_shared() {
        SHARED_TICK.min(every)
    } else {
        every
    };
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(tick);
        ticker.tick().await;
        let mut last = tokio::time::Instant::now();
        loop {
            ticker.tick().await;
            relay.pool.adopt_rests().await;
            if !watch.sync(|| {}).await && last.elapsed() < every {
                continue;
            }
            last = tokio::time::Instant::now();
            // The catalog first: a model seen means the keys committed before it are too.
            if let Err(error) = relay.catalog.reload(&relay.db).await {
                tracing::warn!(%error, "reloading the model catalog failed");
            }
            if let Err(error) = relay.pool.reload(&relay.db).await {
                tracing::warn!(%error, "reloading provider keys failed");
            }
        }
    });
}

/// `cache_sessions`: whether this instance hears of every change to sessions and accounts
/// (it is the only one, or Redis tells it what the others changed).
fn auth_config(settings: &Settings, cache_sessions: bool) -> AuthConfig {
    let auth = &settings.auth;
    AuthConfig {
        issuer: auth.issuer.clone(),
        audience: auth.audience.clone(),
        access_ttl_secs: auth.access_ttl_secs,
        refresh_ttl_secs: auth.refresh_ttl_secs,
        code_ttl_secs: auth.code_ttl_secs,
        code_max_attempts: auth.code_max_attempts,
        code_resend_cooldown_secs: auth.code_resend_cooldown_secs,
        code_requests_per_ip_per_hour: auth.code_requests_per_ip_per_hour,
        login_failures_per_account_and_ip: auth.login_failures_per_account_and_ip,
        login_failures_per_ip: auth.login_failures_per_ip,
        login_failures_per_account: auth.login_failures_per_account,
        login_failure_window: Duration::from_secs(auth.login_failure_window_secs),
        site_name: "Confab".to_owned(),
        cache_sessions,
    }
}

fn mailer(settings: &Settings) -> Result<Arc<dyn Mailer>, StartupError> {
    let email = &settings.email;
    if email.smtp_host.is_empty() {
        tracing::info!("no SMTP configured: emails (verification codes) go to the log");
        return Ok(Arc::new(LogMailer));
    }
    let non_empty = |value: &str| (!value.is_empty()).then(|| value.to_owned());
    let smtp = SmtpMailer::new(&SmtpSettings {
        host: email.smtp_host.clone(),
        port: email.smtp_port,
        security: email.smtp_security,
        username: non_empty(&email.smtp_username),
        password: non_empty(email.smtp_password.expose_secret()),
        from: email.from.clone(),
        timeout: Duration::from_secs(email.timeout_secs),
    })
    .map_err(|err| StartupError::Email(err.to_string()))?;
    Ok(Arc::new(smtp))
}
