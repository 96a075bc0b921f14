//! seq under concurrency: gapless per room with racing writers, and one message for racing retries.

use std::collections::HashMap;

use plauder::ids::MessageId;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use diesel_async::SimpleAsyncConnection;

use crate::helpers::wait::{check, eventually};
use crate::helpers::{TestApp, TestUser, quiet_workers, spawn_app, spawn_app_with};

/// Every message of the room, oldest first, paging forwards.
async fn all_messages(app: &TestApp, user: &TestUser, room: Uuid) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = app.history(user, room, &format!("?after_seq={after}&limit=100")).await;
        let messages = page["messages"].as_array().unwrap().clone();
        if let Some(last) = messages.last() {
            after = last["seq"].as_i64().unwrap();
        }
        out.extend(messages);
        if page["has_more"] == false {
            return out;
        }
    }
}

#[actix_web::test]
async fn eight_concurrent_writers_of_200_messages_get_seqs_1_to_1600_without_gaps() {
    let app = spawn_app().await;
    let mut writers = Vec::new();
    for i in 0..8 {
        writers.push(app.register(&format!("writer{i}")).await);
    }
    let others: Vec<&TestUser> = writers[1..].iter().collect();
    let room = app.group(&writers[0], "busy", &others).await;

    let tasks = writers.iter().map(|w| {
        let app = &app;
        async move {
            for n in 0..200 {
                let body = json!({"body": format!("{} {n}", w.id), "client_msg_id": format!("{n}")});
                let res = app.post(&format!("/api/v1/rooms/{room}/messages"), Some(&w.access_token), body).await;
                assert_eq!(res.status(), StatusCode::CREATED);
            }
        }
    });
    futures_util::future::join_all(tasks).await;

    let messages = all_messages(&app, &writers[0], room).await;
    let seqs: Vec<i64> = messages.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=1600).collect::<Vec<_>>(), "gapless, no duplicates");
    // Each writer's messages keep their send order.
    let mut next: HashMap<String, u32> = HashMap::new();
    for m in &messages {
        let (sender, n) = m["body"].as_str().unwrap().split_once(' ').unwrap();
        let expected = next.entry(sender.to_owned()).or_insert(0);
        assert_eq!(n.parse::<u32>().unwrap(), *expected, "{sender} out of order");
        *expected += 1;
    }
    assert!(next.values().all(|n| *n == 200));
}

#[actix_web::test]
async fn racing_retries_of_one_client_msg_id_create_one_message() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let sends = (0..12).map(|_| {
        app.post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&ada.access_token),
            json!({"body": "once", "client_msg_id": "same"}),
        )
    });
    let results = futures_util::future::join_all(sends).await;
    let mut created = 0;
    let mut ids = Vec::new();
    for res in results {
        match res.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::OK => {}
            other => panic!("unexpected {other}"),
        }
        ids.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!((created, ids.len()), (1, 1));
    let messages = all_messages(&app, &ada, room).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["seq"], 1);
    // The refused duplicates left no hole: the next message is seq 2.
    assert_eq!(app.send(&ada, room, "next").await["seq"], 2);
}

#[actix_web::test]
async fn concurrent_sends_edits_and_reactions_share_one_gapless_counter() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    let target = app.send(&ada, room, "edit me").await;
    let target_id = target["id"].as_str().unwrap().to_owned();

    let sender = async {
        for i in 0..60 {
            app.send(&bob, room, &format!("m{i}")).await;
        }
    };
    let editor = async {
        for i in 0..60 {
            let res = app
                .patch(
                    &format!("/api/v1/messages/{target_id}"),
                    Some(&ada.access_token),
                    json!({"body": format!("v{i}")}),
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK);
        }
    };
    let reactor = async {
        for i in 0..30 {
            let path = format!("/api/v1/messages/{target_id}/reactions/r{i}");
            let res = app.request(reqwest::Method::PUT, &path, Some(&bob.access_token), None).await;
            assert_eq!(res.status(), StatusCode::OK);
        }
    };
    tokio::join!(sender, editor, reactor);

    // 1 + 60 sends + 60 edits + 30 reactions, each one seq.
    let detail: Value = app.get(&format!("/api/v1/rooms/{room}"), Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(detail["last_seq"], 151);
    let messages = all_messages(&app, &ada, room).await;
    let mut used: Vec<i64> = messages.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    used.extend(messages.iter().filter(|m| m["rev"] != m["seq"]).map(|m| m["rev"].as_i64().unwrap()));
    used.sort_unstable();
    used.dedup();
    assert_eq!(used.len(), 62, "61 message seqs and the edited message's distinct latest rev");
    assert!(used.iter().all(|s| (1..=151).contains(s)));
}

