//! Quotas that bound what one client can make the server hold: metrics series, database time,
//! presence subscriptions, reactions, sockets.

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::wait::{check, eventually};
use crate::helpers::{assert_error, spawn_app, spawn_app_with};

#[actix_web::test]
async fn invented_http_methods_share_one_metrics_label() {
    let app = spawn_app().await;
    for i in 0..5 {
        let method = Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
        let _ = app.request(method, "/api/v1/rooms", None, None).await;
    }
    let text = app.get("/metrics", None).await.text().await.unwrap();
    assert!(!text.contains("BREW"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("plauder_http_requests_total{") && l.contains(r#"method="other""#)),
        "{text}"
    );
}

#[actix_web::test]
async fn a_statement_past_the_timeout_is_cancelled_with_a_clear_503() {
    let app = spawn_app_with(|s| s.database.statement_timeout_ms = 200).await;
    let ada = app.register("ada").await;
    // Another session holds the users table, so the token check's read waits on the lock.
    let mut blocker = AsyncPgConnection::establish(&app.db_url).await.unwrap();
    blocker.batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let res = tokio::time::timeout(Duration::from_secs(5), app.me(&ada.access_token))
        .await
        .expect("the request is cancelled by statement_timeout, not left waiting on the lock");
    let body = assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("took too long"), "{body}");
    blocker.batch_execute("ROLLBACK").await.unwrap();
    // The pool's connections are fine afterwards.
    assert_eq!(app.me(&ada.access_token).await.status(), StatusCode::OK);
}

/// The refused upgrade's status, and its body asked for again over plain HTTP (a WebSocket
/// client does not show it): the quota is checked before the handshake, so it is the same.
async fn refused_upgrade(app: &crate::helpers::TestApp, token: &str) -> serde_json::Value {
    match app.ws_raw(token).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 429),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("the upgrade should have been refused"),
    }
    let res = app.client.get(app.ws_url().replace("ws://", "http://")).bearer_auth(token).send().await.unwrap();
    let body = assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(body["error"]["details"]["retry_after_ms"].as_u64().is_some(), "{body}");
    body
}

#[actix_web::test]
async fn sockets_per_user_are_bounded_and_given_back_on_close() {
    let app = spawn_app_with(|s| s.quota.sockets_per_user_max = 2).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let first = app.ws(&ada.access_token).await;
    let _second = app.ws(&ada.access_token).await;
    let body = refused_upgrade(&app, &ada.access_token).await;
    assert!(body["error"]["message"].as_str().unwrap().contains("account"), "{body}");
    // Another account is not affected.
    let _bobs = app.ws(&bob.access_token).await;
    // Closing one frees its place.
    first.close().await;
    eventually("ada's closed socket gives its place back", async || {
        check(app.ws_raw(&ada.access_token).await.is_ok(), |ok| *ok)
    })
    .await;
}

#[actix_web::test]
async fn sockets_per_client_address_are_bounded() {
    let app = spawn_app_with(|s| s.quota.sockets_per_address_max = 2).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let _adas = app.ws(&ada.access_token).await;
    let _bobs = app.ws(&bob.access_token).await;
    // A third account from the same address is refused.
    let body = refused_upgrade(&app, &eve.access_token).await;
    assert!(body["error"]["message"].as_str().unwrap().contains("address"), "{body}");
}

#[actix_web::test]
async fn presence_subscriptions_per_connection_are_bounded_in_total() {
    let app = spawn_app_with(|s| s.quota.presence_subscriptions_per_connection_max = 600).await;
    let eve = app.register("eve").await;
    let mut ws = app.ws(&eve.access_token).await;
    let batch = |n: usize| (0..n).map(|_| uuid::Uuid::new_v4()).collect::<Vec<_>>();
    let first = batch(400);
    assert_eq!(ws.command("presence.subscribe", json!({"user_ids": first})).await["ok"], true);
    // Naming the same users again adds nothing and passes.
    assert_eq!(ws.command("presence.subscribe", json!({"user_ids": first[..300]})).await["ok"], true);
    // 400 + 201 new would pass the bound: refused whole, naming the field.
    let r = ws.command("presence.subscribe", json!({"user_ids": batch(201)})).await;
    assert_eq!(r["error"]["code"], "validation_failed", "{r}");
    assert!(r["error"]["details"]["fields"]["user_ids"].as_str().unwrap().contains("600"), "{r}");
    // Up to the bound is fine.
    assert_eq!(ws.command("presence.subscribe", json!({"user_ids": batch(200)})).await["ok"], true);
    let r = ws.command("presence.subscribe", json!({"user_ids": batch(1)})).await;
    assert_eq!(r["error"]["code"], "validation_failed", "{r}");
    // A new connection starts from nothing.
    let mut fresh = app.ws(&eve.access_token).await;
    assert_eq!(fresh.command("presence.subscribe", json!({"user_ids": batch(500)})).await["ok"], true);
}

