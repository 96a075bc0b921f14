//! Revocation between instances that does not depend on a message arriving: with Redis paused
//! for writes (no PUBLISH goes through) and the publishing instance's queue forced full (the
//! messages are dropped, not delayed), a ban, a role change, a kick and a logout made on one
//! instance still reach the other instance's sockets through its periodic re-check against the
//! database, within the interval. And a logout closes that session's sockets on every instance.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cluster_support::{Cluster, RedisServer, instance_metric, redis_url};
use crate::helpers::wait::{check, eventually};
use crate::helpers::ws::WsClient;
use crate::helpers::{PASSWORD, TestApp, user_with_role};

/// The re-check interval of these tests (config/default.toml has 10 s).
const INTERVAL_MS: u64 = 500;

async fn redis_command(url: &str, args: &[&str]) {
    let client = redis::Client::open(url).expect("redis url");
    let mut conn = client.get_multiplexed_async_connection().await.expect("connect to the test's redis-server");
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async::<()>(&mut conn).await.expect("redis command");
}

/// Queues more publishes on `app` than its queue (4 here) holds while Redis takes none: the
/// queue stays full, so the next publish is dropped.
async fn fill_publish_queue(app: &TestApp) {
    let before = instance_metric(app, "broker_publish_errors_total", "alpha").await;
    for _ in 0..50 {
        app.state.notify.user_event(uuid::Uuid::new_v4().into(), &plauder::protocol::ServerEvent::Pong);
    }
    let after = instance_metric(app, "broker_publish_errors_total", "alpha").await;
    assert!(after - before >= 40.0, "the publish queue is full: {before} -> {after} dropped");
}

/// Reads `ws` until it closes, in the background: the close and when it arrived.
fn watch_close(mut ws: WsClient) -> actix_web::rt::task::JoinHandle<((u16, String), Instant)> {
    actix_web::rt::spawn(async move {
        let closed = ws.closed_with_reason().await;
        (closed, Instant::now())
    })
}

