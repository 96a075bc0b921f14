//! Consistency under faults: a committed message is announced even when the request that made it
//! is gone, a retry announces what was never announced, and a room actor that cannot read where
//! its room stands waits and tries again instead of replaying the room's history. Also the races
//! of a send with its room's or its sender's deletion, which triggers settle, not foreign keys,
//! and of requests that wait for a room's lock while a room, a member or an heir goes.

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::wait::{check, eventually};
use crate::helpers::ws::WsClient;
use crate::helpers::{PASSWORD, TestApp, TestUser, quiet_workers, spawn_app, spawn_app_with};

async fn message_new(ws: &mut WsClient, body: &str) -> Value {
    ws.event_where("message.new", |d| d["message"]["body"] == body).await
}

async fn stored_bodies(app: &TestApp, user: &TestUser, room: uuid::Uuid) -> Vec<String> {
    let page = app.history(user, room, "").await;
    page["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect()
}

/// A guard more than a demonstration: actix-web keeps running a handler whose client has gone, so
/// this held before the send moved to a task of its own as well. The WebSocket case below is the
/// one a closed connection used to lose.
#[actix_web::test]
async fn a_send_whose_http_client_left_before_the_commit_is_still_announced() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    let mut bob_ws = app.ws(&bob.access_token).await;

    let mut blocker = app.hold_room_row(room).await;
    // The client gives up while the send waits for the row: its connection closes mid-request.
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let gone = impatient
        .post(format!("{}/api/v1/rooms/{room}/messages", app.address))
        .bearer_auth(&ada.access_token)
        .json(&json!({"body": "sent by a client that left"}))
        .send()
        .await;
    assert!(gone.is_err(), "the client timed out: {gone:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    blocker.batch_execute("COMMIT").await.unwrap();

    let data = message_new(&mut bob_ws, "sent by a client that left").await;
    assert_eq!(data["seq"], 1, "{data}");
    assert_eq!(stored_bodies(&app, &ada, room).await, ["sent by a client that left"]);
}

#[actix_web::test]
async fn a_send_whose_websocket_closed_before_the_commit_is_still_announced() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    let mut bob_ws = app.ws(&bob.access_token).await;
    let mut ada_ws = app.ws(&ada.access_token).await;

    let mut blocker = app.hold_room_row(room).await;
    ada_ws
        .send_json(
            json!({"id": 100, "type": "message.send", "data": {"room_id": room, "body": "from a closed socket"}}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    ada_ws.close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    blocker.batch_execute("COMMIT").await.unwrap();

    let data = message_new(&mut bob_ws, "from a closed socket").await;
    assert_eq!(data["message"]["sender_id"], json!(ada.id), "{data}");
}

#[actix_web::test]
async fn a_retry_of_a_message_that_was_never_announced_announces_it_once() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    let mut bob_ws = app.ws(&bob.access_token).await;
    // The room actor must be running before the lost message commits: one started after it
    // reads it as its baseline (already delivered), which is right then, since whoever connects
    // later reads it from history. A delivered message proves the actor and bob's attachment.
    app.send(&ada, room, "warm-up").await;
    message_new(&mut bob_ws, "warm-up").await;
    // Committed but never published, as when the process died between the two.
    app.sql(&format!(
        "WITH r AS (UPDATE rooms SET last_seq = last_seq + 1 WHERE id = '{room}' RETURNING last_seq) \
         INSERT INTO messages (id, room_id, seq, rev, sender_id, body, client_msg_id) \
         SELECT gen_random_uuid(), '{room}', r.last_seq, r.last_seq, '{}', 'lost announcement', 'c-1' FROM r",
        ada.id
    ))
    .await;

    let send = || {
        app.post(
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&ada.access_token),
            json!({"body": "lost announcement", "client_msg_id": "c-1"}),
        )
    };
    let res = send().await;
    assert_eq!(res.status(), StatusCode::OK, "a retry gets the original");
    let original: Value = res.json().await.unwrap();
    let data = message_new(&mut bob_ws, "lost announcement").await;
    assert_eq!(data["message"]["id"], original["id"]);

    // Retried again: announced again, and dropped by the room as already delivered.
    assert_eq!(send().await.status(), StatusCode::OK);
    app.send(&ada, room, "next").await;
    let frames =
        bob_ws.frames_until("the next message", |f| f.iter().any(|f| f["data"]["message"]["body"] == "next")).await;
    let again: Vec<_> = frames.iter().filter(|f| f["data"]["message"]["body"] == "lost announcement").collect();
    assert!(again.is_empty(), "delivered twice: {again:?}");
}

