//! The WebSocket contract itself: authentication at the upgrade, hello, replies, bad frames,
//! frame size, rate limits, and revocation closing live sockets.

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Error;

use crate::helpers::wait::{check, eventually};
use crate::helpers::ws::WsClient;
use crate::helpers::{PASSWORD, spawn_app, spawn_app_with};

fn upgrade_status(result: Result<WsClient, Error>) -> u16 {
    match result {
        Err(Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("the upgrade should have been refused"),
    }
}

/// A text frame that is not UTF-8 fails the connection as RFC 6455 says: a close frame with 1007,
/// not a dropped TCP connection (which a client sees as 1006, with no reason).
#[actix_web::test]
async fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let mut ws = app.ws(&ada.access_token).await;
    ws.send_raw_text(vec![0xFF, 0xFE, b'{']).await;
    assert_eq!(ws.closed_with_reason().await, (1007, "text frame is not UTF-8".to_owned()));
}

#[actix_web::test]
async fn the_upgrade_needs_a_valid_token_and_a_banned_user_gets_403() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    assert_eq!(upgrade_status(WsClient::connect(&app.ws_url(), None).await), 401);
    assert_eq!(upgrade_status(app.ws_raw("garbage").await), 401);
    // The browser form: ?token=
    let mut via_query = WsClient::connect(&format!("{}?token={}", app.ws_url(), ada.access_token), None)
        .await
        .expect("?token= accepted");
    assert_eq!(via_query.next_frame().await["type"], "hello");
    app.sql(&format!("UPDATE users SET banned_at = now() WHERE id = '{}'", ada.id)).await;
    assert_eq!(upgrade_status(app.ws_raw(&ada.access_token).await), 403);
}

#[actix_web::test]
async fn hello_comes_first_with_user_session_heartbeat_and_instance() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let a = app.ws(&ada.access_token).await;
    let b = app.ws(&ada.access_token).await;
    let hello = &a.hello["data"];
    assert_eq!(hello["user"]["username"], "ada");
    assert_eq!(hello["heartbeat_ms"], 15000);
    assert!(hello["instance"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(hello["session_id"].is_string());
    assert_ne!(hello["session_id"], b.hello["data"]["session_id"]);
}

#[actix_web::test]
async fn ping_gets_a_reply_with_an_id_and_a_pong_without() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let mut ws = app.ws(&ada.access_token).await;
    let reply = ws.command("ping", json!({})).await;
    assert_eq!(reply["ok"], true);
    assert_eq!(reply["data"], json!({}));
    ws.send_json(json!({"type": "ping"})).await;
    assert_eq!(ws.next_frame().await, json!({"type": "pong"}));
    // String ids come back as strings.
    ws.send_json(json!({"id": "abc", "type": "ping"})).await;
    assert_eq!(ws.reply_to(json!("abc")).await["ok"], true);
}

