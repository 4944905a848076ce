//! Routes: one module per area, one handler per operation. Handlers parse, call one domain
//! function and map the result; no business rules live here.

pub mod admin_users;
pub mod auth;
pub mod health;
pub mod me;
pub mod settings;
pub mod setup;
pub mod views;

use actix_web::{Resource, web};

use crate::error;

/// A resource that answers 405 in the error shape for methods it does not route.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(error::method_not_allowed))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").get(health::healthz))
        .service(web::redirect("/docs", "/docs/"))
        .service(resource("/readyz").get(health::readyz))
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
                .service(
                    resource("/admin/settings")
                        .get(settings::admin_get)
                        .put(settings::admin_update),
                ),
        );
}
