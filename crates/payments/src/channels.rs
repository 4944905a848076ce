//! Payment channels: a gateway account (kind, public settings, sealed secrets) and the pay types
//! it serves. Secrets are write-only: sealed with the master key (AES-256-GCM) on the way in,
//! opened only to build the gateway, and answered as the names of the fields that are set.

use chrono::{DateTime, Utc};
use confab_core::{Page, PageRequest, SecretBox};
use confab_store::entity::payment_channel::{self, ChannelKind};
use confab_store::fetch_page;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, NotSet, QueryFilter, QueryOrder,
    Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::PaymentsError;
use crate::gateways;

/// What sealed secrets are for, so a sealed value cannot be replayed as another kind of secret.
const SECRET_PURPOSE: &str = "payment_channel_secrets";

/// A channel as admins see it: never a secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Channel {
    /// The channel id.
    pub id: i64,
    /// Which gateway.
    pub kind: ChannelKind,
    /// What buyers see.
    pub name: String,
    /// What a client may ask to pay with through this channel (e.g. `alipay`, `wxpay`).
    pub pay_types: Vec<String>,
    /// The public configuration (app id, merchant id, gateway URL...).
    #[schema(value_type = Object)]
    pub settings: Value,
    /// The names of the secret fields that are set; their values are never shown.
    pub secrets_set: Vec<String>,
    /// Whether new orders may go through it.
    pub enabled: bool,
    /// Lower first.
    pub sort_order: i32,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A channel as anyone may see it, to offer it at checkout.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicChannel {
    /// What `POST /api/v1/orders` takes as `channel_id`.
    pub id: i64,
    /// Which gateway.
    pub kind: ChannelKind,
    /// What buyers see.
    pub name: String,
    /// What `POST /api/v1/orders` takes as `pay_type`.
    pub pay_types: Vec<String>,
}

/// A new payment channel.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    /// Which gateway; decides what `settings` and `secrets` hold.
    pub kind: ChannelKind,
    /// 1 to 64 characters.
    #[schema(pattern = r"^\s*\S([\s\S]{0,62}\S)?\s*$")]
    pub name: String,
    /// 1 to 8 pay types, each 1 to 16 of `a-z0-9_`.
    #[schema(schema_with = pay_types_schema::<false>)]
    pub pay_types: Vec<String>,
    /// The kind's public settings (see the README for each gateway's fields).
    #[schema(value_type = Object)]
    pub settings: Value,
    /// The kind's secrets: private keys, MD5 or API v3 keys, webhook secrets.
    #[schema(value_type = Object)]
    pub secrets: Value,
    /// True when absent.
    pub enabled: Option<bool>,
    /// Lower first; 0 when absent.
    #[serde(default)]
    pub sort_order: i32,
}

/// A partial update. `settings` replaces the settings; `secrets` replaces only the secret fields
/// it names, so an admin can rotate one key without sending the others again.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    /// 1 to 64 characters (trimmed).
    #[schema(pattern = r"^\s*\S([\s\S]{0,62}\S)?\s*$")]
    pub name: Option<String>,
    /// 1 to 8 pay types, each 1 to 16 of `a-z0-9_`.
    #[schema(schema_with = pay_types_schema::<true>)]
    pub pay_types: Option<Vec<String>>,
    /// The kind's public settings, replaced whole.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
    /// Secret fields to replace (the others stay); never shown back.
    #[schema(value_type = Option<Object>)]
    pub secrets: Option<Value>,
    /// False hides the channel from buyers.
    pub enabled: Option<bool>,
    /// Lower first.
    pub sort_order: Option<i32>,
}

fn check_name(name: &str) -> Result<String, PaymentsError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(PaymentsError::InvalidField(
            "name",
            "name must be 1 to 64 characters",
        ));
    }
    Ok(name.to_owned())
}