#[actix_web::test]
async fn bad_frames_get_errors_and_the_connection_stays_usable() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;

    ws.send_text("{not json").await;
    let e = ws.next_frame().await;
    assert_eq!((e["type"].as_str(), e["data"]["error"]["code"].as_str()), (Some("error"), Some("bad_request")));
    ws.send_text("[1, 2, 3]").await;
    assert_eq!(ws.next_frame().await["data"]["error"]["code"], "bad_request");
    ws.send_binary(vec![1, 2, 3]).await;
    assert_eq!(ws.next_frame().await["data"]["error"]["code"], "bad_request");

    let r = ws.command("no.such.thing", json!({})).await;
    assert_eq!((r["ok"].as_bool(), r["error"]["code"].as_str()), (Some(false), Some("bad_request")));
    let r = ws.command("message.send", json!({"room_id": "not-a-uuid", "body": "x"})).await;
    assert_eq!(r["error"]["code"], "validation_failed");
    let r = ws.command("message.send", json!({"room_id": room})).await;
    assert_eq!(r["error"]["code"], "validation_failed");
    let r = ws.command("message.send", json!({"room_id": room, "body": "   "})).await;
    assert_eq!(r["error"]["code"], "validation_failed");
    let r = ws.command("message.send", json!({"room_id": room, "body": "x".repeat(4001)})).await;
    assert_eq!(r["error"]["code"], "payload_too_large");
    ws.send_json(json!({"id": {"nested": true}, "type": "ping"})).await;
    assert_eq!(ws.next_frame().await["data"]["error"]["code"], "bad_request");
    // JSON that serde_json cannot hold (a number beyond f64's range, nesting past 128) still gets
    // the reply its id waits for.
    ws.send_text(format!(r#"{{"id":7,"type":"sync","data":{{"room_id":"{room}","since_seq":1e400}}}}"#)).await;
    let r = ws.reply_to(json!(7)).await;
    assert_eq!((r["ok"].as_bool(), r["error"]["code"].as_str()), (Some(false), Some("bad_request")), "{r}");
    ws.send_text(format!(r#"{{"id":"deep","type":"ping","data":{}{}}}"#, "[".repeat(200), "]".repeat(200))).await;
    assert_eq!(ws.reply_to(json!("deep")).await["error"]["code"], "bad_request");
    // Command data is read like a REST body: ping takes none.
    assert_eq!(ws.command("ping", json!({"bogus": 1})).await["error"]["code"], "validation_failed");
    assert_eq!(ws.command("ping", Value::Null).await["ok"], true);

    // Still open and working.
    let r = ws.command("message.send", json!({"room_id": room, "body": "still here"})).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["data"]["message"]["seq"], 1, "the refused sends took no seq");
}

#[actix_web::test]
async fn a_text_frame_over_the_limit_closes_with_1009() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let mut ws = app.ws(&ada.access_token).await;
    ws.send_text(format!("{{\"type\":\"ping\",\"pad\":\"{}\"}}", "x".repeat(70_000))).await;
    assert_eq!(ws.closed_with().await, 1009);
}

#[actix_web::test]
async fn over_the_rate_limit_commands_and_rest_sends_are_refused_with_a_wait() {
    let app = spawn_app_with(|s| {
        s.rate_limit.message_burst = 3;
        s.rate_limit.message_replenish_interval_ms = 60_000;
    })
    .await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;
    for i in 0..3 {
        let r = ws.command("message.send", json!({"room_id": room, "body": format!("m{i}")})).await;
        assert_eq!(r["ok"], true);
    }
    let r = ws.command("message.send", json!({"room_id": room, "body": "one too many"})).await;
    assert_eq!(r["error"]["code"], "rate_limited");
    assert!(r["error"]["details"]["retry_after_ms"].as_u64().unwrap() > 1000);
    // Other commands have their own budget.
    assert_eq!(ws.command("ping", json!({})).await["ok"], true);
    // REST shares the user's message budget.
    let res =
        app.post(&format!("/api/v1/rooms/{room}/messages"), Some(&ada.access_token), json!({"body": "via REST"})).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
}

#[actix_web::test]
async fn a_close_from_the_client_is_answered_and_the_server_hangs_up_first() {
    // The wait for a client to hang up is set far beyond the client's own wait below, so a TCP
    // close seen within it comes from the server closing first (RFC 6455, 7.1.1), not from that
    // wait running out.
    let app = spawn_app_with(|s| s.server.client_disconnect_timeout_ms = 600_000).await;
    let ada = app.register("ada").await;
    let ws = app.ws(&ada.access_token).await;
    let (answer, hung_up) = ws.close_and_see_the_server_hang_up(1000).await;
    assert_eq!(answer, 1000, "the close frame echoes the client's code");
    assert!(hung_up, "the server left the TCP connection open after the close handshake");
    // The socket is gone on the server too, and a new one for the same user works.
    eventually("the closed socket to be released", async || {
        check(app.metric("plauder_ws_connections").await, |&n| n == 0.0)
    })
    .await;
    let mut again = app.ws(&ada.access_token).await;
    assert_eq!(again.command("ping", json!({})).await["ok"], true);
}

#[actix_web::test]
async fn a_close_the_server_starts_ends_when_the_client_answers_it() {
    // As above: a hang-up within the client's wait is the server's answer to the handshake, not
    // actix-http's wait for the client running out.
    let app = spawn_app_with(|s| s.server.client_disconnect_timeout_ms = 600_000).await;
    let ada = app.register("ada").await;
    let first = app.ws(&ada.access_token).await;
    let second = app.ws(&ada.access_token).await;
    app.post("/api/v1/auth/logout-all", Some(&ada.access_token), json!({})).await;
    for ws in [first, second] {
        let (code, silent, hung_up) =
            ws.answer_the_close_late_and_see_the_server_hang_up(Duration::from_millis(300)).await;
        assert_eq!(code, 4001);
        assert!(silent, "the server wrote or hung up after its close frame, before the client's answer");
        assert!(hung_up, "the server left the TCP connection open after the client answered its close");
    }
    eventually("the closed sockets to be released", async || {
        check(app.metric("plauder_ws_connections").await, |&n| n == 0.0)
    })
    .await;
}

#[actix_web::test]
async fn a_socket_the_server_closes_leaves_its_rooms_before_the_client_answers() {
    let app = spawn_app_with(|s| s.server.client_disconnect_timeout_ms = 600_000).await;
    let ada = app.register("ada").await;
    app.group(&ada, "r", &[]).await;
    let ws = app.ws(&ada.access_token).await;
    app.wait_for_attachments(1).await;
    app.post("/api/v1/auth/logout-all", Some(&ada.access_token), json!({})).await;
    // No answer yet: the socket is still open, and already out of its room.
    app.wait_for_attachments(0).await;
    assert_eq!(app.metric("plauder_ws_connections").await, 1.0, "the socket waits for the answer");
    let (code, _, hung_up) = ws.answer_the_close_late_and_see_the_server_hang_up(Duration::ZERO).await;
    assert_eq!(code, 4001);
    assert!(hung_up);
}

#[actix_web::test]
async fn a_client_that_does_not_answer_the_servers_close_is_hung_up_on_when_the_wait_runs_out() {
    let app = spawn_app_with(|s| s.server.client_disconnect_timeout_ms = 300).await;
    let ada = app.register("ada").await;
    let ws = app.ws(&ada.access_token).await;
    app.post("/api/v1/auth/logout-all", Some(&ada.access_token), json!({})).await;
    eventually("the unanswered socket to be released", async || {
        check(app.metric("plauder_ws_connections").await, |&n| n == 0.0)
    })
    .await;
    assert_eq!(ws.close_code_until_the_server_hangs_up().await, Some(4001));
}

#[actix_web::test]
async fn a_close_frame_followed_at_once_by_the_clients_fin_is_still_answered() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    // Several times: the frame and the FIN usually reach the server in one read, which is the
    // case this is about.
    for _ in 0..5 {
        let ws = app.ws(&ada.access_token).await;
        assert_eq!(ws.close_and_half_close(4000).await, Some(4000), "the close frame was not answered");
    }
    eventually("the closed sockets to be released", async || {
        check(app.metric("plauder_ws_connections").await, |&n| n == 0.0)
    })
    .await;
}

