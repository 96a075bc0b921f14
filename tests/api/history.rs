//! The admin overview's history (`GET /admin/stats/history`): per UTC day, oldest first and
//! ending today, the messages written (deleted ones left out), the support sessions opened and
//! the median time to staff's first answer; days without data are zero or null. Admins only.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_error, open_session, spawn_app, user_with_role};

fn day(offset: i64) -> String {
    (Utc::now().date_naive() - Duration::days(offset)).format("%Y-%m-%d").to_string()
}

#[actix_web::test]
async fn the_history_counts_messages_and_sessions_per_day_and_the_median_first_response() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "Team", &[]).await;
    for body in ["one", "two", "three"] {
        app.send(&ada, room, body).await;
    }
    let gone = app.send(&ada, room, "deleted").await;
    app.delete(&format!("/api/v1/messages/{}", gone["id"].as_str().expect("id")), Some(&ada.access_token)).await;
    // Two of today's messages moved to three days ago.
    app.sql("UPDATE messages SET created_at = now() - interval '3 days' WHERE body IN ('one', 'two')").await;

    // Three sessions two days ago, answered after 60, 120 and 300 seconds; one today, unanswered.
    for (name, secs) in [("A", 60), ("B", 120), ("C", 300)] {
        let v = open_session(&app, name).await;
        app.sql(&format!(
            "UPDATE support_sessions SET created_at = now() - interval '2 days', \
             first_response_at = now() - interval '2 days' + interval '{secs} seconds' WHERE id = '{}'",
            v.session_id
        ))
        .await;
    }
    open_session(&app, "D").await;

    let res = app.get("/api/v1/admin/stats/history", Some(&admin.access_token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let history: Value = res.json().await.expect("json");
    let days = history["days"].as_array().expect("days");
    assert_eq!(days.len(), 30);
    assert_eq!(days[29]["date"], day(0));
    assert_eq!(days[0]["date"], day(29));
    let at = |offset: usize| &days[29 - offset];
    assert_eq!((&at(0)["messages"], &at(3)["messages"]), (&json!(1), &json!(2)), "the deleted one is left out");
    assert_eq!((&at(0)["support_sessions"], &at(2)["support_sessions"]), (&json!(1), &json!(3)));
    assert_eq!(at(2)["median_first_response_secs"].as_f64().map(f64::round), Some(120.0));
    assert_eq!(at(0)["median_first_response_secs"], Value::Null, "nothing answered today");
    let quiet = at(10);
    assert_eq!(
        (&quiet["messages"], &quiet["support_sessions"], &quiet["median_first_response_secs"]),
        (&json!(0), &json!(0), &Value::Null)
    );
    let total: i64 = days.iter().filter_map(|d| d["messages"].as_i64()).sum();
    assert_eq!(total, 3);

    let week: Value =
        app.get("/api/v1/admin/stats/history?days=7", Some(&admin.access_token)).await.json().await.expect("json");
    assert_eq!(week["days"].as_array().map(Vec::len), Some(7));
    assert_eq!(week["days"][6]["date"], day(0));
}

#[actix_web::test]
async fn the_history_is_for_admins_and_refuses_bad_ranges() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let moderator = user_with_role(&app, "mona", "moderator").await;
    for q in ["?days=0", "?days=91", "?days=-3", "?days=month"] {
        let res = app.get(&format!("/api/v1/admin/stats/history{q}"), Some(&admin.access_token)).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let res = app.get("/api/v1/admin/stats/history", Some(&moderator.access_token)).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(app.get("/api/v1/admin/stats/history", None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