#[actix_web::test]
async fn distinct_reactions_per_message_and_per_user_are_bounded() {
    let app = spawn_app_with(|s| {
        s.quota.reactions_per_message_max = 3;
        s.quota.reactions_per_user_per_message_max = 2;
    })
    .await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    let m = app.send(&ada, room, "react to me").await;
    let id = m["id"].as_str().unwrap().to_owned();
    let react = |user: &crate::helpers::TestUser, emoji: &str| {
        app.request(Method::PUT, &format!("/api/v1/messages/{id}/reactions/{emoji}"), Some(&user.access_token), None)
    };
    assert_eq!(react(&ada, "a1").await.status(), StatusCode::OK);
    assert_eq!(react(&ada, "a2").await.status(), StatusCode::OK);
    // Ada's third reaction on the message is over her bound.
    let body = assert_error(react(&ada, "a3").await, StatusCode::CONFLICT, "conflict").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("You already have 2"), "{body}");
    // Repeating one she has is not a new reaction.
    assert_eq!(react(&ada, "a1").await.status(), StatusCode::OK);
    assert_eq!(react(&bob, "b1").await.status(), StatusCode::OK);
    // Three distinct strings now: a fourth is refused, joining an existing one is not.
    let body = assert_error(react(&bob, "b2").await, StatusCode::CONFLICT, "conflict").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("3 different"), "{body}");
    assert_eq!(react(&bob, "a1").await.status(), StatusCode::OK);
    // The WebSocket command answers the same.
    let mut ws = app.ws(&bob.access_token).await;
    let r = ws.command("reaction.add", json!({"message_id": id, "emoji": "b3"})).await;
    assert_eq!(r["error"]["code"], "conflict", "{r}");
}

