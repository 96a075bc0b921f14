//! What holds for the deployment rather than per instance: the admin panel's live figures
//! (whichever instance answers `GET /admin/stats`, `connections` and `users_online` are the same
//! sums over both) and the rate limits (a user's message budget and an address's budgets are
//! shared by the instances through Redis, with each instance's own limiter as the fallback), the
//! assistant's answer rate and token budget too.

use std::time::Duration;

use diesel_async::SimpleAsyncConnection;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::assistant::{FAQ_ANSWER, FAQ_QUESTION, Model, Mood, PIECES, TOKENS};
use crate::cluster_support::{Cluster, free_port, instance_settings, redis_url};
use crate::helpers::wait::{check, eventually, holds_throughout};
use crate::helpers::{TestApp, TestUser, spawn_app_from, test_settings, user_with_role};

async fn live(app: &TestApp, token: &str) -> (i64, i64) {
    let stats: Value = app.get("/api/v1/admin/stats", Some(token)).await.json().await.unwrap();
    (stats["connections"].as_i64().unwrap_or(-1), stats["users_online"].as_i64().unwrap_or(-1))
}

#[actix_web::test]
async fn admin_stats_count_the_connections_and_users_of_every_instance() {
    let c = Cluster::start(&redis_url()).await;
    let admin = user_with_role(&c.front, "root", "admin").await;
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    // Ada on both instances (she counts once), bob on beta: three sockets, two users.
    let _ada_a = c.ws_on(&ada.access_token, "alpha").await;
    let _ada_b = c.ws_on(&ada.access_token, "beta").await;
    let _bob_b = c.ws_on(&bob.access_token, "beta").await;

    for app in [&c.a, &c.b] {
        eventually("the stats to count both instances", async || {
            check(live(app, &admin.access_token).await, |&figures| figures == (3, 2))
        })
        .await;
    }
}

#[actix_web::test]
async fn a_users_message_budget_is_shared_by_the_instances() {
    let c = Cluster::start_with(&redis_url(), |s| {
        s.rate_limit.message_burst = 3;
        s.rate_limit.message_replenish_interval_ms = 60_000;
    })
    .await;
    let ada = c.front.register("ada").await;
    let room = c.front.group(&ada, "budget", &[]).await;
    let mut ada_b = c.ws_on(&ada.access_token, "beta").await;

    // Two over REST on alpha, one over WebSocket on beta: the budget of three is spent.
    c.a.send(&ada, room, "one").await;
    c.a.send(&ada, room, "two").await;
    let r = ada_b.command("message.send", json!({"room_id": room, "body": "three"})).await;
    assert_eq!(r["ok"], true, "{r}");
    // Beta's own limiter has seen one message; the shared bucket has seen three.
    let res =
        c.b.post(&format!("/api/v1/rooms/{room}/messages"), Some(&ada.access_token), json!({"body": "four"})).await;
    let body = crate::helpers::assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(body["error"]["details"]["retry_after_ms"].as_u64().is_some_and(|ms| ms > 1000), "{body}");
    let r = ada_b.command("message.send", json!({"room_id": room, "body": "four again"})).await;
    assert_eq!(r["error"]["code"], "rate_limited", "{r}");
    let history = c.a.history(&ada, room, "").await;
    assert_eq!(history["messages"].as_array().map(Vec::len), Some(3), "{history}");
}

/// A socket whose message writes the deployment's limit keeps refusing (its own instance's limit
/// passes them: the budget was spent on another instance) is closed as any abuser is.
#[actix_web::test]
async fn refusals_by_the_shared_message_limit_count_toward_the_abuse_close() {
    let c = Cluster::start_with(&redis_url(), |s| {
        s.rate_limit.message_burst = 3;
        s.rate_limit.message_replenish_interval_ms = 60_000;
        s.rate_limit.abuse_close_after = 3;
    })
    .await;
    let ada = c.front.register("ada").await;
    let room = c.front.group(&ada, "budget", &[]).await;
    for body in ["one", "two", "three"] {
        c.a.send(&ada, room, body).await;
    }
    let mut ada_b = c.ws_on(&ada.access_token, "beta").await;
    for n in 1..=3 {
        let r = ada_b.command("message.send", json!({"room_id": room, "body": format!("over {n}")})).await;
        assert_eq!(r["error"]["code"], "rate_limited", "{r}");
    }
    ada_b.send_json(json!({"id": "last", "type": "message.send", "data": {"room_id": room, "body": "over 4"}})).await;
    assert_eq!(ada_b.closed_with().await, 1008);
    let history = c.a.history(&ada, room, "").await;
    assert_eq!(history["messages"].as_array().map(Vec::len), Some(3), "{history}");
}