#[actix_web::test]
async fn one_send_batch_inserts_only_the_simple_sends_and_leaves_no_seq_gap() {
    use plauder::db::queries::messages::{NewMessage, insert_batch};

    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let a = app.group(&ada, "a", &[&bob]).await;
    let b = app.group(&bob, "b", &[]).await;
    let direct = app.direct(&ada, &bob).await;
    let earlier = app
        .post(
            &format!("/api/v1/rooms/{a}/messages"),
            Some(&ada.access_token),
            json!({"body": "x", "client_msg_id": "k1"}),
        )
        .await;
    assert_eq!(earlier.status(), StatusCode::CREATED);

    let row = |room: Uuid, sender: Uuid, body, cmid| NewMessage {
        id: MessageId::new(),
        room_id: room.into(),
        sender_id: sender.into(),
        body,
        reply_to: None,
        client_msg_id: cmid,
        mentions: None,
    };
    let batch = [
        row(a, ada.id, "a1", None),
        row(a, eve.id, "not a member", None),
        row(b, bob.id, "b1", Some("k1")),
        row(a, ada.id, "retry of k1", Some("k1")),
        row(direct, ada.id, "direct rooms take the checked path", None),
        row(a, bob.id, "a2", None),
        row(Uuid::new_v4(), ada.id, "no such room", None),
    ];
    let mut conn = app.state.pool.get().await.unwrap();
    let inserted = insert_batch(&mut conn, &batch).await.unwrap();
    drop(conn);

    let got: Vec<(Uuid, &str, i64, i64)> =
        inserted.iter().map(|m| (m.room_id.0, m.body.as_str(), m.seq.0, m.rev.0)).collect();
    let mut got = got;
    got.sort_by_key(|(room, _, seq, _)| (*room == b, *seq));
    assert_eq!(got, vec![(a, "a1", 2, 2), (a, "a2", 3, 3), (b, "b1", 1, 1)], "batch order kept within a room");
    // The left-out sends took no seq: the rooms go on without a hole.
    assert_eq!(app.send(&ada, a, "next").await["seq"], 4);
    assert_eq!(app.send(&bob, b, "next").await["seq"], 2);
    assert_eq!(app.send(&ada, direct, "first").await["seq"], 1);
}

/// With several send writers (one is the default), so that rooms are spread over writers whose
/// batches commit concurrently.
#[actix_web::test]
async fn concurrent_sends_from_members_and_strangers_over_many_rooms_each_get_their_answer() {
    let app = spawn_app_with(|s| s.database.send_writers = 3).await;
    let ada = app.register("ada").await;
    let eve = app.register("eve").await;
    let mut rooms = Vec::new();
    for i in 0..5 {
        rooms.push(app.group(&ada, &format!("r{i}"), &[]).await);
    }
    let first = app
        .post(
            &format!("/api/v1/rooms/{}/messages", rooms[0]),
            Some(&ada.access_token),
            json!({"body": "x", "client_msg_id": "dup"}),
        )
        .await;
    let first: Value = first.json().await.unwrap();

    let mut sends = Vec::new();
    for round in 0..10 {
        for room in &rooms {
            let path = format!("/api/v1/rooms/{room}/messages");
            sends.push((201, app.post(&path, Some(&ada.access_token), json!({"body": format!("m{round}")}))));
            sends.push((403, app.post(&path, Some(&eve.access_token), json!({"body": "let me in"}))));
        }
        let path = format!("/api/v1/rooms/{}/messages", rooms[0]);
        sends.push((200, app.post(&path, Some(&ada.access_token), json!({"body": "x", "client_msg_id": "dup"}))));
    }
    let (expected, futures): (Vec<u16>, Vec<_>) = sends.into_iter().unzip();
    let results = futures_util::future::join_all(futures).await;
    for (want, res) in expected.into_iter().zip(results) {
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, want, "{body}");
        if want == 200 {
            assert_eq!(body["id"], first["id"], "a retry gets the original");
        }
    }
    for (i, room) in rooms.iter().enumerate() {
        let seqs: Vec<i64> = all_messages(&app, &ada, *room).await.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        let total = if i == 0 { 11 } else { 10 };
        assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "room {i}: gapless");
    }
}

