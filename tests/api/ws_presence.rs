//! Presence: aggregated over a user's connections, coalesced, delivered to friends and
//! subscribers only, last_seen_at written in batches.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::wait::{check, eventually};
use crate::helpers::{TestApp, TestUser, spawn_app};

/// The statuses in `presence` events about `user` among the frames.
fn statuses(frames: &[Value], user: &TestUser) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["type"] == "presence" && f["data"]["user_id"] == user.id.to_string())
        .map(|f| f["data"]["status"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn friends_see_a_user_come_online_change_status_and_go_offline() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    app.befriend(&ada, &bob).await;
    let mut bobs = app.ws(&bob.access_token).await;
    let mut eves = app.ws(&eve.access_token).await;

    let mut phone = app.ws(&ada.access_token).await;
    let ev = bobs.event("presence").await;
    assert_eq!((ev["user_id"].as_str(), ev["status"].as_str()), (Some(ada.id.to_string().as_str()), Some("online")));
    let friends = app.friends(&bob).await;
    assert_eq!(friends["friends"][0]["user"]["presence"]["status"], "online");

    assert_eq!(phone.command("presence.set", json!({"status": "away"})).await["ok"], true);
    assert_eq!(bobs.event("presence").await["status"], "away");
    // A second device starts with the status chosen last, so nothing changes for bob.
    let mut laptop = app.ws(&ada.access_token).await;
    let frames = bobs.frames_within(Duration::from_millis(300)).await;
    assert!(statuses(&frames, &ada).is_empty(), "{frames:?}");
    laptop.command("presence.set", json!({"status": "dnd"})).await;
    assert_eq!(bobs.event("presence").await["status"], "dnd");
    // Each of ada's devices is told what she chose, so that each shows it.
    assert_eq!(phone.event("presence.chosen").await, json!({"status": "away"}), "its own choice first");
    assert_eq!(phone.event("presence.chosen").await, json!({"status": "dnd"}));
    assert_eq!(laptop.event("presence.chosen").await, json!({"status": "dnd"}));
    laptop.command("presence.set", json!({"status": "invisible"})).await;
    let ev = bobs.event("presence").await;
    assert_eq!(ev["status"], "offline", "invisible shows as offline");
    let r = laptop.command("presence.set", json!({"status": "sleeping"})).await;
    assert_eq!(r["error"]["code"], "validation_failed");
    laptop.command("presence.set", json!({"status": "online"})).await;
    assert_eq!(bobs.event("presence").await["status"], "online");

    phone.close().await;
    laptop.close().await;
    let ev = bobs.event("presence").await;
    assert_eq!(ev["status"], "offline");
    assert!(ev["last_seen_at"].is_string(), "{ev}");
    // Not a friend, not subscribed: nothing.
    let frames = eves.frames_within(Duration::from_millis(100)).await;
    assert!(statuses(&frames, &ada).is_empty(), "{frames:?}");

    // last_seen_at reaches the database in the next batch.
    let presence = eventually("bob's friend list to show ada offline with the saved last_seen_at", async || {
        let presence = app.friends(&bob).await["friends"][0]["user"]["presence"].clone();
        check(presence, |p| p["status"] == "offline" && p["last_seen_at"].is_string())
    })
    .await;
    assert_eq!(presence["status"], "offline");
    assert!(presence["last_seen_at"].is_string(), "{presence}");
}

#[actix_web::test]
async fn a_reload_within_the_grace_period_is_not_seen_as_going_offline() {
    let app = spawn_app_slow_grace().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    app.befriend(&ada, &bob).await;
    let mut bobs = app.ws(&bob.access_token).await;
    let first = app.ws(&ada.access_token).await;
    assert_eq!(bobs.event("presence").await["status"], "online");
    // Flapping: ten quick reconnects.
    first.close().await;
    for _ in 0..10 {
        let c = app.ws(&ada.access_token).await;
        c.close().await;
    }
    let _stay = app.ws(&ada.access_token).await;
    let frames = bobs.frames_within(Duration::from_millis(800)).await;
    assert!(statuses(&frames, &ada).is_empty(), "no offline/online storm: {frames:?}");
}

async fn spawn_app_slow_grace() -> TestApp {
    crate::helpers::spawn_app_with(|s| s.realtime.presence_offline_grace_ms = 2000).await
}

#[actix_web::test]
async fn presence_subscribe_answers_statuses_and_then_sends_changes() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let eve = app.register("eve").await;
    let before = app.metric("plauder_presence_events_total").await;
    let _adas = app.ws(&ada.access_token).await;
    // ada's coming online is published (presence changes go out in batches, every
    // presence_flush_ms): a status that was never shown has no change to announce, so an ada gone
    // before it would never be seen going offline.
    eventually("ada's online status published", async || {
        check(app.metric("plauder_presence_events_total").await, |&n| n > before)
    })
    .await;
    // Eve shares a room with ada: she may see ada's presence (privacy_*: who may).
    app.group(&ada, "shared", &[&eve]).await;
    let mut eves = app.ws(&eve.access_token).await;
    let r = eves.command("presence.subscribe", json!({"user_ids": [ada.id, uuid::Uuid::new_v4()]})).await;
    let statuses_now = r["data"]["statuses"].as_array().unwrap();
    assert_eq!(statuses_now.len(), 1, "unknown users are left out");
    assert_eq!(statuses_now[0]["user_id"], ada.id.to_string());
    assert_eq!(statuses_now[0]["status"], "online");
    drop(_adas);
    assert_eq!(eves.event("presence").await["status"], "offline");

    let too_many: Vec<uuid::Uuid> = (0..501).map(|_| uuid::Uuid::new_v4()).collect();
    let r = eves.command("presence.subscribe", json!({"user_ids": too_many})).await;
    assert_eq!(r["error"]["code"], "validation_failed");
}

