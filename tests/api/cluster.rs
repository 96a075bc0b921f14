//! Two instances behind a real nginx over a real Redis behave as one server: delivery, presence,
//! typing, read markers, closing a user's sockets, room removal, and the failures (Redis killed
//! and restarted, an instance killed with -9, PostgreSQL cut off).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cluster_support::{Cluster, PgProxy, RedisServer, free_port, instance_metric, instance_settings, redis_url};
use crate::helpers::wait::{check, eventually, eventually_within, holds_throughout};
use crate::helpers::ws::{WsClient, new_bodies};
use crate::helpers::{JWT_SECRET, TestApp, TestUser, open_session, spawn_app_from, test_settings, user_with_role};

/// The next `presence` event about `user`.
async fn presence_of(ws: &mut WsClient, user: &TestUser) -> Value {
    ws.event_where("presence", |ev| ev["user_id"] == user.id.to_string()).await
}

#[actix_web::test]
async fn each_instance_says_who_it_is_in_hello_and_readiness_checks_redis() {
    let c = Cluster::start(&redis_url()).await;
    let ada = c.front.register("ada").await;
    assert_eq!(c.ws_on(&ada.access_token, "alpha").await.hello["data"]["instance"], "alpha");
    assert_eq!(c.ws_on(&ada.access_token, "beta").await.hello["data"]["instance"], "beta");
    for app in [&c.a, &c.b, &c.front] {
        let res = app.get("/health/ready", None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["checks"]["redis"], "up", "{body}");
    }
}

#[actix_web::test]
async fn a_message_reaches_members_on_both_instances_exactly_once() {
    let c = Cluster::start(&redis_url()).await;
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    let room = c.front.group(&ada, "both", &[&bob]).await;
    let mut ada_a = c.ws_on(&ada.access_token, "alpha").await;
    let mut bob_b = c.ws_on(&bob.access_token, "beta").await;

    let r = ada_a.command("message.send", json!({"room_id": room, "body": "over websocket on alpha"})).await;
    assert_eq!(r["ok"], true, "{r}");
    c.front.send(&bob, room, "over REST through nginx").await;

    for ws in [&mut ada_a, &mut bob_b] {
        let mut frames = ws.frames_until("both messages", |f| new_bodies(f, None).len() >= 2).await;
        // And a little longer, for a duplicate.
        frames.extend(ws.frames_within(Duration::from_millis(300)).await);
        let bodies = new_bodies(&frames, None);
        assert_eq!(bodies, ["over websocket on alpha", "over REST through nginx"], "once each, in order");
    }
    // beta heard alpha's publication through Redis; alpha skipped its own echo.
    assert!(instance_metric(&c.b, "plauder_broker_received_total", "beta").await >= 1.0);
    assert_eq!(instance_metric(&c.a, "plauder_broker_dropped_no_local_total", "alpha").await, 0.0);
}

#[actix_web::test]
async fn an_instance_hears_only_rooms_it_has_members_of() {
    let c = Cluster::start(&redis_url()).await;
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    let quiet = c.front.group(&ada, "alpha only", &[]).await;
    let shared = c.front.group(&ada, "shared", &[&bob]).await;
    let _ada_a = c.ws_on(&ada.access_token, "alpha").await;
    let mut bob_b = c.ws_on(&bob.access_token, "beta").await;
    let before = instance_metric(&c.b, "plauder_broker_received_total", "beta").await;

    for i in 0..5 {
        c.a.send(&ada, quiet, &format!("quiet {i}")).await;
    }
    c.a.send(&ada, shared, "shared").await;
    assert_eq!(bob_b.event("message.new").await["message"]["body"], "shared");
    let received = instance_metric(&c.b, "plauder_broker_received_total", "beta").await - before;
    assert_eq!(received, 1.0, "beta received only the shared room's event");
}