#[actix_web::test]
async fn sustained_abuse_closes_with_1008() {
    let app = spawn_app_with(|s| {
        s.rate_limit.command_burst = 1;
        s.rate_limit.command_replenish_interval_ms = 60_000;
        s.rate_limit.abuse_close_after = 5;
    })
    .await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;
    for _ in 0..10 {
        ws.send_json(json!({"type": "typing", "data": {"room_id": room, "active": true}})).await;
    }
    assert_eq!(ws.closed_with().await, 1008);

    // A ping between the refusals is no command let through: it does not start the count again.
    let mut ws = app.ws(&ada.access_token).await;
    for _ in 0..10 {
        ws.send_json(json!({"type": "typing", "data": {"room_id": room, "active": true}})).await;
        ws.send_json(json!({"id": "p", "type": "ping"})).await;
    }
    assert_eq!(ws.closed_with().await, 1008);
}

#[actix_web::test]
async fn logout_all_and_password_change_close_live_sockets_with_4001() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let mut a = app.ws(&ada.access_token).await;
    let mut b = app.ws(&ada.access_token).await;
    let bob = app.register("bob").await;
    let mut bobs = app.ws(&bob.access_token).await;
    app.post("/api/v1/auth/logout-all", Some(&ada.access_token), json!({})).await;
    assert_eq!(a.closed_with().await, 4001);
    assert_eq!(b.closed_with().await, 4001);
    assert_eq!(bobs.command("ping", json!({})).await["ok"], true, "other users are untouched");

    let res = app
        .post(
            "/api/v1/users/me/password",
            Some(&bob.access_token),
            json!({"current_password": PASSWORD, "new_password": "another good passphrase"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(bobs.closed_with().await, 4001);
}

#[actix_web::test]
async fn a_silent_connection_is_closed_after_three_heartbeats() {
    let app = spawn_app_with(|s| s.realtime.heartbeat_interval_ms = 100).await;
    let ada = app.register("ada").await;
    let ws = app.ws(&ada.access_token).await;
    assert_eq!(ws.hello["data"]["heartbeat_ms"], 100);
    // Not reading means not answering the server's pings: the server gives up on the connection.
    eventually("the server to close the silent connection", async || {
        check(app.state.notify.live_figures().await.map(|f| f.connections).ok(), |&open| open == Some(0))
    })
    .await;
    // Its pings unanswered, and the close frame too: the server hangs up when its wait for the
    // answer runs out.
    assert_eq!(ws.close_code_until_the_server_hangs_up().await, Some(1001));
    // An attentive client stays: reading answers pings.
    let mut alive = app.ws(&ada.access_token).await;
    let frames = alive.frames_within(Duration::from_millis(600)).await;
    assert!(frames.iter().all(|f| f["type"] != "closed"), "{frames:?}");
    assert_eq!(alive.command("ping", json!({})).await["ok"], true);
}

#[actix_web::test]
async fn on_shutdown_running_commands_reply_before_sockets_close_with_1001() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;
    let mut idle = app.ws(&ada.access_token).await;
    // The room's row held locked keeps the send running (it counts the room's sequence), so the
    // shutdown surely meets it in flight, not before the server read it.
    let mut lock = app.hold_room_row(room).await;
    ws.send_json(json!({"id": 100, "type": "message.send", "data": {"room_id": room, "body": "last words"}})).await;
    app.wait_for_a_lock_wait("%").await;
    app.state.realtime.begin_shutdown();
    // The idle socket closes at once; the busy one waits for its command.
    assert_eq!(idle.closed_with().await, 1001);
    // A command read once the drain began is refused (the client may send it elsewhere), not dropped.
    let late = ws.command("message.send", json!({"room_id": room, "body": "too late"})).await;
    assert_eq!(late["error"]["code"], "unavailable", "{late}");
    lock.batch_execute("COMMIT").await.expect("commit");
    let (frames, code) = ws.frames_until_closed().await;
    assert_eq!(code, 1001);
    let reply = frames
        .into_iter()
        .find(|f| f["type"] == "reply" && f["id"] == 100)
        .expect("the command was answered before the close");
    assert_eq!(reply["ok"], true, "{reply}");
    let page = app.history(&ada, room, "").await;
    assert_eq!(page["messages"][0]["body"], "last words", "an ok reply means committed");
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(1), "the refused command stored nothing");
}

