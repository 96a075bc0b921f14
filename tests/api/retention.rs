//! The retention job: for each kind, a pass deletes what is past its age and leaves what is not;
//! counts reach /metrics; one pass at a time in the cluster (the advisory lock); the command line.

use plauder::service::retention::{self, Outcome, Report};
use serde_json::json;

use crate::helpers::{TestApp, open_session, spawn_app};

async fn refresh_tokens(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM refresh_tokens").await
}

async fn guests(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM users WHERE role = 'guest'").await
}

async fn support_rooms(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM rooms r JOIN support_sessions s ON s.room_id = r.id").await
}

/// A pass run now, which must not have been skipped.
pub(crate) async fn completed(app: &TestApp) -> Report {
    match retention::run_once(&app.state).await.expect("retention pass") {
        Outcome::Completed(report) => report,
        Outcome::Skipped => panic!("the pass was skipped"),
    }
}

#[actix_web::test]
async fn a_pass_deletes_dead_refresh_tokens_past_their_age_and_keeps_the_rest() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    // A refresh spends ada's first token and issues the live one.
    let res = app.refresh(&ada.refresh_token).await;
    assert!(res.status().is_success());
    let live: serde_json::Value = res.json().await.unwrap();
    // Three more sessions: one to expire, one to revoke, one spent just now (fresh: it stays).
    for _ in 0..3 {
        assert!(app.login("ada", crate::helpers::PASSWORD).await.status().is_success());
    }
    let ids = |n: usize| format!("(SELECT id FROM refresh_tokens ORDER BY created_at, id OFFSET {n} LIMIT 1)");
    app.sql(&format!("UPDATE refresh_tokens SET spent_at = now() - interval '8 days' WHERE id = {}", ids(0))).await;
    app.sql(&format!("UPDATE refresh_tokens SET expires_at = now() - interval '9 days' WHERE id = {}", ids(2))).await;
    app.sql(&format!("UPDATE refresh_tokens SET revoked_at = now() - interval '30 days' WHERE id = {}", ids(3))).await;
    app.sql(&format!("UPDATE refresh_tokens SET spent_at = now() - interval '6 days' WHERE id = {}", ids(4))).await;
    assert_eq!(refresh_tokens(&app).await, 5);

    let report = completed(&app).await;

    assert_eq!(report, Report { refresh_tokens: 3, support_sessions: 0, guests: 0, ..Report::default() });
    assert_eq!(refresh_tokens(&app).await, 2, "the live token and the one spent 6 days ago stay");
    let res = app.refresh(live["refresh_token"].as_str().unwrap()).await;
    assert!(res.status().is_success(), "the live session still refreshes");
    assert_eq!(app.metric("plauder_retention_deleted_total{kind=\"refresh_tokens\"}").await, 3.0);
    let text = app.get("/metrics", None).await.text().await.unwrap();
    assert!(text.contains("# HELP plauder_retention_deleted_total"), "help text:\n{text}");
    assert!(text.contains("plauder_retention_runs_total{outcome=\"completed\"} 1"), "{text}");
}