#[actix_web::test]
async fn a_poisoned_send_in_a_batch_fails_alone_and_every_good_send_commits() {
    use plauder::db::send_batch::{Outcome, QueuedSend, SendBatcher};

    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let a = app.group(&ada, "a", &[&bob]).await;
    let b = app.group(&bob, "b", &[]).await;
    // One writer of its own, so everything submitted below queues up while it waits and becomes
    // one batch statement. Validation is bypassed: PostgreSQL refuses the NUL, failing the statement.
    // What the writer announces, recorded instead of published.
    let announced = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = announced.clone();
    let batcher = SendBatcher::start(
        app.state.pool.clone(),
        1,
        64,
        app.state.webhooks.clone(),
        app.state.push.clone(),
        std::sync::Arc::new(move |ms: &[plauder::db::models::Message]| {
            record.lock().unwrap().extend(ms.iter().map(|m| (m.room_id.0, m.body.clone(), m.seq.0)));
        }),
    );
    let send = |room: Uuid, sender: Uuid, body: &str| QueuedSend {
        id: MessageId::new(),
        room_id: room.into(),
        sender_id: sender.into(),
        body: body.to_owned(),
        client_msg_id: None,
    };
    let mut sends = Vec::new();
    for i in 0..10 {
        let (room, sender) = if i % 2 == 0 { (a, ada.id) } else { (b, bob.id) };
        sends.push(send(room, sender, &format!("good {i}")));
        if i == 4 {
            sends.push(send(a, ada.id, "poison \u{0} here"));
        }
    }
    let outcomes = futures_util::future::join_all(sends.into_iter().map(|s| batcher.submit(s))).await;

    let mut good = Vec::new();
    let mut failed = 0;
    for outcome in outcomes {
        match outcome {
            Outcome::Inserted(m) => good.push((m.room_id.0, m.body, m.seq.0)),
            Outcome::Failed(_) => failed += 1,
            Outcome::NotSimple(s, _) => panic!("{} came back as not simple", s.body),
        }
    }
    assert_eq!(failed, 1, "only the poisoned send fails");
    let mut expected = Vec::new();
    let (mut seq_a, mut seq_b) = (0, 0);
    for i in 0..10 {
        let (room, seq) = if i % 2 == 0 { (a, &mut seq_a) } else { (b, &mut seq_b) };
        *seq += 1;
        expected.push((room, format!("good {i}"), *seq));
    }
    assert_eq!(good, expected, "every good send committed, in order, with gapless seqs");
    assert_eq!(*announced.lock().unwrap(), expected, "each committed send announced once, the failed one not");
    let stored = all_messages(&app, &ada, a).await;
    assert_eq!(stored.len(), 5);
    assert!(stored.iter().all(|m| m["body"].as_str().is_some_and(|b| b.starts_with("good"))));
    assert_eq!(app.send(&bob, b, "next").await["seq"], 6);
}