/// A `presence.set` refused because the connection has too many commands in flight changes
/// nothing: the connection's status once changed at once, before the refusal, and friends saw it.
#[actix_web::test]
async fn a_refused_presence_set_changes_no_status() {
    let app = spawn_app_with(|s| s.realtime.max_in_flight_per_connection = 1).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    app.befriend(&ada, &bob).await;
    let room = app.group(&ada, "r", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;
    let mut lock = app.hold_room_row(room).await;
    ws.send_json(json!({"id": 1, "type": "message.send", "data": {"room_id": room, "body": "waits"}})).await;
    let refused = ws.command("presence.set", json!({"status": "invisible"})).await;
    assert_eq!(refused["error"]["code"], "rate_limited", "{refused}");
    lock.batch_execute("COMMIT").await.expect("commit");
    assert_eq!(ws.reply_to(json!(1)).await["ok"], true);

    let friends = app.friends(&bob).await;
    let seen = &friends["friends"][0];
    assert_eq!(seen["user"]["presence"]["status"], "online", "{friends}");
}

#[actix_web::test]
async fn a_connection_sending_faster_than_commits_is_refused_not_buffered() {
    let app = spawn_app_with(|s| s.realtime.max_in_flight_per_connection = 2).await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;
    for i in 0..30 {
        ws.send_json(json!({"id": i, "type": "message.send", "data": {"room_id": room, "body": format!("m{i}")}}))
            .await;
    }
    let (mut ok, mut busy) = (0, 0);
    for i in 0..30 {
        let reply = ws.reply_to(json!(i)).await;
        if reply["ok"] == true {
            ok += 1;
        } else {
            assert_eq!(reply["error"]["code"], "rate_limited", "{reply}");
            assert!(reply["error"]["details"]["retry_after_ms"].as_u64().is_some());
            busy += 1;
        }
    }
    assert!(ok >= 2 && busy >= 1, "ok {ok}, refused {busy}");
    let page = app.history(&ada, room, "?limit=100").await;
    assert_eq!(page["messages"].as_array().unwrap().len(), ok, "every ok reply is a stored message, nothing else");
}

/// Upgrades that arrive together share the account reader's statements (`db::account_reads`),
/// and each still gets its own account and rooms: its rooms' events and no one else's. A revoked
/// token among them is refused alone.
#[actix_web::test]
async fn concurrent_upgrades_each_get_their_own_account_and_rooms() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let cyd = app.register("cyd").await;
    let dan = app.register("dan").await;
    let ab = app.group(&ada, "ab", &[&bob]).await;
    let c = app.group(&cyd, "c", &[]).await;
    app.post("/api/v1/auth/logout-all", Some(&dan.access_token), json!({})).await;
    let users = [&ada, &bob, &cyd, &ada, &bob, &cyd];
    let opening = futures_util::future::join_all(users.iter().map(|u| app.ws(&u.access_token)));
    let (mut sockets, revoked) = tokio::join!(opening, app.ws_raw(&dan.access_token));
    assert_eq!(upgrade_status(revoked), 401);
    for (socket, user) in sockets.iter().zip(users) {
        assert_eq!(socket.hello["data"]["user"]["id"], user.id.to_string(), "{}", socket.hello);
    }
    // ada's and bob's sockets hear "ab" first, cyd's hear "c".
    app.send(&ada, ab, "to ab").await;
    app.send(&cyd, c, "to c").await;
    for (socket, user) in sockets.iter_mut().zip(users) {
        let first = socket.event("message.new").await;
        let expected = if user.id == cyd.id { "to c" } else { "to ab" };
        assert_eq!(first["message"]["body"], expected, "{}: {first}", user.id);
    }
}

