//! The contact form: anyone submits, staff list and remove, bad input and the per-IP limit.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app, spawn_app_with, user_with_role};

#[actix_web::test]
async fn a_submitted_message_is_listed_for_staff_until_removed() {
    let app = spawn_app().await;
    let moderator = user_with_role(&app, "mod", "moderator").await;
    let body = json!({"name": "  Carl ", "email": "carl@example.org", "message": "Do you take commissions?\nThanks"});
    let res = app.post("/api/v1/contact", None, body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["name"], "Carl");
    assert_eq!(created["message"], "Do you take commissions?\nThanks", "kept as sent");
    app.post("/api/v1/contact", None, json!({"name": "Dora", "email": "dora@example.org", "message": "second"})).await;

    let t = Some(moderator.access_token.as_str());
    let list: Value = app.get("/api/v1/admin/contacts", t).await.json().await.unwrap();
    let contacts = list["contacts"].as_array().unwrap();
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[0]["name"], "Dora", "newest first");
    assert_eq!(contacts[1]["email"], "carl@example.org");
    assert!(contacts[1]["created_at"].is_string());
    let page: Value = app.get("/api/v1/admin/contacts?limit=1&offset=1", t).await.json().await.unwrap();
    assert_eq!(page["contacts"][0]["name"], "Carl");

    let id = created["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/api/v1/admin/contacts/{id}"), t).await.status(), StatusCode::NO_CONTENT);
    assert_error(app.delete(&format!("/api/v1/admin/contacts/{id}"), t).await, StatusCode::NOT_FOUND, "not_found")
        .await;
    let list: Value = app.get("/api/v1/admin/contacts", t).await.json().await.unwrap();
    assert_eq!(list["contacts"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn bad_contact_submissions_get_clear_errors_and_store_nothing() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let send = |name: &str, email: &str, message: String| {
        app.post("/api/v1/contact", None, json!({"name": name, "email": email, "message": message}))
    };
    let field = |body: &Value, f: &str| body["error"]["details"]["fields"][f].is_string();
    let b = assert_error(
        send("", "a@example.org", "m".into()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(field(&b, "name"));
    let long_name = "n".repeat(101);
    assert_error(
        send(&long_name, "a@example.org", "m".into()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let b =
        assert_error(send("A", "nope", "m".into()).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(field(&b, "email"));
    let b = assert_error(
        send("A", "a@example.org", " \n ".into()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(field(&b, "message"));
    assert_error(
        send("A", "a@example.org", "é".repeat(5001)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    assert_eq!(
        send("A", "a@example.org", "é".repeat(5000)).await.status(),
        StatusCode::CREATED,
        "the limit is in characters"
    );
    assert_error(
        app.post("/api/v1/contact", None, json!({"name": "A", "email": "a@example.org"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_error(
        app.raw(Method::POST, "/api/v1/contact", None, "not json").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;

    let list: Value = app.get("/api/v1/admin/contacts", Some(&admin.access_token)).await.json().await.unwrap();
    assert_eq!(list["contacts"].as_array().unwrap().len(), 1, "only the valid one");
}

#[actix_web::test]
async fn the_contact_form_is_limited_per_ip() {
    let app = spawn_app_with(|s| {
        s.rate_limit.contact_burst = 1;
        s.rate_limit.contact_replenish_interval_ms = 60_000;
    })
    .await;
    let body = json!({"name": "A", "email": "a@example.org", "message": "m"});
    assert_eq!(app.post("/api/v1/contact", None, body.clone()).await.status(), StatusCode::CREATED);
    let res = app.post("/api/v1/contact", None, body).await;
    assert!(res.headers().get("retry-after").is_some());
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Opening support sessions has its own budget.
    assert_eq!(app.post("/api/v1/support/sessions", None, json!({"name": "v"})).await.status(), StatusCode::CREATED);
}
