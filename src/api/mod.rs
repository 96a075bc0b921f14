//! The REST API: routing, request extraction rules, and one module of handlers per resource.
//! Handlers parse and authorise the request, call a service, and shape the response; the rules
//! live in `service`.

pub mod auth;
pub mod extract;
pub mod health;
pub mod openapi;
pub mod users;

use actix_web::web;

/// Every route of the application.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health").get(health::health))
        .service(web::resource("/health/ready").get(health::ready))
        .service(web::resource("/metrics").get(health::metrics))
        .service(
            web::scope("/api/v1")
                .service(web::resource("/openapi.json").get(openapi::openapi_json))
                .service(web::resource("/auth/register").post(auth::register))
                .service(web::resource("/auth/login").post(auth::login))
                .service(web::resource("/auth/refresh").post(auth::refresh))
                .service(web::resource("/auth/logout").post(auth::logout))
                .service(web::resource("/auth/logout-all").post(auth::logout_all))
                .service(web::resource("/users/me").get(users::get_me).patch(users::update_me))
                .service(web::resource("/users/me/password").post(users::change_password))
                .service(web::resource("/users").get(users::search_users))
                .service(web::resource("/users/{id}").get(users::get_user)),
        );
}
