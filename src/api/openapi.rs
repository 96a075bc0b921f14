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
    tags((name = "auth"), (name = "users"), (name = "friends"), (name = "rooms"), (name = "messages"), (name = "support"), (name = "push"), (name = "admin"), (name = "operations"))
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

/// Adds to every operation the error answers docs/protocol.md gives every route of its kind, where
/// the operation's own annotation does not name them: a JSON body can be malformed (400), too large
/// (413) or of the wrong shape (422); a query string can be bad (422); a path id can be malformed or
/// unknown (404); an authenticated route can get a missing or bad token (401) and a banned account
/// or a guest (403). So the document lists every status a client can get, which the hostile-input
/// tests (tests/api/hostile.rs) hold it to.
pub fn with_error_responses(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build(),
        )
    };
    for (path, item) in &mut doc.paths.paths {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for op in operations.into_iter().flatten() {
            let has_body = op.request_body.is_some();
            let has_query = op
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
            let authenticated = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let mut wanted: Vec<(&str, &str)> = Vec::new();
            if has_body {
                wanted.push(("400", "Malformed JSON."));
                wanted.push(("413", "The body is over `server.max_json_body_bytes`."));
                wanted.push(("422", "Well-formed JSON of the wrong shape, or a field that breaks its rule."));
            }
            if has_query {
                wanted.push(("422", "A bad query string."));
            }
            if path.contains('{') {
                wanted.push(("404", "A path id that is not a UUID, or names nothing."));
            }
            if authenticated {
                wanted.push(("401", "A missing, invalid, expired or revoked token."));
                wanted.push(("403", "A banned account, or a role that may not use the route."));
            }
            for (status, description) in wanted {
                op.responses.responses.entry(status.to_owned()).or_insert_with(|| error(description));
            }
        }
    }
    doc
}
