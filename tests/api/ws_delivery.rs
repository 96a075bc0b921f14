//! Event delivery: every member's connections get each room event once and in seq order,
//! whether the change came over WebSocket or REST; typing, read, sync and membership changes.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::spawn_app;
use crate::helpers::ws::new_bodies;

#[actix_web::test]
async fn a_send_reaches_every_connection_of_every_member_once_and_no_one_else() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    let mut ada1 = app.ws(&ada.access_token).await;
    let mut ada2 = app.ws(&ada.access_token).await;
    let mut bob1 = app.ws(&bob.access_token).await;
    let mut eve1 = app.ws(&eve.access_token).await;

    let reply =
        ada1.command("message.send", json!({"room_id": room, "body": "hello all", "client_msg_id": "x1"})).await;
    assert_eq!(reply["ok"], true, "{reply}");
    let message = &reply["data"]["message"];
    assert_eq!(message["seq"], 1);
    for ws in [&mut ada1, &mut ada2, &mut bob1] {
        let ev = ws.event("message.new").await;
        assert_eq!(ev["seq"], 1);
        assert_eq!(&ev["message"], message);
        ws.no_event("message.new", Duration::from_millis(200)).await;
    }
    eve1.no_event("message.new", Duration::from_millis(200)).await;

    // The same through REST.
    app.send(&bob, room, "from REST").await;
    for ws in [&mut ada1, &mut ada2, &mut bob1] {
        let ev = ws.event("message.new").await;
        assert_eq!((ev["seq"].as_i64(), ev["message"]["body"].as_str()), (Some(2), Some("from REST")));
    }
}

#[actix_web::test]
async fn a_retried_client_msg_id_returns_the_original_and_announces_nothing_new() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let mut ws = app.ws(&ada.access_token).await;
    let mut other = app.ws(&ada.access_token).await;
    let first = ws.command("message.send", json!({"room_id": room, "body": "once", "client_msg_id": "k"})).await;
    // Racing retries from two connections.
    ws.send_json(
        json!({"id": 100, "type": "message.send", "data": {"room_id": room, "body": "once", "client_msg_id": "k"}}),
    )
    .await;
    other
        .send_json(
            json!({"id": 200, "type": "message.send", "data": {"room_id": room, "body": "once", "client_msg_id": "k"}}),
        )
        .await;
    let r1 = ws.reply_to(json!(100)).await;
    let r2 = other.reply_to(json!(200)).await;
    assert_eq!(r1["data"]["message"], first["data"]["message"]);
    assert_eq!(r2["data"]["message"], first["data"]["message"]);
    for c in [&mut ws, &mut other] {
        assert_eq!(c.event("message.new").await["message"], first["data"]["message"]);
        c.no_event("message.new", Duration::from_millis(400)).await;
    }
}

#[actix_web::test]
async fn concurrent_writers_are_seen_in_seq_order_exactly_once() {
    let app = spawn_app().await;
    let mut writers = Vec::new();
    for i in 0..4 {
        writers.push(app.register(&format!("writer{i}")).await);
    }
    let reader = app.register("reader").await;
    let mut members: Vec<&crate::helpers::TestUser> = writers.iter().collect();
    members.push(&reader);
    let room = app.group(&writers[0], "busy", &members[1..]).await;
    let mut ws = app.ws(&reader.access_token).await;
    let sends = writers.iter().map(|w| {
        let app = &app;
        async move {
            for n in 0..50 {
                app.post(
                    &format!("/api/v1/rooms/{room}/messages"),
                    Some(&w.access_token),
                    json!({"body": format!("{n}")}),
                )
                .await;
            }
        }
    });
    futures_util::future::join_all(sends).await;
    let mut seqs = Vec::new();
    while seqs.len() < 200 {
        seqs.push(ws.event("message.new").await["seq"].as_i64().unwrap());
    }
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    ws.no_event("message.new", Duration::from_millis(300)).await;
}

#[actix_web::test]
async fn edits_deletes_and_reactions_are_pushed_with_their_seq() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    let mut bobs = app.ws(&bob.access_token).await;
    let mut adas = app.ws(&ada.access_token).await;
    let sent = adas.command("message.send", json!({"room_id": room, "body": "v1"})).await;
    let id = sent["data"]["message"]["id"].clone();
    let edited = adas.command("message.edit", json!({"message_id": id, "body": "v2"})).await;
    assert_eq!(edited["data"]["message"]["body"], "v2");
    let reacted = bobs.command("reaction.add", json!({"message_id": id, "emoji": "🎉"})).await;
    assert_eq!(reacted["data"]["message"]["reactions"][0]["emoji"], "🎉");
    bobs.command("reaction.remove", json!({"message_id": id, "emoji": "🎉"})).await;
    let deleted = adas.command("message.delete", json!({"message_id": id})).await;
    assert_eq!(deleted["data"], json!({}));
    let expected = [
        ("message.new", 1),
        ("message.updated", 2),
        ("reaction.updated", 3),
        ("reaction.updated", 4),
        ("message.deleted", 5),
    ];
    for (kind, seq) in expected {
        let ev = bobs.event(kind).await;
        assert_eq!(ev["seq"], seq, "{kind}");
        assert_eq!(ev["message"]["id"], id);
    }
    let last = bobs.frames_within(Duration::from_millis(100)).await;
    assert!(last.iter().all(|f| f["type"] != "message.deleted"), "{last:?}");
}

