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
    // A second device that is online outranks away; dnd outranks both.
    let mut laptop = app.ws(&ada.access_token).await;
    assert_eq!(bobs.event("presence").await["status"], "online");
    laptop.command("presence.set", json!({"status": "dnd"})).await;
    assert_eq!(bobs.event("presence").await["status"], "dnd");
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
