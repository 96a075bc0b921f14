//! Slash commands end to end: a bot registers `/weather`, a member's `/weather Berlin` reaches the
//! bot's socket as `command.invoked`, and the bot's replies reach the caller alone or the whole
//! room; a bot that is not connected is reported to the caller; bad input gets the contract's
//! errors (a person registering, a bad name, a name of another bot, another bot's invocation).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api_tokens::bot;
use crate::helpers::{TestApp, TestUser, assert_error, spawn_app, spawn_app_with, user_with_role, uuid_of};

/// A group of `owner` with `members` and the bot `bot_id`.
async fn group_with_bot(
    app: &TestApp,
    owner: &TestUser,
    name: &str,
    members: &[&TestUser],
    bot_id: uuid::Uuid,
) -> uuid::Uuid {
    let mut ids: Vec<uuid::Uuid> = members.iter().map(|m| m.id).collect();
    ids.push(bot_id);
    let res = app
        .post("/api/v1/rooms", Some(&owner.access_token), json!({"kind": "group", "name": name, "member_ids": ids}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "create room");
    uuid_of(&res.json::<Value>().await.unwrap()["id"])
}

/// A bot that registered `/name`, with its id, token and connected socket.
async fn command_bot(app: &TestApp, root: &TestUser, name: &str) -> (uuid::Uuid, String, crate::helpers::ws::WsClient) {
    let (bot_id, token) = bot(app, root, &format!("{name}bot")).await;
    let res = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/bots/me/commands/{name}"),
            Some(&token),
            Some(json!({"description": "test"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let ws = app.ws(&token).await;
    (bot_id, token, ws)
}

fn reply_path(invoked: &Value) -> String {
    format!("/api/v1/commands/invocations/{}/reply", uuid_of(&invoked["invocation_id"]))
}

#[actix_web::test]
async fn a_bot_that_is_not_a_member_cannot_answer_in_the_room_until_it_is_added() {
    let app = spawn_app().await;
    let root = user_with_role(&app, "root", "admin").await;
    let (bot_id, token, mut bot_ws) = command_bot(&app, &root, "echo").await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "Private", &[]).await;
    app.send(&ada, room, "/echo hi").await;
    let path = reply_path(&bot_ws.event("command.invoked").await);

    let res = app.post(&path, Some(&token), json!({"text": "hi", "visibility": "room"})).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.history(&ada, room, "").await["messages"].as_array().unwrap().len(), 1, "nothing posted");
    // The refused reply did not use up the invocation: once a member, the bot answers.
    let res = app
        .post(&format!("/api/v1/rooms/{room}/members"), Some(&ada.access_token), json!({"user_ids": [bot_id]}))
        .await;
    assert!(res.status().is_success(), "add the bot: {}", res.status());
    let res = app.post(&path, Some(&token), json!({"text": "hi", "visibility": "room"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn a_bots_room_replies_count_against_its_message_rate_limit() {
    let app = spawn_app_with(|s| {
        s.rate_limit.message_burst = 1;
        s.rate_limit.message_replenish_interval_ms = 600_000;
    })
    .await;
    let root = user_with_role(&app, "root", "admin").await;
    let (bot_id, token, mut bot_ws) = command_bot(&app, &root, "echo").await;
    let ada = app.register("ada").await;
    let room = group_with_bot(&app, &ada, "Busy", &[], bot_id).await;
    app.send(&ada, room, "/echo hi").await;
    let path = reply_path(&bot_ws.event("command.invoked").await);
    // The bot spends its one message on a message of its own.
    let res = app.post(&format!("/api/v1/rooms/{room}/messages"), Some(&token), json!({"body": "chatty"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let res = app.post(&path, Some(&token), json!({"text": "hi", "visibility": "room"})).await;
    let body = assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(body["error"]["details"]["retry_after_ms"].as_u64().unwrap() > 0, "{body}");
    assert_eq!(app.history(&ada, room, "").await["messages"].as_array().unwrap().len(), 2, "no reply posted");
}

#[actix_web::test]
async fn a_command_reaches_its_bot_and_the_reply_reaches_the_caller_alone_or_the_room() {
    let app = spawn_app().await;
    let root = user_with_role(&app, "root", "admin").await;
    let (bot_id, token) = bot(&app, &root, "weatherbot").await;
    let bot_auth = Some(token.as_str());
    let res = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/bots/me/commands/weather",
            bot_auth,
            Some(json!({"description": "The weather"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let listed: Value = app.get("/api/v1/commands", Some(&root.access_token)).await.json().await.unwrap();
    assert_eq!(listed["commands"][0]["name"], "weather");
    assert_eq!(listed["commands"][0]["bot"]["id"], json!(bot_id));

    let ada = app.register("ada").await;
    let bea = app.register("bea").await;
    let room = group_with_bot(&app, &ada, "Plans", &[&bea], bot_id).await;
    let mut bot_ws = app.ws(&token).await;
    let mut ada_ws = app.ws(&ada.access_token).await;
    let mut bea_ws = app.ws(&bea.access_token).await;

    let sent = app.send(&ada, room, "/weather Berlin tomorrow").await;
    let invoked = bot_ws.event("command.invoked").await;
    assert_eq!(invoked["command"], "weather");
    assert_eq!(invoked["args"], "Berlin tomorrow");
    assert_eq!(invoked["room_id"], json!(room));
    assert_eq!(invoked["message_id"], sent["id"]);
    assert_eq!(invoked["caller"]["id"], json!(ada.id));
    let invocation = uuid_of(&invoked["invocation_id"]);
    let reply_path = format!("/api/v1/commands/invocations/{invocation}/reply");

    // To the caller alone: an event on ada's sockets, nothing on bea's, nothing stored.
    let res = app.post(&reply_path, bot_auth, json!({"text": "Sunny, 21 °C", "visibility": "caller"})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let reply = ada_ws.event("command.reply").await;
    assert_eq!((reply["text"].as_str(), reply["room_id"].clone()), (Some("Sunny, 21 °C"), json!(room)));
    assert_eq!(reply["bot_id"], json!(bot_id));
    bea_ws.no_event("command.reply", Duration::from_millis(300)).await;
    let history = app.history(&bea, room, "").await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 1, "only the command itself");

    // To the room: a message of the bot that everyone gets.
    let res = app.post(&reply_path, bot_auth, json!({"text": "Everyone: sunny", "visibility": "room"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let posted: Value = res.json().await.unwrap();
    let heard = bea_ws.event_where("message.new", |d| d["message"]["id"] == posted["id"]).await;
    assert_eq!(heard["message"]["sender_id"], json!(bot_id));
    assert_eq!(heard["message"]["body"], "Everyone: sunny");
    // One room reply per invocation; the caller may still be answered alone.
    let res = app.post(&reply_path, bot_auth, json!({"text": "Once more, everyone", "visibility": "room"})).await;
    assert_error(res, StatusCode::CONFLICT, "conflict").await;
    let res = app.post(&reply_path, bot_auth, json!({"text": "Just you again", "visibility": "caller"})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let history = app.history(&bea, room, "").await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 2, "the command and one reply");

    // A message that only looks like a command, or names none, goes nowhere.
    app.send(&ada, room, "/unknown thing").await;
    app.send(&ada, room, "see /weather").await;
    bot_ws.no_event("command.invoked", Duration::from_millis(300)).await;
    assert_eq!(app.metric("plauder_slash_commands_total").await, 1.0);
}

#[actix_web::test]
async fn a_bot_that_is_not_connected_is_reported_and_bad_input_gets_the_contracts_errors() {
    let app = spawn_app().await;
    let root = user_with_role(&app, "root", "admin").await;
    let (_, token) = bot(&app, &root, "deploybot").await;
    let (_, other) = bot(&app, &root, "otherbot").await;
    let put = |name: &str, auth: &str, body: Value| {
        app.request(reqwest::Method::PUT, &format!("/api/v1/bots/me/commands/{name}"), Some(auth), Some(body))
    };
    assert_eq!(put("deploy", &token, json!({"description": "Ship it"})).await.status(), StatusCode::OK);
    assert_error(put("deploy", &other, json!({})).await, StatusCode::CONFLICT, "conflict").await;
    assert_error(put("Deploy!", &token, json!({})).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let long = json!({"description": "x".repeat(201)});
    assert_error(put("deploy", &token, long).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let ada = app.register("ada").await;
    assert_error(put("mine", &ada.access_token, json!({})).await, StatusCode::FORBIDDEN, "forbidden").await;

    // The bot has no socket: the caller hears so at once.
    let room = app.group(&ada, "Ops", &[]).await;
    let mut ada_ws = app.ws(&ada.access_token).await;
    app.send(&ada, room, "/deploy v1.2").await;
    let reply = ada_ws.event("command.reply").await;
    assert!(reply["text"].as_str().unwrap().contains("not connected"), "{reply}");
    let invocation = reply["invocation_id"].as_str().unwrap().to_owned();

    // Only the command's bot answers its invocation; a bad text or visibility is refused.
    let path = format!("/api/v1/commands/invocations/{invocation}/reply");
    let res = app.post(&path, Some(&other), json!({"text": "hijack", "visibility": "room"})).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.post(&path, Some(&token), json!({"text": " ", "visibility": "room"})).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app.post(&path, Some(&token), json!({"text": "ok", "visibility": "everyone"})).await;
    assert!(res.status().is_client_error(), "{}", res.status());
    let unknown = uuid::Uuid::new_v4();
    let res = app
        .post(
            &format!("/api/v1/commands/invocations/{unknown}/reply"),
            Some(&token),
            json!({"text": "x", "visibility": "caller"}),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // Gone once unregistered (and only by its own bot).
    let del = |auth: &str| app.request(reqwest::Method::DELETE, "/api/v1/bots/me/commands/deploy", Some(auth), None);
    assert_error(del(&other).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(del(&token).await.status(), StatusCode::NO_CONTENT);
    let listed: Value = app.get("/api/v1/commands", Some(&ada.access_token)).await.json().await.unwrap();
    assert!(listed["commands"].as_array().unwrap().is_empty());
}
