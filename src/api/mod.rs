//! The REST API: routing, request extraction rules, and one module of handlers per resource.
//! Handlers parse and authorise the request, call a service, and shape the response; the rules
//! live in `service`.
//!
//! One registration makes both a route and its entry in the OpenAPI document. A handler carries
//! `#[utoipa::path]` (the operation) above its actix route macro (`#[get("/rooms/{id}")]`: path
//! and method, which utoipa reads as well), and [`configure`] registers it through
//! `utoipa-actix-web`, whose scopes and service configs add each service's operations to the
//! document while registering its route. Their `service` accepts only services that describe
//! themselves (`OpenApiFactory`), so an API handler without `#[utoipa::path]` does not compile, and
//! the served document is the router's own list of operations. [`configure`] uses nothing else;
//! what the document leaves out on purpose (the document itself, `/ws`, the browser client's
//! pages) `startup` registers on the plain actix scope, the one way around it.

pub mod admin;
pub mod admin_accounts;
pub mod attachments;
pub mod auth;
pub mod commands;
pub mod extract;
pub mod health;
pub mod hooks;
pub mod knowledge;
pub mod mail_links;
pub mod messages;
pub mod openapi;
pub mod push;
pub mod rooms;
pub mod security;
pub mod social;
pub mod support;
pub mod support_tools;
pub mod tokens;
pub mod users;
pub mod webhooks;
pub mod ws;

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::web;
use utoipa::openapi::RefOr;
use utoipa::openapi::path::Paths;
use utoipa::openapi::schema::Schema;
use utoipa_actix_web::OpenApiFactory;
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// Every route of the API, each with its operation in the document. `startup` mounts the rest:
/// `/ws` outside the middleware, `/api/v1/openapi.json`, and the browser client's pages
/// (`crate::web`). Paths in the handlers' route macros are relative to the scope they are
/// registered in. `/metrics` is left out when it has a listener of its own
/// (`server.admin_bind`).
pub fn configure(cfg: &mut ServiceConfig, metrics_here: bool) {
    cfg.service(resource(health::health)).service(resource(health::ready));
    // Outside /api/v1: the URL handed to other programs, whose token is its credential.
    cfg.service(resource(hooks::post_hook));
    if metrics_here {
        cfg.service(resource(health::metrics));
    }
    cfg.service(
        scope("/api/v1")
            .service(resource(auth::register))
            .service(resource(auth::login))
            .service(resource(auth::refresh))
            .service(resource(auth::logout))
            .service(resource(auth::logout_all))
            .service(resource(auth::login_mfa))
            .service(resource(auth::request_password_reset))
            .service(resource(auth::confirm_password_reset))
            .service(resource(auth::verify_email))
            .service(resource(auth::resend_verification))
            .service(resource(security::get_mfa))
            .service(resource(security::enrol_totp))
            .service(resource(security::confirm_totp))
            .service(resource(security::disable_totp))
            .service(resource(security::get_preferences).and(security::update_preferences))
            .service(resource(security::list_sessions))
            .service(resource(security::end_session))
            .service(resource(users::get_me).and(users::update_me).and(users::delete_me))
            .service(resource(users::export_me))
            .service(resource(users::set_avatar).and(users::remove_avatar))
            .service(resource(users::get_avatar))
            .service(resource(users::change_password))
            .service(resource(tokens::list_tokens).and(tokens::create_token))
            .service(resource(tokens::revoke_token))
            .service(resource(users::search_users))
            .service(resource(users::get_user))
            .service(resource(social::list_friends))
            .service(resource(social::list_friend_requests).and(social::send_friend_request))
            .service(resource(social::accept_friend_request))
            .service(resource(social::decline_friend_request))
            .service(resource(social::remove_friend))
            .service(resource(social::list_blocks).and(social::block_user))
            .service(resource(social::unblock_user))
            .service(resource(rooms::list_rooms).and(rooms::create_room))
            .service(resource(rooms::get_room).and(rooms::update_room).and(rooms::delete_room))
            .service(resource(rooms::list_members).and(rooms::add_members))
            .service(resource(rooms::remove_member).and(rooms::set_member_role))
            .service(resource(rooms::join_room))
            .service(resource(rooms::list_directory))
            .service(resource(hooks::list_hooks).and(hooks::create_hook))
            .service(resource(hooks::delete_hook))
            .service(resource(rooms::mark_read))
            .service(resource(push::get_notifications).and(push::put_notifications).and(push::reset_notifications))
            .service(resource(push::vapid_public_key))
            .service(resource(push::list_subscriptions).and(push::subscribe).and(push::unsubscribe))
            .service(resource(push::digest_unsubscribe_page).and(push::digest_unsubscribe))
            .service(resource(push::digest_unsubscribe_one_click))
            .service(resource(messages::list_messages).and(messages::send_message))
            .service(resource(messages::edit_message).and(messages::delete_message))
            .service(resource(messages::add_reaction).and(messages::remove_reaction))
            .service(resource(messages::search_messages))
            .service(resource(attachments::upload_attachment))
            .service(resource(attachments::download_attachment))
            .service(resource(attachments::download_thumbnail))
            .service(resource(support::open_session))
            .service(resource(support::resume_session))
            .service(resource(support::unsubscribe_page).and(support::unsubscribe))
            .service(resource(support::unsubscribe_one_click))
            .service(resource(support::submit_contact))
            .service(resource(admin::get_stats))
            .service(resource(admin::get_history))
            .service(resource(admin::list_users))
            .service(resource(admin::update_user).and(admin::delete_user))
            .service(resource(admin::delete_message))
            .service(resource(admin::list_support_sessions))
            .service(resource(admin::close_support_session))
            .service(resource(admin::read_support_session))
            .service(resource(support_tools::block_visitor))
            .service(resource(support_tools::send_transcript))
            .service(resource(support_tools::list_blocks))
            .service(resource(support_tools::lift_block))
            .service(resource(support_tools::list_canned_replies).and(support_tools::create_canned_reply))
            .service(resource(support_tools::update_canned_reply).and(support_tools::delete_canned_reply))
            .service(resource(admin::audit_log))
            .service(resource(admin::list_contacts))
            .service(resource(admin::delete_contact))
            .service(resource(admin_accounts::list_mail))
            .service(resource(admin_accounts::reset_user_password))
            .service(resource(tokens::list_bots).and(tokens::create_bot))
            .service(resource(tokens::create_bot_token))
            .service(resource(tokens::revoke_bot_token))
            .service(resource(webhooks::list_webhooks).and(webhooks::create_webhook))
            .service(resource(webhooks::update_webhook).and(webhooks::delete_webhook))
            .service(resource(webhooks::list_deliveries))
            .service(resource(webhooks::redeliver))
            .service(resource(commands::list_commands))
            .service(resource(commands::register_command).and(commands::unregister_command))
            .service(resource(commands::reply_to_invocation))
            .service(resource(knowledge::list_entries).and(knowledge::create_entry))
            .service(resource(knowledge::search_knowledge))
            .service(resource(knowledge::get_entry).and(knowledge::update_entry).and(knowledge::delete_entry)),
    );
}