/// Reads queued while the reader's statement runs are answered by one statement, each with its
/// own account (or none, for an id with no account), duplicates included.
#[actix_web::test]
async fn account_reads_queued_behind_a_statement_share_the_next_one() {
    use diesel_async::{AsyncConnection, AsyncPgConnection};
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let ab = app.group(&ada, "ab", &[&bob]).await;
    let reader = &app.state.account_reads;
    let nobody = plauder::ids::UserId::new();
    // Another session holds room_members: the first read waits on it, the others queue.
    let mut blocker = AsyncPgConnection::establish(&app.db_url).await.unwrap();
    blocker.batch_execute("BEGIN; LOCK TABLE room_members IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let taken = async || app.metric("plauder_db_account_read_batch_size_count").await;
    let statements_before = taken().await;
    // The first read goes alone (the reader takes it and waits on the lock); the other four are
    // made only then, so they queue behind it.
    let ids = [ada.id.into(), bob.id.into(), nobody, ada.id.into(), bob.id.into()];
    let later = async {
        eventually("the first read taken", async || check(taken().await - statements_before, |n| *n == 1.0)).await;
        let reads = futures_util::future::join_all(ids[1..].iter().map(|id| reader.read(*id)));
        let release = async {
            eventually("four reads queued behind the first", async || check(reader.queued(), |n| *n == 4)).await;
            blocker.batch_execute("ROLLBACK").await.unwrap();
        };
        tokio::join!(reads, release).0
    };
    let (first, later) = tokio::join!(reader.read(ids[0]), later);
    let answers: Vec<_> = std::iter::once(first).chain(later).collect();
    let statements = taken().await - statements_before;
    assert_eq!(statements, 2.0, "the first read, then the four queued behind it together");
    for (id, answer) in ids.iter().zip(answers) {
        let found = answer.expect("read");
        if *id == nobody {
            assert!(found.is_none());
            continue;
        }
        let found = found.expect("an account");
        assert_eq!(found.user.id, *id);
        assert_eq!(found.both.rooms, [plauder::ids::RoomId::from(ab)]);
        assert!(found.both.friends.is_empty());
    }
}