#[actix_web::test]
async fn presence_is_the_same_on_every_instance() {
    let c = Cluster::start(&redis_url()).await;
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    c.front.befriend(&ada, &bob).await;
    let mut bob_b = c.ws_on(&bob.access_token, "beta").await;

    let phone = c.ws_on(&ada.access_token, "alpha").await;
    assert_eq!(presence_of(&mut bob_b, &ada).await["status"], "online");
    let r = bob_b.command("presence.subscribe", json!({"user_ids": [ada.id]})).await;
    assert_eq!(r["data"]["statuses"][0]["status"], "online", "beta answers with alpha's user: {r}");

    // A second device on beta: closing the first keeps ada online everywhere.
    let mut laptop = c.ws_on(&ada.access_token, "beta").await;
    laptop.command("presence.set", json!({"status": "dnd"})).await;
    assert_eq!(presence_of(&mut bob_b, &ada).await["status"], "dnd");
    phone.close().await;
    let frames = bob_b.frames_within(Duration::from_millis(1200)).await;
    assert!(frames.iter().all(|f| f["type"] != "presence" || f["data"]["status"] == "dnd"), "{frames:?}");
    let friends = c.a.friends(&bob).await;
    assert_eq!(friends["friends"][0]["user"]["presence"]["status"], "dnd", "alpha sees beta's device");

    laptop.close().await;
    let ev = presence_of(&mut bob_b, &ada).await;
    assert_eq!(ev["status"], "offline");
    assert!(ev["last_seen_at"].is_string(), "{ev}");
}

/// Presence privacy, the chosen status and the last-seen time hold across instances: a status
/// chosen on alpha is every device's, on beta too, and a reconnect keeps it; a stranger on beta
/// learns nothing; beta answers with the last-seen time alpha's event carried before any save.
#[actix_web::test]
async fn chosen_status_privacy_and_last_seen_hold_across_instances() {
    let c = Cluster::start_with(&redis_url(), |s| s.realtime.last_seen_flush_ms = 60_000).await;
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    let eve = c.front.register("eve").await;
    c.front.befriend(&ada, &bob).await;
    let mut bob_b = c.ws_on(&bob.access_token, "beta").await;
    let mut eve_b = c.ws_on(&eve.access_token, "beta").await;
    let mut phone = c.ws_on(&ada.access_token, "alpha").await;
    let mut laptop = c.ws_on(&ada.access_token, "beta").await;
    assert_eq!(presence_of(&mut bob_b, &ada).await["status"], "online");
    let r = eve_b.command("presence.subscribe", json!({"user_ids": [ada.id]})).await;
    assert_eq!(r["data"]["statuses"], json!([]), "not eve's to see: {r}");

    // Chosen on alpha, taken by the laptop on beta: invisible wins over nothing left online.
    assert_eq!(phone.command("presence.set", json!({"status": "invisible"})).await["ok"], true);
    assert_eq!(presence_of(&mut bob_b, &ada).await["status"], "offline");
    assert_eq!(laptop.event("presence.chosen").await, json!({"status": "invisible"}), "the laptop shows it too");
    laptop.close().await;
    let _again = c.ws_on(&ada.access_token, "beta").await;
    let frames = bob_b.frames_within(Duration::from_millis(800)).await;
    assert!(frames.iter().all(|f| f["type"] != "presence"), "still invisible after a reconnect: {frames:?}");
    let frames = eve_b.frames_within(Duration::from_millis(10)).await;
    assert!(frames.iter().all(|f| f["type"] != "presence"), "{frames:?}");

    phone.command("presence.set", json!({"status": "online"})).await;
    assert_eq!(presence_of(&mut bob_b, &ada).await["status"], "online");
    phone.close().await;
    drop(_again);
    let ev = presence_of(&mut bob_b, &ada).await;
    assert_eq!(ev["status"], "offline");
    for app in [&c.a, &c.b] {
        let answer = c.ws_on(&bob.access_token, if std::ptr::eq(app, &c.a) { "alpha" } else { "beta" }).await;
        let mut answer = answer;
        let r = answer.command("presence.subscribe", json!({"user_ids": [ada.id]})).await;
        assert_eq!(r["data"]["statuses"][0]["last_seen_at"], ev["last_seen_at"], "{r} vs {ev}");
        let friends = app.friends(&bob).await;
        assert_eq!(friends["friends"][0]["user"]["presence"]["last_seen_at"], ev["last_seen_at"], "{friends}");
    }
}