/// A retry in the same batch as its original waits for the writer's next batch, and its sender's
/// later sends to the room wait behind it: here the original fails on its own row (a NUL
/// PostgreSQL refuses, validation bypassed), so the retry stores the message anew, and the send
/// after it must not commit first. (Handed back to the checked path while the failed batch's
/// sends were inserted one by one, the retry took the seq after the later send's.)
#[actix_web::test]
async fn a_retry_in_its_originals_batch_keeps_its_place_before_the_senders_next_send() {
    use plauder::db::send_batch::{Outcome, QueuedSend, SendBatcher};

    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let batcher = SendBatcher::start(
        app.state.pool.clone(),
        1,
        64,
        app.state.webhooks.clone(),
        app.state.push.clone(),
        std::sync::Arc::new(|_: &[plauder::db::models::Message]| {}),
    );
    let send = |body: &str, cmid: Option<&str>| QueuedSend {
        id: MessageId::new(),
        room_id: room.into(),
        sender_id: ada.id.into(),
        body: body.to_owned(),
        client_msg_id: cmid.map(str::to_owned),
    };
    // Queued one after the other before the writer runs: one batch.
    let original = batcher.enqueue(send("poison \u{0} here", Some("c"))).await;
    let retry = batcher.enqueue(send("retried", Some("c"))).await;
    let later = batcher.enqueue(send("later", None)).await;

    assert!(matches!(original.outcome().await, Outcome::Failed(_)), "the original fails on its row");
    for (queued, body, seq) in [(retry, "retried", 1), (later, "later", 2)] {
        match queued.outcome().await {
            Outcome::Inserted(m) => assert_eq!((m.body.as_str(), m.seq.0), (body, seq)),
            Outcome::NotSimple(s, _) => panic!("{} handed back", s.body),
            Outcome::Failed(e) => panic!("{body} failed: {e:?}"),
        }
    }
    assert_eq!(app.metric("plauder_db_send_parked_total").await, 2.0, "the retry and the send after it waited");
    // A retry of the stored message now gets the original back from the checked path.
    let again = batcher.enqueue(send("retried", Some("c"))).await;
    assert!(matches!(again.outcome().await, Outcome::NotSimple(..)));
}

/// One connection's sends, pipelined without waiting for replies: none is refused, they commit in
/// the order sent (seqs 1..n, bodies in order), the replies come in that order, and they shared
/// commits: with a lock held per connection until each commit, every batch held one of them.
#[actix_web::test]
async fn pipelined_sends_of_one_connection_share_commits_and_keep_their_order() {
    const N: usize = 60;
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "pipeline", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;
    let batches_before = app.metric("plauder_db_send_batch_size_count").await;
    let waits_before = app.metric("plauder_db_send_queue_wait_seconds_count").await;
    for i in 0..N {
        let data = json!({"room_id": room, "body": format!("m{i}"), "client_msg_id": format!("p{i}")});
        ws.send_json(json!({"id": i, "type": "message.send", "data": data})).await;
    }
    let replies = ws.frames_until("every reply", |f| f.iter().filter(|f| f["type"] == "reply").count() == N).await;
    let replies: Vec<&Value> = replies.iter().filter(|f| f["type"] == "reply").collect();
    let ids: Vec<u64> = replies.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (0..N as u64).collect::<Vec<_>>(), "replies in the order sent");
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(r["ok"], true, "none refused: {r}");
        assert_eq!(r["data"]["message"]["seq"], i as i64 + 1, "{r}");
        assert_eq!(r["data"]["message"]["body"], format!("m{i}"));
    }
    let bodies: Vec<String> =
        all_messages(&app, &ada, room).await.iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect();
    assert_eq!(bodies, (0..N).map(|i| format!("m{i}")).collect::<Vec<_>>());
    let batches = app.metric("plauder_db_send_batch_size_count").await - batches_before;
    assert!(batches < N as f64, "{N} sends in {batches} commits: none shared one");
    let waits = app.metric("plauder_db_send_queue_wait_seconds_count").await - waits_before;
    assert_eq!(waits, N as f64, "each send's wait for its statement measured once");
}

