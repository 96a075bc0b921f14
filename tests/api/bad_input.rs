//! Malformed requests get the protocol's error body with the right code, and change nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, assert_error, spawn_app};

#[actix_web::test]
async fn malformed_json_is_400_bad_request() {
    let app = spawn_app().await;
    for body in ["{", "{\"username\": }", "not json", "[1,2", "\u{0}"] {
        let res = app.raw(Method::POST, "/api/v1/auth/register", None, body).await;
        assert_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
}

#[actix_web::test]
async fn an_empty_body_is_400() {
    let app = spawn_app().await;
    let res = app.raw(Method::POST, "/api/v1/auth/login", None, "").await;
    assert_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
}

#[actix_web::test]
async fn missing_mistyped_and_unknown_fields_are_422() {
    let app = spawn_app().await;
    let cases = [
        json!({"username": "ada", "password": PASSWORD}),
        json!({"username": "ada", "email": 7, "password": PASSWORD}),
        json!({"username": ["ada"], "email": "ada@example.org", "password": PASSWORD}),
        json!({"username": "ada", "email": "ada@example.org", "password": PASSWORD, "role": "admin"}),
        json!([]),
        json!(null),
    ];
    for body in cases {
        let res = app.post("/api/v1/auth/register", None, body.clone()).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    // None of these created the account.
    app.register("ada").await;
}

#[actix_web::test]
async fn an_oversize_body_is_413() {
    let app = spawn_app().await;
    let huge = json!({"login": "a".repeat(70_000), "password": PASSWORD});
    let res = app.post("/api/v1/auth/login", None, huge).await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[actix_web::test]
async fn json_without_a_content_type_is_still_read() {
    let app = spawn_app().await;
    let body = json!({"username": "ada", "email": "ada@example.org", "password": PASSWORD}).to_string();
    let res = app.client.post(format!("{}/api/v1/auth/register", app.address)).body(body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn unknown_routes_are_404_with_the_error_body() {
    let app = spawn_app().await;
    assert_error(app.get("/api/v1/nothing-here", None).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(app.get("/nothing", None).await, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn the_server_survives_a_burst_of_bad_requests() {
    let app = spawn_app().await;
    for i in 0..50 {
        let body = "{".repeat(i);
        let _ = app.raw(Method::POST, "/api/v1/auth/login", None, body).await;
    }
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
    app.register("ada").await;
}

/// The field a 422 names, from `details.fields`.
fn named_fields(body: &serde_json::Value) -> Vec<String> {
    body["error"]["details"]["fields"].as_object().map(|f| f.keys().cloned().collect()).unwrap_or_default()
}

#[actix_web::test]
async fn nul_in_any_text_field_is_422_naming_the_field_and_stores_nothing() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let msg = app.send(&ada, room, "hello").await;
    let msg_id = msg["id"].as_str().unwrap();
    let token = Some(ada.access_token.as_str());

    let cases = [
        (app.post(&format!("/api/v1/rooms/{room}/messages"), token, json!({"body": "a\u{0}b"})).await, "body"),
        (app.patch(&format!("/api/v1/messages/{msg_id}"), token, json!({"body": "\u{0}"})).await, "body"),
        (app.post("/api/v1/rooms", token, json!({"kind": "group", "name": "n\u{0}", "member_ids": []})).await, "name"),
        (app.patch("/api/v1/users/me", token, json!({"display_name": "Ada\u{0}"})).await, "display_name"),
        (app.patch("/api/v1/users/me", token, json!({"bio": "\u{0}"})).await, "bio"),
        (
            app.post("/api/v1/contact", None, json!({"name": "V", "email": "v@example.org", "message": "hi\u{0}"}))
                .await,
            "message",
        ),
        (app.post("/api/v1/support/sessions", None, json!({"name": "V\u{0}", "email": "v@example.org"})).await, "name"),
        (app.raw(Method::PUT, &format!("/api/v1/messages/{msg_id}/reactions/%00"), token, "").await, "emoji"),
        (app.get("/api/v1/search/messages?q=a%00b", token).await, "q"),
        (app.get("/api/v1/users?q=a%00b", token).await, "q"),
    ];
    for (res, field) in cases {
        let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(named_fields(&body), [field], "{body}");
    }

    // Nothing of it was stored.
    let history = app.history(&ada, room, "").await;
    let bodies: Vec<&str> =
        history["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["hello"]);
    assert_eq!(history["messages"][0]["reactions"], json!([]));
    let rooms: serde_json::Value = app.get("/api/v1/rooms", token).await.json().await.unwrap();
    assert_eq!(rooms["rooms"].as_array().map(Vec::len), Some(1), "{rooms}");
    let me: serde_json::Value = app.me(&ada.access_token).await.json().await.unwrap();
    assert!(me["display_name"].as_str().is_none_or(|n| !n.contains('\u{0}')) && me["bio"] != "\u{0}", "{me}");
}

#[actix_web::test]
async fn nul_in_websocket_command_data_is_422_naming_the_field_and_stores_nothing() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let msg = app.send(&ada, room, "hello").await;
    let mut ws = app.ws(&ada.access_token).await;

    let cases = [
        ("message.send", json!({"room_id": room, "body": "a\u{0}b"}), "body"),
        ("message.send", json!({"room_id": room, "body": "ok", "client_msg_id": "k\u{0}"}), "client_msg_id"),
        ("message.edit", json!({"message_id": msg["id"], "body": "\u{0}"}), "body"),
        ("reaction.add", json!({"message_id": msg["id"], "emoji": "\u{0}"}), "emoji"),
    ];
    for (kind, data, field) in cases {
        let reply = ws.command(kind, data).await;
        assert_eq!(reply["ok"], false, "{reply}");
        assert_eq!(reply["error"]["code"], "validation_failed", "{reply}");
        assert_eq!(named_fields(&json!({"error": reply["error"]})), [field], "{reply}");
    }
    // The connection stays usable, and nothing was stored.
    let ok = ws.command("message.send", json!({"room_id": room, "body": "fine"})).await;
    assert_eq!(ok["ok"], true, "{ok}");
    let history = app.history(&ada, room, "").await;
    let messages = history["messages"].as_array().unwrap();
    let bodies: Vec<&str> = messages.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["fine", "hello"]);
    assert!(messages.iter().all(|m| m["reactions"] == json!([])));
}