/// Asserts a 429 `rate_limited` with Retry-After and `details.retry_after_ms`.
async fn assert_rate_limited(res: reqwest::Response) {
    assert!(res.headers().get("retry-after").is_some(), "Retry-After on {}", res.status());
    let body = assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(body["error"]["details"]["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0), "{body}");
}

#[actix_web::test]
async fn room_creations_member_adds_friend_requests_and_searches_are_limited_per_user() {
    let app = spawn_app_with(|s| {
        let rl = &mut s.rate_limit;
        (rl.room_create_burst, rl.room_create_replenish_interval_ms) = (2, 600_000);
        (rl.member_add_burst, rl.member_add_replenish_interval_ms) = (2, 600_000);
        (rl.friend_request_burst, rl.friend_request_replenish_interval_ms) = (2, 600_000);
        (rl.search_burst, rl.search_replenish_interval_ms) = (3, 600_000);
    })
    .await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let others: Vec<_> = [app.register("cyd").await, app.register("dia").await, app.register("eddy").await].into();
    let tok = Some(ada.access_token.as_str());

    // Rooms: two pass, the third is refused; another user still creates rooms.
    let room = app.group(&ada, "one", &[]).await;
    app.group(&ada, "two", &[]).await;
    assert_rate_limited(app.post("/api/v1/rooms", tok, json!({"kind": "group", "name": "three"})).await).await;
    app.group(&bob, "bob's", &[]).await;

    // Member additions: one per request.
    let add = |who: uuid::Uuid| app.post(&format!("/api/v1/rooms/{room}/members"), tok, json!({"user_ids": [who]}));
    assert_eq!(add(others[0].id).await.status(), StatusCode::CREATED);
    assert_eq!(add(others[1].id).await.status(), StatusCode::CREATED);
    assert_rate_limited(add(others[2].id).await).await;

    // Friend requests.
    let ask = |who: uuid::Uuid| app.post("/api/v1/friends/requests", tok, json!({"user_id": who}));
    assert_eq!(ask(others[0].id).await.status(), StatusCode::CREATED);
    assert_eq!(ask(others[1].id).await.status(), StatusCode::CREATED);
    assert_rate_limited(ask(others[2].id).await).await;

    // Searches: messages and users share one budget.
    assert_eq!(app.get("/api/v1/search/messages?q=hello", tok).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/users?q=bo", tok).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/search/messages?q=again", tok).await.status(), StatusCode::OK);
    assert_rate_limited(app.get("/api/v1/users?q=cy", tok).await).await;
    assert_rate_limited(app.get("/api/v1/search/messages?q=more", tok).await).await;
    assert_eq!(app.get("/api/v1/users?q=ad", Some(&bob.access_token)).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_search_gets_a_tighter_statement_timeout_than_other_requests_and_says_so() {
    let app = spawn_app_with(|s| {
        s.database.statement_timeout_ms = 10_000;
        s.database.search_statement_timeout_ms = 200;
    })
    .await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    app.send(&ada, room, "hello world").await;
    // Another session holds the messages table, so the search waits on the lock.
    let mut blocker = AsyncPgConnection::establish(&app.db_url).await.unwrap();
    blocker.batch_execute("BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let started = std::time::Instant::now();
    let res = tokio::time::timeout(
        Duration::from_secs(5),
        app.get("/api/v1/search/messages?q=hello", Some(&ada.access_token)),
    )
    .await
    .expect("the search is cancelled at its own timeout, well before the general one");
    let body = assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("search took too long"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    blocker.batch_execute("ROLLBACK").await.unwrap();
    // The connection went back to the pool with the general timeout: a search works again, and a
    // request slower than the search timeout but within the general one is not cancelled.
    let res = app.get("/api/v1/search/messages?q=hello", Some(&ada.access_token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    blocker.batch_execute("BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let release = async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        blocker.batch_execute("ROLLBACK").await.unwrap();
    };
    let (res, ()) = tokio::join!(app.get(&format!("/api/v1/rooms/{room}/messages"), Some(&ada.access_token)), release);
    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_statement_timeout_in_the_group_commit_batch_is_the_same_clear_503() {
    let app = spawn_app_with(|s| s.database.statement_timeout_ms = 300).await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let mut blocker = AsyncPgConnection::establish(&app.db_url).await.unwrap();
    blocker.batch_execute("BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let started = std::time::Instant::now();
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        app.post(&format!("/api/v1/rooms/{room}/messages"), Some(&ada.access_token), json!({"body": "hi"})),
    )
    .await
    .expect("answered");
    let body = assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("took too long"), "{body}");
    // One timeout, not one per row tried again alone.
    assert!(started.elapsed() < Duration::from_millis(2000), "{:?}", started.elapsed());
    blocker.batch_execute("ROLLBACK").await.unwrap();
    app.send(&ada, room, "after").await;
}

#[actix_web::test]
async fn a_staff_socket_follows_support_rooms_up_to_its_bound_and_opens_the_rest_with_sync() {
    let app = spawn_app_with(|s| s.quota.staff_support_rooms_per_connection_max = 2).await;
    let admin = crate::helpers::user_with_role(&app, "root", "admin").await;
    let mut visitors = Vec::new();
    for name in ["one", "two", "three"] {
        visitors.push(crate::helpers::open_session(&app, name).await);
    }
    let said = |i: usize, body: &'static str| {
        let v = &visitors[i];
        app.post(&format!("/api/v1/rooms/{}/messages", v.room), Some(&v.guest.access_token), json!({"body": body}))
    };
    let mut ws = app.ws(&admin.access_token).await;

    // The two most recently active sessions are followed; the oldest is not.
    assert_eq!(said(0, "from one").await.status(), StatusCode::CREATED);
    assert_eq!(said(2, "from three").await.status(), StatusCode::CREATED);
    let frames =
        ws.frames_until("three's message", |f| f.iter().any(|f| f["data"]["message"]["body"] == "from three")).await;
    assert!(frames.iter().all(|f| f["data"]["message"]["body"] != "from one"), "{frames:?}");

    // A new session is announced and followed (the one followed longest, two, is let go).
    let four = crate::helpers::open_session(&app, "four").await;
    let created = ws.event("support.session_created").await;
    assert_eq!(created["room"]["id"], json!(four.room));
    let res = app
        .post(
            &format!("/api/v1/rooms/{}/messages", four.room),
            Some(&four.guest.access_token),
            json!({"body": "from four"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    ws.event_where("message.new", |d| d["message"]["body"] == "from four").await;

    // Opening one's chat with sync: its history, then its events live.
    let reply = ws.command("sync", json!({"room_id": visitors[0].room, "since_seq": 0})).await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["data"]["messages"][0]["body"], "from one");
    assert_eq!(said(0, "one again").await.status(), StatusCode::CREATED);
    ws.event_where("message.new", |d| d["message"]["body"] == "one again").await;
    // Still at most two followed: three was let go for one.
    assert_eq!(said(2, "three again").await.status(), StatusCode::CREATED);
    assert_eq!(said(0, "one, third time").await.status(), StatusCode::CREATED);
    let frames = ws
        .frames_until("one's third message", |f| f.iter().any(|f| f["data"]["message"]["body"] == "one, third time"))
        .await;
    assert!(frames.iter().all(|f| f["data"]["message"]["body"] != "three again"), "{frames:?}");
}

#[actix_web::test]
async fn presence_subscriptions_per_user_are_bounded_over_all_their_connections() {
    let app = spawn_app_with(|s| {
        s.quota.presence_subscriptions_per_connection_max = 600;
        s.quota.presence_subscriptions_per_user_max = 700;
    })
    .await;
    let eve = app.register("eve").await;
    let batch = |n: usize| (0..n).map(|_| uuid::Uuid::new_v4()).collect::<Vec<_>>();
    let mut first = app.ws(&eve.access_token).await;
    let mut second = app.ws(&eve.access_token).await;
    assert_eq!(first.command("presence.subscribe", json!({"user_ids": batch(500)})).await["ok"], true);
    // Within the second connection's own bound, past the account's: refused whole, as per
    // connection.
    let r = second.command("presence.subscribe", json!({"user_ids": batch(201)})).await;
    assert_eq!(r["error"]["code"], "validation_failed", "{r}");
    assert!(r["error"]["details"]["fields"]["user_ids"].as_str().unwrap().contains("700"), "{r}");
    assert_eq!(second.command("presence.subscribe", json!({"user_ids": batch(200)})).await["ok"], true);
    let r = second.command("presence.subscribe", json!({"user_ids": batch(1)})).await;
    assert_eq!(r["error"]["code"], "validation_failed", "{r}");
    // Another account is not affected.
    let ada = app.register("ada").await;
    let mut adas = app.ws(&ada.access_token).await;
    assert_eq!(adas.command("presence.subscribe", json!({"user_ids": batch(500)})).await["ok"], true);
    // Closing a connection gives its places back.
    first.close().await;
    crate::helpers::wait::eventually("the closed connection's places to come back", async || {
        let r = second.command("presence.subscribe", json!({"user_ids": batch(1)})).await;
        crate::helpers::wait::check(r, |r| r["ok"] == true)
    })
    .await;
}

#[actix_web::test]
async fn a_socket_the_server_is_closing_keeps_its_place_until_the_client_answers() {
    // A closing socket whose client stopped reading can outlive every timer (its actor is not
    // polled while its write buffer is full): it must stay counted, or one account could hold
    // any number of them. A client that answers frees its place at once.
    let app = spawn_app_with(|s| {
        s.quota.sockets_per_user_max = 1;
        s.server.client_disconnect_timeout_ms = 600_000;
    })
    .await;
    let ada = app.register("ada").await;
    app.group(&ada, "r", &[]).await;
    let ws = app.ws(&ada.access_token).await;
    app.wait_for_attachments(1).await;
    app.post("/api/v1/auth/logout-all", Some(&ada.access_token), json!({})).await;
    let login: serde_json::Value = app.login("ada", crate::helpers::PASSWORD).await.json().await.unwrap();
    let token = login["access_token"].as_str().expect("a new access token").to_owned();
    // Leaving its room is the first thing the close does: the close has started.
    app.wait_for_attachments(0).await;
    let body = refused_upgrade(&app, &token).await;
    assert!(body["error"]["message"].as_str().unwrap().contains("account"), "{body}");
    let (code, _, hung_up) = ws.answer_the_close_late_and_see_the_server_hang_up(Duration::ZERO).await;
    assert_eq!((code, hung_up), (4001, true));
    eventually("the answered socket to give its place back", async || {
        check(app.ws_raw(&token).await.is_ok(), |ok| *ok)
    })
    .await;
}

/// The start's check that PostgreSQL writes its messages in a language plauder reads asks
/// PostgreSQL itself: a statement made to time out on the test cluster (C locale) is read as a
/// statement timeout, so the check passes and the start warns about nothing.
#[actix_web::test]
async fn the_message_language_is_checked_with_a_statement_made_to_time_out() {
    let app = spawn_app().await;
    assert!(plauder::db::reads_messages(&app.state.pool).await.expect("a connection"));
}