/// Pipelined writes that take the checked path (a reply, a direct room, a retry of a
/// client_msg_id) keep their place among the fast-path sends around them: seqs follow the order
/// sent, the replies come in order, and a retry answers with the original.
#[actix_web::test]
async fn pipelined_checked_path_writes_keep_their_place_among_fast_sends() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "mixed", &[&bob]).await;
    let parent = app.send(&ada, room, "parent").await;
    let direct = app.direct(&ada, &bob).await;
    let mut ws = app.ws(&ada.access_token).await;
    // Per round: plain, reply (checked), plain, direct (checked after the writer hands it back),
    // plain with a client_msg_id, its retry, plain.
    let mut frames = Vec::new();
    for round in 0..8 {
        let g = |body: String| json!({"room_id": room, "body": body});
        frames.push(g(format!("{round} a")));
        frames.push(json!({"room_id": room, "body": format!("{round} reply"), "reply_to": parent["id"]}));
        frames.push(g(format!("{round} b")));
        frames.push(json!({"room_id": direct, "body": format!("{round} direct")}));
        frames.push(json!({"room_id": room, "body": format!("{round} c"), "client_msg_id": format!("k{round}")}));
        frames.push(json!({"room_id": room, "body": format!("{round} c"), "client_msg_id": format!("k{round}")}));
        frames.push(g(format!("{round} d")));
    }
    for (i, data) in frames.iter().enumerate() {
        ws.send_json(json!({"id": i, "type": "message.send", "data": data})).await;
    }
    let n = frames.len();
    let got = ws.frames_until("every reply", |f| f.iter().filter(|f| f["type"] == "reply").count() == n).await;
    let replies: Vec<&Value> = got.iter().filter(|f| f["type"] == "reply").collect();
    let ids: Vec<u64> = replies.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (0..n as u64).collect::<Vec<_>>(), "replies in the order sent");
    assert!(replies.iter().all(|r| r["ok"] == true), "{replies:?}");
    for pair in replies.chunks(7) {
        let (first, retry) = (&pair[4]["data"]["message"], &pair[5]["data"]["message"]);
        assert_eq!(first["id"], retry["id"], "a retry answers with the original");
    }
    let expected: Vec<String> = std::iter::once("parent".to_owned())
        .chain((0..8).flat_map(|r| ["a", "reply", "b", "c", "d"].map(|k| format!("{r} {k}"))))
        .collect();
    let stored = all_messages(&app, &ada, room).await;
    let bodies: Vec<&str> = stored.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, expected, "the room's messages in the order sent");
    let seqs: Vec<i64> = stored.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=expected.len() as i64).collect::<Vec<_>>(), "gapless");
    let in_direct: Vec<String> =
        all_messages(&app, &ada, direct).await.iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect();
    assert_eq!(in_direct, (0..8).map(|r| format!("{r} direct")).collect::<Vec<_>>());
}

/// Pipelined sends that their data refuses (an empty or too long body, a bad client_msg_id,
/// a file named twice) are answered in their place among the connection's writes, as docs/protocol.md
/// says of a connection's message-write replies, and the writes around them commit in order.
#[actix_web::test]
async fn pipelined_sends_refused_for_their_data_are_answered_in_their_place() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "refusals", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;
    let file = Uuid::new_v4();
    let frames = [
        (json!({"room_id": room, "body": "a"}), None),
        (json!({"room_id": room, "body": "   "}), Some("validation_failed")),
        (json!({"room_id": room, "body": "b"}), None),
        (json!({"room_id": room, "body": "x".repeat(4001)}), Some("payload_too_large")),
        (json!({"room_id": room, "body": "c"}), None),
        (json!({"room_id": room, "body": "d", "client_msg_id": "k".repeat(65)}), Some("validation_failed")),
        (json!({"room_id": room, "body": "e", "attachment_ids": [file, file]}), Some("validation_failed")),
        (json!({"room_id": room, "body": "f"}), None),
    ];
    for round in 0..4 {
        for (i, (data, _)) in frames.iter().enumerate() {
            ws.send_json(json!({"id": round * 100 + i, "type": "message.send", "data": data})).await;
        }
    }
    let n = frames.len() * 4;
    let got = ws.frames_until("every reply", |f| f.iter().filter(|f| f["type"] == "reply").count() == n).await;
    let replies: Vec<&Value> = got.iter().filter(|f| f["type"] == "reply").collect();
    let ids: Vec<u64> = replies.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    let sent: Vec<u64> = (0..4).flat_map(|round| (0..frames.len() as u64).map(move |i| round * 100 + i)).collect();
    assert_eq!(ids, sent, "replies in the order sent");
    for (reply, (_, refused)) in replies.iter().zip(frames.iter().cycle()) {
        match refused {
            None => assert_eq!(reply["ok"], true, "{reply}"),
            Some(code) => assert_eq!(reply["error"]["code"], *code, "{reply}"),
        }
    }
    let stored = all_messages(&app, &ada, room).await;
    let bodies: Vec<&str> = stored.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["a", "b", "c", "f"].repeat(4), "the writes around the refusals, in order");
}

