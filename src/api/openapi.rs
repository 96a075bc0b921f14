//! The OpenAPI document, generated from the handlers' annotations (utoipa) and served at
//! `/api/v1/openapi.json`. A route missing here is a bug: the test suite checks every route.

use actix_web::web;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{auth, health, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "plauder", description = "Real-time chat server: REST API. The WebSocket protocol is described in docs/protocol.md."),
    paths(
        health::health, health::ready, health::metrics,
        auth::register, auth::login, auth::refresh, auth::logout, auth::logout_all,
        users::get_me, users::update_me, users::change_password, users::search_users, users::get_user,
    ),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "users"), (name = "operations"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// `GET /api/v1/openapi.json`
pub async fn openapi_json() -> web::Json<utoipa::openapi::OpenApi> {
    web::Json(ApiDoc::openapi())
}
