//! The guarantees under stress: seq gaps filled from the database, slow consumers closed with
//! 4009, a crashed room restarted alone, no actors left behind by churn, and many connections in
//! many rooms each getting every message once and in order.

use std::cell::Cell;
use std::time::Duration;

use plauder::realtime::broker::{Envelope, Topic};

use serde_json::json;
use uuid::Uuid;

use crate::helpers::wait::{check, eventually};
use crate::helpers::{TestUser, spawn_app, spawn_app_with};

#[actix_web::test]
async fn a_lost_event_is_read_from_the_database_so_delivery_stays_in_seq_order() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    let mut bobs = app.ws(&bob.access_token).await;
    // The room actor bob's connection started reads the room's seq after hello, as the point
    // from which it delivers; a change committed before that read counts as history the client
    // loads itself. It delivers no message before that read, so the first reaching bob shows
    // the read is done and the next seq is owed to bob.
    app.send(&ada, room, "first").await;
    assert_eq!(bobs.event("message.new").await["seq"], 1);
    // A commit whose event never reached the broker (a crash between commit and publish, or
    // another instance's publish lost with Redis): seq 2 exists only in the database.
    app.sql(&format!(
        "WITH s AS (UPDATE rooms SET last_seq = last_seq + 1 WHERE id = '{room}' RETURNING last_seq) \
         INSERT INTO messages (id, room_id, seq, rev, sender_id, body) SELECT gen_random_uuid(), '{room}', s.last_seq, s.last_seq, '{}', 'lost in transit' FROM s",
        ada.id
    ))
    .await;
    app.send(&ada, room, "published").await;
    let lost = bobs.event("message.new").await;
    let published = bobs.event("message.new").await;
    assert_eq!((lost["seq"].as_i64(), lost["message"]["body"].as_str()), (Some(2), Some("lost in transit")));
    assert_eq!((published["seq"].as_i64(), published["message"]["body"].as_str()), (Some(3), Some("published")));
    assert!(app.metric("plauder_realtime_gap_fetches_total").await >= 1.0);
}

#[actix_web::test]
async fn a_consumer_that_stops_reading_is_closed_with_4009_and_its_queue_stays_bounded() {
    let app = spawn_app_with(|s| s.realtime.outbox_limit = 100).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    let mut bobs = app.ws(&bob.access_token).await;
    let mut adas = app.ws(&ada.access_token).await;
    app.wait_for_attachments(2).await;
    // bob does not read while far more than the socket buffers can hold is pushed at the room;
    // ada reads all along.
    let big = "x".repeat(32 * 1024);
    let read_by_ada = Cell::new(0);
    let fast_reader = async {
        while read_by_ada.get() < 1500 {
            let frame = adas.next_frame().await;
            assert_ne!(frame["type"], "closed", "the fast consumer must not be closed");
            if frame["type"] == "test.filler" {
                read_by_ada.set(read_by_ada.get() + 1);
            }
        }
    };
    let flood = async {
        for i in 0..1500 {
            // Paced by ada's reading: never more than half her outbox limit ahead of her, so a
            // reading client keeps up however slow the machine; bob, not reading, cannot.
            eventually("ada to read within 50 events of the flood", async || check(read_by_ada.get(), |&r| i < r + 50))
                .await;
            // Not a protocol event: published on the room's topic as the services' events are.
            let text = json!({"type": "test.filler", "data": {"i": i, "pad": big}}).to_string();
            let filler = Envelope::Event { seq: None, text: text.into(), exclude_user: None, again: false };
            app.state.realtime.broker().publish(Topic::Room(room.into()), filler);
        }
    };
    tokio::join!(fast_reader, flood);
    let (frames, code) = bobs.frames_until_closed().await;
    let received = frames.iter().filter(|f| f["type"] == "test.filler").count();
    assert_eq!(code, 4009);
    assert!(received < 1500, "a slow consumer must not get everything queued for it ({received})");
    assert!(app.metric("plauder_ws_slow_consumers_total").await >= 1.0);
    assert_eq!(adas.command("ping", json!({})).await["ok"], true);
}

/// A client that stops reading for good fills the socket's buffers; the server then stops polling
/// its connection, so neither the heartbeat check nor 4009 can end it, and the client's kernel
/// answers the zero-window probes for ever. The server's kernel must drop it (TCP_USER_TIMEOUT,
/// three heartbeat intervals), giving back the socket and its place.
#[actix_web::test]
async fn a_client_that_never_reads_again_is_dropped_by_the_kernel() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|s| {
        s.realtime.heartbeat_interval_ms = 300;
        s.realtime.outbox_limit = 100;
    })
    .await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    // bob's socket: a receive buffer as small as the kernel allows, read only for the upgrade.
    let addr: std::net::SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut bobs = tokio::net::TcpStream::from_std(socket.into()).unwrap();
    let upgrade = format!(
        "GET /ws?token={} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        bob.access_token
    );
    bobs.write_all(upgrade.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    bobs.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    app.wait_for_attachments(1).await;
    eventually("bob's socket to be counted", async || check(app.metric("plauder_ws_connections").await, |&n| n == 1.0))
        .await;
    // Far more than the socket buffers on both sides hold.
    let pad = "x".repeat(32 * 1024);
    for i in 0..400 {
        let text = json!({"type": "test.filler", "data": {"i": i, "pad": pad}}).to_string();
        let filler = Envelope::Event { seq: None, text: text.into(), exclude_user: None, again: false };
        app.state.realtime.broker().publish(Topic::Room(room.into()), filler);
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    eventually("the stalled socket to be dropped", async || {
        check(app.metric("plauder_ws_connections").await, |&n| n == 0.0)
    })
    .await;
    // The connection is gone on the client's side too: what was buffered, then a reset.
    let mut buf = vec![0u8; 64 * 1024];
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match bobs.read(&mut buf).await {
                Ok(0) => break Ok(()),
                Ok(_) => continue,
                Err(e) => break Err(e.kind()),
            }
        }
    })
    .await;
    assert!(
        matches!(drained, Ok(Ok(())) | Ok(Err(std::io::ErrorKind::ConnectionReset))),
        "the server left the connection open: {drained:?}"
    );
}