#[actix_web::test]
async fn a_room_actor_that_cannot_read_its_baseline_retries_and_does_not_replay_history() {
    let app = spawn_app_with(|s| s.database.statement_timeout_ms = 300).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    for i in 1..=3 {
        app.send(&ada, room, &format!("old {i}")).await;
    }
    // The rooms table is locked while bob connects: the room actor's read of the room's latest
    // seq times out (and keeps failing until the lock goes).
    let mut blocker = AsyncPgConnection::establish(&app.db_url).await.unwrap();
    blocker.batch_execute("BEGIN; LOCK TABLE rooms IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let mut bob_ws = app.ws(&bob.access_token).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    blocker.batch_execute("ROLLBACK").await.unwrap();

    app.send(&ada, room, "new").await;
    let frames =
        bob_ws.frames_until("the new message", |f| f.iter().any(|f| f["data"]["message"]["body"] == "new")).await;
    let news: Vec<_> = frames.iter().filter(|f| f["type"] == "message.new").collect();
    assert_eq!(news.len(), 1, "only the new message, no history replayed: {news:?}");
    assert_eq!(news[0]["data"]["seq"], 4);
    assert!(app.metric("plauder_realtime_baseline_retries_total").await >= 1.0);
}

/// A retried send announces its original again. A room actor that starts while that happens
/// must not take the old message for the start of delivery: it would replay the room's history
/// since to every socket.
#[actix_web::test]
async fn a_message_announced_again_while_a_room_actor_starts_replays_no_history() {
    let app = spawn_app_with(|s| s.database.statement_timeout_ms = 300).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    let first = json!({"body": "old 1", "client_msg_id": "c-1"});
    let path = format!("/api/v1/rooms/{room}/messages");
    assert_eq!(app.post(&path, Some(&ada.access_token), first.clone()).await.status(), StatusCode::CREATED);
    for i in 2..=4 {
        app.send(&ada, room, &format!("old {i}")).await;
    }
    // bob's room actor starts while the rooms table is locked: its read of the room's latest seq
    // fails, and is tried again after 50, 100, 200, … ms. Once it waits 1.6 s, the lock goes and
    // ada's retry announces "old 1" again within that wait.
    let mut blocker = AsyncPgConnection::establish(&app.db_url).await.unwrap();
    blocker.batch_execute("BEGIN; LOCK TABLE rooms IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let mut bob_ws = app.ws(&bob.access_token).await;
    eventually("the room actor's sixth failed read", async || {
        check(app.metric("plauder_realtime_baseline_retries_total").await, |&n| n >= 6.0)
    })
    .await;
    blocker.batch_execute("ROLLBACK").await.unwrap();
    let res = app.post(&path, Some(&ada.access_token), first).await;
    assert_eq!(res.status(), StatusCode::OK, "the retry gets the original");

    app.send(&ada, room, "new").await;
    let frames =
        bob_ws.frames_until("the new message", |f| f.iter().any(|f| f["data"]["message"]["body"] == "new")).await;
    let news: Vec<_> =
        frames.iter().filter(|f| f["type"] == "message.new").map(|f| &f["data"]["message"]["body"]).collect();
    assert_eq!(news, [&json!("new")], "only the new message, no history replayed");
    assert_eq!(app.metric("plauder_realtime_baseline_retries_total").await, 6.0, "the retry came within the wait");
}

/// Backends of this test's database waiting for a row (its tuple lock or its holder's transaction).
async fn waiting_for_locks(app: &TestApp) -> i64 {
    app.count(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock' AND wait_event IN ('tuple', 'transactionid')",
    )
    .await
}

/// Runs `deletion` on a connection of its own, in a task, and waits until it waits behind the one
/// send already waiting (two waiters in all).
async fn delete_behind_the_waiting_send(app: &TestApp, deletion: String) -> tokio::task::JoinHandle<()> {
    let mut deleter = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
    let task = tokio::spawn(async move {
        deleter.batch_execute(&deletion).await.expect("delete");
    });
    eventually("the deletion to wait behind the send", async || check(waiting_for_locks(app).await, |&n| n == 2)).await;
    assert!(!task.is_finished(), "the deletion waits for the send");
    task
}

/// Messages whose room does not exist: the room's trigger (not a foreign key) must leave none.
async fn orphans(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM messages m WHERE NOT EXISTS (SELECT 1 FROM rooms r WHERE r.id = m.room_id)")
        .await
}

/// A message's room is a trigger on `rooms`, not a foreign key (migration 2026-12-05-000100).
/// The trigger's half: a room deleted while a send holds its row must still take the message
/// committed just before (the trigger reads after the wait, not with the deletion's snapshot).
#[actix_web::test]
async fn a_room_deleted_while_a_send_holds_its_row_takes_the_message_with_it() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;

    // Queue the send, then the deletion, on the room's row: the send gets it first.
    let mut blocker = app.hold_room_row(room).await;
    ws.send_json(json!({"id": 100, "type": "message.send", "data": {"room_id": room, "body": "last"}})).await;
    eventually("the send to wait for the room's row", async || check(waiting_for_locks(&app).await, |&n| n == 1)).await;
    let deletion = delete_behind_the_waiting_send(&app, format!("DELETE FROM rooms WHERE id = '{room}'")).await;
    blocker.batch_execute("ROLLBACK").await.expect("rollback");

    let reply = ws.reply_to(json!(100)).await;
    assert_eq!(reply["ok"], true, "the send committed before the deletion: {reply}");
    deletion.await.expect("deletion task");
    let left = app.count(&format!("SELECT count(*) AS n FROM messages WHERE room_id = '{room}'")).await;
    assert_eq!(left, 0, "the deletion took the message committed while it waited");
    assert_eq!(orphans(&app).await, 0);
}

/// Bob's three sends to `free`, his own room, commit one after the other while another send still
/// waits for a lock (the one waiter): a batch that had waited with it would answer none of them.
async fn sends_elsewhere_commit_meanwhile(app: &TestApp, bob_ws: &mut WsClient, free: uuid::Uuid) {
    for seq in 1..=3 {
        let reply = bob_ws.command("message.send", json!({"room_id": free, "body": format!("free {seq}")})).await;
        assert_eq!(reply["ok"], true, "{reply}");
        assert_eq!(reply["data"]["message"]["seq"], seq, "{reply}");
    }
    assert_eq!(waiting_for_locks(app).await, 1, "the other send still waits");
}

/// A batch never waits for a room's row: with one send writer (the default), a batch waiting
/// behind one room's transaction (a deletion taking a large room's messages, a checked-path write)
/// would hold up every room's sends. The held room's send goes to the checked path and waits there
/// alone; the other room's sends commit meanwhile.
#[actix_web::test]
async fn a_room_whose_row_is_held_elsewhere_holds_up_no_other_rooms_sends() {
    // statement_timeout far beyond the helpers' wait for a reply (10 s): a batch that waited for
    // the held row would not give up, and the other room's replies would not come while it is held.
    let app = spawn_app_with(|s| s.database.statement_timeout_ms = 120_000).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let held = app.group(&ada, "held", &[]).await;
    let free = app.group(&bob, "free", &[]).await;
    let mut ada_ws = app.ws(&ada.access_token).await;
    let mut bob_ws = app.ws(&bob.access_token).await;

    let mut blocker = app.hold_room_row(held).await;
    ada_ws.send_json(json!({"id": 1, "type": "message.send", "data": {"room_id": held, "body": "waits"}})).await;
    eventually("the held room's send to wait for its row", async || check(waiting_for_locks(&app).await, |&n| n == 1))
        .await;
    sends_elsewhere_commit_meanwhile(&app, &mut bob_ws, free).await;
    blocker.batch_execute("COMMIT").await.expect("commit");

    let reply = ada_ws.reply_to(json!(1)).await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["data"]["message"]["seq"], 1, "{reply}");
    assert_eq!(stored_bodies(&app, &ada, held).await, ["waits"]);
}

