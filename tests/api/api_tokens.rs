//! Personal API tokens and bot accounts: scopes over REST and the WebSocket, revocation (REST at
//! once, sockets closed with 4001), expiry, and bots made by admins posting with a badge.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::ws::WsClient;
use crate::helpers::{
    TestApp, TestUser, assert_error, open_session, spawn_app, spawn_app_with, user_with_role, uuid_of,
};

/// Creates a token for `user` with these scopes; returns (value, id).
pub async fn token(app: &TestApp, user: &TestUser, scopes: &[&str]) -> (String, uuid::Uuid) {
    let res =
        app.post("/api/v1/users/me/tokens", Some(&user.access_token), json!({"name": "ci", "scopes": scopes})).await;
    assert_eq!(res.status(), StatusCode::CREATED, "create a token");
    let body: Value = res.json().await.unwrap();
    (body["token"].as_str().unwrap().to_owned(), uuid_of(&body["id"]))
}

/// Creates a bot as `admin`; returns (bot id, token value).
pub async fn bot(app: &TestApp, admin: &TestUser, username: &str) -> (uuid::Uuid, String) {
    let res = app.post("/api/v1/admin/bots", Some(&admin.access_token), json!({"username": username})).await;
    assert_eq!(res.status(), StatusCode::CREATED, "create a bot");
    let body: Value = res.json().await.unwrap();
    (uuid_of(&body["user"]["id"]), body["token"]["token"].as_str().unwrap().to_owned())
}

#[actix_web::test]
async fn a_token_is_shown_once_works_as_a_bearer_and_is_listed_with_its_last_use() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let res = app
        .post(
            "/api/v1/users/me/tokens",
            Some(&ada.access_token),
            json!({"name": "backup script", "scopes": ["read", "write"], "expires_in_days": 30}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    let value = created["token"].as_str().unwrap();
    assert!(value.starts_with("plt_") && value.len() > 40, "{created}");
    assert_eq!(created["scopes"], json!(["read", "write"]));
    assert!(created["expires_at"].is_string() && created["last_used_at"].is_null(), "{created}");

    let me: Value = app.me(value).await.json().await.unwrap();
    assert_eq!(me["username"], "ada");
    assert_eq!(me["is_bot"], false);

    let list: Value = app.get("/api/v1/users/me/tokens", Some(&ada.access_token)).await.json().await.unwrap();
    let listed = &list["tokens"][0];
    assert_eq!(listed["name"], "backup script");
    assert!(value.starts_with(listed["hint"].as_str().unwrap()), "{listed}");
    assert!(listed.get("token").is_none(), "the value is never listed: {listed}");
    assert!(listed["last_used_at"].is_string(), "the use was recorded: {listed}");
    // Only the hash is stored.
    let stored =
        app.count(&format!("SELECT count(*) AS n FROM api_tokens WHERE token_hash = sha256('{value}'::bytea)")).await;
    assert_eq!(stored, 1);
}

/// A file is read like a message: a token without the read scope cannot download it (the route
/// authenticates by hand, so no extractor checks the scope for it).
#[actix_web::test]
async fn a_write_only_token_cannot_download_a_file() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let notes = crate::attachments::pdf("meeting notes");
    let file = crate::attachments::upload(&app, &ada, "notes.pdf", notes.clone()).await;
    let res = crate::attachments::send_with(&app, &ada, room, "see file", &[&file]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let content = format!("/api/v1/attachments/{}/content", file["id"].as_str().expect("id"));
    let (write_only, _) = token(&app, &ada, &["write"]).await;
    let (read_only, _) = token(&app, &ada, &["read"]).await;
    let body = assert_error(app.get(&content, Some(&write_only)).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("'read' scope"), "{body}");
    let res = app.get(&content, Some(&read_only)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().as_ref(), notes.as_slice());
}

#[actix_web::test]
async fn a_read_only_token_reads_but_cannot_write_over_rest_or_the_websocket() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let (read_only, _) = token(&app, &ada, &["read"]).await;

    let res = app.get(&format!("/api/v1/rooms/{room}/messages"), Some(&read_only)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.post(&format!("/api/v1/rooms/{room}/messages"), Some(&read_only), json!({"body": "hi"})).await;
    let body = assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("'write' scope"), "{body}");

    let mut ws = app.ws(&read_only).await;
    let reply = ws.command("message.send", json!({"room_id": room, "body": "hi"})).await;
    assert_eq!((reply["ok"].clone(), reply["error"]["code"].clone()), (json!(false), json!("forbidden")), "{reply}");
    let reply = ws.command("sync", json!({"room_id": room, "since_seq": 0})).await;
    assert_eq!(reply["ok"], true, "{reply}");
    // Events still arrive: it reads.
    app.send(&ada, room, "from the session").await;
    let event = ws.event("message.new").await;
    assert_eq!(event["message"]["body"], "from the session");
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM messages WHERE room_id = '{room}'")).await, 1);

    // A write-only token cannot open a socket (it would read every event).
    let (write_only, _) = token(&app, &ada, &["write"]).await;
    assert!(app.ws_raw(&write_only).await.is_err(), "upgrade refused");
    assert_eq!(
        app.post(&format!("/api/v1/rooms/{room}/messages"), Some(&write_only), json!({"body": "w"})).await.status(),
        StatusCode::CREATED
    );
    assert_error(app.get("/api/v1/rooms", Some(&write_only)).await, StatusCode::FORBIDDEN, "forbidden").await;
}

