//! Routes: one module per area, one handler per operation. Handlers parse, call one domain
//! function and map the result; no business rules live here.

pub mod admin_messages;
pub mod admin_payments;
pub mod admin_users;
pub mod api_keys;
pub mod auth;
pub mod chats;
pub mod credits;
pub mod health;
pub mod images;
pub mod me;
pub mod metrics;
pub mod models;
pub mod openai;
pub mod openai_types;
pub mod payments;
pub mod provider_keys;
pub mod redemptions;
pub mod settings;
pub mod setup;
pub mod views;

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::{FromRequest, Handler, Resource, Responder, web};

use crate::error;

/// A resource that answers 405 in the error shape, with `Allow` naming the methods it routes,
/// for every other method. The methods are collected as they are routed, so the header can
/// never disagree with the routes.
struct Endpoint {
    resource: Resource,
    methods: Vec<&'static str>,
    /// The path as clients call it (with its scope's prefix), for [`mounted`].
    full_path: String,
}

fn resource(path: &str) -> Endpoint {
    scoped("", path)
}

/// A resource inside the `/api/v1` scope.
fn api(path: &str) -> Endpoint {
    scoped("/api/v1", path)
}

/// A resource inside the OpenAI-compatible `/v1` scope.
fn v1(path: &str) -> Endpoint {
    scoped("/v1", path)
}

fn scoped(prefix: &str, path: &str) -> Endpoint {
    Endpoint {
        resource: web::resource(path),
        methods: Vec::new(),
        full_path: format!("{prefix}{path}"),
    }
}

/// Every `(METHOD, path)` the server has mounted, as recorded while routes were registered, so
/// a test can hold the OpenAPI document against what really answers.
pub fn mounted() -> Vec<(String, String)> {
    MOUNTED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .cloned()
        .collect()
}

static MOUNTED: std::sync::Mutex<std::collections::BTreeSet<(String, String)>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

macro_rules! endpoint_methods {
    ($($name:ident => $method:literal),* $(,)?) => {
        impl Endpoint {
            $(
                fn $name<F, Args>(mut self, handler: F) -> Self
                where
                    F: Handler<Args>,
                    Args: FromRequest + 'static,
                    F::Output: Responder + 'static,
                {
                    self.resource = self.resource.route(web::$name().to(handler));
                    self.methods.push($method);
                    self
                }
            )*
        }
    };
}

endpoint_methods!(get => "GET", post => "POST", put => "PUT", patch => "PATCH", delete => "DELETE");