/// The `presence.subscribe` answer about these users, by user id.
async fn subscribe(ws: &mut crate::helpers::ws::WsClient, users: &[&TestUser]) -> Vec<Value> {
    let ids: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
    let r = ws.command("presence.subscribe", json!({ "user_ids": ids })).await;
    assert_eq!(r["ok"], true, "{r}");
    r["data"]["statuses"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn presence_is_for_friends_co_members_and_staff_unless_the_user_shows_it_to_everyone() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let friend = app.register("friend").await;
    let member = app.register("member").await;
    let stranger = app.register("stranger").await;
    let moderator = crate::helpers::user_with_role(&app, "mod", "moderator").await;
    app.befriend(&ada, &friend).await;
    app.group(&member, "shared", &[&ada]).await;
    let mut adas = app.ws(&ada.access_token).await;
    let mut others = Vec::new();
    for u in [&friend, &member, &moderator, &stranger] {
        others.push(app.ws(&u.access_token).await);
    }
    eventually("ada online for her friend", async || {
        check(app.friends(&friend).await["friends"][0]["user"]["presence"]["status"].clone(), |s| s == "online")
    })
    .await;

    for (ws, name) in others.iter_mut().zip(["friend", "member", "mod"]) {
        let answer = subscribe(ws, &[&ada]).await;
        assert_eq!(answer.len(), 1, "{name}: {answer:?}");
        assert_eq!(answer[0]["status"], "online", "{name}");
    }
    // The stranger learns nothing, not even that ada exists, and hears nothing after.
    let strangers = others.last_mut().unwrap();
    assert_eq!(subscribe(strangers, &[&ada]).await, Vec::<Value>::new());
    assert_eq!(adas.command("presence.set", json!({"status": "away"})).await["ok"], true);
    for ws in &mut others[..3] {
        ws.event_where("presence", |e| e["user_id"] == ada.id.to_string() && e["status"] == "away").await;
    }
    let frames = others[3].frames_within(Duration::from_millis(300)).await;
    assert!(statuses(&frames, &ada).is_empty(), "{frames:?}");

    // The default is `contacts`; ada shows herself to everyone, and the stranger may watch.
    let me: Value = app.me(&ada.access_token).await.json().await.unwrap();
    assert_eq!(me["presence_visibility"], "contacts", "{me}");
    let res = app.patch("/api/v1/users/me", Some(&ada.access_token), json!({"presence_visibility": "all"})).await;
    crate::helpers::assert_error(res, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app.patch("/api/v1/users/me", Some(&ada.access_token), json!({"presence_visibility": "everyone"})).await;
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["presence_visibility"], "everyone", "{me}");
    let answer = subscribe(&mut others[3], &[&ada]).await;
    assert_eq!(answer[0]["status"], "away", "{answer:?}");
    adas.command("presence.set", json!({"status": "online"})).await;
    let ev = others[3].event_where("presence", |e| e["user_id"] == ada.id.to_string()).await;
    assert_eq!(ev["status"], "online");
    // Other users' profiles never show the setting.
    let seen: Value =
        app.get(&format!("/api/v1/users/{}", ada.id), Some(&stranger.access_token)).await.json().await.unwrap();
    assert!(seen.get("presence_visibility").is_none() && seen.get("presence_status").is_none(), "{seen}");
}

#[actix_web::test]
async fn a_block_hides_presence_both_ways() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    app.befriend(&ada, &bob).await;
    app.group(&ada, "shared", &[&bob]).await;
    let mut adas = app.ws(&ada.access_token).await;
    let mut bobs = app.ws(&bob.access_token).await;
    assert_eq!(subscribe(&mut bobs, &[&ada]).await.len(), 1);
    assert_eq!(subscribe(&mut adas, &[&bob]).await.len(), 1);
    // Each one's coming online, if it was announced after the other connected.
    for ws in [&mut adas, &mut bobs] {
        ws.frames_within(Duration::from_millis(300)).await;
    }

    let res = app.post("/api/v1/blocks", Some(&bob.access_token), json!({"user_id": ada.id})).await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    // Neither hears the other change any more, although they still share a room...
    adas.command("presence.set", json!({"status": "dnd"})).await;
    bobs.command("presence.set", json!({"status": "away"})).await;
    let frames = bobs.frames_within(Duration::from_millis(400)).await;
    assert!(statuses(&frames, &ada).is_empty(), "{frames:?}");
    let frames = adas.frames_within(Duration::from_millis(100)).await;
    assert!(statuses(&frames, &bob).is_empty(), "{frames:?}");
    // ...and cannot watch again, on these connections or new ones.
    assert_eq!(subscribe(&mut bobs, &[&ada]).await, Vec::<Value>::new());
    assert_eq!(subscribe(&mut adas, &[&bob]).await, Vec::<Value>::new());
    let mut fresh = app.ws(&ada.access_token).await;
    assert_eq!(subscribe(&mut fresh, &[&bob]).await, Vec::<Value>::new());
    drop(bobs);
    let frames = fresh.frames_within(Duration::from_millis(500)).await;
    assert!(statuses(&frames, &bob).is_empty(), "{frames:?}");
}

