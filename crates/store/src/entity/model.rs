use sea_orm::entity::prelude::*;

/// A catalog entry: the public model name users pick, what it is called upstream per provider
/// kind, and its prices in integer credits.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "models")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    /// chat | image
    pub modality: String,
    /// Provider kind -> upstream model name (JSON object).
    pub upstream_names: Json,
    pub description: Option<String>,
    pub price_per_request: i64,
    #[sea_orm(column_name = "price_per_1k_prompt")]
    pub price_per_1k_prompt: i64,
    #[sea_orm(column_name = "price_per_1k_completion")]
    pub price_per_1k_completion: i64,
    pub price_per_image: i64,
    pub min_tier: i32,
    pub context_window: i32,
    pub max_output_tokens: i32,
    pub enabled: bool,
    pub sort_order: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
