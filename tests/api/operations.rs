//! Health, readiness, metrics, the OpenAPI document, request ids, and PostgreSQL being down.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, assert_error, spawn_app, spawn_app_with};

/// Every REST route the server has, as (method, OpenAPI path). A route added without its
/// `#[utoipa::path]` fails `every_route_is_in_the_openapi_document`.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/health/ready"),
    ("get", "/metrics"),
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/logout-all"),
    ("get", "/api/v1/users/me"),
    ("patch", "/api/v1/users/me"),
    ("post", "/api/v1/users/me/password"),
    ("get", "/api/v1/users"),
    ("get", "/api/v1/users/{id}"),
    ("get", "/api/v1/friends"),
    ("delete", "/api/v1/friends/{user_id}"),
    ("get", "/api/v1/friends/requests"),
    ("post", "/api/v1/friends/requests"),
    ("post", "/api/v1/friends/requests/{id}/accept"),
    ("post", "/api/v1/friends/requests/{id}/decline"),
    ("get", "/api/v1/blocks"),
    ("post", "/api/v1/blocks"),
    ("delete", "/api/v1/blocks/{user_id}"),
    ("get", "/api/v1/rooms"),
    ("post", "/api/v1/rooms"),
    ("get", "/api/v1/rooms/{id}"),
    ("patch", "/api/v1/rooms/{id}"),
    ("delete", "/api/v1/rooms/{id}"),
    ("get", "/api/v1/rooms/{id}/members"),
    ("post", "/api/v1/rooms/{id}/members"),
    ("delete", "/api/v1/rooms/{id}/members/{user_id}"),
    ("patch", "/api/v1/rooms/{id}/members/{user_id}"),
    ("post", "/api/v1/rooms/{id}/join"),
    ("post", "/api/v1/rooms/{id}/read"),
    ("get", "/api/v1/rooms/{id}/messages"),
    ("post", "/api/v1/rooms/{id}/messages"),
    ("patch", "/api/v1/messages/{id}"),
    ("delete", "/api/v1/messages/{id}"),
    ("put", "/api/v1/messages/{id}/reactions/{emoji}"),
    ("delete", "/api/v1/messages/{id}/reactions/{emoji}"),
    ("get", "/api/v1/search/messages"),
    ("post", "/api/v1/support/sessions"),
    ("post", "/api/v1/contact"),
    ("get", "/api/v1/admin/stats"),
    ("get", "/api/v1/admin/users"),
    ("patch", "/api/v1/admin/users/{id}"),
    ("delete", "/api/v1/admin/messages/{id}"),
    ("get", "/api/v1/admin/support/sessions"),
    ("post", "/api/v1/admin/support/sessions/{id}/close"),
    ("get", "/api/v1/admin/audit-log"),
    ("get", "/api/v1/admin/contacts"),
    ("delete", "/api/v1/admin/contacts/{id}"),
];

#[actix_web::test]
async fn health_is_ok_and_ready_checks_postgres() {
    let app = spawn_app().await;
    let res = app.get("/health", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), serde_json::json!({"status": "ok"}));
    let res = app.get("/health/ready", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["postgres"], "up");
    assert!(body["checks"].get("redis").is_none(), "no Redis configured, none checked: {body}");
}

fn unreachable_database(s: &mut plauder::config::Settings) {
    // Nothing listens on port 1: connections are refused at once.
    s.database.url = "postgres://postgres@127.0.0.1:1/plauder".to_owned().into();
    s.database.pool_timeout_ms = 1000;
}

#[actix_web::test]
async fn without_postgres_ready_is_503_naming_it_and_requests_are_503_unavailable() {
    let app = spawn_app_with(unreachable_database).await;
    assert_eq!(app.get("/health", None).await.status(), StatusCode::OK);
    let res = app.get("/health/ready", None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert!(body["checks"]["postgres"].as_str().unwrap().starts_with("down"), "{body}");

    let body = assert_error(app.login("ada", PASSWORD).await, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let text = body.to_string();
    assert!(!text.contains("127.0.0.1") && !text.contains("postgres"), "leaks details: {text}");
    let res = app.register_raw("ada", "ada@example.org", PASSWORD).await;
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
}

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern_and_status() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    app.get(&format!("/api/v1/users/{}", ada.id), Some(&ada.access_token)).await;
    app.login("ada", "wrong password").await;
    let res = app.get("/metrics", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains(r#"route="/api/v1/users/{id}""#), "{text}");
    assert!(text.contains(r#"route="/api/v1/auth/login",status="401""#), "{text}");
    assert!(text.contains("http_request_duration_seconds_bucket"), "{text}");
    assert!(!text.contains(&ada.id.to_string()), "raw paths must not become labels");
}

#[actix_web::test]
async fn every_route_is_in_the_openapi_document() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'));
    for (method, path) in ROUTES {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is not documented");
    }
    let documented: usize = doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, ROUTES.len(), "the document has routes this list does not know");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[actix_web::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let a = app.get("/health", None).await;
    let b = app.get("/api/v1/nothing", None).await;
    let id_a = a.headers()["x-request-id"].to_str().unwrap().to_owned();
    let id_b = b.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(!id_a.is_empty());
    assert_ne!(id_a, id_b);
}
