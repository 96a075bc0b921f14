//! Friends and blocks, and blocks enforced on friend requests and direct rooms.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser, assert_error, spawn_app};

async fn request(app: &TestApp, from: &TestUser, to: Uuid) -> reqwest::Response {
    app.post("/api/v1/friends/requests", Some(&from.access_token), json!({ "user_id": to })).await
}

async fn friends_of(app: &TestApp, user: &TestUser) -> Vec<String> {
    let body: Value = app.get("/api/v1/friends", Some(&user.access_token)).await.json().await.unwrap();
    body["friends"].as_array().unwrap().iter().map(|f| f["user"]["username"].as_str().unwrap().to_owned()).collect()
}

#[actix_web::test]
async fn a_request_accepted_makes_friends_on_both_sides() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let res = request(&app, &ada, bob.id).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let req: Value = res.json().await.unwrap();
    assert_eq!(req["from"]["username"], "ada");
    assert_eq!(req["to"]["username"], "bob");
    assert!(req["created_at"].is_string());

    let bobs: Value = app.get("/api/v1/friends/requests", Some(&bob.access_token)).await.json().await.unwrap();
    assert_eq!(bobs["incoming"][0]["id"], req["id"]);
    assert_eq!(bobs["outgoing"], json!([]));
    let adas: Value = app.get("/api/v1/friends/requests", Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(adas["outgoing"][0]["id"], req["id"]);

    // Only the recipient can accept.
    let path = format!("/api/v1/friends/requests/{}/accept", req["id"].as_str().unwrap());
    assert_error(app.post(&path, Some(&ada.access_token), json!({})).await, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.post(&path, Some(&bob.access_token), json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let friend: Value = res.json().await.unwrap();
    assert_eq!(friend["user"]["username"], "ada");
    assert_eq!(friend["user"]["presence"]["status"], "offline");
    assert!(friend["since"].is_string());

    assert_eq!(friends_of(&app, &ada).await, ["bob"]);
    assert_eq!(friends_of(&app, &bob).await, ["ada"]);
    let list: Value = app.get("/api/v1/friends", Some(&ada.access_token)).await.json().await.unwrap();
    assert!(list["friends"][0]["user"]["presence"].is_object());
    let bobs: Value = app.get("/api/v1/friends/requests", Some(&bob.access_token)).await.json().await.unwrap();
    assert_eq!(bobs["incoming"], json!([]));

    assert_error(request(&app, &ada, bob.id).await, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(
        app.delete(&format!("/api/v1/friends/{}", bob.id), Some(&ada.access_token)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(friends_of(&app, &bob).await.is_empty());
    assert_error(
        app.delete(&format!("/api/v1/friends/{}", bob.id), Some(&ada.access_token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[actix_web::test]
async fn duplicate_crossed_and_bad_requests_are_refused() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    assert_eq!(request(&app, &ada, bob.id).await.status(), StatusCode::CREATED);
    assert_error(request(&app, &ada, bob.id).await, StatusCode::CONFLICT, "conflict").await;
    assert_error(request(&app, &bob, ada.id).await, StatusCode::CONFLICT, "conflict").await;
    assert_error(request(&app, &ada, ada.id).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_error(request(&app, &ada, Uuid::new_v4()).await, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.post("/api/v1/friends/requests", Some(&ada.access_token), json!({"user_id": "bob"})).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[actix_web::test]
async fn requests_can_be_declined_by_the_recipient_or_withdrawn_by_the_sender() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let req: Value = request(&app, &ada, bob.id).await.json().await.unwrap();
    let decline = format!("/api/v1/friends/requests/{}/decline", req["id"].as_str().unwrap());
    assert_error(app.post(&decline, Some(&carol.access_token), json!({})).await, StatusCode::NOT_FOUND, "not_found")
        .await;
    assert_eq!(app.post(&decline, Some(&bob.access_token), json!({})).await.status(), StatusCode::NO_CONTENT);
    assert_error(app.post(&decline, Some(&bob.access_token), json!({})).await, StatusCode::NOT_FOUND, "not_found")
        .await;

    let req: Value = request(&app, &ada, bob.id).await.json().await.unwrap();
    let withdraw = format!("/api/v1/friends/requests/{}/decline", req["id"].as_str().unwrap());
    assert_eq!(app.post(&withdraw, Some(&ada.access_token), json!({})).await.status(), StatusCode::NO_CONTENT);
    assert!(friends_of(&app, &ada).await.is_empty());
}

#[actix_web::test]
async fn a_block_ends_friendship_and_stops_requests_and_direct_rooms_both_ways() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let req: Value = request(&app, &ada, bob.id).await.json().await.unwrap();
    app.post(
        &format!("/api/v1/friends/requests/{}/accept", req["id"].as_str().unwrap()),
        Some(&bob.access_token),
        json!({}),
    )
    .await;
    let dm = app.direct(&ada, &bob).await;
    let group = app.group(&ada, "g", &[&bob]).await;

    let res = app.post("/api/v1/blocks", Some(&bob.access_token), json!({"user_id": ada.id})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let block: Value = res.json().await.unwrap();
    assert_eq!(block["user"]["username"], "ada");
    let again = app.post("/api/v1/blocks", Some(&bob.access_token), json!({"user_id": ada.id})).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(friends_of(&app, &ada).await.is_empty(), "the block ended the friendship");

    // The blocked user, and the blocker too, can neither befriend nor message the other.
    assert_error(request(&app, &ada, bob.id).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(request(&app, &bob, ada.id).await, StatusCode::FORBIDDEN, "forbidden").await;
    for (me, other) in [(&ada, &bob), (&bob, &ada)] {
        let res = app
            .post("/api/v1/rooms", Some(&me.access_token), json!({"kind": "direct", "member_ids": [other.id]}))
            .await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        let res =
            app.post(&format!("/api/v1/rooms/{dm}/messages"), Some(&me.access_token), json!({"body": "hello?"})).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // A group room they already share is not affected (see moderation.rs for adding).
    app.send(&ada, group, "still fine here").await;

    let blocks: Value = app.get("/api/v1/blocks", Some(&bob.access_token)).await.json().await.unwrap();
    assert_eq!(blocks["blocks"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.delete(&format!("/api/v1/blocks/{}", ada.id), Some(&bob.access_token)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.delete(&format!("/api/v1/blocks/{}", ada.id), Some(&bob.access_token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = app
        .post(&format!("/api/v1/rooms/{dm}/messages"), Some(&ada.access_token), json!({"body": "hello again"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(request(&app, &ada, bob.id).await.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn blocking_yourself_or_nobody_is_refused() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let res = app.post("/api/v1/blocks", Some(&ada.access_token), json!({"user_id": ada.id})).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app.post("/api/v1/blocks", Some(&ada.access_token), json!({"user_id": Uuid::new_v4()})).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

/// A request accepted while a block between the two commits does not make them friends: the
/// acceptance used to read the request before the block ended it and insert the friendship after
/// the block had ended the old one, so the two stayed friends across the block (and watched each
/// other's presence). Here the block is held half-way, on the request's row.
#[actix_web::test]
async fn a_request_accepted_while_a_block_commits_makes_no_friendship() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let req: Value = request(&app, &ada, bob.id).await.json().await.unwrap();
    let id = req["id"].as_str().unwrap().to_owned();
    let blocker = app.hold(&format!("SELECT 1 FROM friend_requests WHERE id = '{id}' FOR UPDATE")).await;
    let blocked = app.post("/api/v1/blocks", Some(&ada.access_token), json!({ "user_id": bob.id }));
    let accepted = async {
        // The block first, up to the request's row; then the acceptance.
        app.wait_for_a_lock_wait("DELETE FROM \"friend_requests\"%").await;
        app.while_held(
            blocker,
            2,
            "ROLLBACK",
            app.post(&format!("/api/v1/friends/requests/{id}/accept"), Some(&bob.access_token), json!({})),
        )
        .await
    };
    let (blocked, accepted) = tokio::join!(blocked, accepted);
    assert_eq!(blocked.status(), StatusCode::CREATED);
    assert_error(accepted, StatusCode::NOT_FOUND, "not_found").await;
    assert!(friends_of(&app, &ada).await.is_empty() && friends_of(&app, &bob).await.is_empty());
    assert_eq!(app.count("SELECT count(*) AS n FROM friendships").await, 0);
}

/// A request withdrawn while its recipient accepts it is either withdrawn or accepted, not both:
/// the acceptance used to befriend the two after the withdrawal had answered 204. Here the
/// withdrawal reaches the request's row first, and the acceptance queues behind it.
#[actix_web::test]
async fn a_request_withdrawn_while_it_is_accepted_makes_no_friendship() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let req: Value = request(&app, &ada, bob.id).await.json().await.unwrap();
    let id = req["id"].as_str().unwrap().to_owned();
    let holder = app.hold(&format!("SELECT 1 FROM friend_requests WHERE id = '{id}' FOR UPDATE")).await;
    let withdrawn = app.post(&format!("/api/v1/friends/requests/{id}/decline"), Some(&ada.access_token), json!({}));
    let accepted = async {
        app.wait_for_a_lock_wait("DELETE FROM \"friend_requests\"%").await;
        app.while_held(
            holder,
            2,
            "ROLLBACK",
            app.post(&format!("/api/v1/friends/requests/{id}/accept"), Some(&bob.access_token), json!({})),
        )
        .await
    };
    let (withdrawn, accepted) = tokio::join!(withdrawn, accepted);
    assert_eq!(withdrawn.status(), StatusCode::NO_CONTENT);
    assert_error(accepted, StatusCode::NOT_FOUND, "not_found").await;
    assert!(friends_of(&app, &ada).await.is_empty() && friends_of(&app, &bob).await.is_empty());
    assert_eq!(app.count("SELECT count(*) AS n FROM friendships").await, 0);
}
