//! Profiles: /users/me, search, lookup by id.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app};

#[actix_web::test]
async fn patch_me_updates_only_the_fields_sent_and_null_clears() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let t = Some(ada.access_token.as_str());
    let res = app
        .request(
            Method::PATCH,
            "/api/v1/users/me",
            t,
            Some(
                json!({"display_name": "  Ada L. ", "bio": "Analyst 🧮", "avatar_url": "https://example.org/ada.png"}),
            ),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["display_name"], "Ada L.");
    assert_eq!(body["bio"], "Analyst 🧮");
    assert_eq!(body["avatar_url"], "https://example.org/ada.png");

    let res = app.request(Method::PATCH, "/api/v1/users/me", t, Some(json!({"bio": null}))).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["bio"], Value::Null);
    assert_eq!(body["display_name"], "Ada L.");
    assert_eq!(body["avatar_url"], "https://example.org/ada.png");

    let me: Value = app.me(&ada.access_token).await.json().await.unwrap();
    assert_eq!(me["bio"], Value::Null);
    assert_eq!(me["email"], "ada@example.org");
}

#[actix_web::test]
async fn patch_me_rejects_bad_fields_with_422_and_keeps_the_profile() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let t = Some(ada.access_token.as_str());
    let cases = [
        (json!({"display_name": "   "}), "display_name"),
        (json!({"display_name": "x".repeat(65)}), "display_name"),
        (json!({"bio": "b".repeat(501)}), "bio"),
        (json!({"avatar_url": "javascript:alert(1)"}), "avatar_url"),
    ];
    for (body, field) in cases {
        let res = app.request(Method::PATCH, "/api/v1/users/me", t, Some(body)).await;
        let err = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(err["error"]["details"]["fields"][field].is_string(), "{err}");
    }
    let res = app.request(Method::PATCH, "/api/v1/users/me", t, Some(json!({"display_name": 42}))).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app.request(Method::PATCH, "/api/v1/users/me", t, Some(json!({"role": "admin"}))).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let me: Value = app.me(&ada.access_token).await.json().await.unwrap();
    assert_eq!(me["display_name"], "ada");
    assert_eq!(me["role"], "user");
}

#[actix_web::test]
async fn search_finds_by_username_prefix_or_display_name_and_hides_emails() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let adam = app.register("adam").await;
    app.register("bob").await;
    app.request(
        Method::PATCH,
        "/api/v1/users/me",
        Some(&adam.access_token),
        Some(json!({"display_name": "Bobby Tables"})),
    )
    .await;
    app.sql("INSERT INTO users (id, username, display_name, role) VALUES (gen_random_uuid(), 'adaguest', 'Visitor', 'guest')").await;

    let res = app.get("/api/v1/users?q=AD", Some(&ada.access_token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let names: Vec<&str> = body["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["ada", "adam"]);
    assert!(body["users"][0].get("email").is_none());

    let body: Value = app.get("/api/v1/users?q=tables", Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(body["users"].as_array().unwrap().len(), 1);
    assert_eq!(body["users"][0]["username"], "adam");

    let body: Value = app.get("/api/v1/users?q=a&limit=1", Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(body["users"].as_array().unwrap().len(), 1);

    // LIKE wildcards match literally.
    let body: Value = app.get("/api/v1/users?q=%25", Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(body["users"].as_array().unwrap().len(), 0);
    let body: Value = app.get("/api/v1/users?q=_", Some(&ada.access_token)).await.json().await.unwrap();
    assert_eq!(body["users"].as_array().unwrap().len(), 0);
}

#[actix_web::test]
async fn search_validates_its_query() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let t = Some(ada.access_token.as_str());
    for path in [
        "/api/v1/users?q=",
        "/api/v1/users",
        "/api/v1/users?q=a&limit=0",
        "/api/v1/users?q=a&limit=101",
        "/api/v1/users?q=a&limit=ten",
    ] {
        assert_error(app.get(path, t).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    assert_error(app.get("/api/v1/users?q=a", None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[actix_web::test]
async fn get_user_by_id_shows_the_public_profile() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let res = app.get(&format!("/api/v1/users/{}", bob.id), Some(&ada.access_token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["username"], "bob");
    assert!(body.get("email").is_none());
    for key in ["id", "username", "display_name", "avatar_url", "bio", "role", "created_at"] {
        assert!(body.get(key).is_some(), "{key} missing from {body}");
    }
    let unknown = format!("/api/v1/users/{}", uuid::Uuid::new_v4());
    assert_error(app.get(&unknown, Some(&ada.access_token)).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(
        app.get("/api/v1/users/not-a-uuid", Some(&ada.access_token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.get("/api/v1/users/'%20OR%201=1", Some(&ada.access_token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}