/// A pipelined write that the deployment's limit refuses is answered at once, but the writes
/// after it still come after the ones before it: here a send to another room does not commit,
/// nor get its reply, before the reply (checked path) ahead of it, which waits for its room.
#[actix_web::test]
async fn a_write_refused_by_the_shared_limit_lets_no_later_write_overtake_an_earlier_one() {
    let c = Cluster::start_with(&redis_url(), |s| {
        s.rate_limit.message_burst = 3;
        s.rate_limit.message_replenish_interval_ms = 1_000;
    })
    .await;
    let ada = c.front.register("ada").await;
    let (room, other) = (c.front.group(&ada, "held", &[]).await, c.front.group(&ada, "free", &[]).await);
    // Two of the three spent on alpha; the reply below takes the third.
    let parent = c.a.send(&ada, room, "parent").await;
    c.a.send(&ada, other, "two").await;
    let mut ws = c.ws_on(&ada.access_token, "beta").await;
    let mut blocker = c.b.hold_room_row(room).await;
    let reply = json!({"room_id": room, "body": "reply", "reply_to": parent["id"]});
    ws.send_json(json!({"id": "a", "type": "message.send", "data": reply})).await;
    let b = json!({"room_id": other, "body": "refused"});
    ws.send_json(json!({"id": "b", "type": "message.send", "data": b})).await;
    let refused = ws.reply_to(json!("b")).await;
    assert_eq!(refused["error"]["code"], "rate_limited", "{refused}");
    // Once the shared bucket has a place again, a send to the free room.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let c_send = json!({"room_id": other, "body": "after"});
    ws.send_json(json!({"id": "c", "type": "message.send", "data": c_send})).await;
    let early = ws.frames_within(Duration::from_millis(500)).await;
    assert!(early.iter().all(|f| f["type"] != "reply"), "answered before the write ahead of it: {early:?}");
    blocker.batch_execute("COMMIT").await.unwrap();
    let got = ws.frames_until("both replies", |f| f.iter().filter(|f| f["type"] == "reply").count() == 2).await;
    let replies: Vec<&Value> = got.iter().filter(|f| f["type"] == "reply").collect();
    assert_eq!(replies.iter().map(|r| r["id"].clone()).collect::<Vec<_>>(), [json!("a"), json!("c")]);
    assert!(replies.iter().all(|r| r["ok"] == true), "{replies:?}");
}

#[actix_web::test]
async fn while_redis_is_unreachable_each_instance_keeps_its_own_limit() {
    let mut base = test_settings().await;
    base.rate_limit.message_burst = 2;
    base.rate_limit.message_replenish_interval_ms = 60_000;
    let nowhere = format!("redis://127.0.0.1:{}", free_port());
    let app = spawn_app_from(instance_settings(&base, &nowhere, "tnowhere", "lonely")).await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "local", &[]).await;
    app.send(&ada, room, "one").await;
    app.send(&ada, room, "two").await;
    let res =
        app.post(&format!("/api/v1/rooms/{room}/messages"), Some(&ada.access_token), json!({"body": "three"})).await;
    crate::helpers::assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// The threads of this test process with this name (Linux).
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
                .count()
        })
        .unwrap_or(0)
}

