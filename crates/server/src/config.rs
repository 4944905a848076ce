//! Configuration: the embedded `config/default.toml`, then the file named by `CONFAB_CONFIG`,
//! then `CONFAB__SECTION__KEY` environment variables; validated before anything starts.

use std::path::PathBuf;

pub use confab_users::mailer::SmtpSecurity;
use secrecy::SecretString;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
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
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentSettings {
    pub order_ttl_secs: u64,
    pub gateway_timeout_secs: u64,
    pub reconcile_secs: u64,
    pub notify_grace_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CreditSettings {
    pub hold_ttl_secs: u64,
    pub sweep_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SecretSettings {
    pub master_key: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
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
pub struct FileSettings {
    pub max_upload_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
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
pub struct DataSettings {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
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
    pub login_failures_per_account: u32,
    pub login_failures_per_ip: u32,
    pub login_failure_window_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
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
}

impl Settings {
    /// Defaults, then `CONFAB_CONFIG`'s file, then the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Ok(path) = std::env::var("CONFAB_CONFIG") {
            builder = builder.add_source(config::File::with_name(&path).required(true));
        }
        let settings: Settings = builder
            .add_source(
                config::Environment::with_prefix("CONFAB")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// The built-in defaults alone (what tests start from).
    pub fn defaults() -> Result<Self, ConfigError> {
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
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
        if self.auth.login_failures_per_account == 0 || self.auth.login_failures_per_ip == 0 {
            return invalid("auth.login_failures_per_account and _per_ip must be at least 1");
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
        if self.credits.hold_ttl_secs == 0 || self.credits.sweep_secs == 0 {
            return invalid("credits.hold_ttl_secs and credits.sweep_secs must be at least 1");
        }
        if self.files.max_upload_bytes < 1024 {
            return invalid("files.max_upload_bytes must be at least 1024");
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

    #[test]
    fn bad_values_are_named() {
        let mut settings = Settings::defaults().unwrap();
        settings.auth.access_ttl_secs = 5;
        let err = settings.validate().unwrap_err().to_string();
        assert!(err.contains("auth.access_ttl_secs"), "{err}");
    }
}
