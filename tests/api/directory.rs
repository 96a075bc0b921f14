//! The public room directory (`GET /directory/rooms`): public group rooms only, biggest first,
//! searched by name or topic, paged, each saying whether the caller is in it; joined with the
//! existing `POST /rooms/{id}/join`. Bad paging and queries get the contract's errors.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error, open_session, spawn_app};

async fn public_room(
    app: &TestApp,
    owner: &TestUser,
    name: &str,
    topic: Option<&str>,
    members: &[&TestUser],
) -> String {
    let ids: Vec<_> = members.iter().map(|m| m.id).collect();
    let res = app
        .post(
            "/api/v1/rooms",
            Some(&owner.access_token),
            json!({"kind": "group", "name": name, "topic": topic, "is_public": true, "member_ids": ids}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let room: Value = res.json().await.expect("json");
    room["id"].as_str().expect("id").to_owned()
}

async fn directory(app: &TestApp, user: &TestUser, query: &str) -> Value {
    let res = app.get(&format!("/api/v1/directory/rooms{query}"), Some(&user.access_token)).await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    res.json().await.expect("json")
}

fn names(page: &Value) -> Vec<String> {
    page["rooms"].as_array().expect("rooms").iter().map(|r| r["name"].as_str().unwrap_or_default().to_owned()).collect()
}

#[actix_web::test]
async fn the_directory_lists_public_group_rooms_only_biggest_first_and_joining_one_shows() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let carl = app.register("carl").await;
    let dora = app.register("dora").await;
    let big = public_room(&app, &ada, "Rust users", Some("Borrowing and lending"), &[&bob, &carl]).await;
    public_room(&app, &bob, "Gardening", None, &[&carl]).await;
    app.group(&ada, "Secret plans", &[&bob]).await;
    app.post("/api/v1/rooms", Some(&ada.access_token), json!({"kind": "direct", "member_ids": [dora.id]})).await;
    open_session(&app, "Visitor").await;

    let page = directory(&app, &dora, "").await;
    assert_eq!(names(&page), ["Rust users", "Gardening"]);
    assert_eq!(page["total"], 2);
    assert_eq!(page["has_more"], false);
    let first = &page["rooms"][0];
    assert_eq!(
        (&first["member_count"], &first["joined"], &first["topic"]),
        (&json!(3), &json!(false), &json!("Borrowing and lending"))
    );
    assert_eq!(first["kind"], "group");
    assert_eq!(first["is_public"], true);

    let res = app.post(&format!("/api/v1/rooms/{big}/join"), Some(&dora.access_token), json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = directory(&app, &dora, "").await;
    assert_eq!((&page["rooms"][0]["member_count"], &page["rooms"][0]["joined"]), (&json!(4), &json!(true)));

    // A room made private leaves the directory.
    let gardening = page["rooms"][1]["id"].as_str().expect("id").to_owned();
    let res =
        app.patch(&format!("/api/v1/rooms/{gardening}"), Some(&bob.access_token), json!({"is_public": false})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(names(&directory(&app, &dora, "").await), ["Rust users"]);
}

#[actix_web::test]
async fn the_directory_searches_names_and_topics_literally_and_pages() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    public_room(&app, &ada, "Rust users", None, &[]).await;
    public_room(&app, &ada, "Cooking", Some("Rusty pans and 100% butter"), &[]).await;
    public_room(&app, &ada, "Chess", None, &[]).await;
    for n in 0..4 {
        public_room(&app, &ada, &format!("Room {n}"), None, &[]).await;
    }

    let mut found = names(&directory(&app, &ada, "?q=RUST").await);
    found.sort();
    assert_eq!(found, ["Cooking", "Rust users"]);
    // Wildcards are matched as text.
    assert_eq!(names(&directory(&app, &ada, "?q=100%25").await), ["Cooking"]);
    assert_eq!(names(&directory(&app, &ada, "?q=%25%25%25").await), Vec::<String>::new());
    assert_eq!(names(&directory(&app, &ada, "?q=_").await), Vec::<String>::new());
    assert_eq!(directory(&app, &ada, "?q=%20%20").await["total"], 7, "a blank query lists everything");

    let one = directory(&app, &ada, "?limit=3").await;
    let two = directory(&app, &ada, "?limit=3&offset=3").await;
    let three = directory(&app, &ada, "?limit=3&offset=6").await;
    assert_eq!((one["total"].clone(), one["has_more"].clone()), (json!(7), json!(true)));
    assert_eq!(two["has_more"], true);
    assert_eq!((three["rooms"].as_array().map(Vec::len), three["has_more"].clone()), (Some(1), json!(false)));
    let mut all: Vec<String> = [one, two, three].iter().flat_map(names).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 7, "the pages cover every room once");
    let past = directory(&app, &ada, "?offset=50").await;
    assert_eq!((past["rooms"].as_array().map(Vec::len), past["total"].clone()), (Some(0), json!(7)));
}

#[actix_web::test]
async fn bad_directory_queries_and_guests_get_the_contracts_errors() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let t = Some(ada.access_token.as_str());
    let long = "x".repeat(101);
    for query in ["?limit=0", "?limit=101", "?offset=-1", "?limit=ten", &format!("?q={long}"), "?q=a%07b"] {
        let res = app.get(&format!("/api/v1/directory/rooms{query}"), t).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    assert_error(app.get("/api/v1/directory/rooms", None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let visitor = open_session(&app, "Vera").await;
    let res = app.get("/api/v1/directory/rooms", Some(&visitor.guest.access_token)).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}
