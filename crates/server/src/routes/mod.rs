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
pub mod models;
pub mod openai;
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
}

fn resource(path: &str) -> Endpoint {
    Endpoint {
        resource: web::resource(path),
        methods: Vec::new(),
    }
}

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
        .service(
            web::scope("/v1")
                .service(resource("/chat/completions").post(openai::chat_completions))
                .service(resource("/models").get(openai::models))
                .service(resource("/models/{model}").get(openai::model))
                .service(resource("/images/generations").post(openai::image_generations)),
        )
        .service(resource("/files/{id}").get(images::file))
        .service(
            web::scope("/api/v1")
                .service(resource("/setup").post(setup::setup))
                .service(resource("/settings").get(settings::public))
                .service(resource("/auth/register").post(auth::register))
                .service(resource("/auth/verification-codes").post(auth::request_code))
                .service(resource("/auth/login").post(auth::login))
                .service(resource("/auth/token").post(auth::token))
                .service(resource("/auth/refresh").post(auth::refresh))
                .service(resource("/auth/logout").post(auth::logout))
                .service(resource("/auth/check").get(auth::check))
                .service(resource("/auth/password-reset").post(auth::password_reset))
                .service(resource("/me").get(me::get).patch(me::update))
                .service(resource("/me/password").put(me::change_password))
                .service(resource("/keys").post(api_keys::create).get(api_keys::list))
                .service(
                    resource("/keys/{id}")
                        .get(api_keys::get)
                        .patch(api_keys::update)
                        .delete(api_keys::delete),
                )
                .service(resource("/keys/{id}/rotate").post(api_keys::rotate))
                .service(resource("/admin/keys").get(api_keys::admin_list))
                .service(resource("/admin/users").get(admin_users::list))
                .service(
                    resource("/admin/users/{id}")
                        .get(admin_users::get)
                        .patch(admin_users::update)
                        .delete(admin_users::delete),
                )
                .service(
                    resource("/admin/users/{id}/revoke-sessions")
                        .post(admin_users::revoke_sessions),
                )
                .service(resource("/admin/users/{id}/credits").post(credits::adjust))
                .service(resource("/admin/users/{id}/tier").put(credits::set_tier))
                .service(resource("/admin/ledger").get(credits::admin_ledger))
                .service(resource("/admin/usage").get(credits::admin_usage))
                .service(resource("/usage").get(credits::own_usage))
                .service(resource("/credits").get(credits::get))
                .service(resource("/credits/ledger").get(credits::own_ledger))
                .service(
                    resource("/check-ins")
                        .post(credits::check_in)
                        .get(credits::check_ins_of_month),
                )
                .service(
                    resource("/redemptions")
                        .post(redemptions::redeem)
                        .get(redemptions::own),
                )
                .service(
                    resource("/admin/redemption-codes")
                        .post(redemptions::create)
                        .get(redemptions::list),
                )
                .service(resource("/admin/redemption-codes/{id}/void").post(redemptions::void))
                .service(resource("/admin/redemption-batches").get(redemptions::batches))
                .service(
                    resource("/admin/redemption-batches/{id}/void").post(redemptions::void_batch),
                )
                .service(resource("/models").get(models::public))
                .service(resource("/chats").post(chats::create).get(chats::list))
                .service(
                    resource("/chats/{id}")
                        .get(chats::get)
                        .patch(chats::update)
                        .delete(chats::delete),
                )
                .service(
                    resource("/chats/{id}/messages")
                        .get(chats::messages)
                        .post(chats::send),
                )
                .service(resource("/images/generations").post(images::generations))
                .service(resource("/images/edits").post(images::edits))
                .service(resource("/uploads").post(images::upload))
                .service(resource("/admin/messages").get(admin_messages::list))
                .service(
                    resource("/admin/provider-keys")
                        .get(provider_keys::list)
                        .post(provider_keys::create),
                )
                .service(
                    resource("/admin/provider-keys/{id}")
                        .get(provider_keys::get)
                        .patch(provider_keys::update)
                        .delete(provider_keys::delete),
                )
                .service(resource("/admin/provider-keys/{id}/check").post(provider_keys::check))
                .service(
                    resource("/admin/models")
                        .get(models::list)
                        .post(models::create),
                )
                .service(
                    resource("/admin/models/{id}")
                        .get(models::get)
                        .patch(models::update)
                        .delete(models::delete),
                )
                .service(
                    resource("/admin/settings")
                        .get(settings::admin_get)
                        .put(settings::admin_update),
                )
                .configure(payment_routes),
        );
}

fn payment_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/products").get(payments::list_products))
        .service(resource("/payment-channels").get(payments::list_channels))
        .service(
            resource("/orders")
                .post(payments::create_order)
                .get(payments::list_orders),
        )
        .service(resource("/orders/{id}").get(payments::get_order))
        .service(resource("/orders/{id}/close").post(payments::close_order))
        .service(
            resource("/payments/{channel_id}/notify")
                .post(payments::notify)
                .get(payments::notify_get),
        )
        .service(
            resource("/admin/products")
                .get(admin_payments::list_products)
                .post(admin_payments::create_product),
        )
        .service(
            resource("/admin/products/{id}")
                .get(admin_payments::get_product)
                .patch(admin_payments::update_product)
                .delete(admin_payments::delete_product),
        )
        .service(
            resource("/admin/payment-channels")
                .get(admin_payments::list_channels)
                .post(admin_payments::create_channel),
        )
        .service(
            resource("/admin/payment-channels/{id}")
                .get(admin_payments::get_channel)
                .patch(admin_payments::update_channel)
                .delete(admin_payments::delete_channel),
        )
        .service(resource("/admin/orders").get(admin_payments::list_orders))
        .service(resource("/admin/orders/export").get(admin_payments::export_orders))
        .service(resource("/admin/orders/{id}").get(admin_payments::get_order))
        .service(resource("/admin/orders/{id}/refund").post(admin_payments::refund_order))
        .service(resource("/admin/orders/{id}/sync").post(admin_payments::sync_order));
}