#[actix_web::test]
async fn a_pass_deletes_inactive_guests_and_old_closed_sessions_with_their_rooms() {
    let app = spawn_app().await;
    let inactive = open_session(&app, "inactive").await;
    let fresh = open_session(&app, "fresh").await;
    let old_but_talking = open_session(&app, "talking").await;
    let closed_long_ago = open_session(&app, "closedold").await;
    let closed_lately = open_session(&app, "closednew").await;
    for v in [&inactive, &old_but_talking, &closed_long_ago] {
        let res = app
            .post(&format!("/api/v1/rooms/{}/messages", v.room), Some(&v.guest.access_token), json!({"body": "hi"}))
            .await;
        assert!(res.status().is_success());
    }
    let age = |who: uuid::Uuid, room: uuid::Uuid, days: u32| {
        let app = &app;
        async move {
            app.sql(&format!(
                "UPDATE users SET created_at = now() - interval '{days} days', last_seen_at = now() - interval '{days} days' \
                 WHERE id = '{who}'"
            ))
            .await;
            app.sql(&format!("UPDATE rooms SET last_activity_at = now() - interval '{days} days' WHERE id = '{room}'"))
                .await;
        }
    };
    age(inactive.guest.id, inactive.room, 31).await;
    // Created long ago, but its room had a message yesterday: still active.
    age(old_but_talking.guest.id, old_but_talking.room, 40).await;
    app.sql(&format!(
        "UPDATE rooms SET last_activity_at = now() - interval '1 day' WHERE id = '{}'",
        old_but_talking.room
    ))
    .await;
    for (v, days) in [(&closed_long_ago, 91), (&closed_lately, 1)] {
        app.sql(&format!(
            "UPDATE support_sessions SET status = 'closed', closed_at = now() - interval '{days} days' WHERE id = '{}'",
            v.session_id
        ))
        .await;
    }
    assert_eq!((guests(&app).await, support_rooms(&app).await), (5, 5));
    let messages_before = app.count("SELECT count(*) AS n FROM messages").await;
    // A webhook endpoint scoped to a room that goes, and one to a room that stays.
    for v in [&closed_long_ago, &fresh] {
        app.sql(&format!(
            "INSERT INTO webhook_endpoints (id, url, event_types, room_id, secret) \
             VALUES (gen_random_uuid(), 'https://hooks.example/{}', '{{message.created}}', '{}', 'whsec_x')",
            v.room, v.room
        ))
        .await;
    }

    let report = completed(&app).await;

    assert_eq!(report, Report { refresh_tokens: 0, support_sessions: 2, guests: 2, ..Report::default() });
    assert_eq!((guests(&app).await, support_rooms(&app).await), (3, 3));
    for gone in [&inactive, &closed_long_ago] {
        let n = app.count(&format!("SELECT count(*) AS n FROM rooms WHERE id = '{}'", gone.room)).await;
        assert_eq!(n, 0, "room of a deleted guest");
        let n = app.count(&format!("SELECT count(*) AS n FROM users WHERE id = '{}'", gone.guest.id)).await;
        assert_eq!(n, 0, "deleted guest");
        assert_eq!(app.refresh(&gone.guest.refresh_token).await.status(), reqwest::StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM messages").await, messages_before - 2, "their history");
    for kept in [&fresh, &old_but_talking, &closed_lately] {
        assert_eq!(app.me(&kept.guest.access_token).await.status(), reqwest::StatusCode::OK);
    }
    // The endpoint went with its room, recorded in the audit log (by no account: the job).
    assert_eq!(app.count("SELECT count(*) AS n FROM webhook_endpoints").await, 1);
    let recorded = format!(
        "SELECT count(*) AS n FROM audit_log WHERE action = 'webhook.deleted' AND actor_id IS NULL \
         AND details->>'url' = 'https://hooks.example/{}' AND details->>'reason' = 'its room was deleted'",
        closed_long_ago.room
    );
    assert_eq!(app.count(&recorded).await, 1);
    assert_eq!(app.metric("plauder_retention_deleted_total{kind=\"guests\"}").await, 2.0);
    assert_eq!(app.metric("plauder_retention_deleted_total{kind=\"support_sessions\"}").await, 2.0);

    // A second pass finds nothing more.
    assert_eq!(completed(&app).await, Report::default());
}

#[actix_web::test]
async fn a_pass_is_skipped_while_another_process_holds_the_lock() {
    use diesel::sql_query;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    app.sql("UPDATE refresh_tokens SET expires_at = now() - interval '30 days'").await;
    // Another instance's pass, as far as PostgreSQL can tell.
    let mut other = AsyncPgConnection::establish(&app.db_url).await.unwrap();
    sql_query(format!("SELECT pg_advisory_lock({})", retention::LOCK_KEY)).execute(&mut other).await.unwrap();

    assert_eq!(retention::run_once(&app.state).await.unwrap(), Outcome::Skipped);
    assert_eq!(refresh_tokens(&app).await, 1, "nothing deleted while skipped");
    assert_eq!(app.metric("plauder_retention_runs_total{outcome=\"skipped\"}").await, 1.0);

    sql_query(format!("SELECT pg_advisory_unlock({})", retention::LOCK_KEY)).execute(&mut other).await.unwrap();
    assert_eq!(completed(&app).await.refresh_tokens, 1);
    assert_eq!(app.refresh(&ada.refresh_token).await.status(), reqwest::StatusCode::UNAUTHORIZED);
}

#[test]
fn retention_settings_must_be_positive() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = plauder::config::Settings::load_unchecked(&dir, "test").unwrap();
    settings.database.url = "postgres://x@127.0.0.1:1/x".to_owned().into();
    settings.auth.jwt_secret = crate::helpers::JWT_SECRET.to_owned().into();
    settings.validate().expect("the defaults are valid");
    settings.retention.guest_inactive_days = 0;
    let err = settings.validate().unwrap_err();
    assert!(
        err.contains("retention.guest_inactive_days") && err.contains("PLAUDER__RETENTION__GUEST_INACTIVE_DAYS"),
        "{err}"
    );
}

#[actix_web::test]
async fn a_pass_goes_on_batch_after_batch_until_nothing_is_left() {
    let app = crate::helpers::spawn_app_with(|s| s.retention.batch_size = 2).await;
    for name in ["ada", "bob", "cyd", "dee", "eve"] {
        app.register(name).await;
    }
    app.sql("UPDATE refresh_tokens SET expires_at = now() - interval '8 days'").await;
    let fresh = app.register("fay").await;
    for name in ["v1", "v2", "v3"] {
        let v = open_session(&app, name).await;
        app.sql(&format!(
            "UPDATE support_sessions SET status = 'closed', closed_at = now() - interval '91 days' WHERE id = '{}'",
            v.session_id
        ))
        .await;
    }

    let report = completed(&app).await;

    assert_eq!(report, Report { refresh_tokens: 5, support_sessions: 3, guests: 3, ..Report::default() });
    assert_eq!(refresh_tokens(&app).await, 1);
    assert_eq!(app.refresh(&fresh.refresh_token).await.status(), reqwest::StatusCode::OK);
}
