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