/// Opens a WebSocket with the API token `value` (id `id`, not used before) and runs `meanwhile`
/// while the upgrade waits between the token's lookup and the socket's subscription to its
/// user's topic: the token's first use is recorded by an update of its row, which is held locked
/// until `meanwhile` is done.
async fn open_while_held(app: &TestApp, value: &str, id: uuid::Uuid, meanwhile: impl Future<Output = ()>) -> WsClient {
    use diesel_async::SimpleAsyncConnection;
    let mut blocker = app.hold(&format!("SELECT 1 FROM api_tokens WHERE id = '{id}' FOR UPDATE")).await;
    let held = async {
        app.wait_for_a_lock_wait("UPDATE api_tokens %").await;
        meanwhile.await;
        blocker.batch_execute("ROLLBACK").await.expect("release the token's row");
    };
    let (ws, ()) = tokio::join!(app.ws(value), held);
    ws
}

/// A status chosen on another device while an API token's socket opens is that socket's too. The
/// socket used to keep the account as the token's lookup read it, before it subscribed to the
/// user's topic: it kept the older status (online, which showed an invisible user to her friends
/// once her other devices had gone) and missed the choice.
#[actix_web::test]
async fn a_status_chosen_while_an_api_token_socket_opens_is_that_sockets_too() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    app.befriend(&ada, &bob).await;
    let mut bobs = app.ws(&bob.access_token).await;
    let mut phone = app.ws(&ada.access_token).await;
    assert_eq!(bobs.event("presence").await["status"], "online");
    let (value, id) = token(&app, &ada, &["read"]).await;

    let mut by_token = open_while_held(&app, &value, id, async {
        assert_eq!(phone.command("presence.set", json!({"status": "invisible"})).await["ok"], true);
        assert_eq!(bobs.event("presence").await["status"], "offline");
    })
    .await;
    assert_eq!(by_token.hello["data"]["user"]["presence_status"], "invisible", "{}", by_token.hello);
    // Invisible on the token's socket too: with the phone gone, ada stays offline to bob.
    phone.close().await;
    let frames = bobs.frames_within(Duration::from_millis(800)).await;
    let seen: Vec<_> = frames.iter().filter(|f| f["type"] == "presence").collect();
    assert!(seen.is_empty(), "ada stays offline to bob: {seen:?}");
    assert_eq!(by_token.command("ping", json!({})).await["ok"], true);
}

/// An admin demoted while her API token's socket opens gets the socket of a plain user. The role's
/// change closes the sockets on the user's topic, which this one is not on yet, and the WebSocket
/// re-check compares the role a socket was made with against the account's: a socket made with
/// the lookup's role and the later read's account would have kept staff rights for its life.
#[actix_web::test]
async fn an_admin_demoted_while_an_api_token_socket_opens_gets_a_plain_users_socket() {
    let app = spawn_app().await;
    let root = user_with_role(&app, "root", "admin").await;
    let ada = user_with_role(&app, "ada", "admin").await;
    let (value, id) = token(&app, &ada, &["read", "admin"]).await;
    let mut roots = app.ws(&root.access_token).await;

    let mut by_token = open_while_held(&app, &value, id, async {
        let demote =
            app.patch(&format!("/api/v1/admin/users/{}", ada.id), Some(&root.access_token), json!({"role": "user"}));
        assert_eq!(demote.await.status(), StatusCode::OK);
    })
    .await;
    assert_eq!(by_token.hello["data"]["user"]["role"], "user", "{}", by_token.hello);
    // New support chats reach staff, no longer ada.
    open_session(&app, "vera").await;
    roots.event("support.session_created").await;
    by_token.no_event("support.session_created", Duration::from_millis(500)).await;
    assert_eq!(by_token.command("ping", json!({})).await["ok"], true);
}