/// Writes waiting for a room's row leave the instance's pool to everyone else: replies and
/// reactions (the checked path) and joins to a room whose row is held elsewhere (a long deletion, another
/// instance's transaction) wait, at most two of them on a connection (`service::room_gate`), and a
/// user of another room is answered meanwhile. Without the gate each waiting write held a
/// connection of its own, the pool ran dry, and the other user's requests waited for one until
/// the pool's timeout and failed.
#[actix_web::test]
async fn writes_waiting_for_a_held_room_leave_the_pool_to_other_rooms() {
    // Far beyond what the test takes to arrange the waits (a wait that gave up would answer
    // early); the test client's own timeout is the shorter one.
    let app = spawn_app_with(|s| {
        quiet_workers(s);
        s.database.statement_timeout_ms = 120_000;
        s.database.pool_timeout_ms = 30_000;
    })
    .await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let cyd = app.register("cyd").await;
    let dee = app.register("dee").await;
    let held = app.group(&ada, "held", &[&bob]).await;
    let public = app.patch(&format!("/api/v1/rooms/{held}"), Some(&ada.access_token), json!({"is_public": true})).await;
    assert_eq!(public.status(), StatusCode::OK);
    let elsewhere = app.group(&cyd, "elsewhere", &[]).await;
    let first = app.send(&ada, held, "first").await;
    let cyds = app.send(&cyd, elsewhere, "mine").await;
    // More writes than the pool has connections: replies, a reaction each, and a join.
    let replies = app.state.pool.status().max_size + 2;
    let mut blocker = app.hold_room_row(held).await;
    let mut writes = Vec::new();
    for i in 0..replies {
        let user = if i % 2 == 0 { &ada } else { &bob };
        let body = json!({"body": format!("reply {i}"), "reply_to": first["id"]});
        let path = format!("/api/v1/rooms/{held}/messages");
        writes.push(app.request(reqwest::Method::POST, &path, Some(&user.access_token), Some(body)));
    }
    for (user, emoji) in [(&ada, "👍"), (&bob, "🎉")] {
        let path = format!("/api/v1/messages/{}/reactions/{emoji}", first["id"].as_str().unwrap());
        writes.push(app.request(reqwest::Method::PUT, &path, Some(&user.access_token), None));
    }
    let join = format!("/api/v1/rooms/{held}/join");
    writes.push(app.request(reqwest::Method::POST, &join, Some(&dee.access_token), Some(json!({}))));
    let writes: Vec<_> = writes.into_iter().map(tokio::spawn).collect();
    let all = i64::try_from(writes.len()).unwrap();
    // Each write waits somewhere: on the row, at the room's gate, or for a pool connection (where
    // a background task may wait too).
    let waits = async || {
        let on_row = waiting_for_locks(&app).await;
        let at_gate = app.metric("plauder_room_write_waiting").await as i64;
        let for_pool = i64::try_from(app.state.pool.status().waiting).unwrap();
        (on_row, at_gate, for_pool)
    };
    let (on_row, ..) =
        eventually("every write to wait", async || check(waits().await, |&(r, g, p)| r + g + p >= all)).await;

    // Cyd, in another room, needs a pool connection for a reply and for a history page.
    let reply = app
        .post(
            &format!("/api/v1/rooms/{elsewhere}/messages"),
            Some(&cyd.access_token),
            json!({"body": "still here", "reply_to": cyds["id"]}),
        )
        .await;
    assert_eq!(reply.status(), StatusCode::CREATED, "{:?}", reply.text().await);
    assert_eq!(stored_bodies(&app, &cyd, elsewhere).await, ["still here", "mine"], "newest first");
    assert_eq!(on_row, 2, "two writes of the held room on a connection, the rest at its gate");
    assert!(writes.iter().all(|w| !w.is_finished()), "the held room's writes still wait");

    blocker.batch_execute("COMMIT").await.expect("commit");
    for write in writes {
        let res = write.await.expect("write task");
        assert!(res.status().is_success(), "{:?}", res.text().await);
    }
    let stored = stored_bodies(&app, &ada, held).await;
    assert_eq!(stored.len(), replies + 1, "{stored:?}");
    let last = app.count(&format!("SELECT last_seq AS n FROM rooms WHERE id = '{held}'")).await;
    assert_eq!(last, all, "one seq per reply and per reaction, after the first message's");
    let dees = app.count(&format!("SELECT count(*) AS n FROM room_members WHERE room_id = '{held}'")).await;
    assert_eq!(dees, 3, "dee joined");
    assert_eq!(app.metric("plauder_room_write_waiting").await, 0.0);
}

/// The insert's half: a send whose room is deleted while it waits for the room's row inserts
/// nothing, because the batch inserts only rows whose room its counter update returned.
#[actix_web::test]
async fn a_send_to_a_room_deleted_while_it_waits_stores_nothing() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;

    // The room deleted but not yet committed: the send waits for the row, then finds it gone.
    let mut deleter = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
    deleter.batch_execute(&format!("BEGIN; DELETE FROM rooms WHERE id = '{room}'")).await.expect("delete");
    ws.send_json(json!({"id": 100, "type": "message.send", "data": {"room_id": room, "body": "too late"}})).await;
    eventually("the send to wait for the room's row", async || check(waiting_for_locks(&app).await, |&n| n == 1)).await;
    deleter.batch_execute("COMMIT").await.expect("commit");

    let reply = ws.reply_to(json!(100)).await;
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["error"]["code"], "not_found", "{reply}");
    assert_eq!(orphans(&app).await, 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM messages").await, 0);
    // The connection and the writer carry on.
    let other = app.group(&ada, "s", &[]).await;
    let reply = ws.command("message.send", json!({"room_id": other, "body": "next"})).await;
    assert_eq!(reply["ok"], true, "{reply}");
}

/// Messages whose sender does not exist: the users' trigger (not a foreign key) must leave none.
async fn senderless_orphans(app: &TestApp) -> i64 {
    app.count(
        "SELECT count(*) AS n FROM messages m \
         WHERE m.sender_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = m.sender_id)",
    )
    .await
}

/// Ada, a member of Bob's group room, with her socket open.
async fn ada_in_bobs_room() -> (TestApp, TestUser, TestUser, uuid::Uuid, WsClient) {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&bob, "r", &[&ada]).await;
    let ws = app.ws(&ada.access_token).await;
    (app, ada, bob, room, ws)
}