#[actix_web::test]
async fn typing_and_read_markers_cross_instances() {
    let c = Cluster::start(&redis_url()).await;
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    let room = c.front.group(&ada, "typing", &[&bob]).await;
    let mut ada_a = c.ws_on(&ada.access_token, "alpha").await;
    let mut bob_b = c.ws_on(&bob.access_token, "beta").await;

    assert_eq!(ada_a.command("typing", json!({"room_id": room, "active": true})).await["ok"], true);
    let ev = bob_b.event("typing").await;
    assert_eq!((ev["user_id"].as_str(), ev["active"].as_bool()), (Some(ada.id.to_string().as_str()), Some(true)));
    ada_a.no_event("typing", Duration::from_millis(300)).await;

    let m = c.b.send(&bob, room, "read me").await;
    ada_a.event("message.new").await;
    let r = ada_a.command("read", json!({"room_id": room, "seq": m["seq"]})).await;
    assert_eq!(r["ok"], true, "{r}");
    let ev = bob_b.event("read").await;
    assert_eq!((ev["user_id"].as_str(), ev["seq"].as_i64()), (Some(ada.id.to_string().as_str()), m["seq"].as_i64()));
}

#[actix_web::test]
async fn closing_a_user_closes_their_sockets_on_every_instance() {
    let c = Cluster::start(&redis_url()).await;
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    let mut on_a = c.ws_on(&ada.access_token, "alpha").await;
    let mut on_b = c.ws_on(&ada.access_token, "beta").await;
    let mut bob_b = c.ws_on(&bob.access_token, "beta").await;

    // A ban (the admin routes call close_user with 4003) issued on alpha.
    c.a.state.notify.close_user(ada.id.into(), plauder::protocol::CloseReason::Banned);
    assert_eq!(on_a.closed_with().await, 4003);
    assert_eq!(on_b.closed_with().await, 4003);
    assert_eq!(bob_b.command("ping", json!({})).await["ok"], true, "others stay connected");

    // Revoking every token through nginx closes bob's sockets wherever they are, with 4001.
    let mut bob_a = c.ws_on(&bob.access_token, "alpha").await;
    let res = c.front.post("/api/v1/auth/logout-all", Some(&bob.access_token), json!({})).await;
    assert!(res.status().is_success(), "logout-all: {}", res.status());
    assert_eq!(bob_a.closed_with().await, 4001);
    assert_eq!(bob_b.closed_with().await, 4001);
}

/// A socket subscribes to its user's channel before the upgrade reads its rooms; an upgrade
/// refused after that (a ban, a stale token) must give the channel back, or every refused attempt
/// would leave a subscription behind for good.
#[actix_web::test]
async fn a_refused_upgrade_leaves_no_subscription_behind() {
    let c = Cluster::start(&redis_url()).await;
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    let channels = async || instance_metric(&c.a, "plauder_broker_subscribed_channels", "alpha").await;
    // The gauge counts user channels: bob's socket adds his (its hello waits for the SUBSCRIBE),
    // its close takes it away again.
    let bobs = c.a.ws(&bob.access_token).await;
    let with_bob = eventually("bob's channel", async || check(channels().await, |m| *m >= 1.0)).await;
    bobs.close().await;
    eventually("bob's channel given back", async || check(channels().await, |m| *m == with_bob - 1.0)).await;

    app_sql_refusals(&c.a, &ada).await;
    // bob's hello comes once Redis confirmed everything asked before it, ada's unsubscriptions
    // included: from then on the gauge must show bob's channel alone, not ada's as well.
    let bobs = c.a.ws(&bob.access_token).await;
    eventually("bob's channel again", async || check(channels().await, |m| *m == with_bob)).await;
    holds_throughout("no channel of ada's", Duration::from_millis(500), async || {
        check(channels().await, |m| *m == with_bob).map(|_| ())
    })
    .await;
    bobs.close().await;
}

