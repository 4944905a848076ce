//! The model catalog: the names users pick, what each is called per provider kind, prices and
//! limits. Held in memory (reloaded on change and periodically) because every relayed request
//! looks its model up.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use confab_core::MAX_PRICE;
use confab_credits::Prices;
use confab_providers::ProviderKind;
use confab_store::entity::model;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};

use crate::ChatsError;

/// The largest context window or output limit a model may declare.
pub const MAX_TOKENS: i32 = 10_000_000;

/// What a model makes: chat answers or images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    Chat,
    Image,
}

impl Modality {
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::Chat => "chat",
            Modality::Image => "image",
        }
    }

    /// Which provider kinds can serve this modality at all.
    pub fn served_by(self, kind: ProviderKind) -> bool {
        match self {
            Modality::Chat => kind != ProviderKind::Stability,
            Modality::Image => kind != ProviderKind::Ollama,
        }
    }
}

/// A model to add to the catalog.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewModel {
    /// The public name, e.g. `gpt-4o-mini` or `qwen2.5-7b`.
    #[schema(pattern = r"^\s*[A-Za-z0-9_.:/@-]{1,64}\s*$")]
    pub name: String,
    /// Chat or image.
    pub modality: Modality,
    /// Provider kind -> the model's name there; kinds left out use the public name.
    #[serde(default)]
    #[schema(schema_with = upstream_names_schema::<false>)]
    pub upstream_names: BTreeMap<String, String>,
    /// For people choosing a model; blank removes it.
    pub description: Option<String>,
    /// Credits per request.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub price_per_request: i64,
    /// Credits per 1,000 prompt tokens.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub price_per_1k_prompt_tokens: i64,
    /// Credits per 1,000 answer tokens.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub price_per_1k_completion_tokens: i64,
    /// Credits per image.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub price_per_image: i64,
    /// The lowest tier that may use it: 0 free, 1 vip, 2 svip.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2)]
    pub min_tier: i32,
    /// Tokens (default 8192).
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub context_window: Option<i32>,
    /// Tokens (default 4096).
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub max_output_tokens: Option<i32>,
    /// Disabled models are hidden and refused.
    pub enabled: Option<bool>,
    /// Lower first in lists.
    #[serde(default)]
    pub sort_order: i32,
}

/// A catalog model's changes; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelPatch {
    /// The public name: 1 to 64 of letters, digits and `- _ . : / @`.
    #[schema(pattern = r"^\s*[A-Za-z0-9_.:/@-]{1,64}\s*$")]
    pub name: Option<String>,
    /// Provider kind -> the model's name there; kinds left out use the public name.
    #[schema(schema_with = upstream_names_schema::<true>)]
    pub upstream_names: Option<BTreeMap<String, String>>,
    /// For people choosing a model; blank removes it.
    pub description: Option<String>,
    /// Credits per request.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub price_per_request: Option<i64>,
    /// Credits per 1,000 prompt tokens.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub price_per_1k_prompt_tokens: Option<i64>,
    /// Credits per 1,000 answer tokens.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub price_per_1k_completion_tokens: Option<i64>,
    /// Credits per image.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub price_per_image: Option<i64>,
    /// The lowest tier that may use it: 0 free, 1 vip, 2 svip.
    #[schema(minimum = 0, maximum = 2)]
    pub min_tier: Option<i32>,
    /// Tokens of context the model takes: 1 to 10^7.
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub context_window: Option<i32>,
    /// Most tokens of one answer: 1 to 10^7.
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub max_output_tokens: Option<i32>,
    /// Disabled models are hidden and refused.
    pub enabled: Option<bool>,
    /// Lower first in lists.
    pub sort_order: Option<i32>,
}

