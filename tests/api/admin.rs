//! The admin panel: the role matrix over every admin and support route, bans and role changes
//! taking effect at once (live sockets included), self-protection, the user directory, stats, the
//! audit log, and bad input.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, TestUser, Visitor, assert_error, open_session, spawn_app, user_with_role};

/// One cell's fresh targets, so no cell changes another's outcome.
struct Targets {
    user: TestUser,
    visitor: Visitor,
    message: String,
    contact: String,
}

async fn targets(app: &TestApp, n: usize) -> Targets {
    let user = app.register(&format!("target{n}")).await;
    let room = app.group(&user, "t", &[]).await;
    let message = app.send(&user, room, "to be removed").await["id"].as_str().unwrap().to_owned();
    let visitor = open_session(app, &format!("visitor{n}")).await;
    let res =
        app.post("/api/v1/contact", None, json!({"name": "C", "email": "c@example.org", "message": "hello"})).await;
    let contact = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    Targets { user, visitor, message, contact }
}

async fn call(app: &TestApp, token: Option<&str>, route: &str, t: &Targets) -> StatusCode {
    let res = match route {
        "stats" => app.get("/api/v1/admin/stats", token).await,
        "list users" => app.get("/api/v1/admin/users", token).await,
        "change role" => {
            app.patch(&format!("/api/v1/admin/users/{}", t.user.id), token, json!({"role": "moderator"})).await
        }
        "ban" => {
            app.patch(
                &format!("/api/v1/admin/users/{}", t.user.id),
                token,
                json!({"banned": true, "ban_reason": "spam"}),
            )
            .await
        }
        "remove message" => app.delete(&format!("/api/v1/admin/messages/{}", t.message), token).await,
        "inbox" => app.get("/api/v1/admin/support/sessions?status=open", token).await,
        "close session" => {
            app.post(&format!("/api/v1/admin/support/sessions/{}/close", t.visitor.session_id), token, json!({})).await
        }
        "audit log" => app.get("/api/v1/admin/audit-log", token).await,
        "contacts" => app.get("/api/v1/admin/contacts", token).await,
        "remove contact" => app.delete(&format!("/api/v1/admin/contacts/{}", t.contact), token).await,
        "open session" => app.post("/api/v1/support/sessions", token, json!({"name": "someone"})).await,
        "contact form" => {
            app.post("/api/v1/contact", token, json!({"name": "n", "email": "n@example.org", "message": "m"})).await
        }
        "read support room" => app.get(&format!("/api/v1/rooms/{}/messages", t.visitor.room), token).await,
        "answer support room" => {
            app.post(&format!("/api/v1/rooms/{}/messages", t.visitor.room), token, json!({"body": "hi"})).await
        }
        "support room details" => app.get(&format!("/api/v1/rooms/{}", t.visitor.room), token).await,
        other => panic!("unknown route {other}"),
    };
    let status = res.status();
    if !status.is_success() {
        let body: Value = res.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{route}: {body}");
    }
    status
}