/// A handler as the route macros make it: an actix service for one path and method that also
/// describes itself as an OpenAPI operation (`#[utoipa::path]` implements `utoipa::Path` for it).
pub trait Operation: HttpServiceFactory + OpenApiFactory + utoipa::Path + 'static {}

impl<H: HttpServiceFactory + OpenApiFactory + utoipa::Path + 'static> Operation for H {}

/// Registers one handler's route.
type Registration = Box<dyn FnOnce(&mut AppService)>;

/// The operations on one path, registered together; see [`resource`].
pub struct Resource {
    path: String,
    handlers: Vec<Registration>,
    paths: Paths,
    schemas: Vec<(String, RefOr<Schema>)>,
}

/// Starts the operations on `handler`'s path; [`Resource::and`] adds the path's other methods.
///
/// They must be grouped because a route macro guards its whole resource by method: alone, a
/// request with a method the path does not have would fall through to a later pattern that also
/// matches, or to the 404 of unknown paths. After the group's handlers comes a resource without
/// routes, which answers the other methods as one `web::resource` with several methods did: 405
/// and an `Allow` header naming the methods the request was checked against, the group's.
pub fn resource<H: Operation>(handler: H) -> Resource {
    Resource { path: H::path(), handlers: Vec::new(), paths: Paths::new(), schemas: Vec::new() }.and(handler)
}

impl Resource {
    /// Adds another method on the same path.
    ///
    /// # Panics
    /// When `handler`'s path is another one: a grouping mistake in [`configure`], which every
    /// start of the server (and so every test) would hit.
    #[must_use]
    pub fn and<H: Operation>(mut self, handler: H) -> Self {
        assert_eq!(H::path(), self.path, "a resource groups the handlers of one path");
        self.paths.merge(handler.paths());
        handler.schemas(&mut self.schemas);
        self.handlers.push(Box::new(move |config: &mut AppService| handler.register(config)));
        self
    }
}

impl HttpServiceFactory for Resource {
    fn register(self, config: &mut AppService) {
        for register in self.handlers {
            register(config);
        }
        // The path as utoipa reports it, which is the route macro's as long as it has no regex
        // segments (`{tail:.*}`); none of the API's has.
        web::resource(self.path).register(config);
    }
}

impl OpenApiFactory for Resource {
    fn paths(&self) -> Paths {
        self.paths.clone()
    }

    fn schemas(&self, schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.extend(self.schemas.iter().cloned());
    }
}
