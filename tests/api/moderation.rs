//! The edges of moderation: global staff cannot open a private room they are not in to
//! themselves, and blocks hold in group rooms and in an existing direct room.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error, spawn_app, user_with_role};

async fn block(app: &TestApp, blocker: &TestUser, blocked: &TestUser) {
    let res = app.post("/api/v1/blocks", Some(&blocker.access_token), json!({"user_id": blocked.id})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn global_staff_can_neither_make_a_private_room_public_nor_add_members_to_it() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let moderator = user_with_role(&app, "mod", "moderator").await;
    let admin = user_with_role(&app, "root", "admin").await;
    // An ordinary account the moderator also holds.
    let sock = app.register("sockpuppet").await;
    let room = app.group(&ada, "secret", &[&bob]).await;
    app.send(&ada, room, "for members only").await;
    let r = |p: &str| format!("/api/v1/rooms/{room}{p}");

    for staff in [&moderator, &admin] {
        let t = Some(staff.access_token.as_str());
        let res = app.patch(&r(""), t, json!({"is_public": true})).await;
        let body = assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        assert!(body["error"]["message"].as_str().unwrap().contains("private"), "{body}");
        let res = app.post(&r("/members"), t, json!({"user_ids": [sock.id]})).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        let res = app.post(&r("/members"), t, json!({"user_ids": [staff.id]})).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        // Nothing changed: still private, still unreadable for them and for the other account.
        assert_error(app.get(&r("/messages"), t).await, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_error(app.get(&r("/messages"), Some(&sock.access_token)).await, StatusCode::FORBIDDEN, "forbidden").await;
    let members: Value = app.get(&r("/members"), Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(members["members"].as_array().unwrap().len(), 2, "{members}");

    // What moderation needs stays: renaming, kicking, and making a public room private.
    let mt = Some(moderator.access_token.as_str());
    assert_eq!(app.patch(&r(""), mt, json!({"name": "renamed"})).await.status(), StatusCode::OK);
    assert_eq!(app.delete(&r(&format!("/members/{}", bob.id)), mt).await.status(), StatusCode::NO_CONTENT);
    // The owner opens it; a public room is anyone's to read, so staff may add to it and close it.
    let res = app.patch(&r(""), Some(&ada.access_token), json!({"is_public": true})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.post(&r("/members"), mt, json!({"user_ids": [sock.id]})).await.status(), StatusCode::CREATED);
    assert_eq!(app.patch(&r(""), mt, json!({"is_public": false})).await.status(), StatusCode::OK);
    // Closed again by staff: staff cannot open it a second time.
    assert_error(app.patch(&r(""), mt, json!({"is_public": true})).await, StatusCode::FORBIDDEN, "forbidden").await;
}

#[actix_web::test]
async fn a_user_who_blocks_you_cannot_be_put_in_a_group_by_you() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let carl = app.register("carl").await;
    let shared = app.group(&ada, "before", &[&bob]).await;
    block(&app, &bob, &ada).await;

    let res = app
        .post(
            "/api/v1/rooms",
            Some(&ada.access_token),
            json!({"kind": "group", "name": "g", "member_ids": [carl.id, bob.id]}),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let mine = app.group(&ada, "mine", &[]).await;
    let res = app
        .post(&format!("/api/v1/rooms/{mine}/members"), Some(&ada.access_token), json!({"user_ids": [bob.id]}))
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let members: Value =
        app.get(&format!("/api/v1/rooms/{mine}/members"), Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(members["members"].as_array().unwrap().len(), 1, "nobody was added: {members}");

    // Others may add the blocker, and the blocker may add whom they block; a room both were in
    // before the block goes on.
    let res = app
        .post(&format!("/api/v1/rooms/{mine}/members"), Some(&ada.access_token), json!({"user_ids": [carl.id]}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let carls = app.group(&carl, "carl's", &[&bob]).await;
    assert!(!carls.is_nil());
    let bobs = app.group(&bob, "bob's", &[&ada]).await;
    assert!(!bobs.is_nil());
    app.send(&ada, shared, "still fine here").await;
}

#[actix_web::test]
async fn a_block_stops_edits_and_reactions_in_a_direct_room_both_ways() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let dm = app.direct(&ada, &bob).await;
    let send = async |u: &TestUser, body: &str| {
        let m: Value = app
            .post(&format!("/api/v1/rooms/{dm}/messages"), Some(&u.access_token), json!({"body": body}))
            .await
            .json()
            .await
            .unwrap();
        m["id"].as_str().unwrap().to_owned()
    };
    let from_ada = send(&ada, "hi bob").await;
    let from_bob = send(&bob, "hi ada").await;
    block(&app, &bob, &ada).await;

    for (me, own, theirs) in [(&ada, &from_ada, &from_bob), (&bob, &from_bob, &from_ada)] {
        let t = Some(me.access_token.as_str());
        let res = app.patch(&format!("/api/v1/messages/{own}"), t, json!({"body": "edited"})).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        for target in [own, theirs] {
            let path = format!("/api/v1/messages/{target}/reactions/%F0%9F%91%8D");
            assert_error(app.request(Method::PUT, &path, t, None).await, StatusCode::FORBIDDEN, "forbidden").await;
        }
        // The same over WebSocket, and sending stays refused as before.
        let mut ws = app.ws(&me.access_token).await;
        let r = ws.command("message.edit", json!({"message_id": own, "body": "edited"})).await;
        assert_eq!(r["error"]["code"], "forbidden", "{r}");
        let r = ws.command("reaction.add", json!({"message_id": theirs, "emoji": "👍"})).await;
        assert_eq!(r["error"]["code"], "forbidden", "{r}");
        let r = ws.command("message.send", json!({"room_id": dm, "body": "hello?"})).await;
        assert_eq!(r["error"]["code"], "forbidden", "{r}");
    }
    let history = app.history(&ada, dm, "").await;
    let messages = history["messages"].as_array().unwrap();
    assert!(messages.iter().all(|m| m["rev"] == m["seq"] && m["reactions"] == json!([])), "unchanged: {history}");

    // Taking one's own words back is still possible.
    let res = app.delete(&format!("/api/v1/messages/{from_ada}"), Some(&ada.access_token)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// An incoming webhook's bot is a member of its room, and admins hold bots' credentials: an admin
/// who does not own a private room gives it no hook, and takes no token for the bot of a hook its
/// owner made. Either used to let an admin read the room through the bot.
#[actix_web::test]
async fn an_admin_reads_no_private_room_through_an_incoming_webhooks_bot() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let admin = user_with_role(&app, "root", "admin").await;
    let room = app.group(&ada, "secret", &[]).await;
    app.send(&ada, room, "for members only").await;
    let hooks = format!("/api/v1/rooms/{room}/hooks");
    let at = Some(admin.access_token.as_str());

    let res = app.post(&hooks, at, json!({"name": "x"})).await;
    let body = assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("private"), "{body}");
    let members: Value =
        app.get(&format!("/api/v1/rooms/{room}/members"), Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(members["members"].as_array().unwrap().len(), 1, "no bot joined: {members}");

    // The owner's own hook: its bot takes no token from an admin, and no bot may be named like one.
    let res = app.post(&hooks, Some(&ada.access_token), json!({"name": "CI"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let hook: Value = res.json().await.unwrap();
    let bot = hook["bot"]["id"].as_str().unwrap();
    let res = app.post(&format!("/api/v1/admin/bots/{bot}/tokens"), at, json!({"name": "t", "scopes": ["read"]})).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let tokens = app.count(&format!("SELECT count(*) AS n FROM api_tokens WHERE user_id = '{bot}'")).await;
    assert_eq!(tokens, 0);
    let res = app.post("/api/v1/admin/bots", at, json!({"username": "hook-0123456789ab"})).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    // A token a hook's bot got before that was refused no longer works (a bot given the name of
    // one stands for it here).
    let made: Value = app.post("/api/v1/admin/bots", at, json!({"username": "cibot"})).await.json().await.unwrap();
    let token = made["token"]["token"].as_str().unwrap();
    assert_eq!(app.me(token).await.status(), StatusCode::OK);
    app.sql(&format!(
        "UPDATE users SET username = 'hook-0123456789ab' WHERE id = '{}'",
        made["user"]["id"].as_str().unwrap()
    ))
    .await;
    assert_error(app.me(token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // A public room is anyone's to read: there an admin may add a hook.
    let res = app.patch(&format!("/api/v1/rooms/{room}"), Some(&ada.access_token), json!({"is_public": true})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.post(&hooks, at, json!({"name": "ops"})).await.status(), StatusCode::CREATED);
}

/// A public room its owner turns private while an admin gives it a hook gets no hook: the admin's
/// right to it is read again under the room's lock. Here the owner's change holds the room's row
/// until the creation waits for it.
#[actix_web::test]
async fn a_room_turning_private_while_an_admin_adds_a_hook_gets_none() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let admin = user_with_role(&app, "root", "admin").await;
    let room = app.group(&ada, "lobby", &[]).await;
    app.sql(&format!("UPDATE rooms SET is_public = true WHERE id = '{room}'")).await;
    let owner = app.hold(&format!("UPDATE rooms SET is_public = false WHERE id = '{room}'")).await;
    let hooks = format!("/api/v1/rooms/{room}/hooks");
    let created = app.post(&hooks, Some(&admin.access_token), json!({"name": "ops"}));
    let res = app.while_held(owner, 1, "COMMIT", created).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM incoming_webhooks WHERE room_id = '{room}'")).await, 0);
    let members = app.count(&format!("SELECT count(*) AS n FROM room_members WHERE room_id = '{room}'")).await;
    assert_eq!(members, 1, "no bot joined");
}

/// A block stops typing in a direct room both ways, as it stops messages, and the other member no
/// longer sees "seen": a read moves the reader's marker and reaches only the reader's devices.
#[actix_web::test]
async fn a_block_stops_typing_and_read_receipts_in_a_direct_room_both_ways() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let dm = app.direct(&ada, &bob).await;
    let mut ada_ws = app.ws(&ada.access_token).await;
    let mut bob_ws = app.ws(&bob.access_token).await;
    let mut bobs_phone = app.ws(&bob.access_token).await;
    assert_eq!(ada_ws.command("typing", json!({"room_id": dm, "active": true})).await["ok"], true);
    assert_eq!(bob_ws.event("typing").await["user_id"], ada.id.to_string(), "shown before the block");
    let sent: Value = app
        .post(&format!("/api/v1/rooms/{dm}/messages"), Some(&ada.access_token), json!({"body": "hi bob"}))
        .await
        .json()
        .await
        .unwrap();
    block(&app, &bob, &ada).await;

    for ws in [&mut ada_ws, &mut bob_ws] {
        let reply = ws.command("typing", json!({"room_id": dm, "active": true})).await;
        assert_eq!(reply["error"]["code"], "forbidden", "{reply}");
    }
    let res = app.post(&format!("/api/v1/rooms/{dm}/read"), Some(&bob.access_token), json!({"seq": sent["seq"]})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(bobs_phone.event("read").await["seq"], sent["seq"], "the reader's own devices follow");
    let frames = ada_ws.frames_within(std::time::Duration::from_millis(400)).await;
    assert!(frames.iter().all(|f| f["type"] != "typing" && f["type"] != "read"), "{frames:?}");
    bob_ws.no_event("typing", std::time::Duration::from_millis(100)).await;
    // Nor does the members list show it: each sees their own marker, not the other's.
    for (me, other) in [(&ada, &bob), (&bob, &ada)] {
        let body: Value =
            app.get(&format!("/api/v1/rooms/{dm}/members"), Some(&me.access_token)).await.json().await.unwrap();
        let marker = |id: uuid::Uuid| {
            body["members"].as_array().unwrap().iter().find(|m| m["user"]["id"] == json!(id)).unwrap()["last_read_seq"]
                .clone()
        };
        assert!(marker(me.id).is_number() && marker(other.id).is_null(), "{body}");
    }
}