/// A catalog entry as admins see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModelView {
    /// The model id.
    pub id: i64,
    /// The public name: 1 to 64 of letters, digits and `- _ . : / @`.
    pub name: String,
    /// Chat or image.
    pub modality: Modality,
    /// Provider kind -> the model's name there; kinds left out use the public name.
    pub upstream_names: BTreeMap<String, String>,
    /// For people choosing a model; blank removes it.
    pub description: Option<String>,
    /// What it costs, before the tier multiplier.
    pub prices: Prices,
    /// The lowest tier that may use it: 0 free, 1 vip, 2 svip.
    pub min_tier: i32,
    /// Tokens of context the model takes: 1 to 10^7.
    pub context_window: i32,
    /// Most tokens of one answer: 1 to 10^7.
    pub max_output_tokens: i32,
    /// Disabled models are hidden and refused.
    pub enabled: bool,
    /// Lower first in lists.
    pub sort_order: i32,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A model as users see it (`GET /api/v1/models`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicModel {
    /// The public name: 1 to 64 of letters, digits and `- _ . : / @`.
    pub name: String,
    /// Chat or image.
    pub modality: Modality,
    /// For people choosing a model; blank removes it.
    pub description: Option<String>,
    /// What it costs, before the tier multiplier.
    pub prices: Prices,
    /// The lowest tier that may use it: 0 free, 1 vip, 2 svip.
    pub min_tier: i32,
    /// Tokens of context the model takes: 1 to 10^7.
    pub context_window: i32,
    /// Most tokens of one answer: 1 to 10^7.
    pub max_output_tokens: i32,
}

impl From<&ModelView> for PublicModel {
    fn from(m: &ModelView) -> Self {
        Self {
            name: m.name.clone(),
            modality: m.modality,
            description: m.description.clone(),
            prices: m.prices,
            min_tier: m.min_tier,
            context_window: m.context_window,
            max_output_tokens: m.max_output_tokens,
        }
    }
}

impl ModelView {
    fn from_row(row: model::Model) -> Self {
        Self {
            id: row.id,
            name: row.name,
            modality: if row.modality == "image" {
                Modality::Image
            } else {
                Modality::Chat
            },
            upstream_names: serde_json::from_value(row.upstream_names).unwrap_or_default(),
            description: row.description,
            prices: Prices {
                per_request: row.price_per_request,
                per_1k_prompt_tokens: row.price_per_1k_prompt,
                per_1k_completion_tokens: row.price_per_1k_completion,
                per_image: row.price_per_image,
            },
            min_tier: row.min_tier,
            context_window: row.context_window,
            max_output_tokens: row.max_output_tokens,
            enabled: row.enabled,
            sort_order: row.sort_order,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }

    /// What this model is called by a provider kind; None when the kind cannot serve it.
    pub fn upstream_name(&self, kind: ProviderKind) -> Option<String> {
        if !self.modality.served_by(kind) {
            return None;
        }
        Some(
            self.upstream_names
                .get(kind.as_str())
                .cloned()
                .unwrap_or_else(|| self.name.clone()),
        )
    }
}

fn invalid(param: &'static str, message: &str) -> ChatsError {
    ChatsError::Invalid(param, message.to_owned())
}

fn check_name(name: &str) -> Result<String, ChatsError> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@".contains(c));
    if !ok {
        return Err(invalid(
            "name",
            "name must be 1 to 64 letters, digits or - _ . : / @",
        ));
    }
    Ok(name.to_owned())
}

fn check_upstream(names: &BTreeMap<String, String>) -> Result<(), ChatsError> {
    for (kind, name) in names {
        if ProviderKind::parse(kind).is_none() {
            return Err(invalid(
                "upstream_names",
                "upstream_names keys must be provider kinds: openai, azure_openai, ollama, stability",
            ));
        }
        if name.trim().is_empty() || name.chars().count() > 128 {
            return Err(invalid(
                "upstream_names",
                "each upstream name must be 1 to 128 characters",
            ));
        }
    }
    Ok(())
}

/// A price is 0 to [`MAX_PRICE`] credits, so no cost computed from it can overflow.
fn check_price(param: &'static str, value: i64) -> Result<i64, ChatsError> {
    if !(0..=MAX_PRICE).contains(&value) {
        return Err(ChatsError::Invalid(
            param,
            format!("{param} must be between 0 and {MAX_PRICE} credits"),
        ));
    }
    Ok(value)
}

fn check_tokens(param: &'static str, value: i32) -> Result<i32, ChatsError> {
    if !(1..=MAX_TOKENS).contains(&value) {
        return Err(ChatsError::Invalid(
            param,
            format!("{param} must be between 1 and {MAX_TOKENS} tokens"),
        ));
    }
    Ok(value)
}

fn check_tier(value: i32) -> Result<i32, ChatsError> {
    if !(0..=2).contains(&value) {
        return Err(invalid(
            "min_tier",
            "min_tier must be 0 (free), 1 (vip) or 2 (svip)",
        ));
    }
    Ok(value)
}

async fn name_taken(
    db: &impl ConnectionTrait,
    name: &str,
    except: Option<i64>,
) -> Result<bool, ChatsError> {
    let mut query = model::Entity::find().filter(model::Column::Name.eq(name));
    if let Some(id) = except {
        query = query.filter(model::Column::Id.ne(id));
    }
    Ok(query.count(db).await? > 0)
}

pub async fn create(
    db: &impl ConnectionTrait,
    new: NewModel,
    now: DateTime<Utc>,
) -> Result<ModelView, ChatsError> {
    let name = check_name(&new.name)?;
    check_upstream(&new.upstream_names)?;
    let context_window = check_tokens("context_window", new.context_window.unwrap_or(8192))?;
    let max_output = check_tokens("max_output_tokens", new.max_output_tokens.unwrap_or(4096))?;
    if name_taken(db, &name, None).await? {
        return Err(ChatsError::ModelNameTaken);
    }
    let row = model::ActiveModel {
        name: Set(name),
        modality: Set(new.modality.as_str().to_owned()),
        upstream_names: Set(serde_json::json!(new.upstream_names)),
        description: Set(new.description.filter(|d| !d.trim().is_empty())),
        price_per_request: Set(check_price("price_per_request", new.price_per_request)?),
        price_per_1k_prompt: Set(check_price(
            "price_per_1k_prompt_tokens",
            new.price_per_1k_prompt_tokens,
        )?),
        price_per_1k_completion: Set(check_price(
            "price_per_1k_completion_tokens",
            new.price_per_1k_completion_tokens,
        )?),
        price_per_image: Set(check_price("price_per_image", new.price_per_image)?),
        min_tier: Set(check_tier(new.min_tier)?),
        context_window: Set(context_window),
        max_output_tokens: Set(max_output),
        enabled: Set(new.enabled.unwrap_or(true)),
        sort_order: Set(new.sort_order),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    Ok(ModelView::from_row(row.insert(db).await?))
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<ModelView, ChatsError> {
    model::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(ModelView::from_row)
        .ok_or(ChatsError::ModelNotFound)
}

/// Every entry, in display order.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<ModelView>, ChatsError> {
    Ok(model::Entity::find()
        .order_by_asc(model::Column::SortOrder)
        .order_by_asc(model::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(ModelView::from_row)
        .collect())
}

pub async fn update(
    db: &impl ConnectionTrait,
    id: i64,
    patch: ModelPatch,
    now: DateTime<Utc>,
) -> Result<ModelView, ChatsError> {
    let current = model::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ChatsError::ModelNotFound)?;
    let mut row: model::ActiveModel = current.into();
    if let Some(name) = patch.name {
        let name = check_name(&name)?;
        if name_taken(db, &name, Some(id)).await? {
            return Err(ChatsError::ModelNameTaken);
        }
        row.name = Set(name);
    }
    if let Some(names) = patch.upstream_names {
        check_upstream(&names)?;
        row.upstream_names = Set(serde_json::json!(names));
    }
    if let Some(description) = patch.description {
        row.description = Set(Some(description).filter(|d| !d.trim().is_empty()));
    }
    if let Some(v) = patch.price_per_request {
        row.price_per_request = Set(check_price("price_per_request", v)?);
    }
    if let Some(v) = patch.price_per_1k_prompt_tokens {
        row.price_per_1k_prompt = Set(check_price("price_per_1k_prompt_tokens", v)?);
    }
    if let Some(v) = patch.price_per_1k_completion_tokens {
        row.price_per_1k_completion = Set(check_price("price_per_1k_completion_tokens", v)?);
    }
    if let Some(v) = patch.price_per_image {
        row.price_per_image = Set(check_price("price_per_image", v)?);
    }
    if let Some(v) = patch.min_tier {
        row.min_tier = Set(check_tier(v)?);
    }
    if let Some(v) = patch.context_window {
        row.context_window = Set(check_tokens("context_window", v)?);
    }
    if let Some(v) = patch.max_output_tokens {
        row.max_output_tokens = Set(check_tokens("max_output_tokens", v)?);
    }
    if let Some(v) = patch.enabled {
        row.enabled = Set(v);
    }
    if let Some(v) = patch.sort_order {
        row.sort_order = Set(v);
    }
    row.updated_at = Set(now);
    Ok(ModelView::from_row(row.update(db).await?))
}

pub async fn delete(db: &impl ConnectionTrait, id: i64) -> Result<(), ChatsError> {
    let result = model::Entity::delete_by_id(id).exec(db).await?;
    if result.rows_affected == 0 {
        return Err(ChatsError::ModelNotFound);
    }
    Ok(())
}

/// The enabled entries, by name, for request-time lookups.
#[derive(Default)]
pub struct Catalog {
    models: RwLock<Arc<HashMap<String, Arc<ModelView>>>>,
}

impl Catalog {
    pub async fn reload(&self, db: &impl ConnectionTrait) -> Result<(), ChatsError> {
        let map = list(db)
            .await?
            .into_iter()
            .filter(|m| m.enabled)
            .map(|m| (m.name.clone(), Arc::new(m)))
            .collect();
        *self.models.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
        Ok(())
    }

    /// An enabled model by public name.
    pub fn get(&self, name: &str) -> Option<Arc<ModelView>> {
        self.models
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// The enabled models `access` lets its caller see and use, in display order.
    pub fn available(&self, access: &ModelAccess<'_>) -> Vec<Arc<ModelView>> {
        let models = self
            .models
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut out: Vec<Arc<ModelView>> = models
            .values()
            .filter(|m| access.check(m).is_ok())
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.sort_order, &a.name).cmp(&(b.sort_order, &b.name)));
        out
    }

    /// One enabled model `access` lets its caller see; any other is not found, as in the list.
    pub fn visible(
        &self,
        name: &str,
        access: &ModelAccess<'_>,
    ) -> Result<Arc<ModelView>, ChatsError> {
        self.get(name)
            .filter(|model| access.check(model).is_ok())
            .ok_or_else(|| ChatsError::UnknownModel(name.to_owned()))
    }
}

/// What a caller may see and use of the catalog: its tier now, and its API key's allowed
/// models. Every model list and every request path asks [`ModelAccess::check`], and nothing
/// else decides.
#[derive(Debug, Clone, Copy)]
pub struct ModelAccess<'a> {
    /// The caller's tier rank (0 free, 1 vip, 2 svip).
    pub tier: i32,
    /// The key the request came with, if any.
    pub key: Option<&'a confab_keys::api_keys::KeyGrant>,
}

