//! The login sessions list (`GET /users/me/sessions`) and signing one device out
//! (`DELETE /users/me/sessions/{id}`): each login is one entry naming its browser, the caller's
//! own is marked, ending one revokes its refresh token and closes its sockets while the others
//! carry on, and nobody reaches another account's sessions.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, assert_error, spawn_app};

const PHONE: &str = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36";
const LAPTOP: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// Logs `login` in from a browser with this User-Agent; returns the answer's body.
pub(crate) async fn login_from(app: &TestApp, login: &str, user_agent: &str) -> Value {
    let res = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("user-agent", user_agent)
        .json(&json!({"login": login, "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK, "login from {user_agent}");
    res.json().await.expect("json")
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let res = app.get("/api/v1/users/me/sessions", Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("json");
    body["sessions"].as_array().expect("sessions").clone()
}

#[actix_web::test]
async fn each_login_is_a_session_named_by_its_browser_and_the_callers_own_is_current() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let phone = login_from(&app, "ada", PHONE).await;
    let laptop = login_from(&app, "ada", LAPTOP).await;
    let laptop_token = laptop["access_token"].as_str().expect("token");

    let list = sessions(&app, laptop_token).await;
    assert_eq!(list.len(), 3, "registration, phone and laptop: {list:?}");
    // Most recently active first; the registration's session has no User-Agent (the test client sends none).
    assert_eq!(list[0]["user_agent"], LAPTOP);
    assert_eq!(list[1]["user_agent"], PHONE);
    assert_eq!(list[2]["user_agent"], Value::Null);
    let current: Vec<bool> = list.iter().map(|s| s["current"] == true).collect();
    assert_eq!(current, [true, false, false]);
    for s in &list {
        for field in ["id", "created_at", "last_active_at", "expires_at"] {
            assert!(s[field].is_string(), "{field} in {s}");
        }
    }

    // A refresh keeps the session (same id, same device) and makes it the most recently active.
    let res = app.refresh(phone["refresh_token"].as_str().expect("token")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let list = sessions(&app, &ada.access_token).await;
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["user_agent"], PHONE);
    assert!(list[0]["created_at"].as_str() < list[0]["last_active_at"].as_str(), "{}", list[0]);
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(list[2]["current"], true, "the registration's session is the caller's here");

    // A logout ends its session: it leaves the list.
    app.post("/api/v1/auth/logout", None, json!({"refresh_token": laptop["refresh_token"]})).await;
    let agents: Vec<Value> = sessions(&app, &ada.access_token).await.iter().map(|s| s["user_agent"].clone()).collect();
    assert_eq!(agents, [json!(PHONE), Value::Null]);
}

#[actix_web::test]
async fn signing_a_device_out_revokes_its_session_and_closes_its_sockets_only() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let phone = login_from(&app, "ada", PHONE).await;
    let phone_token = phone["access_token"].as_str().expect("token").to_owned();
    let mut phone_ws = app.ws(&phone_token).await;
    let mut own_ws = app.ws(&ada.access_token).await;

    let list = sessions(&app, &ada.access_token).await;
    let phone_id = list.iter().find(|s| s["user_agent"] == PHONE).expect("the phone's session")["id"].clone();
    let res = app
        .delete(&format!("/api/v1/users/me/sessions/{}", phone_id.as_str().expect("id")), Some(&ada.access_token))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    assert_eq!(phone_ws.closed_with().await, 4001);
    assert_error(
        app.refresh(phone["refresh_token"].as_str().expect("token")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(own_ws.command("ping", json!({})).await["ok"], true, "the caller's own socket stays");
    assert_eq!(app.refresh(&ada.refresh_token).await.status(), StatusCode::OK, "the caller's session stays");
    let left = sessions(&app, &ada.access_token).await;
    assert_eq!(left.len(), 1);
    assert_ne!(left[0]["id"], phone_id);

    // Ended already: nothing left to end.
    let again = app
        .delete(&format!("/api/v1/users/me/sessions/{}", phone_id.as_str().expect("id")), Some(&ada.access_token))
        .await;
    assert_error(again, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn another_accounts_session_an_unknown_id_or_an_api_token_get_the_contracts_errors() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let bobs = sessions(&app, &bob.access_token).await;
    let bobs_id = bobs[0]["id"].as_str().expect("id").to_owned();

    // Bob's session is not Ada's to end, and the answer does not tell it exists.
    let res = app.delete(&format!("/api/v1/users/me/sessions/{bobs_id}"), Some(&ada.access_token)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.refresh(&bob.refresh_token).await.status(), StatusCode::OK);
    let res = app.delete(&format!("/api/v1/users/me/sessions/{}", Uuid::new_v4()), Some(&ada.access_token)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.delete("/api/v1/users/me/sessions/not-a-uuid", Some(&ada.access_token)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(app.get("/api/v1/users/me/sessions", None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // An API token reaches neither route, whatever its scopes.
    let created = app
        .post("/api/v1/users/me/tokens", Some(&ada.access_token), json!({"name": "ci", "scopes": ["read", "write"]}))
        .await;
    let token: Value = created.json().await.expect("json");
    let token = token["token"].as_str().expect("token value");
    assert_error(app.get("/api/v1/users/me/sessions", Some(token)).await, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.delete(&format!("/api/v1/users/me/sessions/{bobs_id}"), Some(token)).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

#[actix_web::test]
async fn changing_the_password_leaves_one_session_the_new_one_of_the_device_that_changed_it() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    login_from(&app, "ada", PHONE).await;
    let res = app
        .client
        .post(format!("{}/api/v1/users/me/password", app.address))
        .bearer_auth(&ada.access_token)
        .header("user-agent", LAPTOP)
        .json(&json!({"current_password": PASSWORD, "new_password": "a much better passphrase"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    let fresh: Value = res.json().await.expect("json");
    assert_eq!(fresh["user"]["username"], "ada");
    let list = sessions(&app, fresh["access_token"].as_str().expect("token")).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["user_agent"], LAPTOP);
    assert_eq!(list[0]["current"], true);
}
