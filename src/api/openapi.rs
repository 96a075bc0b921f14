//! The OpenAPI document, generated from the handlers' annotations (utoipa) and served at
//! `/api/v1/openapi.json`. A route missing here is a bug: the test suite checks every route.

use actix_web::web;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{admin, auth, health, messages, rooms, social, support, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "plauder", description = "Real-time chat server: REST API. The WebSocket protocol is described in docs/protocol.md."),
    paths(
        health::health, health::ready, health::metrics,
        auth::register, auth::login, auth::refresh, auth::logout, auth::logout_all,
        users::get_me, users::update_me, users::change_password, users::search_users, users::get_user,
        social::list_friends, social::remove_friend, social::send_friend_request, social::list_friend_requests,
        social::accept_friend_request, social::decline_friend_request, social::list_blocks, social::block_user,
        social::unblock_user,
        rooms::create_room, rooms::list_rooms, rooms::get_room, rooms::update_room, rooms::delete_room,
        rooms::list_members, rooms::add_members, rooms::remove_member, rooms::set_member_role, rooms::join_room,
        rooms::mark_read,
        messages::list_messages, messages::send_message, messages::edit_message, messages::delete_message,
        messages::add_reaction, messages::remove_reaction, messages::search_messages,
        support::open_session, support::submit_contact,
        admin::get_stats, admin::list_users, admin::update_user, admin::delete_message, admin::list_support_sessions,
        admin::close_support_session, admin::audit_log, admin::list_contacts, admin::delete_contact,
    ),
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

/// `GET /api/v1/openapi.json`
pub async fn openapi_json() -> web::Json<utoipa::openapi::OpenApi> {
    web::Json(ApiDoc::openapi())
}