/// An edit, a reaction and a deletion, each waiting for its room's row when its client hangs up,
/// still commit and are announced once the row is free, as a send is: cancelled with its socket
/// after the commit, a change went unannounced and the other members learnt of it late or never.
#[actix_web::test]
async fn changes_whose_client_hung_up_while_they_waited_commit_and_are_announced() {
    for (kind, data, event) in [
        ("message.edit", json!({"body": "changed"}), "message.updated"),
        ("reaction.add", json!({"emoji": "👍"}), "reaction.updated"),
        ("message.delete", json!({}), "message.deleted"),
    ] {
        let (app, _ada, bob, room, mut ws) = ada_in_bobs_room().await;
        ws.send_json(json!({"id": 1, "type": "message.send", "data": {"room_id": room, "body": "original"}})).await;
        let sent = ws.reply_to(json!(1)).await;
        let id = sent["data"]["message"]["id"].clone();
        let mut bob_ws = app.ws(&bob.access_token).await;

        let mut blocker = app.hold_room_row(room).await;
        let mut data = data;
        data["message_id"] = id.clone();
        ws.send_json(json!({"id": 2, "type": kind, "data": data})).await;
        eventually("the change to wait for the room's row", async || check(waiting_for_locks(&app).await, |&n| n == 1))
            .await;
        ws.close().await;
        // The hang-up reaches the server (its connection actor stops) before the row is freed.
        eventually("the socket to close", async || check(app.metric("plauder_ws_connections").await, |&n| n == 1.0))
            .await;
        blocker.batch_execute("COMMIT").await.expect("commit");

        let announced = bob_ws.event(event).await;
        assert_eq!(announced["message"]["id"], id, "{kind}: {announced}");
        assert_eq!(announced["seq"], 2, "{kind}: {announced}");
    }
}

/// Requests that found a room and then waited for its row while it was being deleted answer 404,
/// as they would have a moment later: a rename found no row to update and a join or an added
/// member broke the room's foreign key, all 500; a read marker answered 200, a kick 204 and a
/// role change 200 for a room no longer there.
#[actix_web::test]
async fn requests_waiting_for_a_room_being_deleted_get_404() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    for request in ["rename", "join", "add", "read", "kick", "role"] {
        let res = app
            .post(
                "/api/v1/rooms",
                Some(&ada.access_token),
                json!({"kind": "group", "name": "doomed", "is_public": true, "member_ids": [bob.id]}),
            )
            .await;
        let room = res.json::<Value>().await.expect("room")["id"].as_str().expect("id").to_owned();
        let mut deleter = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
        deleter.batch_execute(&format!("BEGIN; DELETE FROM rooms WHERE id = '{room}'")).await.expect("delete");
        let carol = app.register(&format!("carol_{request}")).await;
        let asked = async {
            match request {
                "rename" => {
                    app.patch(&format!("/api/v1/rooms/{room}"), Some(&ada.access_token), json!({"name": "x"})).await
                }
                "join" => app.post(&format!("/api/v1/rooms/{room}/join"), Some(&carol.access_token), json!({})).await,
                "add" => {
                    let path = format!("/api/v1/rooms/{room}/members");
                    app.post(&path, Some(&ada.access_token), json!({"user_ids": [carol.id]})).await
                }
                "kick" => {
                    app.delete(&format!("/api/v1/rooms/{room}/members/{}", bob.id), Some(&ada.access_token)).await
                }
                "role" => {
                    let path = format!("/api/v1/rooms/{room}/members/{}", bob.id);
                    app.patch(&path, Some(&ada.access_token), json!({"role": "moderator"})).await
                }
                _ => app.post(&format!("/api/v1/rooms/{room}/read"), Some(&bob.access_token), json!({"seq": 0})).await,
            }
        };
        let commit_once_it_waits = async {
            eventually("the request to wait for the room's row", async || {
                check(waiting_for_locks(&app).await, |&n| n == 1)
            })
            .await;
            deleter.batch_execute("COMMIT").await.expect("commit");
        };
        let (res, ()) = tokio::join!(asked, commit_once_it_waits);
        let body = crate::helpers::assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
        assert!(body["error"]["message"].as_str().is_some(), "{request}: {body}");
    }
}

/// A kick or a role change that waited for the room's row while the member's account was deleted
/// (a deletion does not wait for that lock) answers 404 with nothing changed, judged again on the
/// memberships as they are under the lock.
#[actix_web::test]
async fn a_kick_or_role_change_waiting_while_the_members_account_is_deleted_gets_404() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    for request in ["kick", "role"] {
        let bob = app.register(&format!("bob_{request}")).await;
        let room = app.group(&ada, "r", &[&bob]).await;
        let mut blocker = app.hold_room_row(room).await;
        let path = format!("/api/v1/rooms/{room}/members/{}", bob.id);
        let asked = match request {
            "kick" => tokio::spawn(app.request(Method::DELETE, &path, Some(&ada.access_token), None)),
            _ => tokio::spawn(app.request(
                Method::PATCH,
                &path,
                Some(&ada.access_token),
                Some(json!({"role": "moderator"})),
            )),
        };
        eventually("the request to wait for the room's row", async || {
            check(waiting_for_locks(&app).await, |&n| n == 1)
        })
        .await;
        let gone = app
            .request(Method::DELETE, "/api/v1/users/me", Some(&bob.access_token), Some(json!({"password": PASSWORD})))
            .await;
        assert_eq!(gone.status(), StatusCode::NO_CONTENT, "{request}: the deletion waits for nothing");
        blocker.batch_execute("ROLLBACK").await.expect("rollback");
        let res = asked.await.expect("request task");
        crate::helpers::assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
        let members = format!("SELECT count(*) AS n FROM room_members WHERE room_id = '{room}'");
        assert_eq!(app.count(&members).await, 1, "{request}: the owner alone is left");
    }
}