#[actix_web::test]
async fn typing_goes_to_the_other_members_only_and_read_to_all() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    let mut adas = app.ws(&ada.access_token).await;
    let mut ada2 = app.ws(&ada.access_token).await;
    let mut bobs = app.ws(&bob.access_token).await;
    let mut eves = app.ws(&eve.access_token).await;

    let r = adas.command("typing", json!({"room_id": room, "active": true})).await;
    assert_eq!(r["ok"], true);
    let t = bobs.event("typing").await;
    assert_eq!(t, json!({"room_id": room, "user_id": ada.id, "active": true}));
    ada2.no_event("typing", Duration::from_millis(200)).await;
    adas.no_event("typing", Duration::from_millis(10)).await;
    let r = eves.command("typing", json!({"room_id": room, "active": true})).await;
    assert_eq!(r["error"]["code"], "forbidden");

    app.send(&ada, room, "read me").await;
    let r = bobs.command("read", json!({"room_id": room, "seq": 1})).await;
    assert_eq!(r["data"], json!({"unread_count": 0}));
    let ev = adas.event("read").await;
    assert_eq!(ev, json!({"room_id": room, "user_id": bob.id, "seq": 1}));
}

#[actix_web::test]
async fn sync_returns_exactly_what_was_missed_edits_and_deletes_included() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    let m1 = app.send(&ada, room, "one").await;
    app.send(&ada, room, "two").await;
    // bob saw up to seq 2, then went away; meanwhile: a new message, an edit, a delete.
    let m3 = app.send(&ada, room, "three").await;
    app.patch(
        &format!("/api/v1/messages/{}", m1["id"].as_str().unwrap()),
        Some(&ada.access_token),
        json!({"body": "one, edited"}),
    )
    .await;
    app.delete(&format!("/api/v1/messages/{}", m3["id"].as_str().unwrap()), Some(&ada.access_token)).await;

    let mut ws = app.ws(&bob.access_token).await;
    let r = ws.command("sync", json!({"room_id": room, "since_seq": 2})).await;
    let data = &r["data"];
    assert_eq!(data["room_id"], room.to_string());
    assert_eq!(data["last_seq"], 5);
    assert_eq!(data["has_more"], false);
    let got: Vec<(i64, &str, bool)> = data["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["rev"].as_i64().unwrap(), m["body"].as_str().unwrap(), m["deleted"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        got,
        [(4, "one, edited", false), (5, "", true)],
        "message three was created and deleted: only its latest state"
    );

    let r = ws.command("sync", json!({"room_id": room, "since_seq": 0, "limit": 2})).await;
    assert_eq!(r["data"]["has_more"], true);
    assert_eq!(r["data"]["messages"].as_array().unwrap().len(), 2);
    let r = ws.command("sync", json!({"room_id": room, "since_seq": 5})).await;
    assert_eq!(r["data"]["messages"], json!([]));
    let eve = app.register("eve").await;
    let mut eves = app.ws(&eve.access_token).await;
    let r = eves.command("sync", json!({"room_id": room, "since_seq": 0})).await;
    assert_eq!(r["error"]["code"], "forbidden");
    let r = eves.command("sync", json!({"room_id": room, "since_seq": -1})).await;
    assert_eq!(r["error"]["code"], "validation_failed");
}

