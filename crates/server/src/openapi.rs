//! The OpenAPI document: every route and schema, plus the two ways to authenticate.

use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

use crate::routes;

mod common_responses;
mod descriptions;
mod event_streams;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Confab API",
        description = "Self-hosted backend for AI chat products. Errors always have the shape \
            `{\"error\": {\"code\", \"message\", \"type\", \"param\"}}`.",
        license(name = "Apache-2.0")
    ),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::metrics::metrics,
        routes::setup::setup,
        routes::settings::public,
        routes::auth::register,
        routes::auth::request_code,
        routes::auth::login,
        routes::auth::token,
        routes::auth::refresh,
        routes::auth::logout,
        routes::auth::check,
        routes::auth::password_reset,
        routes::me::get,
        routes::me::update,
        routes::me::change_password,
        routes::admin_users::list,
        routes::admin_users::get,
        routes::admin_users::update,
        routes::admin_users::delete,
        routes::admin_users::revoke_sessions,
        routes::settings::admin_get,
        routes::settings::admin_update,
        routes::api_keys::create,
        routes::api_keys::list,
        routes::api_keys::get,
        routes::api_keys::update,
        routes::api_keys::delete,
        routes::api_keys::rotate,
        routes::api_keys::admin_list,
        routes::redemptions::redeem,
        routes::redemptions::own,
        routes::redemptions::create,
        routes::redemptions::list,
        routes::redemptions::void,
        routes::redemptions::batches,
        routes::redemptions::void_batch,
        routes::credits::get,
        routes::credits::own_ledger,
        routes::credits::admin_ledger,
        routes::credits::adjust,
        routes::credits::set_tier,
        routes::credits::own_usage,
        routes::credits::admin_usage,
        routes::credits::check_in,
        routes::credits::check_ins_of_month,
        routes::models::public,
        routes::chats::create,
        routes::chats::list,
        routes::chats::get,
        routes::chats::update,
        routes::chats::delete,
        routes::chats::messages,
        routes::chats::send,
        routes::images::generations,
        routes::images::edits,
        routes::images::upload,
        routes::images::file,
        routes::admin_messages::list,
        routes::provider_keys::list,
        routes::provider_keys::create,
        routes::provider_keys::get,
        routes::provider_keys::update,
        routes::provider_keys::delete,
        routes::provider_keys::check,
        routes::models::list,
        routes::models::create,
        routes::models::get,
        routes::models::update,
        routes::models::delete,
        routes::openai::chat_completions,
        routes::openai::models,
        routes::openai::model,
        routes::openai::image_generations,
        routes::payments::list_products,
        routes::payments::list_channels,
        routes::payments::create_order,
        routes::payments::list_orders,
        routes::payments::get_order,
        routes::payments::close_order,
        routes::payments::notify,
        routes::payments::notify_get,
        routes::admin_payments::list_products,
        routes::admin_payments::create_product,
        routes::admin_payments::get_product,
        routes::admin_payments::update_product,
        routes::admin_payments::delete_product,
        routes::admin_payments::list_channels,
        routes::admin_payments::create_channel,
        routes::admin_payments::get_channel,
        routes::admin_payments::update_channel,
        routes::admin_payments::delete_channel,
        routes::admin_payments::list_orders,
        routes::admin_payments::get_order,
        routes::admin_payments::export_orders,
        routes::admin_payments::refund_order,
        routes::admin_payments::sync_order,
    ),
    modifiers(&SecuritySchemes, &CommonResponses),
    tags(
        (name = "accounts", description = "Setup, registration, login and sessions"),
        (name = "me", description = "The caller's own account"),
        (name = "admin", description = "Admin-only operations"),
        (name = "chats", description = "Chats, messages and the models users may pick"),
        (name = "keys", description = "Users' API keys (`Bearer sk-…`): limits, counters, rotation"),
        (name = "credits", description = "Credits: balance, tier and the ledger"),
        (name = "images", description = "Image generation and editing, uploads, stored files"),
        (name = "providers", description = "Admin: provider keys and the model catalog"),
        (name = "openai", description = "OpenAI-compatible API (`/v1`): the official SDKs work unchanged"),
        (name = "payments", description = "Products, orders, payment channels and gateway notifies"),
        (name = "settings", description = "Site settings"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from login or refresh."))
                    .build(),
            ),
        );
        // The same header with a user's API key; only the routes that list it take one.
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sk-…")
                    .description(Some(
                        "A user's API key (`Authorization: Bearer sk-…`), on /v1, chat and image routes.",
                    ))
                    .build(),
            ),
        );
        // Lets Swagger UI's Authorize button log in with a username and password.
        components.add_security_scheme(
            "password",
            SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
                "/api/v1/auth/token",
                Scopes::new(),
            ))])),
        );
    }
}

/// Every operation lists the errors its kind can answer (see [`common_responses`]); event
/// streams are described event by event (see [`event_streams`]).
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        common_responses::add_to(openapi);
        event_streams::wrap(openapi);
        descriptions::lift_optional(openapi);
    }
}

/// The document as served at `/openapi.json` and committed in `openapi/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    // The crate version would make the committed file stale on every release bump.
    doc.info.version = "v1".to_owned();
    doc
}