/// An owner who leaves, or whose account is deleted, hands the room to the longest-standing
/// moderator, else member; an heir whose membership goes while the hand-over waits for it (as an
/// account's deletion takes it, without the room's lock) is passed over for the next one, and the
/// room is not left without an owner.
#[actix_web::test]
async fn an_heir_who_goes_while_the_owner_leaves_is_passed_over() {
    let app = spawn_app().await;
    for how in ["leave", "deletion"] {
        let ada = app.register(&format!("ada_{how}")).await;
        let bob = app.register(&format!("bob_{how}")).await;
        let carol = app.register(&format!("carol_{how}")).await;
        let room = app.group(&ada, "r", &[&bob, &carol]).await;
        let res = app
            .patch(
                &format!("/api/v1/rooms/{room}/members/{}", bob.id),
                Some(&ada.access_token),
                json!({"role": "moderator"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);

        let mut heir = app.hold_membership_row(room, bob.id).await;
        let gone = match how {
            "leave" => {
                let path = format!("/api/v1/rooms/{room}/members/{}", ada.id);
                tokio::spawn(app.request(Method::DELETE, &path, Some(&ada.access_token), None))
            }
            _ => tokio::spawn(app.request(
                Method::DELETE,
                "/api/v1/users/me",
                Some(&ada.access_token),
                Some(json!({"password": PASSWORD})),
            )),
        };
        eventually("the hand-over to wait for the heir", async || check(waiting_for_locks(&app).await, |&n| n == 1))
            .await;
        heir.batch_execute(&format!(
            "DELETE FROM room_members WHERE room_id = '{room}' AND user_id = '{}'; COMMIT",
            bob.id
        ))
        .await
        .expect("the heir goes");

        let res = gone.await.expect("request task");
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{how}");
        assert_eq!(app.owners(room).await, [carol.id], "{how}: the room has one owner, the next in line");
    }
}

/// An heir whose account is being deleted is passed over: the room would go with that account.
#[actix_web::test]
async fn an_heir_whose_account_is_being_deleted_is_passed_over() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room = app.group(&ada, "r", &[&bob, &carol]).await;
    let path = format!("/api/v1/rooms/{room}/members/{}", bob.id);
    assert_eq!(app.patch(&path, Some(&ada.access_token), json!({"role": "moderator"})).await.status(), StatusCode::OK);
    // Bob's deletion has begun (marked, as its first transaction leaves it).
    app.sql(&format!("UPDATE users SET deleting_since = now() WHERE id = '{}'", bob.id)).await;

    let path = format!("/api/v1/rooms/{room}/members/{}", ada.id);
    assert_eq!(app.delete(&path, Some(&ada.access_token)).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.owners(room).await, [carol.id], "the next in line owns the room");
}

/// A room handed to an account while its deletion runs is handed on: the deletion reads the
/// account's memberships with a lock, so it waits for the hand-over under way and sees the account
/// as the owner, instead of deleting the room's new owner with the account.
#[actix_web::test]
async fn a_room_handed_to_an_account_being_deleted_is_handed_on() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let heidi = app.register("heidi").await;
    let room = app.group(&heidi, "heidi's", &[&ada]).await;

    // Heidi's hand-over to Ada, under way (as `set_member_role` writes it) and not committed.
    let mut handing = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
    handing
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM rooms WHERE id = '{room}' FOR NO KEY UPDATE; \
             UPDATE room_members SET role = 'owner' WHERE room_id = '{room}' AND user_id = '{}'; \
             UPDATE room_members SET role = 'moderator' WHERE room_id = '{room}' AND user_id = '{}'",
            ada.id, heidi.id
        ))
        .await
        .expect("hand over");
    let deleted = tokio::spawn(app.request(
        Method::DELETE,
        "/api/v1/users/me",
        Some(&ada.access_token),
        Some(json!({"password": PASSWORD})),
    ));
    eventually("the deletion to wait for the hand-over", async || check(waiting_for_locks(&app).await, |&n| n == 1))
        .await;
    handing.batch_execute("COMMIT").await.expect("commit");

    let res = deleted.await.expect("deletion task");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.owners(room).await, [heidi.id], "the room was handed on, back to Heidi");
}

/// Ada's send of `data` (with `client_msg_id` "c-1") waits inside its insert for another
/// transaction inserting the same id, holding every lock its statement took, while her account is
/// deleted; then the other transaction rolls back. The deletion must wait for the send, and its
/// trigger, reading after that wait, must clear the sender of the message committed just before.
async fn delete_the_sender_of_a_waiting_send(data: impl FnOnce(uuid::Uuid, &Value) -> Value) {
    let (app, ada, bob, room, mut ws) = ada_in_bobs_room().await;
    let first = app.send(&bob, room, "first").await;

    let mut blocker = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
    blocker
        .batch_execute(&format!(
            "BEGIN; INSERT INTO messages (id, room_id, seq, rev, sender_id, body, client_msg_id) \
             VALUES (gen_random_uuid(), '{room}', 1000000, 1000000, '{}', 'elsewhere', 'c-1')",
            ada.id
        ))
        .await
        .expect("insert");
    ws.send_json(json!({"id": 100, "type": "message.send", "data": data(room, &first)})).await;
    eventually("the send to wait in its insert", async || check(waiting_for_locks(&app).await, |&n| n == 1)).await;
    let deletion = delete_behind_the_waiting_send(&app, format!("DELETE FROM users WHERE id = '{}'", ada.id)).await;
    blocker.batch_execute("ROLLBACK").await.expect("rollback");

    let reply = ws.reply_to(json!(100)).await;
    assert_eq!(reply["ok"], true, "the send committed before the deletion: {reply}");
    deletion.await.expect("deletion task");
    let kept = app.count("SELECT count(*) AS n FROM messages WHERE body = 'last words' AND sender_id IS NULL").await;
    assert_eq!(kept, 1, "the message stays, without its deleted sender");
    assert_eq!(senderless_orphans(&app).await, 0);
}

/// A message's sender is a trigger on `users` and a lock taken by each insert, not a foreign key
/// (migration 2026-12-05-000400). The checked path's half: a reply locks its sender's row.
#[actix_web::test]
async fn an_account_deleted_while_its_send_waits_leaves_the_message_without_a_sender() {
    delete_the_sender_of_a_waiting_send(
        |room, first| json!({"room_id": room, "body": "last words", "reply_to": first["id"], "client_msg_id": "c-1"}),
    )
    .await;
}

