//! Messages: send, bodies kept byte for byte, idempotency, replies, history paging, edit,
//! delete, reactions.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser, assert_error, spawn_app};

async fn post_message(app: &TestApp, user: &TestUser, room: Uuid, body: Value) -> reqwest::Response {
    app.post(&format!("/api/v1/rooms/{room}/messages"), Some(&user.access_token), body).await
}

async fn last_seq(app: &TestApp, user: &TestUser, room: Uuid) -> i64 {
    let detail: Value = app.get(&format!("/api/v1/rooms/{room}"), Some(&user.access_token)).await.json().await.unwrap();
    detail["last_seq"].as_i64().unwrap()
}

#[actix_web::test]
async fn a_sent_message_has_every_field_and_the_next_seq() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let res = post_message(&app, &ada, room, json!({"body": "hello", "client_msg_id": "c-1"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let m: Value = res.json().await.unwrap();
    assert_eq!(m["room_id"], room.to_string());
    assert_eq!(m["seq"], 1);
    assert_eq!(m["rev"], 1);
    assert_eq!(m["sender_id"], ada.id.to_string());
    assert_eq!(m["body"], "hello");
    assert_eq!(m["reply_to"], Value::Null);
    assert_eq!(m["client_msg_id"], "c-1");
    assert_eq!(m["edited_at"], Value::Null);
    assert_eq!(m["deleted"], false);
    assert_eq!(m["reactions"], json!([]));
    assert!(m["created_at"].as_str().unwrap().ends_with('Z'));
    let second = app.send(&ada, room, "again").await;
    assert_eq!(second["seq"], 2);
}

#[actix_web::test]
async fn bodies_are_stored_exactly_as_sent() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let bodies = [
        "  leading and trailing spaces  ",
        "line one\nline two\r\n\ttabbed",
        "emoji 👩‍👩‍👧‍👦 🏳️‍🌈 and combining é (e\u{301})",
        "中文, العربية, עברית, русский",
        "<script>alert(1)</script> & \"quotes\" 'single'",
        "'; DROP TABLE messages; --",
        "\u{200b}zero width",
    ];
    for body in bodies {
        let m: Value = post_message(&app, &ada, room, json!({ "body": body })).await.json().await.unwrap();
        assert_eq!(m["body"], body);
    }
    let page = app.history(&ada, room, "?after_seq=0").await;
    let stored: Vec<&str> = page["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(stored, bodies);
}

#[actix_web::test]
async fn empty_bodies_are_422_and_oversize_bodies_413_and_nothing_is_stored() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    for body in ["", "   ", "\n\t "] {
        let res = post_message(&app, &ada, room, json!({ "body": body })).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let over = "a".repeat(4001);
    let body = assert_error(
        post_message(&app, &ada, room, json!({ "body": over })).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap().contains("4000"));
    // The limit counts code points, not bytes: 4,000 four-byte emoji fit.
    let max = "😀".repeat(4000);
    let m: Value = post_message(&app, &ada, room, json!({ "body": max })).await.json().await.unwrap();
    assert_eq!(m["body"].as_str().unwrap().chars().count(), 4000);
    assert_eq!(m["seq"], 1, "the refused sends took no seq");
    let res = post_message(&app, &ada, room, json!({ "body": "x", "client_msg_id": "" })).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = post_message(&app, &ada, room, json!({ "body": "x", "client_msg_id": "c".repeat(65) })).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = post_message(&app, &ada, room, json!({ "text": "x" })).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(last_seq(&app, &ada, room).await, 1);
}

#[actix_web::test]
async fn a_retry_with_the_same_client_msg_id_returns_the_original() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    let other_room = app.group(&ada, "s", &[]).await;
    let first: Value =
        post_message(&app, &ada, room, json!({"body": "once", "client_msg_id": "k"})).await.json().await.unwrap();
    let res = post_message(&app, &ada, room, json!({"body": "once, retried", "client_msg_id": "k"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let retry: Value = res.json().await.unwrap();
    assert_eq!(retry, first);
    assert_eq!(last_seq(&app, &ada, room).await, 1);
    // The key is per sender and room.
    let bobs = post_message(&app, &bob, room, json!({"body": "mine", "client_msg_id": "k"})).await;
    assert_eq!(bobs.status(), StatusCode::CREATED);
    let elsewhere = post_message(&app, &ada, other_room, json!({"body": "there", "client_msg_id": "k"})).await;
    assert_eq!(elsewhere.status(), StatusCode::CREATED);
    assert_eq!(last_seq(&app, &ada, room).await, 2);
}

#[actix_web::test]
async fn replies_must_point_into_the_same_room() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let other = app.group(&ada, "s", &[]).await;
    let parent = app.send(&ada, room, "parent").await;
    let elsewhere = app.send(&ada, other, "elsewhere").await;
    let res = post_message(&app, &ada, room, json!({"body": "reply", "reply_to": parent["id"]})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.json::<Value>().await.unwrap()["reply_to"], parent["id"]);
    for reply_to in [elsewhere["id"].clone(), json!(Uuid::new_v4())] {
        let res = post_message(&app, &ada, room, json!({"body": "reply", "reply_to": reply_to})).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let res = post_message(&app, &ada, room, json!({"body": "reply", "reply_to": "nope"})).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

fn seqs(page: &Value) -> Vec<i64> {
    page["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect()
}

#[actix_web::test]
async fn history_pages_backwards_and_forwards_with_has_more() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let empty = app.history(&ada, room, "").await;
    assert_eq!((seqs(&empty), empty["has_more"].as_bool()), (vec![], Some(false)));
    for i in 1..=25 {
        app.send(&ada, room, &format!("m{i}")).await;
    }
    let page = app.history(&ada, room, "").await;
    assert_eq!(seqs(&page), (1..=25).rev().collect::<Vec<_>>());
    assert_eq!(page["has_more"], false);

    let page = app.history(&ada, room, "?limit=10").await;
    assert_eq!(seqs(&page), (16..=25).rev().collect::<Vec<_>>());
    assert_eq!(page["has_more"], true);
    let page = app.history(&ada, room, "?limit=10&before_seq=16").await;
    assert_eq!(seqs(&page), (6..=15).rev().collect::<Vec<_>>());
    assert_eq!(page["has_more"], true);
    let page = app.history(&ada, room, "?limit=10&before_seq=6").await;
    assert_eq!(seqs(&page), (1..=5).rev().collect::<Vec<_>>());
    assert_eq!(page["has_more"], false);
    let page = app.history(&ada, room, "?limit=5&before_seq=6").await;
    assert_eq!(page["has_more"], false, "exactly the rest fits");
    assert_eq!(seqs(&app.history(&ada, room, "?before_seq=1").await), Vec::<i64>::new());

    let page = app.history(&ada, room, "?after_seq=0&limit=10").await;
    assert_eq!(seqs(&page), (1..=10).collect::<Vec<_>>());
    assert_eq!(page["has_more"], true);
    let page = app.history(&ada, room, "?after_seq=20").await;
    assert_eq!(seqs(&page), (21..=25).collect::<Vec<_>>());
    assert_eq!(page["has_more"], false);
    let page = app.history(&ada, room, "?after_seq=25").await;
    assert_eq!(seqs(&page), Vec::<i64>::new());
    let page = app.history(&ada, room, "?after_seq=5&before_seq=9").await;
    assert_eq!(seqs(&page), vec![6, 7, 8]);
    assert_eq!(seqs(&app.history(&ada, room, "?limit=100").await).len(), 25);

    // Numbers out of range name their field, and so do values that do not parse.
    for (q, field) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=-1", "limit"),
        ("?before_seq=-5", "before_seq"),
        ("?after_seq=-5", "after_seq"),
        ("?limit=x", "limit"),
        ("?limit=10&after_seq=abc", "after_seq"),
    ] {
        let res = app.get(&format!("/api/v1/rooms/{room}/messages{q}"), Some(&ada.access_token)).await;
        let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(body["error"]["details"]["fields"].get(field).is_some(), "{q}: {body}");
    }
}

#[actix_web::test]
async fn an_edit_by_the_sender_takes_a_new_rev_and_keeps_the_seq() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    let m = app.send(&ada, room, "draft").await;
    app.send(&bob, room, "between").await;
    let id = m["id"].as_str().unwrap();
    let res = app.patch(&format!("/api/v1/messages/{id}"), Some(&ada.access_token), json!({"body": "final ✓"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let edited: Value = res.json().await.unwrap();
    assert_eq!(edited["body"], "final ✓");
    assert_eq!(edited["seq"], 1);
    assert_eq!(edited["rev"], 3);
    assert!(edited["edited_at"].is_string());
    assert_eq!(last_seq(&app, &ada, room).await, 3);

    let res = app.patch(&format!("/api/v1/messages/{id}"), Some(&bob.access_token), json!({"body": "hijack"})).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.patch(&format!("/api/v1/messages/{id}"), Some(&ada.access_token), json!({"body": " "})).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res =
        app.patch(&format!("/api/v1/messages/{id}"), Some(&ada.access_token), json!({"body": "x".repeat(4001)})).await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(last_seq(&app, &ada, room).await, 3, "refused edits take no seq");
}

#[actix_web::test]
async fn a_delete_leaves_a_tombstone_under_a_new_rev() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let m = app.send(&ada, room, "secret").await;
    let id = m["id"].as_str().unwrap();
    app.request(Method::PUT, &format!("/api/v1/messages/{id}/reactions/👍"), Some(&ada.access_token), None).await;
    let res = app.delete(&format!("/api/v1/messages/{id}"), Some(&ada.access_token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let tomb: Value = res.json().await.unwrap();
    assert_eq!((tomb["id"].as_str(), tomb["seq"].as_i64(), tomb["rev"].as_i64()), (Some(id), Some(1), Some(3)));
    assert_eq!(tomb["deleted"], true);
    assert_eq!(tomb["body"], "");
    assert_eq!(tomb["reactions"], json!([]));
    let page = app.history(&ada, room, "").await;
    assert_eq!(page["messages"][0], tomb);
    // Deleting again changes nothing.
    let again: Value =
        app.delete(&format!("/api/v1/messages/{id}"), Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(again["rev"], 3);
    let res = app.patch(&format!("/api/v1/messages/{id}"), Some(&ada.access_token), json!({"body": "undo"})).await;
    assert_error(res, StatusCode::CONFLICT, "conflict").await;
    let res =
        app.request(Method::PUT, &format!("/api/v1/messages/{id}/reactions/👍"), Some(&ada.access_token), None).await;
    assert_error(res, StatusCode::CONFLICT, "conflict").await;
}

#[actix_web::test]
async fn reactions_group_by_emoji_and_only_real_changes_take_a_rev() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    let m = app.send(&ada, room, "react to me").await;
    let path = |emoji: &str| format!("/api/v1/messages/{}/reactions/{emoji}", m["id"].as_str().unwrap());
    let put = |user: &TestUser, emoji: &str| app.request(Method::PUT, &path(emoji), Some(&user.access_token), None);

    let r: Value = put(&ada, "👍").await.json().await.unwrap();
    assert_eq!(r["reactions"], json!([{"emoji": "👍", "user_ids": [ada.id]}]));
    assert_eq!(r["rev"], 2);
    let again: Value = put(&ada, "👍").await.json().await.unwrap();
    assert_eq!(again["rev"], 2, "adding twice changes nothing");
    let r: Value = put(&bob, "👍").await.json().await.unwrap();
    assert_eq!(r["reactions"], json!([{"emoji": "👍", "user_ids": [ada.id, bob.id]}]));
    let r: Value = put(&bob, "%F0%9F%8E%89").await.json().await.unwrap();
    assert_eq!(r["reactions"][1], json!({"emoji": "🎉", "user_ids": [bob.id]}));
    assert_eq!(r["rev"], 4);

    let r: Value = app.delete(&path("👍"), Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(r["reactions"][0], json!({"emoji": "👍", "user_ids": [bob.id]}));
    assert_eq!(r["rev"], 5);
    let r: Value = app.delete(&path("👍"), Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(r["rev"], 5, "removing what is not there changes nothing");

    let res = put(&ada, &"x".repeat(17)).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = put(&ada, "a%20b").await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let page = app.history(&ada, room, "").await;
    assert_eq!(page["messages"][0]["reactions"], r["reactions"]);
}

#[actix_web::test]
async fn oversize_json_is_413_for_messages_too() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let res = post_message(&app, &ada, room, json!({"body": "x".repeat(70_000)})).await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let res = app
        .raw(
            Method::POST,
            &format!("/api/v1/rooms/{room}/messages"),
            Some(&ada.access_token),
            "{\"body\": \"unterminated",
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_eq!(last_seq(&app, &ada, room).await, 0);
}

/// The group-commit statement runs with a generic plan made once per session (`db::send_batch`),
/// on a new database while `messages` is still empty. Its checks must stay index probes there: the
/// plan made before had hashed (scanned) the whole of `messages` for every batch, a cost growing
/// with the table until autovacuum happened to re-plan it (docs/benchmarks.md).
#[actix_web::test]
async fn the_send_batchs_generic_plan_made_on_an_empty_table_scans_no_table_whole() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    use plauder::db::queries::messages::{NewMessage, insert_batch};
    use plauder::ids::{MessageId, RoomId, UserId};

    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "plans", &[]).await;
    let mut conn = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
    conn.batch_execute("SET plan_cache_mode = force_generic_plan; BEGIN").await.expect("set up");
    for round in 0..3 {
        let cmids: Vec<String> = (0..4).map(|i| format!("plan-{round}-{i}")).collect();
        let rows: Vec<NewMessage<'_>> = cmids
            .iter()
            .map(|cmid| NewMessage {
                id: MessageId::new(),
                room_id: RoomId(room),
                sender_id: UserId(ada.id),
                body: "hello",
                reply_to: None,
                client_msg_id: Some(cmid),
                mentions: None,
            })
            .collect();
        assert_eq!(insert_batch(&mut conn, &rows).await.expect("batch").len(), 4);
    }
    // Sequential scans this transaction made, per table (PostgreSQL counts them per session).
    for table in ["messages", "rooms", "room_members"] {
        let scans = crate::helpers::seq_scans_in_transaction(&mut conn, table).await;
        assert_eq!(scans, 0, "sequential scans of {table} by three batches");
    }
    conn.batch_execute("ROLLBACK").await.expect("roll back");
}