#[actix_web::test]
async fn the_chosen_status_is_kept_across_reconnects_and_devices() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    app.befriend(&ada, &bob).await;
    let mut bobs = app.ws(&bob.access_token).await;
    let mut phone = app.ws(&ada.access_token).await;
    assert_eq!(bobs.event("presence").await["status"], "online");

    assert_eq!(phone.command("presence.set", json!({"status": "invisible"})).await["ok"], true);
    assert_eq!(bobs.event("presence").await["status"], "offline");
    let me: Value = app.me(&ada.access_token).await.json().await.unwrap();
    assert_eq!(me["presence_status"], "invisible", "{me}");
    // Reconnecting, and a new device besides: still invisible to bob.
    phone.close().await;
    let mut laptop = app.ws(&ada.access_token).await;
    let _tablet = app.ws(&ada.access_token).await;
    let frames = bobs.frames_within(Duration::from_millis(600)).await;
    assert!(statuses(&frames, &ada).is_empty(), "no online on reconnect: {frames:?}");
    assert_eq!(subscribe(&mut bobs, &[&ada]).await[0]["status"], "offline");

    // A choice on one device is every device's: the tablet does not keep ada invisible.
    laptop.command("presence.set", json!({"status": "away"})).await;
    assert_eq!(bobs.event("presence").await["status"], "away");
    laptop.command("presence.set", json!({"status": "online"})).await;
    assert_eq!(bobs.event("presence").await["status"], "online");
}

#[actix_web::test]
async fn presence_subscribe_answers_the_last_seen_time_the_presence_event_carried() {
    // The batched save of last_seen_at is far off: the answer cannot come from the database.
    let app = crate::helpers::spawn_app_with(|s| s.realtime.last_seen_flush_ms = 60_000).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    app.befriend(&ada, &bob).await;
    let mut bobs = app.ws(&bob.access_token).await;
    let adas = app.ws(&ada.access_token).await;
    assert_eq!(bobs.event("presence").await["status"], "online");
    adas.close().await;
    let ev = bobs.event("presence").await;
    assert_eq!(ev["status"], "offline");
    assert!(ev["last_seen_at"].is_string(), "{ev}");

    let answer = subscribe(&mut bobs, &[&ada]).await;
    assert_eq!(answer[0]["status"], "offline");
    assert_eq!(answer[0]["last_seen_at"], ev["last_seen_at"], "{answer:?}");
    let friends = app.friends(&bob).await;
    assert_eq!(friends["friends"][0]["user"]["presence"]["last_seen_at"], ev["last_seen_at"], "{friends}");
}

#[actix_web::test]
async fn ending_a_friendship_ends_seeing_presence_unless_a_room_is_shared() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let carl = app.register("carl").await;
    app.befriend(&ada, &bob).await;
    app.befriend(&ada, &carl).await;
    app.group(&ada, "with carl", &[&carl]).await;
    let mut bobs = app.ws(&bob.access_token).await;
    let mut carls = app.ws(&carl.access_token).await;
    let mut adas = app.ws(&ada.access_token).await;
    for ws in [&mut bobs, &mut carls] {
        ws.event_where("presence", |e| e["user_id"] == ada.id.to_string() && e["status"] == "online").await;
    }

    for friend in [&bob, &carl] {
        let res = app.delete(&format!("/api/v1/friends/{}", friend.id), Some(&ada.access_token)).await;
        assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);
    }
    adas.command("presence.set", json!({"status": "away"})).await;
    // Carl shares a room with ada: still hers to show him.
    carls.event_where("presence", |e| e["user_id"] == ada.id.to_string() && e["status"] == "away").await;
    let frames = bobs.frames_within(Duration::from_millis(300)).await;
    assert!(statuses(&frames, &ada).is_empty(), "{frames:?}");
    assert_eq!(subscribe(&mut bobs, &[&ada]).await, Vec::<Value>::new());
}
