//! `cors.allowed_origins`: listed origins may call the whole API cross-origin (preflight cached,
//! no credentials); other origins get nothing outside the widget's routes, whose any-origin rules
//! stay as they were (tests/api/web.rs holds those).

use reqwest::{Method, StatusCode};

use crate::helpers::{TestApp, spawn_app_with};

const DEV: &str = "http://localhost:5173";

async fn cors_app() -> TestApp {
    spawn_app_with(|s| s.cors.allowed_origins = vec![DEV.to_owned(), "https://app.example.org".to_owned()]).await
}

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, format!("{}{path}", app.address))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_preflight_from_an_allowed_origin_gets_the_headers_on_any_api_route() {
    let app = cors_app().await;
    for (path, method) in [
        ("/api/v1/auth/login", "POST"),
        ("/api/v1/friends", "GET"),
        ("/api/v1/messages/x", "DELETE"),
        ("/api/v1/rooms/x/members", "PATCH"),
    ] {
        let res = preflight(&app, path, DEV, method).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{path}");
        let h = res.headers();
        assert_eq!(h["access-control-allow-origin"], DEV, "{path}");
        assert!(h["access-control-allow-methods"].to_str().unwrap().contains(method), "{path}");
        let allowed = h["access-control-allow-headers"].to_str().unwrap();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{allowed}");
        assert_eq!(h["access-control-max-age"], "600");
        assert_eq!(h["vary"], "Origin");
        assert!(h.get("access-control-allow-credentials").is_none(), "credentials stay off");
    }
}

#[actix_web::test]
async fn an_allowed_origins_answers_are_readable_errors_included() {
    let app = cors_app().await;
    let ada = app.register("ada").await;
    let res = app
        .client
        .get(format!("{}/api/v1/friends", app.address))
        .bearer_auth(&ada.access_token)
        .header("origin", "https://app.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["access-control-allow-origin"], "https://app.example.org");
    assert!(res.headers()["access-control-expose-headers"].to_str().unwrap().contains("x-request-id"));
    let res = app.client.get(format!("{}/api/v1/friends", app.address)).header("origin", DEV).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["access-control-allow-origin"], DEV);
}

#[actix_web::test]
async fn another_origin_gets_no_cors_headers_outside_the_widget_routes() {
    let app = cors_app().await;
    // Close to a listed origin, but not it: exact match only.
    for origin in ["https://evil.example", "http://localhost:5174", "https://app.example.org.evil.example"] {
        let res = preflight(&app, "/api/v1/friends", origin, "GET").await;
        assert!(res.headers().get("access-control-allow-origin").is_none(), "{origin}");
        assert_ne!(res.status(), StatusCode::NO_CONTENT, "{origin}");
        let res =
            app.client.get(format!("{}/api/v1/friends", app.address)).header("origin", origin).send().await.unwrap();
        assert!(res.headers().get("access-control-allow-origin").is_none(), "{origin}");
    }
    // Pages and health routes are not the API: no CORS for the listed origin there either.
    let res = app.client.get(format!("{}/health", app.address)).header("origin", DEV).send().await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn the_widget_routes_answer_every_origin_as_before() {
    let app = cors_app().await;
    // A visitor's screenshot is uploaded from the site's page too.
    for (path, origin) in [
        ("/api/v1/support/sessions", "https://shop.example"),
        ("/api/v1/support/sessions", DEV),
        ("/api/v1/attachments", "https://shop.example"),
    ] {
        let res = preflight(&app, path, origin, "POST").await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{path} {origin}");
        assert_eq!(res.headers()["access-control-allow-origin"], "*", "{path} {origin}");
        assert_eq!(res.headers()["access-control-allow-methods"], "GET, POST", "{path} {origin}");
    }
}

#[test]
fn a_malformed_allowed_origin_stops_start_up_naming_the_key() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = plauder::config::Settings::load_unchecked(&dir, "test").unwrap();
    settings.database.url = "postgres://x@127.0.0.1:1/x".to_owned().into();
    settings.auth.jwt_secret = crate::helpers::JWT_SECRET.to_owned().into();
    settings.cors.allowed_origins = vec!["https://app.example.org/".to_owned()];
    let err = settings.validate().unwrap_err();
    assert!(err.contains("cors.allowed_origins") && err.contains("trailing slash"), "{err}");
}