#[actix_web::test]
async fn revoking_a_token_refuses_it_at_once_and_closes_its_sockets_with_4001() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let (value, id) = token(&app, &ada, &["read", "write"]).await;
    let (other, _) = token(&app, &ada, &["read"]).await;
    let mut ws = app.ws(&value).await;
    let mut session_ws = app.ws(&ada.access_token).await;

    let res = app.delete(&format!("/api/v1/users/me/tokens/{id}"), Some(&ada.access_token)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(ws.closed_with().await, 4001);
    assert_error(app.me(&value).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(app.ws_raw(&value).await.is_err());
    // Only that token: the session and the other token go on.
    assert_eq!(app.me(&other).await.status(), StatusCode::OK);
    assert_eq!(session_ws.command("ping", json!({})).await["ok"], true);
    let list: Value = app.get("/api/v1/users/me/tokens", Some(&ada.access_token)).await.json().await.unwrap();
    let revoked = list["tokens"].as_array().unwrap().iter().find(|t| uuid_of(&t["id"]) == id).unwrap().clone();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    // Another user's token id is not found, nor is a revoked one made any different.
    let bob = app.register("bob").await;
    assert_error(
        app.delete(&format!("/api/v1/users/me/tokens/{id}"), Some(&bob.access_token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[actix_web::test]
async fn a_token_revoked_behind_the_servers_back_is_closed_by_the_periodic_recheck() {
    let app = spawn_app_with(|s| s.realtime.revalidate_interval_ms = 300).await;
    let ada = app.register("ada").await;
    let (value, id) = token(&app, &ada, &["read"]).await;
    let mut ws = app.ws(&value).await;
    // As if the revocation's message were lost: only the database knows.
    app.sql(&format!("UPDATE api_tokens SET revoked_at = now() WHERE id = '{id}'")).await;
    assert_eq!(ws.closed_with().await, 4001);
}

#[actix_web::test]
async fn an_expired_token_is_refused_and_bad_values_are_401() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let (value, id) = token(&app, &ada, &["read"]).await;
    app.sql(&format!("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = '{id}'")).await;
    let body = assert_error(app.me(&value).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("API token"), "{body}");
    assert!(app.ws_raw(&value).await.is_err());
    for bad in ["plt_", "plt_nope", &format!("{value}x")] {
        assert_error(app.me(bad).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

#[actix_web::test]
async fn bad_token_requests_get_validation_errors() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    for (body, field) in [
        (json!({"name": "", "scopes": ["read"]}), "name"),
        (json!({"name": "x".repeat(101), "scopes": ["read"]}), "name"),
        (json!({"name": "n", "scopes": []}), "scopes"),
        (json!({"name": "n", "scopes": ["root"]}), "scopes"),
        (json!({"name": "n", "scopes": ["admin"]}), "scopes"),
        (json!({"name": "n", "scopes": ["read"], "expires_in_days": 0}), "expires_in_days"),
    ] {
        let res = app.post("/api/v1/users/me/tokens", Some(&ada.access_token), body.clone()).await;
        let err = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(err["error"]["details"]["fields"][field].is_string(), "{body} -> {err}");
    }
}

#[actix_web::test]
async fn staff_routes_need_the_admin_scope_and_tokens_cannot_manage_tokens() {
    let app = spawn_app().await;
    let root = user_with_role(&app, "root", "admin").await;
    let (read, read_id) = token(&app, &root, &["read"]).await;
    let (admin_read, _) = token(&app, &root, &["read", "admin"]).await;
    let body =
        assert_error(app.get("/api/v1/admin/users", Some(&read)).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("'admin' scope"), "{body}");
    assert_eq!(app.get("/api/v1/admin/users", Some(&admin_read)).await.status(), StatusCode::OK);
    // Reading with the admin scope is not writing.
    let res = app.post("/api/v1/admin/bots", Some(&admin_read), json!({"username": "helper"})).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    let (all, _) = token(&app, &root, &["read", "write", "admin"]).await;
    let res = app.post("/api/v1/users/me/tokens", Some(&all), json!({"name": "n", "scopes": ["read"]})).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(
        app.delete(&format!("/api/v1/users/me/tokens/{read_id}"), Some(&all)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // The admin scope lapses with the role.
    app.sql(&format!("UPDATE users SET role = 'user' WHERE id = '{}'", root.id)).await;
    assert_error(app.get("/api/v1/admin/users", Some(&admin_read)).await, StatusCode::FORBIDDEN, "forbidden").await;
}

#[actix_web::test]
async fn admins_create_bots_that_join_rooms_post_with_a_badge_and_are_rate_limited() {
    let app = spawn_app_with(|s| s.rate_limit.message_burst = 3).await;
    let root = user_with_role(&app, "root", "admin").await;
    let ada = app.register("ada").await;
    assert_error(
        app.post("/api/v1/admin/bots", Some(&ada.access_token), json!({"username": "nope"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let (bot_id, bot_token) = bot(&app, &root, "deploybot").await;
    assert_error(
        app.post("/api/v1/admin/bots", Some(&root.access_token), json!({"username": "deploybot"})).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    let profile: Value =
        app.get(&format!("/api/v1/users/{bot_id}"), Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(profile["is_bot"], true, "{profile}");
    // No password: it cannot log in.
    assert_error(app.login("deploybot", "").await, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let bot_user = TestUser { id: bot_id, access_token: bot_token.clone(), refresh_token: String::new() };
    let room = app.group(&ada, "ops", &[&bot_user]).await;
    let mut ada_ws = app.ws(&ada.access_token).await;
    let mut bot_ws = app.ws(&bot_token).await;
    let reply = bot_ws.command("message.send", json!({"room_id": room, "body": "deployed"})).await;
    assert_eq!(reply["ok"], true, "{reply}");
    let event = ada_ws.event("message.new").await;
    assert_eq!(event["message"]["sender_id"], json!(bot_id));

    // The same per-user message budget as anyone's.
    let mut limited = false;
    for i in 0..5 {
        let res = app
            .post(&format!("/api/v1/rooms/{room}/messages"), Some(&bot_token), json!({"body": format!("{i}")}))
            .await;
        limited |= res.status() == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited, "the bot was rate limited");

    let bots: Value = app.get("/api/v1/admin/bots", Some(&root.access_token)).await.json().await.unwrap();
    assert_eq!(bots["bots"][0]["username"], "deploybot");
    assert_eq!(bots["bots"][0]["tokens"][0]["scopes"], json!(["read", "write"]));
    // Another token for the bot, then revoked by the admin.
    let res = app
        .post(
            &format!("/api/v1/admin/bots/{bot_id}/tokens"),
            Some(&root.access_token),
            json!({"name": "second", "scopes": ["read"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let second: Value = res.json().await.unwrap();
    let second_id = uuid_of(&second["id"]);
    let res = app.delete(&format!("/api/v1/admin/bots/{bot_id}/tokens/{second_id}"), Some(&root.access_token)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(app.me(second["token"].as_str().unwrap()).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Not a bot: not found.
    let res = app
        .post(
            &format!("/api/v1/admin/bots/{}/tokens", ada.id),
            Some(&root.access_token),
            json!({"name": "x", "scopes": ["read"]}),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    let log: Value = app.get("/api/v1/admin/audit-log", Some(&root.access_token)).await.json().await.unwrap();
    assert!(log["entries"].as_array().unwrap().iter().any(|e| e["action"] == "bot.created"), "{log}");
}

/// A bot token or a bot asked for by an admin whom another admin bans or demotes meanwhile, or
/// with an admin's API token revoked meanwhile, is not made: the admin was checked as the request
/// came in, and a credential minted from that check outlived the ban (the bot's token stays usable
/// by whoever holds it). Here the ban, the demotion and the revocation, as they write their rows,
/// are held open until the request waits for the row.
#[actix_web::test]
async fn a_bot_or_bot_token_asked_for_by_an_admin_banned_or_demoted_meanwhile_is_not_made() {
    let app = spawn_app().await;
    let root = user_with_role(&app, "root", "admin").await;
    let (bot_id, _) = bot(&app, &root, "deploybot").await;
    let bot_tokens = format!("SELECT count(*) AS n FROM api_tokens WHERE user_id = '{bot_id}'");
    assert_eq!(app.count(&bot_tokens).await, 1);

    let sam = user_with_role(&app, "sam", "admin").await;
    let ban = app
        .hold(&format!("UPDATE users SET banned_at = now(), token_version = token_version + 1 WHERE id = '{}'", sam.id))
        .await;
    let minted = app.while_held(
        ban,
        1,
        "COMMIT",
        app.post(
            &format!("/api/v1/admin/bots/{bot_id}/tokens"),
            Some(&sam.access_token),
            json!({"name": "mine", "scopes": ["read", "write"]}),
        ),
    );
    assert_error(minted.await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.count(&bot_tokens).await, 1, "no token made");

    let max = user_with_role(&app, "max", "admin").await;
    let demotion = app.hold(&format!("UPDATE users SET role = 'user' WHERE id = '{}'", max.id)).await;
    let made = app.while_held(
        demotion,
        1,
        "COMMIT",
        app.post("/api/v1/admin/bots", Some(&max.access_token), json!({"username": "maxbot"})),
    );
    assert_error(made.await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM users WHERE username = 'maxbot'").await, 0, "no bot made");

    // An admin's API token revoked meanwhile, likewise (used once first, so that recording its
    // use is not what waits).
    let (admins, admins_id) = token(&app, &root, &["read", "write", "admin"]).await;
    assert_eq!(app.me(&admins).await.status(), StatusCode::OK);
    let revocation = app.hold(&format!("UPDATE api_tokens SET revoked_at = now() WHERE id = '{admins_id}'")).await;
    let minted = app.while_held(
        revocation,
        1,
        "COMMIT",
        app.post(
            &format!("/api/v1/admin/bots/{bot_id}/tokens"),
            Some(&admins),
            json!({"name": "via a token", "scopes": ["read"]}),
        ),
    );
    assert_error(minted.await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.count(&bot_tokens).await, 1, "no token made");
}

/// A token changes neither the password nor the account's sessions, nor deletes the account:
/// the password's change returns a session that needs no second factor (a leaked token and a
/// phished password would make themselves a login), and signing every device out or deleting the
/// account would be a leaked token's to do. Each is 403 and changes nothing.
#[actix_web::test]
async fn a_token_cannot_change_the_password_sign_everyone_out_or_delete_the_account() {
    use crate::helpers::PASSWORD;
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let (value, _) = token(&app, &ada, &["read", "write"]).await;
    let change = json!({"current_password": PASSWORD, "new_password": "a much better passphrase"});
    assert_error(app.post("/api/v1/users/me/password", Some(&value), change).await, StatusCode::FORBIDDEN, "forbidden")
        .await;
    assert_error(
        app.post("/api/v1/auth/logout-all", Some(&value), json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let delete =
        app.request(reqwest::Method::DELETE, "/api/v1/users/me", Some(&value), Some(json!({"password": PASSWORD})));
    assert_error(delete.await, StatusCode::FORBIDDEN, "forbidden").await;
    // Nothing changed: the password, the session, the token and the account are as they were.
    assert_eq!(app.login("ada", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(app.me(&ada.access_token).await.status(), StatusCode::OK);
    assert_eq!(app.refresh(&ada.refresh_token).await.status(), StatusCode::OK);
    assert_eq!(app.me(&value).await.status(), StatusCode::OK);
}

/// A token asked for by a session that a revocation (a password change or reset, logout-all, a
/// ban) ended while the request was under way is not made: it would outlive the revocation. Here
/// the revocation is held open until the creation waits for it.
#[actix_web::test]
async fn a_token_asked_for_while_the_account_is_signed_out_everywhere_is_not_made() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let revocation =
        app.hold(&format!("UPDATE users SET token_version = token_version + 1 WHERE id = '{}'", ada.id)).await;
    let created = app
        .while_held(
            revocation,
            1,
            "COMMIT",
            app.post("/api/v1/users/me/tokens", Some(&ada.access_token), json!({"name": "ci", "scopes": ["read"]})),
        )
        .await;
    assert_error(created, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM api_tokens WHERE user_id = '{}'", ada.id)).await, 0);
}