/// Two upgrades that pass the token's signature and fail on the account: a stale token (401),
/// then a ban (403).
async fn app_sql_refusals(app: &TestApp, ada: &TestUser) {
    let status = |r: Result<WsClient, tokio_tungstenite::tungstenite::Error>| match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        other => panic!("the upgrade should have been refused: {:?}", other.map(|_| ())),
    };
    app.sql(&format!("UPDATE users SET token_version = token_version + 1 WHERE id = '{}'", ada.id)).await;
    assert_eq!(status(app.ws_raw(&ada.access_token).await), 401);
    app.sql(&format!("UPDATE users SET banned_at = now() WHERE id = '{}'", ada.id)).await;
    assert_eq!(status(app.ws_raw(&ada.access_token).await), 403);
}

#[actix_web::test]
async fn removal_and_deletion_stop_a_rooms_events_on_every_instance() {
    let c = Cluster::start(&redis_url()).await;
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    let cy = c.front.register("cyd").await;
    let room = c.front.group(&ada, "leaving", &[&bob, &cy]).await;
    let mut bob_b = c.ws_on(&bob.access_token, "beta").await;
    let mut cy_b = c.ws_on(&cy.access_token, "beta").await;

    let res = c.a.delete(&format!("/api/v1/rooms/{room}/members/{}", bob.id), Some(&ada.access_token)).await;
    assert!(res.status().is_success(), "remove: {}", res.status());
    assert_eq!(bob_b.event("room.member_removed").await["user_id"], bob.id.to_string());
    c.a.send(&ada, room, "after bob left").await;
    assert_eq!(cy_b.event("message.new").await["message"]["body"], "after bob left");
    bob_b.no_event("message.new", Duration::from_millis(800)).await;
    // Typing is checked against the connection's rooms on beta: bob's has dropped the room.
    typing_refused(&mut bob_b, room).await;

    let res = c.a.delete(&format!("/api/v1/rooms/{room}"), Some(&ada.access_token)).await;
    assert!(res.status().is_success(), "delete: {}", res.status());
    assert_eq!(cy_b.event("room.deleted").await["room_id"], room.to_string());
    typing_refused(&mut cy_b, room).await;
}

/// The connection no longer counts itself a member. The change reaches it on the user's channel,
/// which Redis may deliver a moment after the room's event the client already saw.
async fn typing_refused(ws: &mut WsClient, room: uuid::Uuid) {
    eventually("typing in the room to be refused", async || {
        let r = ws.command("typing", json!({"room_id": room, "active": true})).await;
        check(r, |r| r["error"]["code"] == "forbidden")
    })
    .await;
}