#[actix_web::test]
async fn joining_starts_a_rooms_events_and_removal_stops_them() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[]).await;
    let mut bobs = app.ws(&bob.access_token).await;
    let mut adas = app.ws(&ada.access_token).await;

    app.post(&format!("/api/v1/rooms/{room}/members"), Some(&ada.access_token), json!({"user_ids": [bob.id]})).await;
    let added = bobs.event("room.member_added").await;
    assert_eq!(added["room_id"], room.to_string());
    assert_eq!(added["user"]["id"], bob.id.to_string());
    assert_eq!(adas.event("room.member_added").await["user"]["id"], bob.id.to_string());
    // Once the attach reached the registry (ada's connection and now bob's), bob hears the room.
    app.wait_for_attachments(2).await;
    app.send(&ada, room, "welcome").await;
    assert_eq!(bobs.event("message.new").await["message"]["body"], "welcome");

    app.delete(&format!("/api/v1/rooms/{room}/members/{}", bob.id), Some(&ada.access_token)).await;
    let removed = bobs.event("room.member_removed").await;
    assert_eq!(removed, json!({"room_id": room, "user_id": bob.id}));
    app.wait_for_attachments(1).await;
    app.send(&ada, room, "after bob left").await;
    assert_eq!(adas.event("message.new").await["message"]["body"], "welcome");
    assert_eq!(adas.event("message.new").await["message"]["body"], "after bob left");
    bobs.no_event("message.new", Duration::from_millis(300)).await;

    // Added back: hears the room again.
    app.post(&format!("/api/v1/rooms/{room}/members"), Some(&ada.access_token), json!({"user_ids": [bob.id]})).await;
    bobs.event("room.member_added").await;
    app.wait_for_attachments(2).await;
    app.send(&ada, room, "back again").await;
    assert_eq!(bobs.event("message.new").await["message"]["body"], "back again");
}

#[actix_web::test]
async fn new_rooms_and_friend_requests_reach_the_people_concerned() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let mut bobs = app.ws(&bob.access_token).await;
    let dm: Value = app
        .post("/api/v1/rooms", Some(&ada.access_token), json!({"kind": "direct", "member_ids": [bob.id]}))
        .await
        .json()
        .await
        .unwrap();
    let ev = bobs.event("room.member_added").await;
    assert_eq!(ev["room_id"], dm["id"]);
    // bob's connection (the only one) attached to the new room.
    app.wait_for_attachments(1).await;
    app.send(&ada, dm["id"].as_str().unwrap().parse().unwrap(), "psst").await;
    assert_eq!(bobs.event("message.new").await["message"]["body"], "psst");

    let req: Value = app
        .post("/api/v1/friends/requests", Some(&ada.access_token), json!({"user_id": bob.id}))
        .await
        .json()
        .await
        .unwrap();
    let ev = bobs.event("friend.request").await;
    assert_eq!(ev["request"]["id"], req["id"]);
    let mut adas = app.ws(&ada.access_token).await;
    app.post(
        &format!("/api/v1/friends/requests/{}/accept", req["id"].as_str().unwrap()),
        Some(&bob.access_token),
        json!({}),
    )
    .await;
    assert_eq!(adas.event("friend.accepted").await["user"]["id"], bob.id.to_string());
}

/// What `members_added` publishes, sent by hand so that the test decides when it arrives.
fn late_attach(app: &crate::helpers::TestApp, user: Uuid, room: Uuid, from_seq: i64) {
    use plauder::ids::Seq;
    use plauder::realtime::broker::{Control, Envelope, Topic};
    app.state.realtime.broker().publish(
        Topic::User(user.into()),
        Envelope::Control(Control::Attach { room_id: room.into(), from_seq: Some(Seq(from_seq)) }),
    );
}

#[actix_web::test]
async fn a_new_members_messages_committed_before_its_attach_arrives_still_reach_it_in_order() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let mut bobs = app.ws(&bob.access_token).await;

    // The attach arrives after the room's first messages were committed and published (a slow
    // broker, or simply a sender quicker than the attach): once with no room actor running on
    // this instance, once with one running and already past them.
    let fresh = app.group(&ada, "fresh", &[]).await;
    let busy = app.group(&ada, "busy", &[]).await;
    let mut adas = app.ws(&ada.access_token).await;
    app.send(&ada, busy, "before bob").await;
    adas.event("message.new").await;
    for room in [fresh, busy] {
        app.sql(&format!("INSERT INTO room_members (room_id, user_id) VALUES ('{room}', '{}')", bob.id)).await;
    }
    for n in 1..=3 {
        app.send(&ada, fresh, &format!("m{n}")).await;
        app.send(&ada, busy, &format!("m{n}")).await;
    }
    for _ in 0..3 {
        adas.event("message.new").await;
    }
    late_attach(&app, bob.id, fresh, 0);
    late_attach(&app, bob.id, busy, 1);
    app.send(&ada, busy, "m4").await;

    // Read until the seven expected messages are in, then a little longer for anything extra.
    let mut frames = bobs
        .frames_until("the seven messages", |f| new_bodies(f, Some(fresh)).len() + new_bodies(f, Some(busy)).len() >= 7)
        .await;
    frames.extend(bobs.frames_within(Duration::from_millis(300)).await);
    assert_eq!(
        new_bodies(&frames, Some(fresh)),
        ["m1", "m2", "m3"],
        "fresh room: everything since joining, once, in order"
    );
    assert_eq!(new_bodies(&frames, Some(busy)), ["m1", "m2", "m3", "m4"], "busy room: nothing from before joining");
}