/// A send the writer hands back (here: its room's row was held elsewhere) is not overtaken by the
/// same connection's next send to that room, which a later batch would otherwise commit as soon as
/// the row is free. The first send's checked path is kept waiting for a pool connection (the test
/// holds them all) while the second is written; the second must take the seq after it.
#[actix_web::test]
async fn a_send_handed_back_to_the_checked_path_is_not_overtaken_by_the_connections_next_send() {
    let app = spawn_app_with(|s| {
        quiet_workers(s);
        s.realtime.revalidate_interval_ms = 600_000;
        // The first send waits for a pool connection while the test holds them all: long enough
        // for a slow machine, which the default (5 s) might not be.
        s.database.pool_timeout_ms = 60_000;
    })
    .await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;
    let mut blocker = app.hold_room_row(room).await;
    let mut pool = Vec::new();
    for _ in 0..app.state.pool.status().max_size {
        pool.push(app.state.pool.get().await.expect("a pool connection"));
    }

    ws.send_json(json!({"id": 1, "type": "message.send", "data": {"room_id": room, "body": "first"}})).await;
    let waiting = async || check(app.state.pool.status().waiting, |&n| n == 1);
    eventually("the first send, handed back, to wait for a connection", waiting).await;
    blocker.batch_execute("COMMIT").await.expect("commit");
    let parked = async || app.metric("plauder_db_send_parked_total").await;
    ws.send_json(json!({"id": 2, "type": "message.send", "data": {"room_id": room, "body": "second"}})).await;
    eventually("the writer to take the second send", async || check(parked().await, |&n| n == 1.0)).await;
    drop(pool);

    for (id, body) in [(1, "first"), (2, "second")] {
        let reply = ws.reply_to(json!(id)).await;
        assert_eq!(reply["ok"], true, "{reply}");
        assert_eq!(reply["data"]["message"]["seq"], id, "{body}: {reply}");
    }
    let stored: Vec<String> =
        all_messages(&app, &ada, room).await.iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect();
    assert_eq!(stored, ["first", "second"]);
}

/// Sends that reach the writer behind one it handed back wait there, not on the checked path: the
/// room's row is held, the first send is handed back and waits for it on the checked path, the
/// next four are parked; once the row is free they commit after the first, in order, and only the
/// first was handed back. (Handed back too, each would have kept the fence up for the next.)
#[actix_web::test]
async fn sends_behind_a_handed_back_one_wait_in_the_writer_and_share_its_next_batch() {
    let app = spawn_app_with(|s| {
        quiet_workers(s);
        s.realtime.revalidate_interval_ms = 600_000;
    })
    .await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;
    let handed_back = async || app.metric("plauder_db_send_handed_back_total").await;
    let parked = async || app.metric("plauder_db_send_parked_total").await;
    let batches = async || {
        (app.metric("plauder_db_send_batch_size_count").await, app.metric("plauder_db_send_batch_size_sum").await)
    };
    let mut blocker = app.hold_room_row(room).await;

    ws.send_json(json!({"id": 1, "type": "message.send", "data": {"room_id": room, "body": "m1"}})).await;
    eventually("the first send to be handed back", async || check(handed_back().await, |&n| n == 1.0)).await;
    for id in 2..=5 {
        let data = json!({"room_id": room, "body": format!("m{id}"), "client_msg_id": format!("c{id}")});
        ws.send_json(json!({"id": id, "type": "message.send", "data": data})).await;
    }
    eventually("the writer to park the next four", async || check(parked().await, |&n| n == 4.0)).await;
    assert_eq!(handed_back().await, 1.0, "the later sends were parked, not handed back");
    let before = batches().await;
    blocker.batch_execute("COMMIT").await.expect("commit");

    for id in 1..=5 {
        let reply = ws.reply_to(json!(id)).await;
        assert_eq!(reply["ok"], true, "{reply}");
        assert_eq!(reply["data"]["message"]["seq"], id, "{reply}");
    }
    assert_eq!(handed_back().await, 1.0, "only the first took the checked path");
    let after = batches().await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (1.0, 4.0), "the four parked sends shared one statement");
    let stored: Vec<String> =
        all_messages(&app, &ada, room).await.iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect();
    assert_eq!(stored, ["m1", "m2", "m3", "m4", "m5"]);
    // The fence is gone with the first send: the next one takes the batch at once.
    ws.send_json(json!({"id": 6, "type": "message.send", "data": {"room_id": room, "body": "m6"}})).await;
    assert_eq!(ws.reply_to(json!(6)).await["data"]["message"]["seq"], 6);
    assert_eq!(handed_back().await, 1.0);
}