/// The batch's half: a batch locks the membership row its probe found, and the account's
/// deletion deletes that membership before its trigger runs.
#[actix_web::test]
async fn an_account_deletion_waits_for_a_batch_holding_its_membership_and_clears_its_message() {
    delete_the_sender_of_a_waiting_send(
        |room, _| json!({"room_id": room, "body": "last words", "client_msg_id": "c-1"}),
    )
    .await;
}

/// The insert's half: a send whose account is being deleted finds its membership held and takes
/// the checked path, which waits for the sender's row and, the account gone, stores nothing.
#[actix_web::test]
async fn a_send_whose_account_is_deleted_while_it_waits_stores_nothing() {
    let (app, ada, _bob, room, mut ws) = ada_in_bobs_room().await;

    let mut deleter = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
    deleter.batch_execute(&format!("BEGIN; DELETE FROM users WHERE id = '{}'", ada.id)).await.expect("delete");
    ws.send_json(json!({"id": 100, "type": "message.send", "data": {"room_id": room, "body": "too late"}})).await;
    eventually("the send to wait for its sender's row", async || check(waiting_for_locks(&app).await, |&n| n == 1))
        .await;
    deleter.batch_execute("COMMIT").await.expect("commit");

    let reply = ws.reply_to(json!(100)).await;
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(app.count("SELECT count(*) AS n FROM messages").await, 0);
    assert_eq!(senderless_orphans(&app).await, 0);
}

/// A batch never waits for an account being deleted: with the sender's foreign key, a member's
/// send during their account's deletion made the batch wait for the user's row, and with it every
/// room's sends behind the one writer. The deleted member's send waits on the checked path alone.
#[actix_web::test]
async fn an_account_being_deleted_holds_up_no_other_members_sends() {
    // As in the room's case above: a batch that waited would not give up within the test.
    let app = spawn_app_with(|s| s.database.statement_timeout_ms = 120_000).await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let shared = app.group(&bob, "shared", &[&carol]).await;
    let free = app.group(&bob, "free", &[]).await;
    let mut carol_ws = app.ws(&carol.access_token).await;
    let mut bob_ws = app.ws(&bob.access_token).await;

    let mut deleter = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
    deleter.batch_execute(&format!("BEGIN; DELETE FROM users WHERE id = '{}'", carol.id)).await.expect("delete");
    carol_ws.send_json(json!({"id": 1, "type": "message.send", "data": {"room_id": shared, "body": "waits"}})).await;
    eventually("carol's send to wait for her row", async || check(waiting_for_locks(&app).await, |&n| n == 1)).await;
    sends_elsewhere_commit_meanwhile(&app, &mut bob_ws, free).await;
    // The deletion is called off: carol's send goes through.
    deleter.batch_execute("ROLLBACK").await.expect("rollback");
    let reply = carol_ws.reply_to(json!(1)).await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["data"]["message"]["seq"], 1, "{reply}");
}

/// One lock order: a transaction that deletes a room and then a user (retention deletes a guest's
/// support room, then the guest) must not deadlock with that user's send waiting for the room.
/// The checked path locks the room's row before the sender's, so the waiting send holds nothing
/// the deletion wants; it then finds the room gone.
#[actix_web::test]
async fn a_send_waiting_for_a_room_whose_deleter_then_deletes_its_sender_does_not_deadlock() {
    let (app, ada, _bob, room, mut ws) = ada_in_bobs_room().await;

    let mut deleter = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
    deleter.batch_execute(&format!("BEGIN; DELETE FROM rooms WHERE id = '{room}'")).await.expect("delete the room");
    ws.send_json(json!({"id": 100, "type": "message.send", "data": {"room_id": room, "body": "too late"}})).await;
    eventually("the send to wait for the room's row", async || check(waiting_for_locks(&app).await, |&n| n == 1)).await;
    // A deadlock would abort one side after deadlock_timeout (1 s): this statement or the send.
    deleter.batch_execute(&format!("DELETE FROM users WHERE id = '{}'", ada.id)).await.expect("delete the sender");
    deleter.batch_execute("COMMIT").await.expect("commit");

    let reply = ws.reply_to(json!(100)).await;
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["error"]["code"], "not_found", "{reply}");
    assert_eq!(app.count("SELECT count(*) AS n FROM messages").await, 0);
    assert_eq!(senderless_orphans(&app).await, 0);
}