impl ModelAccess<'_> {
    /// Whether the caller may use `model`: 403 `model_not_allowed` for a model the API key does
    /// not allow, 403 `tier_required` for one above the caller's tier.
    pub fn check(&self, model: &ModelView) -> Result<(), ChatsError> {
        if let Some(key) = self.key
            && !key.allows_model(&model.name)
        {
            return Err(ChatsError::ModelNotAllowed(model.name.clone()));
        }
        if self.tier < model.min_tier {
            return Err(ChatsError::TierRequired(model.name.clone()));
        }
        Ok(())
    }
}

/// The caller's access to the catalog now (its tier read from the database).
pub async fn access_of<'a>(
    db: &impl ConnectionTrait,
    caller: &'a crate::metering::Caller,
) -> Result<ModelAccess<'a>, ChatsError> {
    let tier = confab_credits::tiers::tier_of(db, caller.user_id, Utc::now()).await?;
    Ok(ModelAccess {
        tier: tier.rank(),
        key: caller.key.as_deref(),
    })
}

/// `upstream_names` in the document: keys are provider kinds, names 1 to 128 characters; null
/// too on patches.
fn upstream_names_schema<const NULLABLE: bool>() -> utoipa::openapi::Object {
    let kinds: Vec<&str> = ProviderKind::ALL.iter().map(|kind| kind.as_str()).collect();
    let name = confab_core::schema::text(1, 128, Some(confab_core::schema::NOT_BLANK));
    confab_core::schema::map(
        &kinds,
        name,
        NULLABLE,
        "Provider kind -> the model's name there; kinds left out use the public name.",
    )
}
