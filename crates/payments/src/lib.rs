//! Confab payments: products, payment channels, orders, gateway notifies and fulfilment. The
//! gateways Confab takes money through (Alipay face-to-face, Epay, WeChat Pay Native, Stripe
//! Checkout) sit behind one [`gateways::Gateway`] trait; money is integer cents everywhere.

pub mod channels;
mod error;
pub mod events;
mod fulfil;
pub mod gateways;
pub mod money;
mod notify;
pub mod orders;
pub mod products;
mod reconcile;
pub mod refunds;

pub use reconcile::Reconciled;

use std::time::Duration;

use confab_core::SecretBox;
use confab_store::entity::payment_channel;

pub use error::PaymentsError;

/// What the payment routes need beyond the database: the master key's box for channel secrets,
/// an HTTP client, how long a gateway call may take, and how long an unpaid order lives.
pub struct Payments {
    secret_box: SecretBox,
    http: reqwest::Client,
    gateway_timeout: Duration,
    order_ttl: chrono::Duration,
    public_url: Option<String>,
}

/// How [`Payments`] is set up.
#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    /// Each gateway call (send and body) gives up after this long.
    pub gateway_timeout: Duration,
    /// An unpaid order expires this long after it was made.
    pub order_ttl: Duration,
    /// `server.public_url`: where gateways call back (notify URLs are built on it, never on a
    /// request's Host header). `None`: no channel may take orders.
    pub public_url: Option<String>,
}

impl Payments {
    /// `secret_box` seals channel secrets (the master key's box, shared with provider keys).
    pub fn new(secret_box: SecretBox, config: &PaymentsConfig) -> Result<Self, PaymentsError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.gateway_timeout)
            .timeout(config.gateway_timeout)
            .build()
            .map_err(|e| PaymentsError::Gateway(gateways::GatewayError::Config(e.to_string())))?;
        Ok(Self {
            secret_box,
            http,
            gateway_timeout: config.gateway_timeout,
            order_ttl: chrono::Duration::from_std(config.order_ttl)
                .unwrap_or(chrono::Duration::minutes(15)),
            public_url: config
                .public_url
                .as_deref()
                .map(|url| url.trim_end_matches('/').to_owned())
                .filter(|url| !url.is_empty()),
        })
    }

    /// Where gateways call back; payments cannot work without it.
    pub(crate) fn public_url(&self) -> Result<&str, PaymentsError> {
        self.public_url.as_deref().ok_or(PaymentsError::NoPublicUrl)
    }

    /// Refuses to start a server that has enabled channels but no `server.public_url`.
    pub async fn check_public_url(
        &self,
        db: &impl sea_orm::ConnectionTrait,
    ) -> Result<(), PaymentsError> {
        if self.public_url.is_none() && channels::any_enabled(db).await? {
            return Err(PaymentsError::NoPublicUrl);
        }
        Ok(())
    }

    /// The box channel secrets are sealed with.
    pub fn secret_box(&self) -> &SecretBox {
        &self.secret_box
    }

    /// A channel (deleted or not: its orders are still served) and its gateway.
    pub(crate) async fn channel_gateway(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        channel_id: i64,
    ) -> Result<(payment_channel::Model, Box<dyn gateways::Gateway>), PaymentsError> {
        use sea_orm::EntityTrait;
        let channel = payment_channel::Entity::find_by_id(channel_id)
            .one(db)
            .await?
            .ok_or(PaymentsError::ChannelNotFound)?;
        let gateway = self.gateway(&channel)?;
        Ok((channel, gateway))
    }

    /// The gateway of a channel, built from its settings and opened secrets.
    pub(crate) fn gateway(
        &self,
        channel: &payment_channel::Model,
    ) -> Result<Box<dyn gateways::Gateway>, PaymentsError> {
        let secrets = channels::open_secrets(&self.secret_box, channel)?;
        Ok(gateways::build(
            channel.kind,
            &channel.settings,
            &secrets,
            self.http.clone(),
            self.gateway_timeout,
        )?)
    }
}
