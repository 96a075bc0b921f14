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
    assert!(text.lines().any(|l| l.starts_with("http_requests_total{") && l.contains(r#"method="other""#)), "{text}");
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
