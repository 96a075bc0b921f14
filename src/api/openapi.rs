//! The OpenAPI document, served at `/api/v1/openapi.json`. Its operations are not listed here:
//! `startup` collects them from the router while registering the handlers (see [`crate::api`]),
//! so the document names exactly the routes the server has. This holds what no route carries:
//! the title, the tags and the bearer security scheme.

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "plauder", description = "Real-time chat server: REST API. The WebSocket protocol is described in docs/protocol.md."),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "users"), (name = "friends"), (name = "rooms"), (name = "messages"), (name = "support"), (name = "admin"), (name = "operations"))
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

/// The complete document: [`ApiDoc`] with the operations and schemas the router's registrations
/// added. `startup` puts it in the app data once the routes are registered.
pub struct Document(pub utoipa::openapi::OpenApi);

/// `GET /api/v1/openapi.json`
pub async fn openapi_json(document: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok().json(&document.0)
}