#[actix_web::test]
async fn the_redis_publisher_and_subscriber_run_on_a_thread_of_their_own() {
    let before = threads_named("plauder-redis");
    let c = Cluster::start(&redis_url()).await;
    // One per instance, beside the actix threads of the room actors and connections.
    assert_eq!(threads_named("plauder-redis"), before + 2);
    // And what they carry still arrives.
    let ada = c.front.register("ada").await;
    let bob = c.front.register("bob").await;
    let room = c.front.group(&ada, "threads", &[&bob]).await;
    let mut bob_b = c.ws_on(&bob.access_token, "beta").await;
    c.a.send(&ada, room, "across threads").await;
    assert_eq!(bob_b.event("message.new").await["message"]["body"], "across threads");
}

/// The assistant's messages in `room`, oldest first (only `human` writes besides it).
async fn assistant_answers(app: &TestApp, human: &TestUser, room: uuid::Uuid) -> Vec<String> {
    let page = app.history(human, room, "?limit=100").await;
    let mut bodies: Vec<String> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["sender_id"] != json!(human.id))
        .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
        .collect();
    bodies.reverse();
    bodies
}

/// A metric with one label value, `name{label="value"}`, of one instance.
async fn labelled(app: &TestApp, name: &str, label: &str, value: &str) -> f64 {
    let text = app.get("/metrics", None).await.text().await.unwrap();
    let pattern = format!("{label}=\"{value}\"");
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(&pattern))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until `n` answers are counted (the test process's metrics: both instances'), which frees
/// the room for the next question.
async fn answers_counted(app: &TestApp, n: usize) {
    eventually("the answer counted", async || {
        check(app.metric("plauder_assistant_answers_total").await, |c| *c >= n as f64)
    })
    .await;
}

#[actix_web::test]
async fn the_assistants_rate_and_token_budget_are_shared_by_the_instances() {
    let model = Model::start(Mood::Streams { gap_ms: 0 }).await;
    let url = model.url.clone();
    let c = Cluster::start_with(&redis_url(), |s| {
        s.assistant.enabled = true;
        s.assistant.endpoint = url.clone();
        s.assistant.model = "test-model".into();
        s.assistant.timeout_ms = 5_000;
        s.assistant.idle_timeout_ms = 1_000;
        // One answer's tokens spend the budget; two answers a minute.
        s.assistant.tokens_per_hour = TOKENS;
        s.assistant.answers_per_minute = 2;
    })
    .await;
    let admin = user_with_role(&c.front, "root", "admin").await;
    let res = c
        .front
        .post(
            "/api/v1/admin/knowledge",
            Some(&admin.access_token),
            json!({"kind": "faq", "title": FAQ_QUESTION, "body": FAQ_ANSWER}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let ada = c.front.register("ada").await;
    let room = c.front.group(&ada, "help", &[]).await;
    let ask = "@assistant how do I reset my password?";

    // Alpha answers with the model, spending the hour's budget.
    c.a.send(&ada, room, ask).await;
    eventually("alpha's answer", async || check(assistant_answers(&c.a, &ada, room).await, |a| a.len() == 1)).await;
    assert_eq!(assistant_answers(&c.a, &ada, room).await, [PIECES.concat()]);
    answers_counted(&c.a, 1).await;
    // Beta has spent nothing itself, but the deployment has: the FAQ answers, the model is not asked.
    c.b.send(&ada, room, ask).await;
    let answers =
        eventually("beta's answer", async || check(assistant_answers(&c.b, &ada, room).await, |a| a.len() == 2)).await;
    assert_eq!(answers[1], FAQ_ANSWER, "the budget is the deployment's");
    assert_eq!(model.requests().len(), 1);
    assert_eq!(labelled(&c.b, "plauder_assistant_skipped_total", "reason", "budget").await, 1.0);
    answers_counted(&c.b, 2).await;
    // Alpha has answered once itself, the deployment twice: the rate of two a minute is used up.
    c.a.send(&ada, room, ask).await;
    eventually("alpha's rate skip", async || {
        check(labelled(&c.a, "plauder_assistant_skipped_total", "reason", "rate").await, |n| *n == 1.0)
    })
    .await;
    holds_throughout("no third answer", std::time::Duration::from_millis(300), async || {
        check(assistant_answers(&c.a, &ada, room).await.len(), |n| *n == 2).map(drop)
    })
    .await;
}
