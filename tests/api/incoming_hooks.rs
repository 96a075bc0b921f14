//! Incoming webhooks: a room owner's secret URL posts into the room as the hook's bot (badge,
//! live event, rate limit), a forged or deleted token is 404, and only the owner manages hooks.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app, spawn_app_with, uuid_of};

#[actix_web::test]
async fn a_rooms_hook_posts_as_its_bot_and_a_forged_token_is_404() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "ops", &[&bob]).await;
    let res = app.post(&format!("/api/v1/rooms/{room}/hooks"), Some(&ada.access_token), json!({"name": "CI"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let hook: Value = res.json().await.unwrap();
    let path = hook["path"].as_str().unwrap().to_owned();
    assert!(path.starts_with("/hooks/plh_"), "{hook}");
    assert_eq!(hook["bot"]["is_bot"], true);
    let bot_id = uuid_of(&hook["bot"]["id"]);

    let mut bob_ws = app.ws(&bob.access_token).await;
    let res = app.post(&path, None, json!({"text": "build #42 passed"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let event = bob_ws.event("message.new").await;
    assert_eq!(event["message"]["body"], "build #42 passed");
    assert_eq!(event["message"]["sender_id"], json!(bot_id));
    let members: Value =
        app.get(&format!("/api/v1/rooms/{room}/members"), Some(&ada.access_token)).await.json().await.unwrap();
    assert!(
        members["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user"]["id"] == json!(bot_id) && m["user"]["is_bot"] == true),
        "{members}"
    );

    // Forged tokens, and a bad body.
    for forged in ["/hooks/plh_nope", "/hooks/", &format!("{path}x")] {
        let res = app.post(forged, None, json!({"text": "x"})).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{forged}");
    }
    assert_error(
        app.post(&path, None, json!({"text": ""})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_error(
        app.post(&path, None, json!({"body": "x"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    // Only the owner manages hooks; deleting one stops its URL.
    assert_error(
        app.get(&format!("/api/v1/rooms/{room}/hooks"), Some(&bob.access_token)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        app.post(&format!("/api/v1/rooms/{room}/hooks"), Some(&bob.access_token), json!({"name": "x"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let list: Value =
        app.get(&format!("/api/v1/rooms/{room}/hooks"), Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(list["hooks"][0]["name"], "CI");
    assert!(list["hooks"][0].get("path").is_none(), "the secret is not listed");
    let id = list["hooks"][0]["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/rooms/{room}/hooks/{id}"), Some(&ada.access_token)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_error(app.post(&path, None, json!({"text": "after"})).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM messages WHERE body = 'after'").await, 0);
}

#[actix_web::test]
async fn a_hooks_bot_is_rate_limited_and_once_removed_from_the_room_cannot_post() {
    let app = spawn_app_with(|s| {
        s.rate_limit.message_burst = 2;
        s.rate_limit.message_replenish_interval_ms = 60_000;
    })
    .await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "ops", &[]).await;
    let make = async |name: &str| -> Value {
        app.post(&format!("/api/v1/rooms/{room}/hooks"), Some(&ada.access_token), json!({"name": name}))
            .await
            .json()
            .await
            .unwrap()
    };
    let noisy = make("Noisy").await;
    let path = noisy["path"].as_str().unwrap().to_owned();
    let mut statuses = Vec::new();
    for i in 0..3 {
        statuses.push(app.post(&path, None, json!({"text": format!("{i}")})).await.status());
    }
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CREATED, StatusCode::TOO_MANY_REQUESTS]);

    let gone = make("Gone").await;
    let bot = gone["bot"]["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/rooms/{room}/members/{bot}"), Some(&ada.access_token)).await.status(),
        StatusCode::NO_CONTENT
    );
    let res = app.post(gone["path"].as_str().unwrap(), None, json!({"text": "still here?"})).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

/// Each hook makes a bot account: a room holds a bounded number (409 past it, a place freed by
/// deleting one), and creating them spends the creator's room budget (429 past it).
#[actix_web::test]
async fn hooks_per_room_are_bounded_and_creating_them_is_rate_limited() {
    let app = spawn_app_with(|s| {
        s.quota.incoming_hooks_per_room_max = 2;
        s.rate_limit.room_create_burst = 4;
    })
    .await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "ops", &[]).await;
    let create = |name: &'static str| {
        app.post(&format!("/api/v1/rooms/{room}/hooks"), Some(&ada.access_token), json!({ "name": name }))
    };
    let first: Value = create("one").await.json().await.unwrap();
    assert_eq!(create("two").await.status(), StatusCode::CREATED);
    let body = assert_error(create("three").await, StatusCode::CONFLICT, "conflict").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("2 incoming webhooks"), "{body}");
    let res = app
        .delete(&format!("/api/v1/rooms/{room}/hooks/{}", first["id"].as_str().unwrap()), Some(&ada.access_token))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // The room and three creations (the refused one too) spent the burst of 4.
    let res = create("four").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{}", res.text().await.unwrap_or_default());
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM incoming_webhooks WHERE room_id = '{room}'")).await, 1);
}