#[actix_web::test]
async fn with_redis_killed_each_instance_serves_its_own_and_sync_recovers_everything_after() {
    let mut redis = RedisServer::start().await;
    let c = Cluster::start(&redis.url()).await;
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    let cy = c.front.register("cyd").await;
    let room = c.front.group(&ada, "outage", &[&bob, &cy]).await;
    let mut ada_a = c.ws_on(&ada.access_token, "alpha").await;
    let mut cy_a = c.ws_on(&cy.access_token, "alpha").await;
    let mut bob_b = c.ws_on(&bob.access_token, "beta").await;

    let mut committed = ada_a.send_burst(room, "before", 5).await;
    redis.kill();
    committed.extend(ada_a.send_burst(room, "during", 10).await);
    // Local delivery on alpha does not need Redis.
    let tagged = |frames: &[Value], tag: &str| new_bodies(frames, None).iter().filter(|b| b.starts_with(tag)).count();
    let mut frames = cy_a.frames_until("the ten messages sent during the outage", |f| tagged(f, "during") >= 10).await;
    frames.extend(cy_a.frames_within(Duration::from_millis(300)).await);
    assert_eq!(tagged(&frames, "during"), 10, "{:?}", new_bodies(&frames, None));
    let res = c.a.get("/health/ready", None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert!(body["checks"]["redis"].as_str().unwrap().starts_with("down"), "{body}");
    assert_eq!(body["checks"]["postgres"], "up");
    eventually("alpha to count publishes that failed", async || {
        check(instance_metric(&c.a, "plauder_broker_publish_errors_total", "alpha").await, |&n| n >= 1.0)
    })
    .await;

    redis.restart().await;
    eventually("both instances ready again (the brokers reconnected)", async || {
        let ready = (c.b.get("/health/ready", None).await.status(), c.a.get("/health/ready", None).await.status());
        check(ready, |&r| r == (StatusCode::OK, StatusCode::OK))
    })
    .await;
    committed.extend(ada_a.send_burst(room, "after", 3).await);

    // Bob on beta saw what crossed before and after; what he missed he gets from sync.
    let mut frames = bob_b.frames_until("the three messages sent after the outage", |f| tagged(f, "after") >= 3).await;
    frames.extend(bob_b.frames_within(Duration::from_millis(300)).await);
    assert!(tagged(&frames, "after") == 3, "delivery resumed: {:?}", new_bodies(&frames, None));
    let r = bob_b.command("sync", json!({"room_id": room, "since_seq": 0, "limit": 100})).await;
    let synced: BTreeSet<i64> =
        r["data"]["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    for seq in &committed {
        assert!(synced.contains(seq), "committed seq {seq} recoverable by sync: {synced:?}");
    }
    assert_eq!(r["data"]["has_more"], false);
}

/// Kills the child process when the test ends, also when it fails before killing it itself.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_web::test]
async fn an_instance_killed_with_sigkill_has_its_users_offline_everywhere_within_the_bound() {
    let base = test_settings().await;
    let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
    let alive = spawn_app_from(instance_settings(&base, &redis_url(), &prefix, "survivor")).await;
    // The victim is a separate `plauder serve` process so that it can die without any cleanup.
    let port = free_port();
    let mut victim = ChildGuard(
        std::process::Command::new(env!("CARGO_BIN_EXE_plauder"))
            .arg("--config-dir")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
            .arg("serve")
            .env("PLAUDER_ENV", "test")
            .env("PLAUDER__AUTH__JWT_SECRET", JWT_SECRET)
            .env("PLAUDER__DATABASE__URL", secrecy::ExposeSecret::expose_secret(&base.database.url))
            .env("PLAUDER__DATABASE__MIGRATE_ON_START", "false")
            .env("PLAUDER__REDIS__URL", redis_url())
            .env("PLAUDER__REDIS__CHANNEL_PREFIX", &prefix)
            .env("PLAUDER__SERVER__INSTANCE_ID", "victim")
            .env("PLAUDER__SERVER__PORT", port.to_string())
            .env_remove("RUST_LOG")
            .spawn()
            .expect("start plauder serve"),
    );
    let victim_app = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: alive.client.clone(),
        db_url: alive.db_url.clone(),
        state: alive.state.clone(),
    };
    eventually_within(Duration::from_secs(20), "plauder serve to answer /health", async || {
        reqwest::get(format!("{}/health", victim_app.address)).await.map(drop)
    })
    .await;
    let ada = alive.register("ada").await;
    let bob = alive.register("bob").await;
    alive.befriend(&ada, &bob).await;
    let mut bob_s = alive.ws(&bob.access_token).await;
    let ada_v = victim_app.ws(&ada.access_token).await;
    assert_eq!(ada_v.hello["data"]["instance"], "victim");
    assert_eq!(presence_of(&mut bob_s, &ada).await["status"], "online");

    victim.0.kill().expect("kill -9");
    let killed = Instant::now();
    let _ = victim.0.wait();
    let ev = presence_of(&mut bob_s, &ada).await;
    let took = killed.elapsed();
    assert_eq!(ev["status"], "offline");
    // The bound: instance_ttl_ms + heartbeat_interval_ms (config/test.toml: 1000 + 200), plus
    // slack for a loaded machine.
    let r = &base.redis;
    let bound = Duration::from_millis(r.instance_ttl_ms + r.heartbeat_interval_ms + 1000);
    assert!(took <= bound, "offline after {took:?}, bound {bound:?}");
    let friends = alive.friends(&bob).await;
    assert_eq!(friends["friends"][0]["user"]["presence"]["status"], "offline");
    drop(ada_v);
}