fn check_pay_types(types: Vec<String>) -> Result<Value, PaymentsError> {
    let valid = |t: &String| {
        (1..=16).contains(&t.len())
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    if types.is_empty() || types.len() > 8 || !types.iter().all(valid) {
        return Err(PaymentsError::InvalidField(
            "pay_types",
            "pay_types must list 1 to 8 names of 1 to 16 characters a-z, 0-9 or _",
        ));
    }
    let mut unique = types;
    unique.dedup();
    Ok(Value::from(unique))
}

/// The gateway's own check of the settings and secrets, as a 400 naming the bad field.
fn check_config(kind: ChannelKind, settings: &Value, secrets: &Value) -> Result<(), PaymentsError> {
    gateways::validate(kind, settings, secrets)
        .map_err(|error| PaymentsError::Invalid("settings", error.to_string()))
}

fn strings(value: &Value) -> Vec<String> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

fn view(row: payment_channel::Model, secrets: &Value) -> Channel {
    let mut secrets_set: Vec<String> = secrets
        .as_object()
        .map(|map| {
            map.iter()
                .filter(|(_, value)| value.as_str().is_some_and(|s| !s.is_empty()))
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default();
    secrets_set.sort();
    Channel {
        id: row.id,
        kind: row.kind,
        name: row.name,
        pay_types: strings(&row.pay_types),
        settings: row.settings,
        secrets_set,
        enabled: row.enabled,
        sort_order: row.sort_order,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// A channel's secrets, opened.
pub(crate) fn open_secrets(
    secret_box: &SecretBox,
    row: &payment_channel::Model,
) -> Result<Value, PaymentsError> {
    let json = secret_box.open(SECRET_PURPOSE, &row.secrets_sealed)?;
    serde_json::from_str(&json).map_err(|_| PaymentsError::Corrupt("a channel's stored secrets"))
}

fn seal(secret_box: &SecretBox, secrets: &Value) -> Result<String, PaymentsError> {
    Ok(secret_box.seal(SECRET_PURPOSE, &secrets.to_string())?)
}

impl crate::Payments {
    /// Adds a channel after the gateway's own check of its settings and secrets; an enabled
    /// one needs `server.public_url` (its notify URLs are built on it).
    pub async fn create_channel(
        &self,
        db: &impl ConnectionTrait,
        new: NewChannel,
        now: DateTime<Utc>,
    ) -> Result<Channel, PaymentsError> {
        if new.enabled.unwrap_or(true) {
            self.public_url()?;
        }
        create(db, self.secret_box(), new, now).await
    }

    /// Changes a channel (see [`update`]); one left enabled needs `server.public_url`.
    pub async fn update_channel(
        &self,
        db: &impl ConnectionTrait,
        id: i64,
        patch: ChannelPatch,
        now: DateTime<Utc>,
    ) -> Result<Channel, PaymentsError> {
        if patch.enabled.unwrap_or(find(db, id).await?.enabled) {
            self.public_url()?;
        }
        update(db, self.secret_box(), id, patch, now).await
    }
}

/// Whether any channel takes orders.
pub(crate) async fn any_enabled(db: &impl ConnectionTrait) -> Result<bool, PaymentsError> {
    Ok(payment_channel::Entity::find()
        .filter(payment_channel::Column::DeletedAt.is_null())
        .filter(payment_channel::Column::Enabled.eq(true))
        .one(db)
        .await?
        .is_some())
}

/// Adds a channel after the gateway's own check of its settings and secrets.
async fn create(
    db: &impl ConnectionTrait,
    secret_box: &SecretBox,
    new: NewChannel,
    now: DateTime<Utc>,
) -> Result<Channel, PaymentsError> {
    check_config(new.kind, &new.settings, &new.secrets)?;
    let row = payment_channel::ActiveModel {
        id: NotSet,
        kind: Set(new.kind),
        name: Set(check_name(&new.name)?),
        pay_types: Set(check_pay_types(new.pay_types)?),
        settings: Set(new.settings),
        secrets_sealed: Set(seal(secret_box, &new.secrets)?),
        enabled: Set(new.enabled.unwrap_or(true)),
        sort_order: Set(new.sort_order),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(view(row, &new.secrets))
}

/// A channel that was not deleted, enabled or not.
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<payment_channel::Model, PaymentsError> {
    payment_channel::Entity::find_by_id(id)
        .filter(payment_channel::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or(PaymentsError::ChannelNotFound)
}

/// One channel, for admins.
pub async fn get(
    db: &impl ConnectionTrait,
    secret_box: &SecretBox,
    id: i64,
) -> Result<Channel, PaymentsError> {
    let row = find(db, id).await?;
    let secrets = open_secrets(secret_box, &row)?;
    Ok(view(row, &secrets))
}

/// Changes a channel; the result is checked as a whole, as on creation.
async fn update(
    db: &impl ConnectionTrait,
    secret_box: &SecretBox,
    id: i64,
    patch: ChannelPatch,
    now: DateTime<Utc>,
) -> Result<Channel, PaymentsError> {
    let row = find(db, id).await?;
    let mut secrets = open_secrets(secret_box, &row)?;
    if let Some(changed) = patch.secrets {
        let Some(changed) = changed.as_object() else {
            return Err(PaymentsError::InvalidField(
                "secrets",
                "secrets must be an object of the fields to replace",
            ));
        };
        let mut merged = secrets.as_object().cloned().unwrap_or_else(Map::new);
        merged.extend(changed.clone());
        secrets = Value::Object(merged);
    }
    let settings = patch.settings.unwrap_or_else(|| row.settings.clone());
    check_config(row.kind, &settings, &secrets)?;
    let mut active: payment_channel::ActiveModel = row.into();
    if let Some(name) = patch.name {
        active.name = Set(check_name(&name)?);
    }
    if let Some(types) = patch.pay_types {
        active.pay_types = Set(check_pay_types(types)?);
    }
    if let Some(enabled) = patch.enabled {
        active.enabled = Set(enabled);
    }
    if let Some(order) = patch.sort_order {
        active.sort_order = Set(order);
    }
    active.settings = Set(settings);
    active.secrets_sealed = Set(seal(secret_box, &secrets)?);
    active.updated_at = Set(now);
    Ok(view(active.update(db).await?, &secrets))
}

/// The channel stops taking new orders; notifies for its orders are still honoured.
pub async fn delete(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), PaymentsError> {
    let row = find(db, id).await?;
    let mut active: payment_channel::ActiveModel = row.into();
    active.deleted_at = Set(Some(now));
    active.enabled = Set(false);
    active.updated_at = Set(now);
    active.update(db).await?;
    Ok(())
}

/// Every live channel, for admins, in display order.
pub async fn list(
    db: &impl ConnectionTrait,
    secret_box: &SecretBox,
    page: PageRequest,
) -> Result<Page<Channel>, PaymentsError> {
    let query = payment_channel::Entity::find()
        .filter(payment_channel::Column::DeletedAt.is_null())
        .order_by_asc(payment_channel::Column::SortOrder)
        .order_by_asc(payment_channel::Column::Id);
    let page = fetch_page(db, query, page).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for row in page.items.iter().cloned() {
        let secrets = open_secrets(secret_box, &row)?;
        items.push(view(row, &secrets));
    }
    Ok(Page {
        items,
        total: page.total,
        page: page.page,
        page_size: page.page_size,
    })
}

/// The enabled channels, in display order, for checkout.
pub async fn public(db: &impl ConnectionTrait) -> Result<Vec<PublicChannel>, PaymentsError> {
    let rows = payment_channel::Entity::find()
        .filter(payment_channel::Column::DeletedAt.is_null())
        .filter(payment_channel::Column::Enabled.eq(true))
        .order_by_asc(payment_channel::Column::SortOrder)
        .order_by_asc(payment_channel::Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| PublicChannel {
            id: row.id,
            kind: row.kind,
            pay_types: strings(&row.pay_types),
            name: row.name,
        })
        .collect())
}

/// `pay_types` in the document: 1 to 8 names of 1 to 16 characters `a-z0-9_`; null too on patches.
fn pay_types_schema<const NULLABLE: bool>() -> utoipa::openapi::Array {
    let name = confab_core::schema::text(1, 16, Some("^[a-z0-9_]{1,16}$"));
    confab_core::schema::list(
        name,
        1,
        8,
        NULLABLE,
        "The pay types this channel serves, e.g. `alipay`, `wxpay`.",
    )
}