/// A visitor's send that waits for its support room while staff close the session commits before
/// the close; a send (staff's) or an edit (the visitor's) that waits behind the close finds the
/// session closed. (Before, the close took no room lock: it went out at once, and the waiting
/// send wrote into the closed session after it.) The two commits' events are announced after
/// each commit, so they may reach the socket in either order.
#[actix_web::test]
async fn a_support_send_waiting_while_staff_close_the_session_lands_before_the_close() {
    for late in ["send", "edit"] {
        let app = spawn_app().await;
        let staff = crate::helpers::user_with_role(&app, "helper", "moderator").await;
        let visitor = crate::helpers::open_session(&app, "visitor").await;
        let first = app.send(&visitor.guest, visitor.room, "first").await;
        let mut ws = app.ws(&visitor.guest.access_token).await;
        let mut blocker = app.hold_room_row(visitor.room).await;
        // The close, once it has the room, waits for the session's row, so that the last request
        // queues behind a close that holds the room. Queued behind a close still waiting for the
        // room, it could overtake it: PostgreSQL does not keep the order of two requests waiting
        // for a row that a third one (the send) updates meanwhile, and under load it did not.
        let mut session_holder = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
        let hold = format!("BEGIN; SELECT 1 FROM support_sessions WHERE id = '{}' FOR UPDATE", visitor.session_id);
        session_holder.batch_execute(&hold).await.expect("hold the session");

        let token = Some(visitor.guest.access_token.as_str());
        let messages = format!("/api/v1/rooms/{}/messages", visitor.room);
        let sent = app.post(&messages, token, json!({"body": "last words"}));
        let then_close_and_more = async {
            eventually("the send to wait for the room", async || check(waiting_for_locks(&app).await, |&n| n == 1))
                .await;
            let close = app.post(
                &format!("/api/v1/admin/support/sessions/{}/close", visitor.session_id),
                Some(&staff.access_token),
                json!({}),
            );
            let too_late = async {
                eventually("the close to wait", async || check(waiting_for_locks(&app).await, |&n| n == 2)).await;
                blocker.batch_execute("COMMIT").await.expect("commit");
                // The send commits; the close takes the room and waits for the session's row.
                app.wait_for_a_lock_wait("UPDATE \"support_sessions\"%").await;
                let request = async {
                    if late == "send" {
                        // Staff's: the visitor's own next send would wait for its first one's commit.
                        app.post(&messages, Some(&staff.access_token), json!({"body": "too late"})).await
                    } else {
                        let path = format!("/api/v1/messages/{}", first["id"].as_str().expect("id"));
                        app.patch(&path, token, json!({"body": "edited"})).await
                    }
                };
                let release = async {
                    eventually("the last request to wait for the room", async || {
                        check(waiting_for_locks(&app).await, |&n| n == 2)
                    })
                    .await;
                    session_holder.batch_execute("COMMIT").await.expect("commit");
                };
                let (refused, ()) = tokio::join!(request, release);
                refused
            };
            let (closed, refused) = tokio::join!(close, too_late);
            (closed, refused)
        };
        let (sent, (closed, refused)) = tokio::join!(sent, then_close_and_more);

        assert_eq!(sent.status(), StatusCode::CREATED, "{late}");
        assert_eq!(closed.status(), StatusCode::OK, "{late}");
        let refused = crate::helpers::assert_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
        assert_eq!(refused["error"]["message"], "This support session is closed.", "{late}");
        let frames = ws
            .frames_until("the last words and the close", |f| {
                f.iter().any(|f| f["type"] == "support.session_closed")
                    && f.iter().any(|f| f["type"] == "message.new" && f["data"]["message"]["body"] == "last words")
            })
            .await;
        let news: Vec<_> = frames.iter().filter(|f| f["type"] == "message.new").collect();
        assert_eq!(news.len(), 1, "{late}: only the last words: {news:?}");
        ws.no_event("message.new", Duration::from_millis(200)).await;
        ws.no_event("message.updated", Duration::from_millis(100)).await;
        let stored = format!("SELECT count(*) AS n FROM messages WHERE room_id = '{}'", visitor.room);
        assert_eq!(app.count(&stored).await, 2, "{late}: first and last words only");
    }
}

/// What a removal from `room` does in the database, held open: the room's row taken (as
/// `rooms::lock`), then `user`'s membership deleted.
async fn hold_removal(app: &TestApp, room: uuid::Uuid, user: &TestUser) -> AsyncPgConnection {
    app.hold(&format!(
        "SELECT 1 FROM rooms WHERE id = '{room}' FOR NO KEY UPDATE; \
         DELETE FROM room_members WHERE room_id = '{room}' AND user_id = '{}'",
        user.id
    ))
    .await
}

/// A member's send, edit or reaction checked while the owner removes them, and waiting for the
/// room's row the removal holds, is refused once the removal commits (403, nothing written, no seq
/// taken): it would otherwise land after the removal, from someone no longer in the room.
#[actix_web::test]
async fn a_write_checked_before_its_writer_was_removed_from_the_room_is_refused() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "Team", &[&bob]).await;
    let mine = app.send(&bob, room, "before").await;
    let id = mine["id"].as_str().unwrap().to_owned();
    let last_seq = format!("SELECT last_seq AS n FROM rooms WHERE id = '{room}'");
    let before = app.count(&last_seq).await;

    let send = app.post(&format!("/api/v1/rooms/{room}/messages"), Some(&bob.access_token), json!({ "body": "after" }));
    let res = app.while_held(hold_removal(&app, room, &bob).await, 1, "COMMIT", send).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count(&last_seq).await, before, "no seq taken");
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM messages WHERE room_id = '{room}'")).await, 1);

    // Put back, and removed again while editing, then while reacting.
    app.sql(&format!("INSERT INTO room_members (room_id, user_id, role) VALUES ('{room}', '{}', 'member')", bob.id))
        .await;
    let edit = app.patch(&format!("/api/v1/messages/{id}"), Some(&bob.access_token), json!({ "body": "changed" }));
    let res = app.while_held(hold_removal(&app, room, &bob).await, 1, "COMMIT", edit).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    app.sql(&format!("INSERT INTO room_members (room_id, user_id, role) VALUES ('{room}', '{}', 'member')", bob.id))
        .await;
    let react = app.request(Method::PUT, &format!("/api/v1/messages/{id}/reactions/👍"), Some(&bob.access_token), None);
    let res = app.while_held(hold_removal(&app, room, &bob).await, 1, "COMMIT", react).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count(&last_seq).await, before, "neither the edit nor the reaction took a rev");
    let stored = app.count(&format!("SELECT count(*) AS n FROM messages WHERE id = '{id}' AND body = 'before'")).await;
    assert_eq!(stored, 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM reactions").await, 0);
}

/// A block takes the pair's direct room's row: a message there checked before the block committed
/// and waiting for that row is refused once it has (403), and a block waits for a write that
/// holds the row (so that write lands before it).
#[actix_web::test]
async fn a_message_checked_before_a_block_committed_is_refused_and_a_block_waits_for_the_room() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.direct(&ada, &bob).await;

    let held = app
        .hold(&format!(
            "SELECT 1 FROM rooms WHERE id = '{room}' FOR NO KEY UPDATE; \
             INSERT INTO blocks (blocker_id, blocked_id) VALUES ('{}', '{}')",
            bob.id, ada.id
        ))
        .await;
    let send = app.post(&format!("/api/v1/rooms/{room}/messages"), Some(&ada.access_token), json!({ "body": "hi" }));
    let res = app.while_held(held, 1, "COMMIT", send).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM messages WHERE room_id = '{room}'")).await, 0);
    app.sql(&format!("DELETE FROM blocks WHERE blocker_id = '{}'", bob.id)).await;

    // The block itself waits for the room's row.
    let block = app.post("/api/v1/blocks", Some(&bob.access_token), json!({ "user_id": ada.id }));
    let res = app.while_held(app.hold_room_row(room).await, 1, "COMMIT", block).await;
    assert!(res.status().is_success(), "{}", res.status());
}

