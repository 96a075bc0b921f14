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

/// A batch of guests goes in three statements (their support rooms locked, the rooms deleted,
/// the guests deleted), and every row that refers to a deleted guest or room is found by a query
/// per deleted row (PostgreSQL's foreign-key triggers). Each must find it by index: without one,
/// a batch of 1,000 guests read each growing table a thousand times, about a minute of a core per
/// batch among 100,000 support rooms and 400,000 attachments (docs/benchmarks.md).
#[actix_web::test]
async fn deleting_a_batch_of_guests_finds_what_refers_to_them_by_index() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    use plauder::db::queries::retention as q;
    use plauder::ids::UserId;

    const GUESTS: i64 = 300;
    let app = spawn_app().await;
    // The guests, each with its support room, session and membership; below, files sent and slash
    // commands called in every room, and audit-log entries made by every account.
    app.sql(&format!(
        "INSERT INTO users (id, username, display_name, role) \
         SELECT gen_random_uuid(), 'guest' || g, 'Guest', 'guest' FROM generate_series(1, {GUESTS}) g"
    ))
    .await;
    app.sql(
        "INSERT INTO rooms (id, kind, created_by) SELECT gen_random_uuid(), 'support', id FROM users WHERE role = 'guest'",
    )
    .await;
    app.sql(
        "INSERT INTO support_sessions (id, room_id, guest_id, visitor_name) \
         SELECT gen_random_uuid(), id, created_by, 'Visitor' FROM rooms WHERE kind = 'support'",
    )
    .await;
    app.sql("INSERT INTO room_members (room_id, user_id, role) SELECT id, created_by, 'member' FROM rooms").await;
    // The rest of a used installation, so that the tables are more than a page or two (on a page,
    // reading the table is the better plan): accounts with rooms, friends, files and commands.
    app.sql(
        "INSERT INTO users (id, username, display_name, is_bot) \
         SELECT gen_random_uuid(), 'user' || g, 'User', g = 1 FROM generate_series(1, 300) g",
    )
    .await;
    app.sql(
        "INSERT INTO rooms (id, kind, name, created_by) \
         SELECT gen_random_uuid(), 'group', 'room', u.id FROM users u, generate_series(1, 10) WHERE u.role = 'user'",
    )
    .await;
    app.sql(
        "INSERT INTO friendships (user_id, friend_id) SELECT a.id, b.id FROM users a JOIN users b \
         ON a.role = 'user' AND b.role = 'user' AND a.id <> b.id AND (hashtext(a.username || b.username) & 15) = 0",
    )
    .await;
    app.sql(
        "INSERT INTO messages (id, room_id, seq, rev, sender_id, body) \
         SELECT gen_random_uuid(), id, 1, 1, created_by, 'files' FROM rooms",
    )
    .await;
    app.sql(
        "INSERT INTO attachments (id, owner_id, room_id, message_id, sha256, size_bytes, content_type, name) \
         SELECT gen_random_uuid(), m.sender_id, m.room_id, m.id, encode(sha256(convert_to(m.id::text || g, 'UTF8')), 'hex'), \
                1, 'text/plain', 'a.txt' FROM messages m, generate_series(1, 2) g",
    )
    .await;
    app.sql(
        "INSERT INTO command_invocations (id, name, bot_id, room_id, caller_id, message_id) \
         SELECT gen_random_uuid(), 'roll', (SELECT id FROM users WHERE is_bot), r.id, r.created_by, gen_random_uuid() \
         FROM rooms r, generate_series(1, 2)",
    )
    .await;
    app.sql(
        "INSERT INTO audit_log (id, actor_id, action, target_type, target_id, details) \
         SELECT gen_random_uuid(), u.id, 'room.created', 'room', gen_random_uuid()::text, '{}' \
         FROM users u, generate_series(1, 5)",
    )
    .await;
    app.sql("ANALYZE").await;

    let mut conn = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
    let guests: Vec<UserId> = {
        #[derive(diesel::QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::Uuid)]
            id: UserId,
        }
        let rows: Vec<Id> =
            diesel_async::RunQueryDsl::load(diesel::sql_query("SELECT id FROM users WHERE role = 'guest'"), &mut conn)
                .await
                .expect("guests");
        rows.into_iter().map(|r| r.id).collect()
    };
    conn.batch_execute("BEGIN").await.expect("begin");
    let rooms = q::lock_support_rooms_of(&mut conn, &guests).await.expect("lock");
    assert_eq!(q::delete_rooms(&mut conn, &rooms).await.expect("rooms"), GUESTS as usize);
    assert_eq!(q::delete_guests(&mut conn, &guests).await.expect("guests"), GUESTS as usize);
    let mut scans = Vec::new();
    for table in ["audit_log", "rooms", "support_sessions", "attachments", "friendships", "command_invocations"] {
        scans.push((table, crate::helpers::seq_scans_in_transaction(&mut conn, table).await));
    }
    conn.batch_execute("COMMIT").await.expect("commit");
    // A statement may read a table once (a join); a read per deleted row is what this forbids.
    assert!(scans.iter().all(|&(_, n)| n <= 2), "sequential scans while deleting {GUESTS} guests: {scans:?}");
    assert_eq!(app.count("SELECT count(*) AS n FROM rooms WHERE kind = 'support'").await, 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM attachments").await, 6000);
    assert_eq!(app.count("SELECT count(*) AS n FROM command_invocations").await, 6000);
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_log WHERE actor_id IS NULL").await, GUESTS * 5);
}

/// Every foreign key is checked, on each deletion of the row it refers to, by a query on the
/// referring table; on a table that grows with use that query needs an index on the referring
/// columns, or deleting many rows (retention's batches) reads the table once per row. Only these
/// keys, on tables that stay small (admins' configuration), may go without one.
#[actix_web::test]
async fn every_foreign_key_of_a_table_that_grows_is_indexed() {
    const SMALL: &[&str] = &[
        "canned_replies_created_by_fkey",
        "incoming_webhooks_bot_id_fkey",
        "incoming_webhooks_created_by_fkey",
        "kb_entries_created_by_fkey",
        "support_blocks_created_by_fkey",
        "webhook_endpoints_created_by_fkey",
        "webhook_endpoints_room_id_fkey",
    ];
    #[derive(diesel::QueryableByName)]
    struct Key {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let app = spawn_app().await;
    let mut conn = app.state.pool.get().await.expect("connection");
    // A key is covered by an index whose leading columns are the key's columns, in any order.
    let unindexed: Vec<Key> = diesel_async::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT c.conname::text AS name FROM pg_constraint c \
             WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace \
               AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid \
                 AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey \
                 AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey) \
             ORDER BY c.conname::text COLLATE \"C\"",
        ),
        &mut conn,
    )
    .await
    .expect("keys");
    let unindexed: Vec<&str> = unindexed.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(unindexed, SMALL, "foreign keys without an index on their columns");
}