#[actix_web::test]
async fn with_postgresql_cut_off_commands_and_upgrades_fail_with_unavailable_and_service_resumes() {
    let mut base = test_settings().await;
    let db_url = secrecy::ExposeSecret::expose_secret(&base.database.url).to_owned();
    let pg_port: u16 =
        db_url.rsplit(':').next().and_then(|r| r.split('/').next()).and_then(|p| p.parse().ok()).expect("pg port");
    let proxy = PgProxy::start(pg_port).await;
    base.database.url = db_url.replace(&format!(":{pg_port}/"), &format!(":{}/", proxy.port)).into();
    base.database.pool_timeout_ms = 1000;
    let app =
        spawn_app_from(instance_settings(&base, &redis_url(), &format!("t{}", uuid::Uuid::new_v4().simple()), "pg"))
            .await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "pg", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;
    app.send(&ada, room, "before").await;

    proxy.cut();
    let res =
        app.post(&format!("/api/v1/rooms/{room}/messages"), Some(&ada.access_token), json!({"body": "during"})).await;
    crate::helpers::assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let r = ws.command("message.send", json!({"room_id": room, "body": "during"})).await;
    assert_eq!(r["error"]["code"], "unavailable", "{r}");
    let res = app.get("/health/ready", None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ws.command("ping", json!({})).await["ok"], true, "the socket survives");
    // A new socket needs its account read first: refused with 503 and the contract's error, not
    // left hanging.
    match app.ws_raw(&ada.access_token).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status().as_u16(), 503);
            let body: Value = serde_json::from_slice(res.body().as_deref().unwrap_or_default()).expect("JSON body");
            assert_eq!(body["error"]["code"], "unavailable", "{body}");
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("an upgrade without PostgreSQL was accepted"),
    }

    proxy.restore();
    // The account reader opens a new connection for its next read.
    eventually("an upgrade to succeed again", async || match app.ws_raw(&ada.access_token).await {
        Ok(mut again) => check(again.next_frame().await["type"].clone(), |t| t == "hello"),
        Err(e) => Err(Value::String(e.to_string())),
    })
    .await;
    eventually("a send to succeed again (the service resumed)", async || {
        let res = app
            .post(&format!("/api/v1/rooms/{room}/messages"), Some(&ada.access_token), json!({"body": "after"}))
            .await;
        check(res.status(), |&s| s == StatusCode::CREATED)
    })
    .await;
    let r = ws.command("message.send", json!({"room_id": room, "body": "after, over websocket"})).await;
    assert_eq!(r["ok"], true, "{r}");
}