/// Opening a direct room with someone whose block of the opener is committing: the block holds
/// the pair's lock (`social::lock_pair`, the advisory lock below), the opening waits for it and
/// then sees the block (403, no room made), instead of making a room across it.
#[actix_web::test]
async fn a_direct_room_opened_while_a_block_commits_is_refused() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let held = held_block(&app, &bob, &ada).await;
    let open = app.post("/api/v1/rooms", Some(&ada.access_token), json!({ "kind": "direct", "member_ids": [bob.id] }));
    let res = app.while_held(held, 1, "COMMIT", open).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) AS n FROM rooms WHERE kind = 'direct'").await, 0);
}

/// `blocker`'s block of `blocked`, inserted and not yet committed, under the pair's lock as the
/// service takes it (`social::lock_pair`; if that key changes, the tests using this see no lock
/// wait and fail, they cannot pass wrongly).
async fn held_block(app: &TestApp, blocker: &TestUser, blocked: &TestUser) -> AsyncPgConnection {
    let (a, b) = (blocker.id, blocked.id);
    app.hold(&format!(
        "SELECT pg_advisory_xact_lock({}, hashtext(least('{a}'::uuid, '{b}'::uuid)::text \
             || greatest('{a}'::uuid, '{b}'::uuid)::text)); \
         INSERT INTO blocks (blocker_id, blocked_id) VALUES ('{a}', '{b}')",
        0x706c_6670
    ))
    .await
}

/// Nobody is put in a group by someone they block, also when the block commits while the group is
/// being made: the creation waits for it and is refused.
#[actix_web::test]
async fn a_group_made_while_a_member_named_blocks_its_maker_is_refused() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let cyd = app.register("cyd").await;
    let held = held_block(&app, &bob, &ada).await;
    let body = json!({ "kind": "group", "name": "g", "member_ids": [cyd.id, bob.id] });
    let res = app.while_held(held, 1, "COMMIT", app.post("/api/v1/rooms", Some(&ada.access_token), body)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) AS n FROM rooms").await, 0);
}

/// As above for a member added to a room that exists; a block rolled back instead lets the add
/// through once it is gone.
#[actix_web::test]
async fn a_member_added_while_they_block_the_adder_is_refused() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let cyd = app.register("cyd").await;
    let room = app.group(&ada, "g", &[]).await;
    let path = format!("/api/v1/rooms/{room}/members");
    let held = held_block(&app, &bob, &ada).await;
    let add = app.post(&path, Some(&ada.access_token), json!({ "user_ids": [bob.id] }));
    let res = app.while_held(held, 1, "COMMIT", add).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let members = format!("SELECT count(*) AS n FROM room_members WHERE room_id = '{room}'");
    assert_eq!(app.count(&members).await, 1);

    let held = held_block(&app, &cyd, &ada).await;
    let add = app.post(&path, Some(&ada.access_token), json!({ "user_ids": [cyd.id] }));
    let res = app.while_held(held, 1, "ROLLBACK", add).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(app.count(&members).await, 2);
}

/// A direct room made by a request that does not take the pair's lock (an older instance during a
/// rolling update), committing while this one inserts the same pair's room: this one answers with
/// that room (200), not an error.
#[actix_web::test]
async fn a_direct_room_made_meanwhile_without_the_pairs_lock_is_answered_as_found() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let (lo, hi) = if ada.id < bob.id { (ada.id, bob.id) } else { (bob.id, ada.id) };
    let other = uuid::Uuid::new_v4();
    let held = app
        .hold(&format!(
            "INSERT INTO rooms (id, kind, is_public, created_by, direct_key) \
             VALUES ('{other}', 'direct', false, '{}', '{lo}:{hi}')",
            bob.id
        ))
        .await;
    let open = app.post("/api/v1/rooms", Some(&ada.access_token), json!({ "kind": "direct", "member_ids": [bob.id] }));
    let res = app.while_held(held, 1, "COMMIT", open).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["id"], other.to_string());
}

/// Requests that name a user whose account is being deleted (its row deleted by a transaction
/// not yet committed) wait for the deletion and answer as for an unknown user, not 500.
#[actix_web::test]
async fn requests_naming_a_user_deleted_meanwhile_answer_as_for_an_unknown_user() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let deleting = async |name: &str| {
        let user = app.register(name).await;
        let held = app.hold(&format!("DELETE FROM users WHERE id = '{}'", user.id)).await;
        (user, held)
    };
    let token = Some(ada.access_token.as_str());

    let (bob, held) = deleting("bob").await;
    let request = app.post("/api/v1/friends/requests", token, json!({ "user_id": bob.id }));
    let res = app.while_held(held, 1, "COMMIT", request).await;
    crate::helpers::assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    let (cyd, held) = deleting("cyd").await;
    let block = app.post("/api/v1/blocks", token, json!({ "user_id": cyd.id }));
    let res = app.while_held(held, 1, "COMMIT", block).await;
    crate::helpers::assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    let (dan, held) = deleting("dan").await;
    let direct = app.post("/api/v1/rooms", token, json!({ "kind": "direct", "member_ids": [dan.id] }));
    let res = app.while_held(held, 1, "COMMIT", direct).await;
    crate::helpers::assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    let eve = app.register("eve").await;
    let (fay, held) = deleting("fay").await;
    let group =
        app.post("/api/v1/rooms", token, json!({ "kind": "group", "name": "g", "member_ids": [eve.id, fay.id] }));
    let res = app.while_held(held, 1, "COMMIT", group).await;
    let body = crate::helpers::assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["error"]["details"]["fields"]["member_ids"].is_string(), "{body}");
    assert_eq!(app.count("SELECT count(*) AS n FROM rooms").await, 0, "no room made");
}

/// Opening a direct room again while that room is being deleted waits for the deletion and makes
/// the pair a new room (201), instead of adding them to the room that is gone (500).
#[actix_web::test]
async fn a_direct_room_opened_again_while_it_is_deleted_is_made_anew() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let open =
        || app.post("/api/v1/rooms", Some(&ada.access_token), json!({ "kind": "direct", "member_ids": [bob.id] }));
    let res = open().await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let old = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let held = app.hold(&format!("DELETE FROM rooms WHERE id = '{old}'")).await;
    let res = app.while_held(held, 1, "COMMIT", open()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let new = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let members = format!("SELECT count(*) AS n FROM room_members WHERE room_id = '{new}'");
    assert_eq!(app.count(&members).await, 2);
}