#[actix_web::test]
async fn a_crashed_room_actor_is_restarted_and_other_rooms_do_not_notice() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let crashing = app.group(&ada, "crashing", &[&bob]).await;
    let calm = app.group(&ada, "calm", &[&bob]).await;
    let mut bobs = app.ws(&bob.access_token).await;
    app.wait_for_attachments(2).await;
    app.send(&ada, crashing, "before").await;
    assert_eq!(bobs.event("message.new").await["message"]["body"], "before");

    let restarts_before = app.metric("plauder_realtime_room_restarts_total").await;
    let crashed = app.state.realtime.crash_room(crashing.into()).await.unwrap();
    assert!(crashed);
    app.send(&ada, calm, "calm room").await;
    assert_eq!(bobs.event("message.new").await["message"]["body"], "calm room");
    // The registry notices within its check interval and restarts the room with its connections.
    eventually("the registry to restart the crashed room", async || {
        check(app.metric("plauder_realtime_room_restarts_total").await, |&n| n > restarts_before)
    })
    .await;
    app.send(&ada, crashing, "after").await;
    let ev = bobs.event("message.new").await;
    assert_eq!((ev["seq"].as_i64(), ev["message"]["body"].as_str()), (Some(2), Some("after")));
    assert_eq!(bobs.command("ping", json!({})).await["ok"], true);
}

#[actix_web::test]
async fn five_hundred_connect_disconnect_cycles_leave_no_actor_or_registry_entry_behind() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    for i in 0..3 {
        app.group(&ada, &format!("room {i}"), &[&bob]).await;
    }
    for i in 0..500 {
        let who = if i % 2 == 0 { &ada } else { &bob };
        let ws = app.ws(&who.access_token).await;
        if i % 50 == 0 {
            // After hello, the connection is attached to its three rooms.
            assert!(app.metric("plauder_realtime_registry_attachments").await >= 3.0);
        }
        ws.close().await;
    }
    // Disconnects are processed, then idle rooms stop (room_idle_ms is 300 in tests).
    eventually("no connection, attachment, registry room or room actor left (in that order)", async || {
        let counts = (
            app.metric("plauder_ws_connections").await,
            app.metric("plauder_realtime_registry_attachments").await,
            app.metric("plauder_realtime_registry_rooms").await,
            app.metric("plauder_realtime_rooms_active").await,
        );
        check(counts, |&c| c == (0.0, 0.0, 0.0, 0.0))
    })
    .await;
    let stats = app.state.realtime.registry_stats().await.unwrap();
    assert_eq!((stats.rooms, stats.attachments), (0, 0));
}

#[actix_web::test]
async fn two_hundred_connections_in_twenty_rooms_each_get_every_message_of_their_room_once_in_order() {
    let app = spawn_app().await;
    let mut users: Vec<TestUser> = Vec::new();
    for i in 0..200 {
        users.push(app.register(&format!("user{i:03}")).await);
    }
    let mut rooms: Vec<Uuid> = Vec::new();
    for r in 0..20 {
        let members: Vec<&TestUser> = users[r * 10 + 1..r * 10 + 10].iter().collect();
        rooms.push(app.group(&users[r * 10], &format!("room {r}"), &members).await);
    }
    let mut sockets = Vec::new();
    for u in &users {
        sockets.push(app.ws(&u.access_token).await);
    }
    app.wait_for_attachments(200).await;
    // Every member of every room sends 3 messages, all rooms at once.
    let sends = users.iter().enumerate().map(|(i, u)| {
        let app = &app;
        let room = rooms[i / 10];
        async move {
            for n in 0..3 {
                let res = app
                    .post(
                        &format!("/api/v1/rooms/{room}/messages"),
                        Some(&u.access_token),
                        json!({"body": format!("{} {n}", u.id)}),
                    )
                    .await;
                assert_eq!(res.status(), reqwest::StatusCode::CREATED);
            }
        }
    });
    futures_util::future::join_all(sends).await;
    let reads = sockets.iter_mut().enumerate().map(|(i, ws)| {
        let room = rooms[i / 10];
        async move {
            let mut seqs = Vec::new();
            while seqs.len() < 30 {
                let ev = ws.event("message.new").await;
                assert_eq!(ev["message"]["room_id"], room.to_string(), "an event of another room");
                seqs.push(ev["seq"].as_i64().unwrap());
            }
            assert_eq!(seqs, (1..=30).collect::<Vec<_>>());
            ws.no_event("message.new", Duration::from_millis(200)).await;
        }
    });
    futures_util::future::join_all(reads).await;
}
