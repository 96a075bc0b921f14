//! Support chat: opening a session, the guest's confinement to its room, staff answering without
//! joining, the inbox updating live over WebSocket, closing a session, a returning visitor, and
//! the per-IP limit.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    TestApp, TestUser, assert_error, open_session, seq_scans_in_transaction, spawn_app, spawn_app_with, user_with_role,
    uuid_of,
};
use crate::operations::documented_operations;

async fn close(app: &TestApp, staff: &TestUser, session: Uuid) -> reqwest::Response {
    app.post(&format!("/api/v1/admin/support/sessions/{session}/close"), Some(&staff.access_token), json!({})).await
}

async fn sessions(app: &TestApp, staff: &TestUser, query: &str) -> Vec<Value> {
    let res = app.get(&format!("/api/v1/admin/support/sessions{query}"), Some(&staff.access_token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["sessions"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn opening_a_session_gives_a_guest_that_can_use_its_own_room() {
    let app = spawn_app().await;
    let res = app
        .post("/api/v1/support/sessions", None, json!({"name": "  Vera Visitor ", "email": "vera@example.org"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["role"], "guest");
    assert_eq!(body["user"]["display_name"], "Vera Visitor");
    assert_eq!(body["room"]["kind"], "support");
    assert_eq!(body["room"]["is_public"], false);
    assert!(body["session_id"].is_string() && body["refresh_token"].is_string() && body["expires_in"].is_u64());
    let token = body["access_token"].as_str().unwrap();
    let room = body["room"]["id"].as_str().unwrap();

    let me: Value = app.me(token).await.json().await.unwrap();
    assert_eq!(me["role"], "guest");
    let rooms: Value = app.get("/api/v1/rooms", Some(token)).await.json().await.unwrap();
    let rooms = rooms["rooms"].as_array().unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0]["id"], room);

    let t = Some(token);
    let sent = app.post(&format!("/api/v1/rooms/{room}/messages"), t, json!({"body": "Hello, is anyone there?"})).await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let msg: Value = sent.json().await.unwrap();
    let id = msg["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/api/v1/rooms/{room}"), t).await.status(), StatusCode::OK);
    assert_eq!(app.get(&format!("/api/v1/rooms/{room}/members"), t).await.status(), StatusCode::OK);
    assert_eq!(
        app.patch(&format!("/api/v1/messages/{id}"), t, json!({"body": "Hello?"})).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.request(Method::PUT, &format!("/api/v1/messages/{id}/reactions/👋"), t, None).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.post(&format!("/api/v1/rooms/{room}/read"), t, json!({"seq": 3})).await.status(), StatusCode::OK);
    let history: Value = app.get(&format!("/api/v1/rooms/{room}/messages"), t).await.json().await.unwrap();
    assert_eq!(history["messages"][0]["body"], "Hello?");

    // The visitor's socket works in its room; guests have no presence.
    let mut ws = app.ws(token).await;
    assert_eq!(ws.hello["data"]["user"]["role"], "guest");
    let reply = ws.command("message.send", json!({"room_id": room, "body": "over the socket"})).await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(ws.command("typing", json!({"room_id": room, "active": true})).await["ok"], true);
    assert_eq!(ws.command("presence.set", json!({"status": "online"})).await["error"]["code"], "forbidden");
}

/// A body of the right shape for each route with one, so the answer is about who calls, never
/// about the body.
fn sample_body(method: &str, path: &str, someone: Uuid) -> Option<Value> {
    let body = match (method, path) {
        ("patch", "/api/v1/users/me") => json!({"bio": "x"}),
        ("post", "/api/v1/users/me/password") => json!({"current_password": "a", "new_password": "b"}),
        ("delete", "/api/v1/users/me") => json!({"password": "a"}),
        ("post", "/api/v1/friends/requests") | ("post", "/api/v1/blocks") => json!({"user_id": someone}),
        ("post", "/api/v1/rooms") => json!({"kind": "group", "name": "escape"}),
        ("patch", "/api/v1/rooms/{id}") => json!({"name": "renamed"}),
        ("post", "/api/v1/rooms/{id}/members") => json!({"user_ids": [someone]}),
        ("patch", "/api/v1/rooms/{id}/members/{user_id}") => json!({"role": "moderator"}),
        ("post", "/api/v1/rooms/{id}/read") => json!({"seq": 1}),
        ("post", "/api/v1/rooms/{id}/messages") | ("patch", "/api/v1/messages/{id}") => json!({"body": "hi"}),
        ("patch", "/api/v1/admin/users/{id}") => json!({"role": "admin"}),
        ("post", "/api/v1/admin/support/sessions/{id}/read") => json!({"seq": 1}),
        ("post", "/api/v1/admin/bots") => json!({"username": "guestbot"}),
        ("post", "/api/v1/admin/bots/{id}/tokens") | ("post", "/api/v1/users/me/tokens") => {
            json!({"name": "escape", "scopes": ["read"]})
        }
        ("post", "/api/v1/admin/webhooks") => {
            json!({"url": "https://example.com/hook", "event_types": ["message.created"]})
        }
        ("patch", "/api/v1/admin/webhooks/{id}") => json!({"enabled": true}),
        ("post", "/api/v1/admin/knowledge") => json!({"kind": "faq", "title": "q", "body": "a"}),
        ("patch", "/api/v1/admin/knowledge/{id}") => json!({"title": "q", "body": "a"}),
        ("put", "/api/v1/bots/me/commands/{name}") => json!({"description": "escape"}),
        ("put", "/api/v1/rooms/{id}/notifications") => json!({"level": "none"}),
        ("delete", "/api/v1/push/subscriptions") => json!({"endpoint": "https://push.example.com/x"}),
        ("post", "/api/v1/push/subscriptions") => {
            json!({"endpoint": "https://push.example.com/x", "keys": {"p256dh": "x", "auth": "x"}})
        }
        ("post", "/api/v1/commands/invocations/{id}/reply") => json!({"text": "hi", "visibility": "room"}),
        ("post", "/api/v1/rooms/{id}/hooks") => json!({"name": "escape"}),
        ("post", "/api/v1/users/me/mfa/totp/confirm") => json!({"code": "123456"}),
        ("post", "/api/v1/admin/canned-replies") => json!({"title": "escape", "body": "hi"}),
        ("post", "/api/v1/admin/support/sessions/{id}/block") => json!({"address": true, "hours": 1}),
        ("post", "/api/v1/users/me/mfa/totp/disable") => json!({"password": "a", "code": "123456"}),
        _ if method == "post" || method == "patch" => json!({}),
        _ => return None,
    };
    Some(body)
}

#[actix_web::test]
async fn a_guest_gets_403_on_every_route_outside_its_own_room() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let group = app.group(&ada, "elsewhere", &[]).await;
    let public = app
        .post("/api/v1/rooms", Some(&ada.access_token), json!({"kind": "group", "name": "open", "is_public": true}))
        .await;
    let public = uuid_of(&public.json::<Value>().await.unwrap()["id"]);
    let other = open_session(&app, "other").await;
    let v = open_session(&app, "vera").await;
    let own = app.send(&v.guest, v.room, "mine").await;
    let own_msg = uuid_of(&own["id"]);
    let elsewhere_msg = uuid_of(&app.send(&ada, group, "not yours").await["id"]);

    // Public routes, and the routes a guest may use in its own room (checked by the test above).
    let public_routes = [
        "/health",
        "/health/ready",
        "/metrics",
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/login/mfa",
        "/api/v1/auth/password-reset",
        "/api/v1/auth/password-reset/confirm",
        "/api/v1/auth/verify-email",
        "/api/v1/auth/verify-email/resend",
        // A reply mail's links: their tokens are the credential (support_mail.rs tests them).
        "/api/v1/support/resume",
        "/api/v1/support/unsubscribe",
        "/api/v1/support/unsubscribe/one-click",
        // A digest's unsubscribe link: its token is the credential (digest.rs tests it).
        "/api/v1/digest/unsubscribe",
        "/api/v1/digest/unsubscribe/one-click",
        // An incoming webhook's secret URL is its credential (incoming_hooks.rs tests it).
        "/hooks/{token}",
        "/api/v1/support/sessions",
        "/api/v1/contact",
        // An avatar's address is public; its key is the credential (avatars.rs tests it).
        "/api/v1/avatars/{key}",
        // The server's VAPID public key: public by design (push.rs tests it).
        "/api/v1/push/vapid-public-key",
    ];
    let own_room_routes = [
        ("get", "/api/v1/users/me"),
        ("get", "/api/v1/rooms"),
        ("get", "/api/v1/rooms/{id}"),
        ("get", "/api/v1/rooms/{id}/members"),
        ("post", "/api/v1/rooms/{id}/read"),
        ("get", "/api/v1/rooms/{id}/messages"),
        ("post", "/api/v1/rooms/{id}/messages"),
        ("patch", "/api/v1/messages/{id}"),
        ("delete", "/api/v1/messages/{id}"),
        ("put", "/api/v1/messages/{id}/reactions/{emoji}"),
        ("delete", "/api/v1/messages/{id}/reactions/{emoji}"),
    ];
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, path) in documented_operations(&app).await {
        let (method, path) = (method.as_str(), path.as_str());
        if public_routes.contains(&path) {
            continue;
        }
        if matches!(path, "/api/v1/users/me" | "/api/v1/rooms") && method == "get" {
            continue;
        }
        // A visitor uploads files (screenshots) to send in their own room, and downloads the
        // files of their room; anyone else's file is 404 like an unknown id (the contract's
        // answer for attachments), which attachments.rs tests for visitors.
        if path.starts_with("/api/v1/attachments") {
            continue;
        }
        // A visitor reads the profiles of staff (who answer it: the widget shows their name and
        // picture) and its own; anyone else's is 404 like an unknown id (avatars.rs tests both).
        if path == "/api/v1/users/{id}" && method == "get" {
            continue;
        }
        // Routes open to guests are tried on somebody else's room, a public room and another
        // visitor's room; all the others on the guest's own room too.
        let targets: Vec<(Uuid, Uuid)> = if own_room_routes.contains(&(method, path)) {
            vec![(group, elsewhere_msg), (public, elsewhere_msg), (other.room, elsewhere_msg)]
        } else {
            vec![(v.room, own_msg), (group, elsewhere_msg)]
        };
        for (room, msg) in targets {
            let id = if path.starts_with("/api/v1/rooms/") {
                room
            } else if path.starts_with("/api/v1/messages/") {
                msg
            } else {
                ada.id
            };
            let query = match path {
                "/api/v1/users" | "/api/v1/search/messages" => "?q=a",
                _ => "",
            };
            // Webhook deliveries have numeric ids.
            let id = if path.contains("/deliveries/") { "1".to_owned() } else { id.to_string() };
            let url = format!("{path}{query}")
                .replace("{id}", &id)
                .replace("{user_id}", &ada.id.to_string())
                .replace("{token_id}", &ada.id.to_string())
                .replace("{hook_id}", &ada.id.to_string())
                .replace("{name}", "weather")
                .replace("{emoji}", "%F0%9F%91%8D");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app.request(m, &url, Some(&v.guest.access_token), sample_body(method, path, ada.id)).await;
            checked += 1;
            if res.status() != StatusCode::FORBIDDEN {
                failures.push(format!("{method} {url}: {}", res.status()));
            } else {
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["error"]["code"], "forbidden");
            }
        }
    }
    assert!(failures.is_empty(), "a guest reached:\n{}", failures.join("\n"));
    assert!(checked > 60, "only {checked} requests checked");
    // Nothing the guest tried changed anything of others'.
    let ada_rooms: Value = app.get("/api/v1/rooms", Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(ada_rooms["rooms"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn staff_read_and_answer_any_support_room_without_joining_and_the_first_answer_is_timed() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let moderator = user_with_role(&app, "mod", "moderator").await;
    let v = open_session(&app, "vera").await;
    app.send(&v.guest, v.room, "I need help").await;
    for staff in [&admin, &moderator] {
        let history = app.history(staff, v.room, "").await;
        assert_eq!(history["messages"][0]["body"], "I need help");
        let room: Value =
            app.get(&format!("/api/v1/rooms/{}", v.room), Some(&staff.access_token)).await.json().await.unwrap();
        assert_eq!(room["my_role"], Value::Null, "staff are not members");
    }
    let before = &sessions(&app, &admin, "").await[0];
    assert_eq!(before["unread_count"], 1);
    assert_eq!(before["first_response_at"], Value::Null);
    assert_eq!(before["last_message"]["body"], "I need help");

    app.send(&moderator, v.room, "Happy to help").await;
    let history = app.history(&v.guest, v.room, "").await;
    assert_eq!(history["messages"][0]["body"], "Happy to help");
    let after = &sessions(&app, &admin, "").await[0];
    assert_eq!(after["unread_count"], 0, "answered");
    assert!(after["first_response_at"].is_string());
    assert_eq!(after["last_message"]["body"], "Happy to help");
    assert_eq!(after["user"]["id"], v.guest.id.to_string());
    assert_eq!(after["email"], "vera@visitor.example");

    // Staff stay out of the member list and cannot be confused with the visitor.
    let members: Value =
        app.get(&format!("/api/v1/rooms/{}/members", v.room), Some(&admin.access_token)).await.json().await.unwrap();
    assert_eq!(members["members"].as_array().unwrap().len(), 1);
    // A plain user cannot read it.
    let ada = app.register("ada").await;
    assert_error(
        app.get(&format!("/api/v1/rooms/{}/messages", v.room), Some(&ada.access_token)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[actix_web::test]
async fn the_inbox_updates_live_over_websocket_for_every_online_admin_and_moderator() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let moderator = user_with_role(&app, "mod", "moderator").await;
    let ada = app.register("ada").await;
    let mut admin_ws = app.ws(&admin.access_token).await;
    let mut mod_ws = app.ws(&moderator.access_token).await;
    let mut ada_ws = app.ws(&ada.access_token).await;

    let v = open_session(&app, "vera").await;
    for ws in [&mut admin_ws, &mut mod_ws] {
        let created = ws.event("support.session_created").await;
        assert_eq!(created["room"]["id"], v.room.to_string());
        assert_eq!(created["user"]["id"], v.guest.id.to_string());
        assert_eq!(created["room"]["kind"], "support");
    }
    let mut visitor_ws = app.ws(&v.guest.access_token).await;
    let mut reply = visitor_ws.command("message.send", json!({"room_id": v.room, "body": "anyone?"})).await;
    assert_eq!(reply["ok"], true, "{reply}");
    for ws in [&mut admin_ws, &mut mod_ws] {
        let new = ws.event("message.new").await;
        assert_eq!(new["message"]["body"], "anyone?");
        assert_eq!(new["seq"], 1);
    }
    // The answer goes over the admin's socket and reaches the visitor and the other staff.
    reply = admin_ws.command("message.send", json!({"room_id": v.room, "body": "yes, here"})).await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(visitor_ws.event("message.new").await["message"]["body"], "anyone?");
    assert_eq!(visitor_ws.event("message.new").await["message"]["body"], "yes, here");
    assert_eq!(mod_ws.event("message.new").await["message"]["body"], "yes, here");
    assert_eq!(admin_ws.command("typing", json!({"room_id": v.room, "active": true})).await["ok"], true);
    assert_eq!(visitor_ws.event("typing").await["user_id"], admin.id.to_string());

    // A staff member who connects later follows the open sessions too.
    let mut late_ws = app.ws(&moderator.access_token).await;
    app.send(&v.guest, v.room, "thanks").await;
    assert_eq!(late_ws.event("message.new").await["message"]["body"], "thanks");
    // Plain users hear nothing of it.
    let frames = ada_ws.frames_within(Duration::from_millis(300)).await;
    assert!(frames.iter().all(|f| f["type"] != "support.session_created" && f["type"] != "message.new"), "{frames:?}");
}

#[actix_web::test]
async fn closing_a_session_sends_a_final_event_and_the_visitor_cannot_write_any_more() {
    let app = spawn_app().await;
    let moderator = user_with_role(&app, "mod", "moderator").await;
    let v = open_session(&app, "vera").await;
    let msg = app.send(&v.guest, v.room, "bye").await;
    let mut visitor_ws = app.ws(&v.guest.access_token).await;
    let mut mod_ws = app.ws(&moderator.access_token).await;
    // Typing shows while the session is open.
    assert_eq!(visitor_ws.command("typing", json!({"room_id": v.room, "active": true})).await["ok"], true);
    assert_eq!(mod_ws.event("typing").await["user_id"], v.guest.id.to_string());

    let res = close(&app, &moderator, v.session_id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let closed: Value = res.json().await.unwrap();
    assert_eq!(closed["status"], "closed");
    assert!(closed["closed_at"].is_string());
    let event = visitor_ws.event("support.session_closed").await;
    assert_eq!(event["session_id"], v.session_id.to_string());
    assert_eq!(mod_ws.event("support.session_closed").await["room_id"], v.room.to_string());
    // Nothing follows the final event, typing included (it used to be shown after it).
    for ws in [&mut visitor_ws, &mut mod_ws] {
        let reply = ws.command("typing", json!({"room_id": v.room, "active": true})).await;
        assert_eq!(reply["error"]["code"], "forbidden", "{reply}");
    }
    visitor_ws.no_event("typing", Duration::from_millis(300)).await;
    mod_ws.no_event("typing", Duration::from_millis(100)).await;
    // The visitor may still mark it read: their own devices follow, the room hears nothing.
    let read = visitor_ws.command("read", json!({"room_id": v.room, "seq": msg["seq"]})).await;
    assert_eq!(read["ok"], true, "{read}");
    assert_eq!(visitor_ws.event("read").await["seq"], msg["seq"]);
    mod_ws.no_event("read", Duration::from_millis(300)).await;

    let t = Some(v.guest.access_token.as_str());
    let res = app.post(&format!("/api/v1/rooms/{}/messages", v.room), t, json!({"body": "wait"})).await;
    let body = assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("closed"));
    let reply = visitor_ws.command("message.send", json!({"room_id": v.room, "body": "wait"})).await;
    assert_eq!(reply["error"]["code"], "forbidden");
    let id = msg["id"].as_str().unwrap();
    assert_eq!(
        app.patch(&format!("/api/v1/messages/{id}"), t, json!({"body": "x"})).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.delete(&format!("/api/v1/messages/{id}"), t).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.request(Method::PUT, &format!("/api/v1/messages/{id}/reactions/👍"), t, None).await.status(),
        StatusCode::FORBIDDEN
    );
    // Staff cannot write there either; the history stays readable.
    let res = app
        .post(&format!("/api/v1/rooms/{}/messages", v.room), Some(&moderator.access_token), json!({"body": "late"}))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.history(&v.guest, v.room, "").await["messages"][0]["body"], "bye");

    assert_eq!(sessions(&app, &moderator, "?status=open").await.len(), 0);
    assert_eq!(sessions(&app, &moderator, "?status=closed").await.len(), 1);
    // Closing again changes nothing.
    let again = close(&app, &moderator, v.session_id).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap()["closed_at"], closed["closed_at"]);
}

/// `support_status` of the visitor's room in `GET /rooms` and of `GET /rooms/{id}` as `token`
/// sees it.
async fn support_status(app: &TestApp, token: &str, room: Uuid) -> (Value, Value) {
    let rooms: Value = app.get("/api/v1/rooms", Some(token)).await.json().await.unwrap();
    let listed = rooms["rooms"].as_array().unwrap().iter().find(|r| r["id"] == room.to_string()).cloned();
    let detail: Value = app.get(&format!("/api/v1/rooms/{room}"), Some(token)).await.json().await.unwrap();
    (listed.map_or(Value::Null, |r| r["support_status"].clone()), detail["support_status"].clone())
}

#[actix_web::test]
async fn a_visitor_offline_at_the_close_learns_it_from_its_room() {
    let app = spawn_app().await;
    let moderator = user_with_role(&app, "mod", "moderator").await;
    let v = open_session(&app, "vera").await;
    let member = app.register("gus").await;
    let group = app.group(&member, "Lounge", &[]).await;
    let t = v.guest.access_token.as_str();
    assert_eq!(support_status(&app, t, v.room).await, (json!("open"), json!("open")));
    // Staff do not list support rooms; the room itself tells them too.
    let detail: Value =
        app.get(&format!("/api/v1/rooms/{}", v.room), Some(&moderator.access_token)).await.json().await.unwrap();
    assert_eq!(detail["support_status"], "open");

    // No socket of the visitor's is open at the close: `support.session_closed` reaches nobody
    // of theirs, and the room says it.
    assert_eq!(close(&app, &moderator, v.session_id).await.status(), StatusCode::OK);
    assert_eq!(support_status(&app, t, v.room).await, (json!("closed"), json!("closed")));

    // Other rooms carry no such field.
    let rooms: Value = app.get("/api/v1/rooms", Some(&member.access_token)).await.json().await.unwrap();
    assert!(rooms["rooms"][0].get("support_status").is_none(), "{rooms}");
    let detail: Value =
        app.get(&format!("/api/v1/rooms/{group}"), Some(&member.access_token)).await.json().await.unwrap();
    assert!(detail.get("support_status").is_none(), "{detail}");
}

#[actix_web::test]
async fn a_returning_visitor_with_its_token_sees_its_history() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let v = open_session(&app, "vera").await;
    app.send(&v.guest, v.room, "first visit").await;
    app.send(&admin, v.room, "answer while away").await;
    // Later: the widget kept the refresh token.
    let res = app.refresh(&v.guest.refresh_token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(body["user"]["role"], "guest");
    let rooms: Value = app.get("/api/v1/rooms", Some(token)).await.json().await.unwrap();
    assert_eq!(rooms["rooms"][0]["unread_count"], 1);
    let history: Value =
        app.get(&format!("/api/v1/rooms/{}/messages", v.room), Some(token)).await.json().await.unwrap();
    let bodies: Vec<&str> =
        history["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["answer while away", "first visit"]);
}

#[actix_web::test]
async fn opening_sessions_is_limited_per_ip() {
    let app = spawn_app_with(|s| {
        s.rate_limit.support_burst = 2;
        s.rate_limit.support_replenish_interval_ms = 60_000;
    })
    .await;
    open_session(&app, "one").await;
    open_session(&app, "two").await;
    let res = app.post("/api/v1/support/sessions", None, json!({"name": "three"})).await;
    assert!(res.headers().get("retry-after").is_some());
    let body = assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(body["error"]["details"]["retry_after_ms"].as_u64().unwrap() > 0);
}

#[actix_web::test]
async fn bad_support_requests_get_clear_errors() {
    let app = spawn_app().await;
    let open = |body: Value| app.post("/api/v1/support/sessions", None, body);
    assert_error(open(json!({"name": ""})).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_error(open(json!({"name": "   "})).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_error(open(json!({"name": "x".repeat(65)})).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert_error(open(json!({"name": "a\u{0007}b"})).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    let body = assert_error(
        open(json!({"name": "vera", "email": "not-an-email"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(body["error"]["details"]["fields"]["email"].is_string());
    assert_error(
        open(json!({"name": "vera", "role": "admin"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_error(open(json!({})).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_error(
        app.raw(Method::POST, "/api/v1/support/sessions", None, "{\"name\": ").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let huge = json!({"name": "x".repeat(100_000)});
    assert_error(open(huge).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // No email is fine.
    assert_eq!(open(json!({"name": "vera"})).await.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn the_inbox_runs_the_same_few_queries_for_2_sessions_or_20() {
    let app = spawn_app_with(crate::helpers::quiet_workers).await;
    let admin = user_with_role(&app, "root", "admin").await;
    let mut count_for = Vec::new();
    let mut opened = 0;
    for target in [2, 20] {
        while opened < target {
            let v = open_session(&app, &format!("v{opened}")).await;
            app.send(&v.guest, v.room, "hello").await;
            opened += 1;
        }
        let before = app.metric("plauder_db_queries_total").await;
        let list = sessions(&app, &admin, "").await;
        let after = app.metric("plauder_db_queries_total").await;
        assert_eq!(list.len(), target);
        assert!(list.iter().all(|s| s["last_message"]["body"] == "hello" && s["unread_count"] == 1));
        count_for.push(after - before);
    }
    assert_eq!(count_for[0], count_for[1], "queries for 2 sessions vs 20: {count_for:?}");
    // The token check, the sessions with counts, their rooms, visitors, last messages, reactions.
    assert!(count_for[0] <= 6.0, "{count_for:?}");
}

#[actix_web::test]
async fn staff_mark_a_support_chat_read_so_the_inbox_clears_and_the_visitor_hears_read() {
    let app = spawn_app().await;
    let moderator = user_with_role(&app, "mod", "moderator").await;
    let v = open_session(&app, "vera").await;
    app.send(&v.guest, v.room, "one").await;
    app.send(&v.guest, v.room, "two").await;
    let mut visitor_ws = app.ws(&v.guest.access_token).await;
    assert_eq!(sessions(&app, &moderator, "").await[0]["unread_count"], 2);
    let read = |seq: Value| {
        let app = &app;
        let token = moderator.access_token.clone();
        let id = v.session_id;
        async move {
            app.post(&format!("/api/v1/admin/support/sessions/{id}/read"), Some(&token), json!({"seq": seq})).await
        }
    };

    // Read up to the first message: one left; the visitor hears who read how far.
    let res = read(json!(1)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["unread_count"], 1);
    assert_eq!(view["staff_read_seq"], 1);
    let event = visitor_ws.event("read").await;
    assert_eq!(event["room_id"], v.room.to_string());
    assert_eq!(event["user_id"], moderator.id.to_string());
    assert_eq!(event["seq"], 1);
    // Past the end counts as the end; backwards changes nothing.
    let view: Value = read(json!(99)).await.json().await.unwrap();
    assert_eq!((view["unread_count"].clone(), view["staff_read_seq"].clone()), (json!(0), json!(2)));
    let view: Value = read(json!(1)).await.json().await.unwrap();
    assert_eq!(view["staff_read_seq"], 2);
    assert_eq!(sessions(&app, &moderator, "").await[0]["unread_count"], 0);
    // A new message from the visitor is unread again.
    app.send(&v.guest, v.room, "three").await;
    assert_eq!(sessions(&app, &moderator, "").await[0]["unread_count"], 1);
    // Once closed, reading still clears the inbox, but the visitor hears nothing after the close.
    let res = close(&app, &moderator, v.session_id).await;
    assert_eq!(res.status(), StatusCode::OK);
    visitor_ws.event("support.session_closed").await;
    let view: Value = read(json!(3)).await.json().await.unwrap();
    assert_eq!(view["unread_count"], 0);
    visitor_ws.no_event("read", std::time::Duration::from_millis(300)).await;

    // Bad input and the wrong callers get the contract's errors.
    assert_error(read(json!(-1)).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_error(read(json!("x")).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let unknown = Uuid::new_v4();
    assert_error(
        app.post(
            &format!("/api/v1/admin/support/sessions/{unknown}/read"),
            Some(&moderator.access_token),
            json!({"seq": 1}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let ada = app.register("ada").await;
    for token in [&ada.access_token, &v.guest.access_token] {
        assert_error(
            app.post(&format!("/api/v1/admin/support/sessions/{}/read", v.session_id), Some(token), json!({"seq": 1}))
                .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
}

#[actix_web::test]
async fn the_visitors_context_is_kept_on_the_session_and_checked() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/support/sessions", app.address))
        .header("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
        .json(&json!({"name": "Vera", "context": {"page_url": "https://shop.example/shoes", "language": "de-DE", "time_zone": "Europe/Berlin"}}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::CREATED);
    let listed = &sessions(&app, &admin, "").await[0];
    assert_eq!(
        listed["context"],
        json!({"page_url": "https://shop.example/shoes", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", "language": "de-DE", "time_zone": "Europe/Berlin"})
    );
    // Without one, the fields are null (the browser's header is still taken).
    let plain = open_session(&app, "otto").await;
    let listed = sessions(&app, &admin, "").await;
    let otto = listed.iter().find(|s| s["id"] == plain.session_id.to_string()).unwrap();
    assert_eq!(otto["context"]["page_url"], Value::Null);

    for (context, field) in [
        (json!({"page_url": "javascript:alert(1)"}), "context.page_url"),
        (json!({"page_url": format!("https://x.example/{}", "a".repeat(2000))}), "context.page_url"),
        (json!({"language": "de DE<script>"}), "context.language"),
        (json!({"time_zone": "Europe/Berlin; drop"}), "context.time_zone"),
    ] {
        let res = app.post("/api/v1/support/sessions", None, json!({"name": "Eve", "context": context})).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{context}");
        let body: Value = res.json().await.unwrap();
        assert!(body["error"]["details"]["fields"][field].is_string(), "{body}");
    }
    let res = app.post("/api/v1/support/sessions", None, json!({"name": "Eve", "context": {"colour": "red"}})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// Presence, new-chat mails and pushes find the staff through one condition and a partial index
/// on `users.role`, not by reading every account: the table gains a row per support visitor. With
/// `mfa.require_for_staff` only staff with two-factor on count, since the others cannot open the
/// inbox.
#[actix_web::test]
async fn staff_are_found_by_index_among_many_visitors_and_two_factor_narrows_them() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    use plauder::db::queries::{push, support_mail, users};

    let app = spawn_app().await;
    let admin = user_with_role(&app, "admin1", "admin").await;
    let moderator = user_with_role(&app, "mod1", "moderator").await;
    let banned = user_with_role(&app, "mod2", "moderator").await;
    app.sql(&format!("UPDATE users SET banned_at = now() WHERE id = '{}'", banned.id)).await;
    app.sql(&format!(
        "INSERT INTO user_totp (user_id, secret, enabled_at) VALUES ('{}', '\\x00', now())",
        moderator.id
    ))
    .await;
    // One push subscription each.
    app.sql(
        "INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth) \
         SELECT gen_random_uuid(), id, 'https://push.example/' || id, \
                decode(repeat('04', 65), 'hex'), decode(repeat('01', 16), 'hex') FROM users",
    )
    .await;
    app.sql(
        "INSERT INTO users (id, username, display_name, role) \
         SELECT gen_random_uuid(), 'guest' || g, 'Guest ' || g, 'guest' FROM generate_series(1, 5000) g",
    )
    .await;
    app.sql("ANALYZE users").await;

    let mut conn = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
    conn.batch_execute("BEGIN").await.expect("begin");
    let mut all = users::staff_ids(&mut conn, false).await.expect("staff");
    all.sort_by_key(|id| id.to_string());
    let mut expected = vec![admin.id.to_string(), moderator.id.to_string()];
    expected.sort();
    assert_eq!(all.iter().map(|id| id.to_string()).collect::<Vec<_>>(), expected);
    let with_two_factor = users::staff_ids(&mut conn, true).await.expect("staff with two-factor");
    assert_eq!(with_two_factor.iter().map(|id| id.to_string()).collect::<Vec<_>>(), [moderator.id.to_string()]);
    let recipients = support_mail::staff_recipients(&mut conn, true).await.expect("recipients");
    assert_eq!(recipients.iter().map(|r| r.username.as_str()).collect::<Vec<_>>(), ["mod1"]);
    assert_eq!(support_mail::staff_recipients(&mut conn, false).await.expect("recipients").len(), 2);
    assert_eq!(push::enqueue_staff(&mut conn, "{}", true).await.expect("pushes"), 1);
    assert_eq!(push::enqueue_staff(&mut conn, "{}", false).await.expect("pushes"), 2);
    let scans = seq_scans_in_transaction(&mut conn, "users").await;
    conn.batch_execute("ROLLBACK").await.expect("rollback");
    assert_eq!(scans, 0, "sequential scans of users among 5,000 visitors");
}
