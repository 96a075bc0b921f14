//! Deviations from docs/protocol.md found by driving the server as an independent client would:
//! the role check answers before the query string is validated, audit entry ids are opaque UUID
//! strings like every other id, and every route's query string names the parameter it refuses.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_error, open_session, spawn_app, user_with_role};

#[actix_web::test]
async fn a_caller_on_a_route_it_may_not_use_gets_403_however_malformed_its_query() {
    let app = spawn_app().await;
    let visitor = open_session(&app, "vera").await;
    let guest = Some(visitor.guest.access_token.as_str());
    for path in ["/api/v1/users?q=a&limit=many", "/api/v1/search/messages?q=a&limit=-", "/api/v1/users?limit=1"] {
        let res = app.get(path, guest).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let ada = app.register("ada").await;
    let user = Some(ada.access_token.as_str());
    for path in [
        "/api/v1/admin/audit-log?limit=ten",
        "/api/v1/admin/users?banned=perhaps",
        "/api/v1/admin/support/sessions?limit=x",
        "/api/v1/admin/contacts?offset=y",
    ] {
        let res = app.get(path, user).await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Allowed to use the route, the same query is still a validation error.
    let res = app.get("/api/v1/users?q=a&limit=many", user).await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["error"]["details"]["fields"]["limit"].is_string(), "{body}");
}

#[actix_web::test]
async fn audit_entry_ids_are_uuid_strings_and_page_newest_first() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let at = Some(admin.access_token.as_str());
    let mut names = Vec::new();
    for name in ["ann", "ben", "cat"] {
        let user = app.register(name).await;
        let res = app.patch(&format!("/api/v1/admin/users/{}", user.id), at, json!({"banned": true})).await;
        assert_eq!(res.status(), StatusCode::OK);
        names.push(user.id.to_string());
    }
    let app = &app;
    let list = |query: String| async move {
        let res = app.get(&format!("/api/v1/admin/audit-log{query}"), at).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["entries"].as_array().unwrap().clone()
    };
    let all = list(String::new()).await;
    let targets: Vec<&str> = all.iter().map(|e| e["target_id"].as_str().unwrap()).collect();
    assert_eq!(targets, [&names[2], &names[1], &names[0]], "newest first");
    for entry in &all {
        let id = entry["id"].as_str().unwrap_or_else(|| panic!("a string id: {entry}"));
        assert!(id.parse::<uuid::Uuid>().is_ok(), "a UUID: {id}");
    }
    let first = list("?limit=1".into()).await;
    assert_eq!(first[0]["id"], all[0]["id"]);
    let rest = list(format!("?before_id={}", first[0]["id"].as_str().unwrap())).await;
    assert_eq!(rest, all[1..]);
    // An id that names no entry: nothing older to show.
    assert!(list(format!("?before_id={}", uuid::Uuid::new_v4())).await.is_empty());
}

/// Every route that reads a query string refuses a value that does not fit its parameter naming
/// that parameter (`details.fields`), as every other validation error does, for a caller who may
/// use the route. Not here: `GET /admin/knowledge/search` (its one parameter is any text), `/ws`
/// (its token is checked as a token) and the mail links' pages (which take any parameter besides
/// their token: `digest::`, `support_mail::`).
#[actix_web::test]
async fn a_query_value_that_does_not_parse_is_refused_naming_its_parameter_on_every_route() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let room = app.group(&admin, "r", &[]).await;
    let routes = [
        (format!("/api/v1/rooms/{room}/messages?limit=x"), "limit"),
        ("/api/v1/search/messages?q=a&limit=x".to_owned(), "limit"),
        ("/api/v1/directory/rooms?offset=x".to_owned(), "offset"),
        ("/api/v1/users?q=a&limit=x".to_owned(), "limit"),
        ("/api/v1/admin/mail?offset=x".to_owned(), "offset"),
        ("/api/v1/admin/knowledge?limit=x".to_owned(), "limit"),
        ("/api/v1/admin/stats/history?days=x".to_owned(), "days"),
        ("/api/v1/admin/users?banned=perhaps".to_owned(), "banned"),
        ("/api/v1/admin/support/sessions?offset=x".to_owned(), "offset"),
        ("/api/v1/admin/audit-log?limit=x".to_owned(), "limit"),
        ("/api/v1/admin/contacts?offset=x".to_owned(), "offset"),
        (format!("/api/v1/admin/webhooks/{}/deliveries?limit=x", uuid::Uuid::new_v4()), "limit"),
        (format!("/api/v1/attachments/{}/content?exp=x&sig=y", uuid::Uuid::new_v4()), "exp"),
        (format!("/api/v1/attachments/{}/thumbnail?exp=x&sig=y", uuid::Uuid::new_v4()), "exp"),
    ];
    for (path, field) in routes {
        let res = app.get(&path, Some(&admin.access_token)).await;
        let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(body["error"]["details"]["fields"][field].is_string(), "{path}: {body}");
    }
}