#[actix_web::test]
async fn a_ban_a_role_change_a_kick_and_a_logout_whose_messages_are_dropped_take_effect_within_the_interval() {
    let redis = RedisServer::start().await;
    let c = Cluster::start_with(&redis.url(), |s| {
        s.realtime.revalidate_interval_ms = INTERVAL_MS;
        s.redis.publish_queue = 4;
    })
    .await;
    let admin = user_with_role(&c.front, "root", "admin").await;
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    let cyd = c.front.register("cyd").await;
    let dan = c.front.register("dan").await;
    let eve = c.front.register("eve").await;
    let eve_phone: Value = c.front.login("eve", PASSWORD).await.json().await.unwrap();
    let room = c.front.group(&dan, "kicks", &[&cyd]).await;
    let ada_b = c.ws_on(&ada.access_token, "beta").await;
    let bob_b = c.ws_on(&bob.access_token, "beta").await;
    let mut cyd_b = c.ws_on(&cyd.access_token, "beta").await;
    let mut dan_b = c.ws_on(&dan.access_token, "beta").await;
    let eve_laptop_b = c.ws_on(&eve.access_token, "beta").await;
    let mut eve_phone_b = c.ws_on(eve_phone["access_token"].as_str().unwrap(), "beta").await;

    // From here no PUBLISH reaches Redis's subscribers; alpha's publisher is stuck on one.
    redis_command(&redis.url(), &["CLIENT", "PAUSE", "60000", "WRITE"]).await;
    let paused = Instant::now();
    // Each socket is watched from now on, so the moment its change arrives is taken when it
    // arrives (a request on alpha may wait on the paused Redis before it answers).
    let ada_closed = watch_close(ada_b);
    let bob_closed = watch_close(bob_b);
    let eve_closed = watch_close(eve_laptop_b);
    let cyd_removed = actix_web::rt::spawn(async move {
        let ev = cyd_b.event("room.member_removed").await;
        (cyd_b, ev, Instant::now())
    });

    // Each change on alpha, right after filling its publish queue: its message is dropped.
    fill_publish_queue(&c.a).await;
    let res =
        c.a.patch(
            &format!("/api/v1/admin/users/{}", ada.id),
            Some(&admin.access_token),
            json!({"banned": true, "ban_reason": "spam"}),
        )
        .await;
    assert!(res.status().is_success(), "ban: {}", res.status());
    let banned = Instant::now();
    fill_publish_queue(&c.a).await;
    let res =
        c.a.patch(&format!("/api/v1/admin/users/{}", bob.id), Some(&admin.access_token), json!({"role": "moderator"}))
            .await;
    assert!(res.status().is_success(), "role change: {}", res.status());
    let demoted = Instant::now();
    fill_publish_queue(&c.a).await;
    let res = c.a.delete(&format!("/api/v1/rooms/{room}/members/{}", cyd.id), Some(&dan.access_token)).await;
    assert!(res.status().is_success(), "kick: {}", res.status());
    let kicked = Instant::now();
    fill_publish_queue(&c.a).await;
    let res = c.a.post("/api/v1/auth/logout", None, json!({"refresh_token": eve.refresh_token})).await;
    assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);
    let logged_out = Instant::now();

    // The bound, from the change's commit (its answer): one interval plus the query, with slack
    // for a loaded machine.
    let bound = Duration::from_millis(INTERVAL_MS + 2500);
    let (closed, at) = ada_closed.await.expect("watcher");
    assert_eq!(closed, (4003, "banned".to_owned()));
    let took = at.saturating_duration_since(banned);
    assert!(took <= bound, "ban took effect after {took:?}, bound {bound:?}");
    let (closed, at) = bob_closed.await.expect("watcher");
    assert_eq!(closed, (4001, "role changed: reconnect".to_owned()));
    let took = at.saturating_duration_since(demoted);
    assert!(took <= bound, "role change took effect after {took:?}, bound {bound:?}");
    let (closed, at) = eve_closed.await.expect("watcher");
    assert_eq!(closed, (4001, "session logged out".to_owned()));
    let took = at.saturating_duration_since(logged_out);
    assert!(took <= bound, "logout took effect after {took:?}, bound {bound:?}");
    let (mut cyd_b, removed, at) = cyd_removed.await.expect("watcher");
    assert_eq!(
        (removed["room_id"].as_str(), removed["user_id"].as_str()),
        (Some(room.to_string().as_str()), Some(cyd.id.to_string().as_str()))
    );
    let took = at.saturating_duration_since(kicked);
    assert!(took <= bound, "the kick took effect after {took:?}, bound {bound:?}");
    let r = cyd_b.command("typing", json!({"room_id": room, "active": true})).await;
    assert_eq!(r["error"]["code"], "forbidden", "cyd's socket no longer counts itself a member: {r}");
    // None of it can have come over Redis: writes (PUBLISH) are still paused, and beta's
    // subscriber never reconnected (which would also have triggered a re-check).
    assert!(paused.elapsed() < Duration::from_secs(50), "still within the pause");
    assert_eq!(instance_metric(&c.b, "broker_reconnects_total", "beta").await, 0.0);
    assert_eq!(eve_phone_b.command("ping", json!({})).await["ok"], true, "eve's other session stays");

    // Once Redis takes writes again, the room's events reach dan on beta, no longer cyd.
    redis_command(&redis.url(), &["CLIENT", "UNPAUSE"]).await;
    eventually("a message through Redis again", async || {
        c.a.send(&dan, room, "after the pause").await;
        let frames = dan_b.frames_within(Duration::from_millis(300)).await;
        check(frames, |f| f.iter().any(|f| f["type"] == "message.new"))
    })
    .await;
    cyd_b.no_event("message.new", Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn logging_a_session_out_closes_its_sockets_on_every_instance() {
    let c = Cluster::start(&redis_url()).await;
    let ada = c.front.register("ada").await;
    let phone: Value = c.front.login("ada", PASSWORD).await.json().await.unwrap();
    let mut laptop_a = c.ws_on(&ada.access_token, "alpha").await;
    let mut laptop_b = c.ws_on(&ada.access_token, "beta").await;
    let mut phone_b = c.ws_on(phone["access_token"].as_str().unwrap(), "beta").await;

    // Issued on alpha (the interval is 10 s here: the message does it).
    let res = c.a.post("/api/v1/auth/logout", None, json!({"refresh_token": ada.refresh_token})).await;
    assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);
    let started = Instant::now();
    assert_eq!(laptop_a.closed_with_reason().await, (4001, "session logged out".to_owned()));
    assert_eq!(laptop_b.closed_with_reason().await, (4001, "session logged out".to_owned()));
    assert!(started.elapsed() < Duration::from_secs(5), "through the broker, not the 10 s re-check");
    assert_eq!(phone_b.command("ping", json!({})).await["ok"], true, "the other session's socket stays");
}
