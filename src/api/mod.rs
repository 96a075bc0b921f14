//! The REST API: routing, request extraction rules, and one module of handlers per resource.
//! Handlers parse and authorise the request, call a service, and shape the response; the rules
//! live in `service`.

pub mod admin;
pub mod auth;
pub mod extract;
pub mod health;
pub mod messages;
pub mod openapi;
pub mod rooms;
pub mod social;
pub mod support;
pub mod users;
pub mod ws;

use actix_web::web;

/// Every route of the application but `/ws`, which `startup` mounts outside the middleware.
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
                .service(web::resource("/users/{id}").get(users::get_user))
                .service(web::resource("/friends").get(social::list_friends))
                .service(
                    web::resource("/friends/requests")
                        .get(social::list_friend_requests)
                        .post(social::send_friend_request),
                )
                .service(web::resource("/friends/requests/{id}/accept").post(social::accept_friend_request))
                .service(web::resource("/friends/requests/{id}/decline").post(social::decline_friend_request))
                .service(web::resource("/friends/{user_id}").delete(social::remove_friend))
                .service(web::resource("/blocks").get(social::list_blocks).post(social::block_user))
                .service(web::resource("/blocks/{user_id}").delete(social::unblock_user))
                .service(web::resource("/rooms").get(rooms::list_rooms).post(rooms::create_room))
                .service(
                    web::resource("/rooms/{id}")
                        .get(rooms::get_room)
                        .patch(rooms::update_room)
                        .delete(rooms::delete_room),
                )
                .service(web::resource("/rooms/{id}/members").get(rooms::list_members).post(rooms::add_members))
                .service(
                    web::resource("/rooms/{id}/members/{user_id}")
                        .delete(rooms::remove_member)
                        .patch(rooms::set_member_role),
                )
                .service(web::resource("/rooms/{id}/join").post(rooms::join_room))
                .service(web::resource("/rooms/{id}/read").post(rooms::mark_read))
                .service(
                    web::resource("/rooms/{id}/messages").get(messages::list_messages).post(messages::send_message),
                )
                .service(web::resource("/messages/{id}").patch(messages::edit_message).delete(messages::delete_message))
                .service(
                    web::resource("/messages/{id}/reactions/{emoji}")
                        .put(messages::add_reaction)
                        .delete(messages::remove_reaction),
                )
                .service(web::resource("/search/messages").get(messages::search_messages))
                .service(web::resource("/support/sessions").post(support::open_session))
                .service(web::resource("/contact").post(support::submit_contact))
                .service(web::resource("/admin/stats").get(admin::get_stats))
                .service(web::resource("/admin/users").get(admin::list_users))
                .service(web::resource("/admin/users/{id}").patch(admin::update_user))
                .service(web::resource("/admin/messages/{id}").delete(admin::delete_message))
                .service(web::resource("/admin/support/sessions").get(admin::list_support_sessions))
                .service(web::resource("/admin/support/sessions/{id}/close").post(admin::close_support_session))
                .service(web::resource("/admin/audit-log").get(admin::audit_log))
                .service(web::resource("/admin/contacts").get(admin::list_contacts))
                .service(web::resource("/admin/contacts/{id}").delete(admin::delete_contact)),
        );
}