/// The send writers' own connections run the batch statement with its generic plan (planning it
/// for every batch doubled PostgreSQL's CPU per send); the pool's other connections keep
/// PostgreSQL's default.
#[actix_web::test]
async fn a_send_writers_connection_plans_generically_and_the_pool_keeps_the_default() {
    use diesel_async::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        mode: String,
    }
    let query = || diesel::sql_query("SELECT current_setting('plan_cache_mode') AS mode");
    let app = spawn_app().await;
    let mut own = plauder::db::own_connection(&app.state.pool).await.unwrap();
    assert_eq!(query().get_result::<Setting>(&mut own).await.unwrap().mode, "force_generic_plan");
    let mut other = app.state.pool.get().await.unwrap();
    assert_eq!(query().get_result::<Setting>(&mut other).await.unwrap().mode, "auto");
    // Sends still commit through the writers.
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    assert_eq!(app.send(&ada, room, "one").await["seq"], 1);
    assert_eq!(app.send(&ada, room, "two").await["seq"], 2);
}

/// A connection's `typing` commands are shown in the order they were sent. Each reads the room's
/// access first (a block, a closed support session); those reads, run side by side, used to
/// finish in any order, so a stop could be shown before the start sent ahead of it, and the
/// others then saw a member typing who had stopped. Here the reads wait behind a lock on the
/// members' table and are then let go together.
#[actix_web::test]
async fn a_connections_typing_commands_are_shown_in_the_order_sent() {
    const N: usize = 20;
    // No background job reads the members' table meanwhile (it would wait on the lock too).
    let app = spawn_app_with(|s| {
        quiet_workers(s);
        s.realtime.revalidate_interval_ms = 600_000;
    })
    .await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "typing", &[&bob]).await;
    let mut ada_ws = app.ws(&ada.access_token).await;
    let mut bob_ws = app.ws(&bob.access_token).await;
    let held = app.hold("LOCK TABLE room_members IN ACCESS EXCLUSIVE MODE").await;
    let send = async {
        for i in 0..N {
            let data = json!({"room_id": room, "active": i % 2 == 0});
            ada_ws.send_json(json!({"id": i, "type": "typing", "data": data})).await;
        }
    };
    app.while_held(held, 1, "ROLLBACK", send).await;
    let replies = ada_ws.frames_until("every reply", |f| f.iter().filter(|f| f["type"] == "reply").count() == N).await;
    assert!(replies.iter().filter(|f| f["type"] == "reply").all(|r| r["ok"] == true), "{replies:?}");
    let shown =
        bob_ws.frames_until("every typing event", |f| f.iter().filter(|f| f["type"] == "typing").count() == N).await;
    let active: Vec<bool> =
        shown.iter().filter(|f| f["type"] == "typing").map(|f| f["data"]["active"].as_bool().unwrap()).collect();
    assert_eq!(active, (0..N).map(|i| i % 2 == 0).collect::<Vec<_>>(), "shown in the order sent");
}
