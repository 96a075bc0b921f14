//! The authorisation matrix: each kind of caller against each room and message action, on a
//! private group room. Each cell runs on a fresh room, so one action cannot change another's
//! outcome.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser, spawn_app};

struct Cast {
    owner: TestUser,
    moderator: TestUser,
    member: TestUser,
    author: TestUser,
    victim: TestUser,
    peer_moderator: TestUser,
    outsider: TestUser,
    global_moderator: TestUser,
    admin: TestUser,
}

/// A fresh private room with the cast in their places and one message by `author`.
async fn scene(app: &TestApp, cast: &Cast) -> (Uuid, String) {
    let room = app
        .group(
            &cast.owner,
            "private",
            &[&cast.moderator, &cast.peer_moderator, &cast.member, &cast.author, &cast.victim],
        )
        .await;
    for m in [&cast.moderator, &cast.peer_moderator] {
        let res = app
            .patch(
                &format!("/api/v1/rooms/{room}/members/{}", m.id),
                Some(&cast.owner.access_token),
                json!({"role": "moderator"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let m = app.send(&cast.author, room, "by the author").await;
    (room, m["id"].as_str().unwrap().to_owned())
}

async fn act(app: &TestApp, cast: &Cast, who: &TestUser, action: &str, room: Uuid, msg: &str) -> StatusCode {
    let t = Some(who.access_token.as_str());
    let r = |p: &str| format!("/api/v1/rooms/{room}{p}");
    let m = |p: &str| format!("/api/v1/messages/{msg}{p}");
    let res = match action {
        "get room" => app.get(&r(""), t).await,
        "history" => app.get(&r("/messages"), t).await,
        "members" => app.get(&r("/members"), t).await,
        "send" => app.post(&r("/messages"), t, json!({"body": "hi"})).await,
        "edit other's" => app.patch(&m(""), t, json!({"body": "changed"})).await,
        "delete other's" => app.delete(&m(""), t).await,
        "react" => app.request(Method::PUT, &m("/reactions/👍"), t, None).await,
        "mark read" => app.post(&r("/read"), t, json!({"seq": 1})).await,
        "rename" => app.patch(&r(""), t, json!({"name": "renamed"})).await,
        "add member" => app.post(&r("/members"), t, json!({"user_ids": [cast.outsider.id]})).await,
        "kick member" => app.delete(&r(&format!("/members/{}", cast.victim.id)), t).await,
        "kick moderator" => app.delete(&r(&format!("/members/{}", cast.peer_moderator.id)), t).await,
        "set role" => app.patch(&r(&format!("/members/{}", cast.victim.id)), t, json!({"role": "moderator"})).await,
        "join" => app.post(&r("/join"), t, json!({})).await,
        "search in room" => app.get(&format!("/api/v1/search/messages?q=author&room_id={room}"), t).await,
        "delete room" => app.delete(&r(""), t).await,
        other => panic!("unknown action {other}"),
    };
    let status = res.status();
    if !status.is_success() {
        let body: Value = res.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{action}: {body}");
    }
    status
}

#[actix_web::test]
async fn every_caller_against_every_room_action() {
    let app = spawn_app().await;
    let cast = Cast {
        owner: app.register("owner").await,
        moderator: app.register("moderator").await,
        member: app.register("member").await,
        author: app.register("author").await,
        victim: app.register("victim").await,
        peer_moderator: app.register("peermod").await,
        outsider: app.register("outsider").await,
        global_moderator: app.register("gmod").await,
        admin: app.register("admin").await,
    };
    app.sql(&format!("UPDATE users SET role = 'moderator' WHERE id = '{}'", cast.global_moderator.id)).await;
    app.sql(&format!("UPDATE users SET role = 'admin' WHERE id = '{}'", cast.admin.id)).await;

    use StatusCode as S;
    const OK: S = S::OK;
    const NEW: S = S::CREATED;
    const GONE: S = S::NO_CONTENT;
    const NO: S = S::FORBIDDEN;
    // Columns: outsider, member, room moderator, owner, global moderator, admin.
    let matrix: &[(&str, [S; 6])] = &[
        ("get room", [NO, OK, OK, OK, NO, NO]),
        ("history", [NO, OK, OK, OK, NO, NO]),
        ("members", [NO, OK, OK, OK, NO, NO]),
        ("send", [NO, NEW, NEW, NEW, NO, NO]),
        ("edit other's", [NO, NO, NO, NO, NO, NO]),
        ("delete other's", [NO, NO, OK, OK, OK, OK]),
        ("react", [NO, OK, OK, OK, NO, NO]),
        ("mark read", [NO, OK, OK, OK, NO, NO]),
        ("rename", [NO, NO, OK, OK, OK, OK]),
        // Staff do not open private rooms they are not in (moderation.rs).
        ("add member", [NO, NO, NEW, NEW, NO, NO]),
        ("kick member", [NO, NO, GONE, GONE, GONE, GONE]),
        ("kick moderator", [NO, NO, NO, GONE, GONE, GONE]),
        ("set role", [NO, NO, NO, OK, NO, OK]),
        ("join", [NO, OK, OK, OK, NO, NO]),
        ("search in room", [NO, OK, OK, OK, NO, NO]),
        ("delete room", [NO, NO, NO, GONE, NO, GONE]),
    ];
    let callers = [&cast.outsider, &cast.member, &cast.moderator, &cast.owner, &cast.global_moderator, &cast.admin];
    let names = ["outsider", "member", "room moderator", "owner", "global moderator", "admin"];
    let mut failures = Vec::new();
    for (action, expected) in matrix {
        for (i, who) in callers.iter().enumerate() {
            let (room, msg) = scene(&app, &cast).await;
            let got = act(&app, &cast, who, action, room, &msg).await;
            if got != expected[i] {
                failures.push(format!("{action} by {}: expected {}, got {got}", names[i], expected[i]));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The author may edit and delete their own message; unknown rooms are 404 for everyone.
    let (_, msg) = scene(&app, &cast).await;
    assert_eq!(
        app.patch(&format!("/api/v1/messages/{msg}"), Some(&cast.author.access_token), json!({"body": "mine"}))
            .await
            .status(),
        S::OK
    );
    assert_eq!(app.delete(&format!("/api/v1/messages/{msg}"), Some(&cast.author.access_token)).await.status(), S::OK);
    for who in callers {
        assert_eq!(act(&app, &cast, who, "get room", Uuid::new_v4(), &msg).await, S::NOT_FOUND);
    }
}

#[actix_web::test]
async fn a_member_who_left_loses_access_to_writing_and_reading() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "r", &[&bob]).await;
    let m = app.send(&bob, room, "before leaving").await;
    app.delete(&format!("/api/v1/rooms/{room}/members/{}", bob.id), Some(&bob.access_token)).await;
    let t = Some(bob.access_token.as_str());
    assert_eq!(app.get(&format!("/api/v1/rooms/{room}/messages"), t).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.post(&format!("/api/v1/rooms/{room}/messages"), t, json!({"body": "x"})).await.status(),
        StatusCode::FORBIDDEN
    );
    let id = m["id"].as_str().unwrap();
    assert_eq!(
        app.patch(&format!("/api/v1/messages/{id}"), t, json!({"body": "x"})).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.delete(&format!("/api/v1/messages/{id}"), t).await.status(), StatusCode::FORBIDDEN);
    let list: Value = app.get("/api/v1/rooms", t).await.json().await.unwrap();
    assert_eq!(list["rooms"].as_array().unwrap().len(), 0);
}