#[actix_web::test]
async fn every_caller_against_every_admin_and_support_route() {
    let app = spawn_app().await;
    let user = app.register("plain").await;
    let moderator = user_with_role(&app, "mod", "moderator").await;
    let admin = user_with_role(&app, "root", "admin").await;
    // A visitor of another session: it must not reach the target session's room either.
    let guest = open_session(&app, "guest").await.guest;

    use StatusCode as S;
    const OK: S = S::OK;
    const NEW: S = S::CREATED;
    const GONE: S = S::NO_CONTENT;
    const NO: S = S::FORBIDDEN;
    const WHO: S = S::UNAUTHORIZED;
    // Columns: anonymous, guest, user, moderator, admin.
    let matrix: &[(&str, [S; 5])] = &[
        ("stats", [WHO, NO, NO, NO, OK]),
        ("list users", [WHO, NO, NO, NO, OK]),
        ("change role", [WHO, NO, NO, NO, OK]),
        ("ban", [WHO, NO, NO, NO, OK]),
        ("remove message", [WHO, NO, NO, OK, OK]),
        ("inbox", [WHO, NO, NO, OK, OK]),
        ("close session", [WHO, NO, NO, OK, OK]),
        ("audit log", [WHO, NO, NO, NO, OK]),
        ("contacts", [WHO, NO, NO, OK, OK]),
        ("remove contact", [WHO, NO, NO, GONE, GONE]),
        ("open session", [NEW, NEW, NEW, NEW, NEW]),
        ("contact form", [NEW, NEW, NEW, NEW, NEW]),
        ("read support room", [WHO, NO, NO, OK, OK]),
        ("answer support room", [WHO, NO, NO, NEW, NEW]),
        ("support room details", [WHO, NO, NO, OK, OK]),
    ];
    let callers = [None, Some(&guest), Some(&user), Some(&moderator), Some(&admin)];
    let names = ["anonymous", "guest", "user", "moderator", "admin"];
    let mut failures = Vec::new();
    let mut n = 0;
    for (route, expected) in matrix {
        for (i, who) in callers.iter().enumerate() {
            n += 1;
            let t = targets(&app, n).await;
            let got = call(&app, who.map(|u| u.access_token.as_str()), route, &t).await;
            if got != expected[i] {
                failures.push(format!("{route} by {}: expected {}, got {got}", names[i], expected[i]));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[actix_web::test]
async fn a_ban_closes_live_sockets_with_4003_and_login_and_refresh_then_get_403_until_lifted() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let ada = app.register("ada").await;
    let mut first = app.ws(&ada.access_token).await;
    let mut second = app.ws(&ada.access_token).await;

    let res = app
        .patch(
            &format!("/api/v1/admin/users/{}", ada.id),
            Some(&admin.access_token),
            json!({"banned": true, "ban_reason": "spam"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["banned"], true);
    assert_eq!(body["ban_reason"], "spam");
    assert!(body["banned_at"].is_string());
    assert_eq!(first.closed_with().await, 4003);
    assert_eq!(second.closed_with().await, 4003);

    assert_error(app.login("ada", PASSWORD).await, StatusCode::FORBIDDEN, "forbidden").await;
    // The refresh token was revoked with the ban, but the answer says why: banned.
    assert_error(app.refresh(&ada.refresh_token).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(app.me(&ada.access_token).await, StatusCode::FORBIDDEN, "forbidden").await;
    let banned: Value =
        app.get("/api/v1/admin/users?banned=true", Some(&admin.access_token)).await.json().await.unwrap();
    assert_eq!(banned["users"].as_array().unwrap().len(), 1);
    assert_eq!(banned["users"][0]["id"], ada.id.to_string());

    let res = app
        .patch(&format!("/api/v1/admin/users/{}", ada.id), Some(&admin.access_token), json!({"banned": false}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!((body["banned"].clone(), body["ban_reason"].clone()), (json!(false), Value::Null));
    assert_eq!(app.refresh(&ada.refresh_token).await.status(), StatusCode::UNAUTHORIZED, "revoked tokens stay revoked");
    let login = app.login("ada", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    let token = login.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    app.ws(&token).await;
}

#[actix_web::test]
async fn an_admin_cannot_ban_or_demote_themselves() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let me = format!("/api/v1/admin/users/{}", admin.id);
    let t = Some(admin.access_token.as_str());
    assert_error(app.patch(&me, t, json!({"banned": true})).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(app.patch(&me, t, json!({"role": "user"})).await, StatusCode::FORBIDDEN, "forbidden").await;
    // Restating one's own role changes nothing and is fine.
    assert_eq!(app.patch(&me, t, json!({"role": "admin"})).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/admin/stats", t).await.status(), StatusCode::OK);
    // Another admin can demote this one.
    let other = user_with_role(&app, "other", "admin").await;
    assert_eq!(app.patch(&me, Some(&other.access_token), json!({"role": "user"})).await.status(), StatusCode::OK);
    assert_error(app.get("/api/v1/admin/stats", t).await, StatusCode::FORBIDDEN, "forbidden").await;
}

#[actix_web::test]
async fn a_role_change_applies_at_once_to_requests_and_live_sockets() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let ada = app.register("ada").await;
    let t = Some(ada.access_token.as_str());
    assert_eq!(app.get("/api/v1/admin/support/sessions", t).await.status(), StatusCode::FORBIDDEN);
    let mut ws = app.ws(&ada.access_token).await;

    let res = app
        .patch(&format!("/api/v1/admin/users/{}", ada.id), Some(&admin.access_token), json!({"role": "moderator"}))
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["role"], "moderator");
    assert_eq!(ws.closed_with().await, 4001, "the socket was set up for the old role");
    assert_eq!(app.get("/api/v1/admin/support/sessions", t).await.status(), StatusCode::OK, "same token, new role");
    // Reconnected as a moderator, the socket hears new support sessions.
    let mut ws = app.ws(&ada.access_token).await;
    open_session(&app, "vera").await;
    ws.event("support.session_created").await;

    app.patch(&format!("/api/v1/admin/users/{}", ada.id), Some(&admin.access_token), json!({"role": "user"})).await;
    assert_eq!(ws.closed_with().await, 4001);
    assert_eq!(app.get("/api/v1/admin/support/sessions", t).await.status(), StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn the_user_directory_filters_and_pages() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    for name in ["alice", "alina", "bob", "carol"] {
        app.register(name).await;
    }
    user_with_role(&app, "moddy", "moderator").await;
    let banned = app.register("banned").await;
    app.sql(&format!("UPDATE users SET banned_at = now(), ban_reason = 'x' WHERE id = '{}'", banned.id)).await;
    open_session(&app, "visitor").await;
    let list = |q: &str| app.get(&format!("/api/v1/admin/users{q}"), Some(&admin.access_token));
    let names = |v: &Value| -> Vec<String> {
        v["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect()
    };

    let all: Value = list("").await.json().await.unwrap();
    assert_eq!(all["total"], 8, "{all}");
    assert!(all["users"][0]["email"].is_string(), "admins see emails");
    let q: Value = list("?q=ali").await.json().await.unwrap();
    assert_eq!(names(&q), ["alice", "alina"]);
    let by_email: Value = list("?q=bob@EXAMPLE").await.json().await.unwrap();
    assert_eq!(names(&by_email), ["bob"]);
    let mods: Value = list("?role=moderator").await.json().await.unwrap();
    assert_eq!(names(&mods), ["moddy"]);
    let guests: Value = list("?role=guest").await.json().await.unwrap();
    assert_eq!(guests["total"], 1);
    let b: Value = list("?banned=true").await.json().await.unwrap();
    assert_eq!(names(&b), ["banned"]);
    assert_eq!(b["users"][0]["ban_reason"], "x");
    let not_banned: Value = list("?banned=false&role=user").await.json().await.unwrap();
    assert_eq!(names(&not_banned), ["alice", "alina", "bob", "carol"]);

    let p1: Value = list("?role=user&banned=false&limit=3").await.json().await.unwrap();
    let p2: Value = list("?role=user&banned=false&limit=3&offset=3").await.json().await.unwrap();
    assert_eq!((names(&p1).len(), p1["has_more"].clone(), p1["total"].clone()), (3, json!(true), json!(4)));
    assert_eq!((names(&p2), p2["has_more"].clone()), (vec!["carol".to_owned()], json!(false)));
    // LIKE wildcards match literally.
    let wild: Value = list("?q=%25").await.json().await.unwrap();
    assert_eq!(wild["total"], 0);

    for bad in ["?role=superuser", "?banned=maybe", "?limit=0", "?limit=101", "?offset=-1", "?limit=x"] {
        assert_error(list(bad).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let long = format!("?q={}", "a".repeat(101));
    assert_error(list(&long).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

async fn stats(app: &TestApp, admin: &TestUser) -> Value {
    let res = app.get("/api/v1/admin/stats", Some(&admin.access_token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[actix_web::test]
async fn stats_move_after_activity() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let before = stats(&app, &admin).await;
    for key in [
        "users_total",
        "users_online",
        "rooms_total",
        "messages_total",
        "messages_today",
        "connections",
        "support_open",
    ] {
        assert!(before[key].is_u64(), "{key} in {before}");
    }
    assert_eq!(before["users_total"], 1);
    assert_eq!(before["avg_first_response_secs"], Value::Null);
    assert_eq!((before["connections"].clone(), before["users_online"].clone()), (json!(0), json!(0)));

    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    app.send(&ada, room, "one").await;
    let gone = app.send(&ada, room, "two").await;
    app.delete(&format!("/api/v1/messages/{}", gone["id"].as_str().unwrap()), Some(&ada.access_token)).await;
    let v = open_session(&app, "vera").await;
    app.send(&v.guest, v.room, "help").await;
    let _a = app.ws(&ada.access_token).await;
    let _b = app.ws(&ada.access_token).await;
    let _v = app.ws(&v.guest.access_token).await;

    let after = stats(&app, &admin).await;
    assert_eq!(after["users_total"], 2, "guests are not counted as users");
    assert_eq!(after["rooms_total"], 2);
    assert_eq!(after["messages_total"], 2, "deleted messages are not counted");
    assert_eq!(after["messages_today"], 2);
    assert_eq!(after["support_open"], 1);
    assert_eq!(after["connections"], 3);
    assert_eq!(after["users_online"], 1, "ada once for two sockets; guests have no presence");
    assert_eq!(after["avg_first_response_secs"], Value::Null);

    app.send(&admin, v.room, "here").await;
    app.post(&format!("/api/v1/admin/support/sessions/{}/close", v.session_id), Some(&admin.access_token), json!({}))
        .await;
    let last = stats(&app, &admin).await;
    assert!(last["avg_first_response_secs"].as_f64().is_some_and(|s| s >= 0.0), "{last}");
    assert_eq!(last["support_open"], 0);
}

async fn audit(app: &TestApp, admin: &TestUser, query: &str) -> Vec<Value> {
    let res = app.get(&format!("/api/v1/admin/audit-log{query}"), Some(&admin.access_token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["entries"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn the_audit_log_records_each_admin_and_moderator_action() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let moderator = user_with_role(&app, "mod", "moderator").await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let m1 = app.send(&ada, room, "one").await["id"].as_str().unwrap().to_owned();
    let m2 = app.send(&ada, room, "two").await["id"].as_str().unwrap().to_owned();
    let own = app.send(&ada, room, "three").await["id"].as_str().unwrap().to_owned();
    let v = open_session(&app, "vera").await;
    let contact =
        app.post("/api/v1/contact", None, json!({"name": "C", "email": "c@example.org", "message": "m"})).await;
    let contact = contact.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let (at, mt) = (Some(admin.access_token.as_str()), Some(moderator.access_token.as_str()));
    let user_path = format!("/api/v1/admin/users/{}", ada.id);

    // Not moderation: a user removing their own message, and requests that change nothing.
    app.delete(&format!("/api/v1/messages/{own}"), Some(&ada.access_token)).await;
    app.patch(&user_path, at, json!({"role": "user"})).await;
    assert!(audit(&app, &admin, "").await.is_empty());

    let steps: Vec<(reqwest::Response, &str, &str, String, &TestUser)> = vec![
        (
            app.patch(&user_path, at, json!({"role": "moderator"})).await,
            "user.role_changed",
            "user",
            ada.id.to_string(),
            &admin,
        ),
        (
            app.patch(&user_path, at, json!({"banned": true, "ban_reason": "spam"})).await,
            "user.banned",
            "user",
            ada.id.to_string(),
            &admin,
        ),
        (
            app.patch(&user_path, at, json!({"banned": false})).await,
            "user.unbanned",
            "user",
            ada.id.to_string(),
            &admin,
        ),
        (
            app.delete(&format!("/api/v1/admin/messages/{m1}"), mt).await,
            "message.deleted",
            "message",
            m1.clone(),
            &moderator,
        ),
        // Moderation through the ordinary route is recorded as well.
        (app.delete(&format!("/api/v1/messages/{m2}"), mt).await, "message.deleted", "message", m2.clone(), &moderator),
        (
            app.post(&format!("/api/v1/admin/support/sessions/{}/close", v.session_id), mt, json!({})).await,
            "support.session_closed",
            "support_session",
            v.session_id.to_string(),
            &moderator,
        ),
        (
            app.delete(&format!("/api/v1/admin/contacts/{contact}"), at).await,
            "contact.deleted",
            "contact",
            contact.clone(),
            &admin,
        ),
    ];
    let mut expected = Vec::new();
    for (res, action, target_type, target_id, actor) in steps {
        assert!(res.status().is_success(), "{action}: {}", res.status());
        expected.push((action, target_type, target_id, actor.id.to_string()));
    }
    // Deleting a deleted message again changes nothing and records nothing.
    app.delete(&format!("/api/v1/admin/messages/{m1}"), mt).await;

    let entries = audit(&app, &admin, "").await;
    assert_eq!(entries.len(), expected.len(), "{entries:#?}");
    for (entry, (action, target_type, target_id, actor)) in entries.iter().rev().zip(&expected) {
        assert_eq!(entry["action"], *action);
        assert_eq!(entry["target_type"], *target_type);
        assert_eq!(entry["target_id"], *target_id);
        assert_eq!(entry["actor_id"], *actor, "{entry}");
        assert!(entry["created_at"].is_string() && entry["id"].as_str().is_some_and(|id| id.parse::<Uuid>().is_ok()));
        assert!(entry["details"].is_object());
    }
    let role = entries.iter().find(|e| e["action"] == "user.role_changed").unwrap();
    assert_eq!(role["details"], json!({"from": "user", "to": "moderator"}));
    let ban = entries.iter().find(|e| e["action"] == "user.banned").unwrap();
    assert_eq!(ban["details"]["reason"], "spam");
    let removal = entries.iter().find(|e| e["target_id"] == m1.as_str()).unwrap();
    assert_eq!(removal["details"]["room_id"], room.to_string());

    // Paging: newest first, then older than the last id seen.
    let page = audit(&app, &admin, "?limit=2").await;
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["action"], "contact.deleted");
    let rest = audit(&app, &admin, &format!("?before_id={}", page[1]["id"].as_str().unwrap())).await;
    assert_eq!(rest.len(), expected.len() - 2);
    for bad in ["?limit=0", "?limit=501", "?limit=ten", "?before_id=0", "?before_id=17"] {
        let res = app.get(&format!("/api/v1/admin/audit-log{bad}"), at).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
}

/// The caller is judged before the body: one who may not use a route hears that (401, 403), not
/// what is wrong with the body, even though the body is read first and the account afterwards.
#[actix_web::test]
async fn a_caller_who_may_not_use_a_route_hears_that_before_what_is_wrong_with_the_body() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let path = format!("/api/v1/admin/users/{}", bob.id);
    let (ada_t, admin_t) = (Some(ada.access_token.as_str()), Some(admin.access_token.as_str()));
    for (token, status, code) in [
        (ada_t, StatusCode::FORBIDDEN, "forbidden"),
        (Some("not-a-token"), StatusCode::UNAUTHORIZED, "unauthorized"),
        (None, StatusCode::UNAUTHORIZED, "unauthorized"),
        (admin_t, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
    ] {
        assert_error(app.patch(&path, token, json!({"role": "owner"})).await, status, code).await;
    }
    assert_error(app.raw(Method::PATCH, &path, ada_t, "{\"role\":").await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(app.raw(Method::PATCH, &path, admin_t, "{\"role\":").await, StatusCode::BAD_REQUEST, "bad_request")
        .await;

    // A member's route, with a token revoked since it was issued (only the account read tells).
    let room = app.group(&ada, "r", &[]).await;
    let send = format!("/api/v1/rooms/{room}/messages");
    assert_error(
        app.post(&send, ada_t, json!({"body": 5})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(app.post("/api/v1/auth/logout-all", ada_t, json!({})).await.status(), StatusCode::NO_CONTENT);
    assert_error(app.post(&send, ada_t, json!({"body": 5})).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn bad_admin_requests_get_clear_errors() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let ada = app.register("ada").await;
    let guest = open_session(&app, "vera").await.guest;
    let t = Some(admin.access_token.as_str());
    let ada_path = format!("/api/v1/admin/users/{}", ada.id);
    let unknown = Uuid::new_v4();

    assert_error(
        app.patch(&format!("/api/v1/admin/users/{unknown}"), t, json!({"role": "user"})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.patch("/api/v1/admin/users/not-a-uuid", t, json!({"role": "user"})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let body = assert_error(
        app.patch(&ada_path, t, json!({"role": "owner"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(body["error"]["details"]["fields"]["role"].is_string());
    assert_error(
        app.patch(&ada_path, t, json!({"role": "guest"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_error(
        app.patch(&format!("/api/v1/admin/users/{}", guest.id), t, json!({"role": "admin"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_error(
        app.patch(&ada_path, t, json!({"ban_reason": "no ban"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let long = json!({"banned": true, "ban_reason": "x".repeat(501)});
    assert_error(app.patch(&ada_path, t, long).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_error(
        app.patch(&ada_path, t, json!({"banned": "yes"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_error(
        app.patch(&ada_path, t, json!({"nickname": "x"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_error(app.raw(Method::PATCH, &ada_path, t, "{").await, StatusCode::BAD_REQUEST, "bad_request").await;
    // Nothing of that changed ada.
    let ada_now: Value = app.get("/api/v1/admin/users?q=ada", t).await.json().await.unwrap();
    assert_eq!(
        (ada_now["users"][0]["role"].clone(), ada_now["users"][0]["banned"].clone()),
        (json!("user"), json!(false))
    );
    // A guest can be banned (an abusive visitor).
    assert_eq!(
        app.patch(&format!("/api/v1/admin/users/{}", guest.id), t, json!({"banned": true})).await.status(),
        StatusCode::OK
    );

    assert_error(app.delete(&format!("/api/v1/admin/messages/{unknown}"), t).await, StatusCode::NOT_FOUND, "not_found")
        .await;
    assert_error(
        app.post(&format!("/api/v1/admin/support/sessions/{unknown}/close"), t, json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(app.delete(&format!("/api/v1/admin/contacts/{unknown}"), t).await, StatusCode::NOT_FOUND, "not_found")
        .await;
    for bad in ["?status=pending", "?status=", "?limit=0", "?limit=201", "?offset=-5"] {
        let res = app.get(&format!("/api/v1/admin/support/sessions{bad}"), t).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    for bad in ["?limit=0", "?limit=101", "?offset=-1"] {
        assert_error(
            app.get(&format!("/api/v1/admin/contacts{bad}"), t).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
}

#[actix_web::test]
async fn room_moderation_by_global_role_is_audited_and_by_room_role_is_not() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let moderator = user_with_role(&app, "mod", "moderator").await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let carl = app.register("carl").await;
    let dan = app.register("dan").await;
    let room = app.group(&ada, "r", &[&bob, &carl]).await;
    let r = |p: &str| format!("/api/v1/rooms/{room}{p}");
    let (at, mt, own) =
        (Some(admin.access_token.as_str()), Some(moderator.access_token.as_str()), Some(ada.access_token.as_str()));

    // The owner's own moderation is not staff action.
    assert_eq!(app.patch(&r(""), own, json!({"topic": "by the owner"})).await.status(), StatusCode::OK);
    assert_eq!(
        app.patch(&r(&format!("/members/{}", bob.id)), own, json!({"role": "member"})).await.status(),
        StatusCode::OK
    );
    assert!(audit(&app, &admin, "").await.is_empty());

    assert_eq!(app.patch(&r(""), mt, json!({"name": "renamed"})).await.status(), StatusCode::OK);
    // Staff add members to public rooms only (moderation.rs); the owner opened this one.
    assert_eq!(app.patch(&r(""), own, json!({"is_public": true})).await.status(), StatusCode::OK);
    assert_eq!(app.post(&r("/members"), mt, json!({"user_ids": [dan.id]})).await.status(), StatusCode::CREATED);
    assert_eq!(app.delete(&r(&format!("/members/{}", carl.id)), mt).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.patch(&r(&format!("/members/{}", bob.id)), at, json!({"role": "moderator"})).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.delete(&r(""), at).await.status(), StatusCode::NO_CONTENT);

    let entries = audit(&app, &admin, "").await;
    let got: Vec<(&str, &str, &str)> = entries
        .iter()
        .rev()
        .map(|e| (e["action"].as_str().unwrap(), e["target_type"].as_str().unwrap(), e["actor_id"].as_str().unwrap()))
        .collect();
    let (a, m) = (admin.id.to_string(), moderator.id.to_string());
    assert_eq!(
        got,
        [
            ("room.updated", "room", m.as_str()),
            ("room.members_added", "room", m.as_str()),
            ("room.member_removed", "room", m.as_str()),
            ("room.member_role_changed", "room", a.as_str()),
            ("room.deleted", "room", a.as_str()),
        ]
    );
    assert!(entries.iter().all(|e| e["target_id"] == room.to_string()));
    assert_eq!(entries[4]["details"]["name"], "renamed");
    assert_eq!(entries[3]["details"]["user_ids"], json!([dan.id]));
    assert_eq!(entries[2]["details"]["user_id"], carl.id.to_string());
    assert_eq!(entries[1]["details"], json!({"user_id": bob.id, "from": "member", "to": "moderator"}));
}

/// A ban and a role change whose close message never reaches the socket's instance (made in SQL
/// here, so nothing is published at all, as when Redis drops it) still close the sockets: the
/// instance re-checks its sockets against the database every `revalidate_interval_ms`.
#[actix_web::test]
async fn a_ban_or_role_change_whose_message_was_lost_still_closes_the_socket_within_the_interval() {
    let app = crate::helpers::spawn_app_with(|s| s.realtime.revalidate_interval_ms = 300).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let mut a = app.ws(&ada.access_token).await;
    let mut b = app.ws(&bob.access_token).await;
    // Bob's socket is not touched by Ada's ban.
    assert_eq!(b.command("ping", json!({})).await["ok"], true);

    let bound = std::time::Duration::from_millis(300 + 2000);
    let started = std::time::Instant::now();
    app.sql(&format!(
        "UPDATE users SET banned_at = now(), ban_reason = 'spam', token_version = token_version + 1 WHERE id = '{}'",
        ada.id
    ))
    .await;
    assert_eq!(a.closed_with_reason().await, (4003, "banned".to_owned()));
    assert!(started.elapsed() < bound, "closed after {:?}", started.elapsed());
    assert_eq!(b.command("ping", json!({})).await["ok"], true, "bob's socket stays");

    let started = std::time::Instant::now();
    app.sql(&format!("UPDATE users SET role = 'moderator' WHERE id = '{}'", bob.id)).await;
    assert_eq!(b.closed_with_reason().await, (4001, "role changed: reconnect".to_owned()));
    assert!(started.elapsed() < bound, "closed after {:?}", started.elapsed());
}