#[actix_web::test]
async fn an_instance_starts_and_serves_its_own_clients_while_redis_is_unreachable() {
    let base = test_settings().await;
    let nowhere = format!("redis://127.0.0.1:{}", free_port());
    let app = spawn_app_from(instance_settings(&base, &nowhere, "tnowhere", "lonely")).await;
    let res = app.get("/health/ready", None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert!(body["checks"]["redis"].as_str().unwrap().starts_with("down"), "{body}");

    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    app.befriend(&ada, &bob).await;
    let room = app.group(&ada, "local", &[&bob]).await;
    let mut bobs = app.ws(&bob.access_token).await;
    let mut adas = app.ws(&ada.access_token).await;
    assert_eq!(presence_of(&mut bobs, &ada).await["status"], "online", "presence falls back to this instance");
    let r = adas.command("message.send", json!({"room_id": room, "body": "no redis needed"})).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(bobs.event("message.new").await["message"]["body"], "no redis needed");
}

#[actix_web::test]
async fn a_malformed_redis_url_stops_start_up_with_a_clear_error() {
    let base = test_settings().await;
    let settings = instance_settings(&base, "definitely not a url", "tbad", "bad");
    let err = plauder::startup::Application::build(settings).await.err().expect("refused");
    assert!(format!("{err:#}").contains("redis.url is not a valid Redis URL"), "{err:#}");
}

#[actix_web::test]
async fn an_idle_subscriber_connection_is_kept_not_reconnected() {
    // A redis-server of the test's own, whose client list holds only this cluster's connections.
    let redis = RedisServer::start().await;
    let c = Cluster::start(&redis.url()).await;
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    let room = c.front.group(&ada, "idle", &[&bob]).await;
    let mut bob_b = c.ws_on(&bob.access_token, "beta").await;
    // A socket on alpha too, so that both instances hold subscriptions (a connection with none
    // is no longer in pub/sub mode as Redis lists it).
    let _ada_a = c.ws_on(&ada.access_token, "alpha").await;
    // The instances' pub/sub connections, alpha's and beta's.
    let subscribers: Vec<String> =
        redis.clients().await.iter().filter(|c| c["flags"].contains('P')).map(|c| c["id"].clone()).collect();
    assert_eq!(subscribers.len(), 2, "one subscriber connection per instance");
    let last_commands = async || {
        let clients = redis.clients().await;
        let last_of = |id: &String| clients.iter().find(|c| &c["id"] == id).map(|c| c["cmd"].clone());
        subscribers.iter().map(last_of).collect::<Vec<_>>()
    };
    // Idle until each has had its keep-alive PING (every 5 s).
    eventually_within(Duration::from_secs(20), "a keep-alive PING on both subscriber connections", async || {
        check(last_commands().await, |cmds| cmds.iter().all(|c| c.as_deref() == Some("ping")))
    })
    .await;
    // The next subscription of each instance (a new user's sockets; they say hello once it is
    // made) goes over the same connection if the PING's answer was taken well.
    let cyd = c.front.register("cyd").await;
    let _cyd_a = c.a.ws(&cyd.access_token).await;
    let _cyd_b = c.b.ws(&cyd.access_token).await;
    let cmds = last_commands().await;
    assert!(
        cmds.iter().all(|c| c.as_deref() == Some("subscribe")),
        "the subscriber connections after the PING: {cmds:?}"
    );
    assert_eq!(
        instance_metric(&c.b, "plauder_broker_reconnects_total", "beta").await,
        0.0,
        "the PING answer was taken as a failure"
    );
    c.a.send(&ada, room, "still there").await;
    assert_eq!(bob_b.event("message.new").await["message"]["body"], "still there");
}

#[actix_web::test]
async fn a_support_session_opened_on_one_instance_reaches_staff_on_the_other() {
    let c = Cluster::start(&redis_url()).await;
    let admin = user_with_role(&c.front, "root", "admin").await;
    let mut admin_b = c.ws_on(&admin.access_token, "beta").await;

    let v = open_session(&c.a, "vera").await;
    let created = admin_b.event("support.session_created").await;
    assert_eq!(created["room"]["id"], v.room.to_string());
    // The staff attach crossed too: the visitor's message on alpha reaches the admin on beta.
    c.a.send(&v.guest, v.room, "anyone there?").await;
    assert_eq!(admin_b.event("message.new").await["message"]["body"], "anyone there?");
}

#[actix_web::test]
async fn a_role_change_closes_sockets_with_the_same_code_and_text_on_every_instance() {
    let c = Cluster::start(&redis_url()).await;
    let admin = crate::helpers::user_with_role(&c.front, "root", "admin").await;
    let ada = c.front.register("ada").await;
    let mut on_a = c.ws_on(&ada.access_token, "alpha").await;
    let mut on_b = c.ws_on(&ada.access_token, "beta").await;

    // Issued on alpha: its socket is closed there, beta's on the word of the broker.
    let res =
        c.a.patch(&format!("/api/v1/admin/users/{}", ada.id), Some(&admin.access_token), json!({"role": "moderator"}))
            .await;
    assert!(res.status().is_success(), "role change: {}", res.status());
    let expected = (4001, "role changed: reconnect".to_owned());
    assert_eq!(on_a.closed_with_reason().await, expected, "on the instance that made the change");
    assert_eq!(on_b.closed_with_reason().await, expected, "on the other instance");
}

#[actix_web::test]
async fn through_nginx_a_client_cannot_choose_the_address_its_limits_count() {
    // The instances trust nginx only; nginx appends the client's address to X-Forwarded-For and
    // clears Forwarded, as deploy/nginx.conf does. Each request below invents new addresses in
    // both headers: all of them still count against the one real client, in the bucket the
    // instances share (nginx round-robins, so both instances see some).
    let c = Cluster::start_with(&redis_url(), |s| {
        s.rate_limit.auth_burst = 2;
        s.rate_limit.auth_replenish_interval_ms = 60_000;
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let res = c
            .front
            .client
            .post(format!("{}/api/v1/auth/login", c.front.address))
            .header("forwarded", format!("for=198.51.100.{i}"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"login": "nobody", "password": "whatever it is"}))
            .send()
            .await
            .unwrap();
        statuses.push(res.status());
    }
    // Two pass in all (not two per instance); the rest are refused whichever instance they reach.
    assert!(statuses[..2].iter().all(|s| *s != StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    assert!(statuses[2..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
}

/// A ban and a role change made while an instance's Redis connection is down never reach it as
/// messages (made in SQL here, so nothing is published at all: a publish queued during an outage
/// may still go out once Redis is back, which would not show anything). The instance re-checks
/// its sockets against the database as soon as its Redis subscriber reconnects; the interval is
/// an hour here, so only the reconnect can close them.
#[actix_web::test]
async fn a_ban_and_a_role_change_lost_while_redis_was_down_take_effect_when_it_is_back() {
    let mut redis = RedisServer::start().await;
    let c = Cluster::start_with(&redis.url(), |s| s.realtime.revalidate_interval_ms = 3_600_000).await;
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    let mut ada_b = c.ws_on(&ada.access_token, "beta").await;
    let mut bob_b = c.ws_on(&bob.access_token, "beta").await;

    redis.kill();
    let ban = "UPDATE users SET banned_at = now(), ban_reason = 'spam', token_version = token_version + 1";
    c.front.sql(&format!("{ban} WHERE id = '{}'", ada.id)).await;
    c.front.sql(&format!("UPDATE users SET role = 'moderator' WHERE id = '{}'", bob.id)).await;
    assert_eq!(ada_b.command("ping", json!({})).await["ok"], true, "ada's socket on beta is still open");
    assert_eq!(bob_b.command("ping", json!({})).await["ok"], true, "bob's socket on beta is still open");

    redis.restart().await;
    assert_eq!(ada_b.closed_with_reason().await, (4003, "banned".to_owned()));
    assert_eq!(bob_b.closed_with_reason().await, (4001, "role changed: reconnect".to_owned()));
}
