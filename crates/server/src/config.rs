//! Configuration: the embedded `config/default.toml`, then the file named by `CONFAB_CONFIG`,
//! then `CONFAB__SECTION__KEY` environment variables; validated before anything starts.

use std::path::PathBuf;

pub use confab_users::mailer::SmtpSecurity;
use secrecy::SecretString;
use serde::Deserialize;

mod known_keys;

const DEFAULTS: &str = include_str!("../../../config/default.toml");

/// `https://a.example,https://b.example` sets `server.cors_allowed_origins`.
const CORS_ORIGINS_VARIABLE: &str = "CONFAB__SERVER__CORS_ALLOWED_ORIGINS";

/// The embedded defaults, which name every setting there is.
fn defaults_source() -> config::File<config::FileSourceString, config::FileFormat> {
    config::File::from_str(DEFAULTS, config::FileFormat::Toml)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub data: DataSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub email: EmailSettings,
    pub log: LogSettings,
    pub secrets: SecretSettings,
    pub providers: ProviderSettings,
    pub files: FileSettings,
    pub credits: CreditSettings,
    pub payments: PaymentSettings,
    pub redis: RedisSettings,
    pub metrics: MetricsSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// Empty: one instance, everything shared in process.
    pub url: SecretString,
    pub pool_size: usize,
    pub timeout_ms: u64,
    /// Put before every key, so several sites can share one Redis.
    pub key_prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Empty: `/metrics` is open.
    pub token: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentSettings {
    pub order_ttl_secs: u64,
    pub gateway_timeout_secs: u64,
    pub reconcile_secs: u64,
    pub notify_grace_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditSettings {
    pub hold_ttl_secs: u64,
    pub sweep_secs: u64,
    pub redemption_failures_per_user: u32,
    pub redemption_failures_per_ip: u32,
    pub redemption_failure_window_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    pub master_key: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    pub connect_timeout_secs: u64,
    pub first_byte_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub request_timeout_secs: u64,
    pub max_attempts: usize,
    pub cooldown_base_ms: u64,
    pub cooldown_max_secs: u64,
    pub reload_secs: u64,
    pub keys: Vec<confab_keys::provider_keys::NewProviderKey>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub max_upload_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub body_limit_bytes: usize,
    pub trust_forwarded_for: bool,
    pub shutdown_timeout_secs: u64,
    pub sse_keepalive_ms: u64,
    pub public_url: String,
    /// Origins browser apps may call the API from (`https://app.example.com`), or `["*"]`
    /// for any; empty: no cross-origin access.
    pub cors_allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSettings {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    pub jwt_secret: SecretString,
    pub code_ttl_secs: i64,
    pub code_max_attempts: i32,
    pub code_resend_cooldown_secs: i64,
    pub code_requests_per_ip_per_hour: u32,
    pub login_failures_per_account_and_ip: u32,
    pub login_failures_per_ip: u32,
    pub login_failures_per_account: u32,
    pub login_failure_window_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: SmtpSecurity,
    pub smtp_username: String,
    pub smtp_password: SecretString,
    pub from: String,
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("unknown setting: {0}")]
    Unknown(String),
}

impl Settings {
    /// Defaults, then `CONFAB_CONFIG`'s file, then the `CONFAB__…` environment variables.
    pub fn load() -> Result<Self, ConfigError> {
        let file = std::env::var("CONFAB_CONFIG").ok();
        let environment = std::env::vars()
            .filter(|(name, _)| name.starts_with(known_keys::ENV_PREFIX))
            .collect();
        Self::load_from(file.as_deref(), environment)
    }

    /// Defaults, then `file` (if any), then `environment` (`CONFAB__SECTION__KEY` → value).
    /// A key in the file or a variable that matches no setting is refused by name. Values
    /// are not guessed from their look: a string setting stays a string even when it is all
    /// digits (a hex master key), and numbers and switches are read as their setting's type.
    pub fn load_from(
        file: Option<&str>,
        mut environment: config::Map<String, String>,
    ) -> Result<Self, ConfigError> {
        let known = known_keys::of(&defaults_source())?;
        let mut builder = config::Config::builder().add_source(defaults_source());
        if let Some(path) = file {
            let source = config::File::with_name(path).required(true);
            known_keys::check_file(&known, path, &source)?;
            builder = builder.add_source(source);
        }
        known_keys::check_environment(&known, environment.keys())?;
        // The one list a variable can set: origins separated by commas.
        if let Some(origins) = environment.remove(CORS_ORIGINS_VARIABLE) {
            let origins: Vec<String> = origins
                .split(',')
                .map(str::trim)
                .filter(|origin| !origin.is_empty())
                .map(str::to_owned)
                .collect();
            builder = builder.set_override("server.cors_allowed_origins", origins)?;
        }
        let settings: Settings = builder
            .add_source(
                config::Environment::with_prefix("CONFAB")
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(environment)),
            )
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// The built-in defaults alone (what tests start from).
    pub fn defaults() -> Result<Self, ConfigError> {
        let settings: Settings = config::Config::builder()
            .add_source(defaults_source())
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.to_owned()));
        use secrecy::ExposeSecret;
        if self.server.host.trim().is_empty() {
            return invalid("server.host must not be empty");
        }
        if let Some(bad) = self
            .server
            .cors_allowed_origins
            .iter()
            .find(|origin| !crate::cors::is_origin(origin))
        {
            return Err(ConfigError::Invalid(format!(
                "server.cors_allowed_origins: {bad:?} is not an origin such as https://app.example.com (or \"*\" alone)"
            )));
        }
        if self.server.cors_allowed_origins.len() > 1
            && self.server.cors_allowed_origins.iter().any(|o| o == "*")
        {
            return invalid("server.cors_allowed_origins: \"*\" stands alone");
        }
        if self.server.sse_keepalive_ms < 10 {
            return invalid("server.sse_keepalive_ms must be at least 10");
        }
        if self.server.body_limit_bytes < 1024 {
            return invalid("server.body_limit_bytes must be at least 1024");
        }
        let url = self.database.url.expose_secret();
        if !url.is_empty() && confab_store::Backend::of_url(url).is_none() {
            return invalid(
                "database.url must start with sqlite: or postgres:// (or be empty for the default SQLite file)",
            );
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections must be at least 1");
        }
        if !(60..=86_400).contains(&self.auth.access_ttl_secs) {
            return invalid("auth.access_ttl_secs must be between 60 and 86400");
        }
        if self.auth.refresh_ttl_secs < self.auth.access_ttl_secs {
            return invalid("auth.refresh_ttl_secs must not be shorter than auth.access_ttl_secs");
        }
        let secret = self.auth.jwt_secret.expose_secret();
        if !secret.is_empty() && secret.len() < 32 {
            return invalid("auth.jwt_secret must be at least 32 bytes (or empty to generate one)");
        }
        if self.auth.code_ttl_secs < 60 || self.auth.code_max_attempts < 1 {
            return invalid(
                "auth.code_ttl_secs must be 60 or more and auth.code_max_attempts 1 or more",
            );
        }
        let auth = &self.auth;
        if auth.login_failures_per_account_and_ip == 0
            || auth.login_failures_per_ip == 0
            || auth.login_failures_per_account == 0
        {
            return invalid(
                "auth.login_failures_per_account_and_ip, _per_ip and _per_account must be at least 1",
            );
        }
        let master_key = self.secrets.master_key.expose_secret();
        if !master_key.is_empty() && confab_core::SecretBox::from_hex(master_key).is_err() {
            return invalid(
                "secrets.master_key must be 64 hex characters (or empty to generate one)",
            );
        }
        let p = &self.providers;
        if p.first_byte_timeout_secs == 0 || p.idle_timeout_secs == 0 || p.request_timeout_secs == 0
        {
            return invalid("providers.*_timeout_secs must be at least 1");
        }
        if !(1..=10).contains(&p.max_attempts) {
            return invalid("providers.max_attempts must be between 1 and 10");
        }
        if p.reload_secs == 0 {
            return invalid("providers.reload_secs must be at least 1");
        }
        let public_url = &self.server.public_url;
        let absolute = public_url.starts_with("http://") || public_url.starts_with("https://");
        if !(public_url.is_empty() || absolute) {
            return invalid("server.public_url must be empty or start with http:// or https://");
        }
        let p = &self.payments;
        if p.order_ttl_secs == 0 || p.gateway_timeout_secs == 0 || p.reconcile_secs == 0 {
            return invalid(
                "payments.order_ttl_secs, gateway_timeout_secs and reconcile_secs must be at least 1",
            );
        }
        let credits = &self.credits;
        if credits.redemption_failures_per_user == 0
            || credits.redemption_failures_per_ip == 0
            || credits.redemption_failure_window_secs == 0
        {
            return invalid(
                "credits.redemption_failures_per_user, _per_ip and redemption_failure_window_secs must be at least 1",
            );
        }
        if self.credits.hold_ttl_secs == 0 || self.credits.sweep_secs == 0 {
            return invalid("credits.hold_ttl_secs and credits.sweep_secs must be at least 1");
        }
        if self.files.max_upload_bytes < 1024 {
            return invalid("files.max_upload_bytes must be at least 1024");
        }
        let redis = self.redis.url.expose_secret();
        if !(redis.is_empty() || redis.starts_with("redis://") || redis.starts_with("rediss://")) {
            return invalid("redis.url must be empty or start with redis:// or rediss://");
        }
        if self.redis.pool_size == 0 || self.redis.timeout_ms == 0 {
            return invalid("redis.pool_size and redis.timeout_ms must be at least 1");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return invalid(
                "log.level is not a valid filter (e.g. \"info\" or \"confab_server=debug,warn\")",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let settings = Settings::defaults().unwrap();
        assert_eq!(settings.server.host, "127.0.0.1");
        assert_eq!(settings.server.port, 8080);
        assert_eq!(settings.auth.access_ttl_secs, 900);
    }

    fn environment(pairs: &[(&str, &str)]) -> config::Map<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn the_environment_sets_numbers_switches_and_strings_as_their_settings_are() {
        let all_digits = "1234567890".repeat(6) + "1234";
        let settings = Settings::load_from(
            None,
            environment(&[
                ("CONFAB__SERVER__PORT", "9000"),
                ("CONFAB__SERVER__TRUST_FORWARDED_FOR", "true"),
                ("CONFAB__SECRETS__MASTER_KEY", &all_digits),
                ("CONFAB__AUTH__ISSUER", "12345"),
                (
                    "CONFAB__SERVER__CORS_ALLOWED_ORIGINS",
                    "https://a.example, https://b.example",
                ),
            ]),
        )
        .unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(settings.server.port, 9000);
        assert!(settings.server.trust_forwarded_for);
        assert_eq!(settings.secrets.master_key.expose_secret(), all_digits);
        assert_eq!(settings.auth.issuer, "12345");
        assert_eq!(
            settings.server.cors_allowed_origins,
            ["https://a.example", "https://b.example"]
        );
    }

    #[test]
    fn a_variable_that_names_no_setting_stops_the_start_by_name() {
        let error = Settings::load_from(
            None,
            environment(&[
                ("CONFAB__SERVER__PORT", "9000"),
                ("CONFAB__SERVER__PROT", "9001"),
                ("CONFAB__NOPE__URL", "x"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("CONFAB__NOPE__URL, CONFAB__SERVER__PROT"),
            "{error}"
        );
        assert!(!error.contains("9001"), "values are never printed: {error}");
    }

    #[test]
    fn a_file_key_that_names_no_setting_stops_the_start_by_name() {
        let dir = std::env::temp_dir().join(format!("confab-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("confab.toml");
        std::fs::write(
            &path,
            "[server]\nport = 9000\nworkerz = 2\n[cache]\nsize = 1\n",
        )
        .unwrap();
        let path = path.to_string_lossy().into_owned();
        let error = Settings::load_from(Some(&path), environment(&[]))
            .unwrap_err()
            .to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(error.contains("cache.size, server.workerz"), "{error}");
    }

    #[test]
    fn bad_values_are_named() {
        let mut settings = Settings::defaults().unwrap();
        settings.auth.access_ttl_secs = 5;
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("auth.access_ttl_secs"), "{err}");
    }
}