impl HttpServiceFactory for Endpoint {
    fn register(self, config: &mut AppService) {
        {
            let mut mounted = MOUNTED.lock().unwrap_or_else(|p| p.into_inner());
            for method in &self.methods {
                mounted.insert(((*method).to_owned(), self.full_path.clone()));
            }
        }
        let allow = self.methods.join(", ");
        self.resource
            .default_service(web::to(move || error::method_not_allowed(allow.clone())))
            .register(config);
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").get(health::healthz))
        .service(web::redirect("/docs", "/docs/"))
        .service(resource("/readyz").get(health::readyz))
        .service(resource("/metrics").get(metrics::metrics))
        .service(
            web::scope("/v1")
                .service(v1("/chat/completions").post(openai::chat_completions))
                .service(v1("/models").get(openai::models))
                .service(v1("/models/{model}").get(openai::model))
                .service(v1("/images/generations").post(openai::image_generations)),
        )
        .service(resource("/files/{id}").get(images::file))
        .service(
            web::scope("/api/v1")
                .service(api("/setup").post(setup::setup))
                .service(api("/settings").get(settings::public))
                .service(api("/auth/register").post(auth::register))
                .service(api("/auth/verification-codes").post(auth::request_code))
                .service(api("/auth/login").post(auth::login))
                .service(api("/auth/token").post(auth::token))
                .service(api("/auth/refresh").post(auth::refresh))
                .service(api("/auth/logout").post(auth::logout))
                .service(api("/auth/check").get(auth::check))
                .service(api("/auth/password-reset").post(auth::password_reset))
                .service(api("/me").get(me::get).patch(me::update))
                .service(api("/me/password").put(me::change_password))
                .service(api("/keys").post(api_keys::create).get(api_keys::list))
                .service(
                    api("/keys/{id}")
                        .get(api_keys::get)
                        .patch(api_keys::update)
                        .delete(api_keys::delete),
                )
                .service(api("/keys/{id}/rotate").post(api_keys::rotate))
                .service(api("/admin/keys").get(api_keys::admin_list))
                .service(api("/admin/users").get(admin_users::list))
                .service(
                    api("/admin/users/{id}")
                        .get(admin_users::get)
                        .patch(admin_users::update)
                        .delete(admin_users::delete),
                )
                .service(
                    api("/admin/users/{id}/revoke-sessions").post(admin_users::revoke_sessions),
                )
                .service(api("/admin/users/{id}/credits").post(credits::adjust))
                .service(api("/admin/users/{id}/tier").put(credits::set_tier))
                .service(api("/admin/ledger").get(credits::admin_ledger))
                .service(api("/admin/usage").get(credits::admin_usage))
                .service(api("/usage").get(credits::own_usage))
                .service(api("/credits").get(credits::get))
                .service(api("/credits/ledger").get(credits::own_ledger))
                .service(
                    api("/check-ins")
                        .post(credits::check_in)
                        .get(credits::check_ins_of_month),
                )
                .service(
                    api("/redemptions")
                        .post(redemptions::redeem)
                        .get(redemptions::own),
                )
                .service(
                    api("/admin/redemption-codes")
                        .post(redemptions::create)
                        .get(redemptions::list),
                )
                .service(api("/admin/redemption-codes/{id}/void").post(redemptions::void))
                .service(api("/admin/redemption-batches").get(redemptions::batches))
                .service(api("/admin/redemption-batches/{id}/void").post(redemptions::void_batch))
                .service(api("/models").get(models::public))
                .service(api("/chats").post(chats::create).get(chats::list))
                .service(
                    api("/chats/{id}")
                        .get(chats::get)
                        .patch(chats::update)
                        .delete(chats::delete),
                )
                .service(
                    api("/chats/{id}/messages")
                        .get(chats::messages)
                        .post(chats::send),
                )
                .service(api("/images/generations").post(images::generations))
                .service(api("/images/edits").post(images::edits))
                .service(api("/uploads").post(images::upload))
                .service(api("/admin/messages").get(admin_messages::list))
                .service(
                    api("/admin/provider-keys")
                        .get(provider_keys::list)
                        .post(provider_keys::create),
                )
                .service(
                    api("/admin/provider-keys/{id}")
                        .get(provider_keys::get)
                        .patch(provider_keys::update)
                        .delete(provider_keys::delete),
                )
                .service(api("/admin/provider-keys/{id}/check").post(provider_keys::check))
                .service(api("/admin/models").get(models::list).post(models::create))
                .service(
                    api("/admin/models/{id}")
                        .get(models::get)
                        .patch(models::update)
                        .delete(models::delete),
                )
                .service(
                    api("/admin/settings")
                        .get(settings::admin_get)
                        .put(settings::admin_update),
                )
                .configure(payment_routes),
        );
}

fn payment_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(api("/products").get(payments::list_products))
        .service(api("/payment-channels").get(payments::list_channels))
        .service(
            api("/orders")
                .post(payments::create_order)
                .get(payments::list_orders),
        )
        .service(api("/orders/{id}").get(payments::get_order))
        .service(api("/orders/{id}/close").post(payments::close_order))
        .service(
            api("/payments/{channel_id}/notify")
                .post(payments::notify)
                .get(payments::notify_get),
        )
        .service(
            api("/admin/products")
                .get(admin_payments::list_products)
                .post(admin_payments::create_product),
        )
        .service(
            api("/admin/products/{id}")
                .get(admin_payments::get_product)
                .patch(admin_payments::update_product)
                .delete(admin_payments::delete_product),
        )
        .service(
            api("/admin/payment-channels")
                .get(admin_payments::list_channels)
                .post(admin_payments::create_channel),
        )
        .service(
            api("/admin/payment-channels/{id}")
                .get(admin_payments::get_channel)
                .patch(admin_payments::update_channel)
                .delete(admin_payments::delete_channel),
        )
        .service(api("/admin/orders").get(admin_payments::list_orders))
        .service(api("/admin/orders/export").get(admin_payments::export_orders))
        .service(api("/admin/orders/{id}").get(admin_payments::get_order))
        .service(api("/admin/orders/{id}/refund").post(admin_payments::refund_order))
        .service(api("/admin/orders/{id}/sync").post(admin_payments::sync_order));
}
