//! A user's own data: deleting one's account (DELETE /users/me), an admin deleting one
//! (DELETE /admin/users/{id}, audited), and the data export (GET /users/me/export).

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    PASSWORD, TestApp, TestUser, assert_error, open_session, spawn_app, spawn_app_with, user_with_role, uuid_of,
};

fn delete_me(app: &TestApp, user: &TestUser, password: &str) -> impl Future<Output = reqwest::Response> + use<> {
    app.request(Method::DELETE, "/api/v1/users/me", Some(&user.access_token), Some(json!({"password": password})))
}

/// Deleting an account clears the sender of each of its messages (20 to 40 µs a message measured
/// on a 2-core machine), which takes longer than a request's statement_timeout for a prolific
/// account: done in one statement under that timeout, as it once was, it failed every time.
#[actix_web::test]
async fn an_account_whose_deletion_outlasts_the_requests_statement_timeout_is_deleted() {
    const TIMEOUT_MS: u64 = 300;
    let app = spawn_app_with(|s| s.database.statement_timeout_ms = TIMEOUT_MS).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&bob, "busy", &[&ada]).await;
    app.insert_messages(room, ada.id, 50000).await;

    let started = std::time::Instant::now();
    let res = delete_me(&app, &ada, PASSWORD).await;
    let took = started.elapsed();
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "{:?}", res.text().await);
    assert!(took > Duration::from_millis(TIMEOUT_MS), "a deletion within {TIMEOUT_MS} ms tests nothing: {took:?}");
    assert_eq!(app.me(&ada.access_token).await.status(), StatusCode::UNAUTHORIZED);
    let kept = format!("SELECT count(*) AS n FROM messages WHERE room_id = '{room}' AND sender_id IS NULL");
    assert_eq!(app.count(&kept).await, 50_000, "the messages stay, without their sender");
}

/// A prolific account's messages lose their sender in short transactions before the account
/// goes, so the deletion does not hold them, or the rooms the account created, to its end: the
/// other members go on sending to such a room and reacting to those messages meanwhile. With the
/// account's deletion clearing all 100,000 in its own transaction (about 2 s here), every send
/// and reaction made during it waited for that and ended in 503 at the statement_timeout.
#[actix_web::test]
async fn the_rooms_and_messages_of_an_account_being_deleted_stay_writable_meanwhile() {
    const TIMEOUT_MS: u64 = 500;
    let app = spawn_app_with(|s| s.database.statement_timeout_ms = TIMEOUT_MS).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    // Ada created the room: its row's `created_by` is cleared with her account.
    let room = app.group(&ada, "ada's", &[&bob]).await;
    app.insert_messages(room, ada.id, 100_000).await;
    let page = app.history(&bob, room, "?limit=1").await;
    let hers = page["messages"][0]["id"].as_str().expect("a message of ada's").to_owned();

    let done = std::cell::Cell::new(false);
    let deletion = async {
        let res = delete_me(&app, &ada, PASSWORD).await;
        done.set(true);
        res
    };
    // Bob's writes, one after another until the deletion has answered: a send to the room and a
    // reaction to one of ada's messages (added, then taken back) each round.
    let writes = async {
        let (mut rounds, mut failed) = (0_i64, Vec::new());
        let reaction = format!("/api/v1/messages/{hers}/reactions/👍");
        while !done.get() {
            let body = json!({"body": format!("meanwhile {rounds}")});
            let sent = app.post(&format!("/api/v1/rooms/{room}/messages"), Some(&bob.access_token), body).await;
            if sent.status() != StatusCode::CREATED {
                failed.push(format!("send {rounds}: {} {}", sent.status(), sent.text().await.unwrap_or_default()));
            }
            let method = if rounds % 2 == 0 { Method::PUT } else { Method::DELETE };
            let reacted = app.request(method, &reaction, Some(&bob.access_token), None).await;
            if !reacted.status().is_success() {
                failed.push(format!(
                    "reaction {rounds}: {} {}",
                    reacted.status(),
                    reacted.text().await.unwrap_or_default()
                ));
            }
            rounds += 1;
        }
        (rounds, failed)
    };
    let (res, (rounds, failed)) = tokio::join!(deletion, writes);
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "{:?}", res.text().await);
    assert!(failed.is_empty(), "{failed:?}");
    assert!(rounds >= 3, "only {rounds} rounds of writes during the deletion: it tested nothing");

    // All done: none of ada's messages names her, bob's sends are all there, bob owns the room.
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM messages WHERE sender_id = '{}'", ada.id)).await, 0);
    let kept = format!("SELECT count(*) AS n FROM messages WHERE room_id = '{room}' AND sender_id IS NULL");
    assert_eq!(app.count(&kept).await, 100_000);
    let bobs = format!("SELECT count(*) AS n FROM messages WHERE room_id = '{room}' AND sender_id = '{}'", bob.id);
    assert_eq!(app.count(&bobs).await, rounds);
    assert_eq!(app.owners(room).await, [bob.id]);
}

/// The account is signed out before its messages start losing their sender: its sockets close
/// and its tokens, API tokens too, are refused while the messages are still being cleared, so its
/// devices send nothing more meanwhile (a retried send would miss its cleared original by
/// `client_msg_id`).
#[actix_web::test]
async fn an_account_being_deleted_is_signed_out_before_its_messages_are_cleared() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&bob, "busy", &[&ada]).await;
    app.insert_messages(room, ada.id, 100_000).await;
    let mut ada_ws = app.ws(&ada.access_token).await;
    let (api_token, _) = crate::api_tokens::token(&app, &ada, &["read", "write"]).await;
    // A device subscribed through her API token (no sign-out ends it), and mails waiting for their
    // turn: a digest of what she missed, and a support answer (support mails go to visitors'
    // addresses, not the account's, and are not hers to drop).
    app.sql(&format!(
        "INSERT INTO push_subscriptions (id, user_id, session_id, endpoint, p256dh, auth) \
         VALUES (gen_random_uuid(), '{}', NULL, 'https://push.example.org/ada', \
                 decode(repeat('04', 65), 'hex'), decode(repeat('01', 16), 'hex'))",
        ada.id
    ))
    .await;
    for kind in ["email_digest", "support_reply"] {
        app.sql(&format!(
            "INSERT INTO mail_queue (id, kind, recipient, subject, body_text, body_html, language, next_attempt_at) \
             VALUES (gen_random_uuid(), '{kind}', 'ada@example.org', 's', 't', 'h', 'en', now() + interval '1 hour')"
        ))
        .await;
    }
    let queued = |kind: &str| {
        format!("SELECT count(*) AS n FROM mail_queue WHERE kind = '{kind}' AND recipient = 'ada@example.org'")
    };

    let naming_her = format!("SELECT count(*) AS n FROM messages WHERE sender_id = '{}'", ada.id);
    let meanwhile = async {
        let closed = ada_ws.closed_with_reason().await;
        // Nothing more reaches her from the moment the deletion begins, not only once it ends.
        let pushes =
            app.count(&format!("SELECT count(*) AS n FROM push_subscriptions WHERE user_id = '{}'", ada.id)).await;
        let digests = app.count(&queued("email_digest")).await;
        let body = json!({"body": "one more", "client_msg_id": "c-1"});
        let path = format!("/api/v1/rooms/{room}/messages");
        let sent = app.post(&path, Some(&ada.access_token), body.clone()).await.status();
        let by_api = app.post(&path, Some(&api_token), body).await.status();
        // Nor does the password sign her in again: a new session could send.
        let login = app.login("ada", PASSWORD).await;
        let login = (login.status(), login.json::<Value>().await.unwrap()["error"]["message"].clone());
        (closed, sent, by_api, login, app.count(&naming_her).await, (pushes, digests))
    };
    let (res, (closed, sent, by_api, login, still_hers, reaching_her)) =
        tokio::join!(delete_me(&app, &ada, PASSWORD), meanwhile);
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "{:?}", res.text().await);
    assert_eq!(closed, (4001, "account deleted".to_owned()));
    assert_eq!(reaching_her, (0, 0), "no push subscription, no queued digest");
    assert_eq!(app.count(&queued("support_reply")).await, 1);
    assert_eq!((sent, by_api), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    assert_eq!(login, (StatusCode::UNAUTHORIZED, json!("This account is being deleted.")));
    assert!(still_hers > 0, "the socket closed only after all her messages were cleared");
    assert_eq!(app.count(&naming_her).await, 0);
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM messages WHERE room_id = '{room}'")).await, 100_000);
}

/// A deletion that stopped after its first step (an error, a restart) leaves the account marked
/// and signed out; the retention job finishes it once it is old enough not to be running still,
/// and one that fails again holds up none behind it.
#[actix_web::test]
async fn a_deletion_stopped_half_way_is_finished_by_the_retention_job() {
    // One account per lookup, so that the stuck one below fills a whole page.
    let app = spawn_app_with(|s| {
        s.retention.batch_size = 1;
        s.database.erase_statement_timeout_ms = 300;
    })
    .await;
    let root = user_with_role(&app, "root", "admin").await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    // Cat's deletion stopped earlier than ada's, and cannot finish now: a message of hers is held,
    // so clearing its sender outlasts the erase timeout.
    let cat = app.register("cat").await;
    let hers = app.group(&cat, "c", &[]).await;
    app.send(&cat, hers, "held").await;
    app.sql(&format!("UPDATE users SET deleting_since = now() - interval '20 minutes' WHERE id = '{}'", cat.id)).await;
    let mut holder = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
    holder
        .batch_execute(&format!("BEGIN; SELECT 1 FROM messages WHERE sender_id = '{}' FOR UPDATE", cat.id))
        .await
        .expect("lock");
    let room = app.group(&ada, "g", &[&bob]).await;
    let said = app.send(&ada, room, "ada was here").await;
    let (api_token, _) = crate::api_tokens::token(&app, &ada, &["read", "write"]).await;
    let mut bob_ws = app.ws(&bob.access_token).await;
    // The mark without the sign-out's revocations: what a login that read the account just before
    // the deletion began holds (its session started after the sign-out's statements looked). The
    // mark alone must keep those tokens out.
    app.sql(&format!("UPDATE users SET deleting_since = now() - interval '1 minute' WHERE id = '{}'", ada.id)).await;

    assert_error(app.me(&ada.access_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.me(&api_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let refresh = assert_error(app.refresh(&ada.refresh_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(refresh["error"]["message"], "This account is being deleted.");
    let login = assert_error(app.login("ada", PASSWORD).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(login["error"]["message"], "This account is being deleted.");
    // The admin panel shows which accounts are being deleted.
    let listed: Value = app.get("/api/v1/admin/users?q=", Some(&root.access_token)).await.json().await.unwrap();
    let since = |name: &str| {
        listed["users"].as_array().unwrap().iter().find(|u| u["username"] == name).expect(name)["deleting_since"]
            .clone()
    };
    assert!(since("ada").is_string() && since("cat").is_string() && since("bob").is_null(), "{listed}");

    // A minute in, it may still be running: the job leaves it.
    let report = crate::retention::completed(&app).await;
    assert_eq!((report.accounts, report.accounts_failed), (0, 1));
    let exists = |user: Uuid| format!("SELECT count(*) AS n FROM users WHERE id = '{user}'");
    assert_eq!(app.count(&exists(ada.id)).await, 1);

    app.sql(&format!("UPDATE users SET deleting_since = now() - interval '11 minutes' WHERE id = '{}'", ada.id)).await;
    let report = crate::retention::completed(&app).await;
    assert_eq!((report.accounts, report.accounts_failed), (1, 1), "ada's finished past cat's, which failed again");
    assert_eq!(app.count(&exists(ada.id)).await, 0);
    assert_eq!(app.count(&exists(cat.id)).await, 1);
    let failed = async || app.metric("plauder_retention_failed_total{kind=\"accounts\"}").await;
    assert_eq!(failed().await, 2.0, "once in each pass");
    drop(holder);
    let report = crate::retention::completed(&app).await;
    assert_eq!((report.accounts, report.accounts_failed), (1, 0));
    assert_eq!(app.count(&exists(cat.id)).await, 0);
    assert_eq!(failed().await, 2.0);
    let removed = bob_ws.event("room.member_removed").await;
    assert_eq!(removed["user_id"], ada.id.to_string());
    let history = app.history(&bob, room, "").await;
    let kept = history["messages"].as_array().unwrap().iter().find(|m| m["id"] == said["id"]).expect("kept");
    assert!(kept["sender_id"].is_null(), "{kept}");
    let members: Value =
        app.get(&format!("/api/v1/rooms/{room}/members"), Some(&bob.access_token)).await.json().await.unwrap();
    assert_eq!(members["members"][0]["role"], "owner", "the room passed to bob: {members}");
}

#[actix_web::test]
async fn deleting_ones_account_keeps_its_messages_as_a_deleted_users_and_ends_every_session() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room = app.group(&ada, "g", &[&bob, &carol]).await;
    app.befriend(&ada, &bob).await;
    let said = app.send(&ada, room, "ada was here").await;
    app.send(&bob, room, "bob too").await;
    let mut ada_ws = app.ws(&ada.access_token).await;
    let mut bob_ws = app.ws(&bob.access_token).await;

    // The password confirms it; a wrong one changes nothing.
    assert_error(delete_me(&app, &ada, "not the password").await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.me(&ada.access_token).await.status(), StatusCode::OK);

    let res = delete_me(&app, &ada, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    assert_eq!(ada_ws.closed_with_reason().await, (4001, "account deleted".to_owned()));
    let removed = bob_ws.event("room.member_removed").await;
    assert_eq!(removed["user_id"], ada.id.to_string());
    assert_eq!(removed["room_id"], room.to_string());
    assert_error(app.login("ada", PASSWORD).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.me(&ada.access_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.refresh(&ada.refresh_token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // The message stays, with no sender: a deleted user's.
    let history = app.history(&bob, room, "").await;
    let kept = history["messages"].as_array().unwrap().iter().find(|m| m["id"] == said["id"]).expect("kept");
    assert_eq!(kept["body"], "ada was here");
    assert!(kept["sender_id"].is_null(), "{kept}");
    // The room passed on (bob joined first), the friendship is gone, the user is unknown.
    let members: Value =
        app.get(&format!("/api/v1/rooms/{room}/members"), Some(&bob.access_token)).await.json().await.unwrap();
    let roles: Vec<(String, String)> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user"]["username"].as_str().unwrap().to_owned(), m["role"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(roles.len(), 2, "{roles:?}");
    assert!(roles.iter().any(|(name, role)| name == "bob" && role == "owner"), "{roles:?}");
    assert_eq!(app.friends(&bob).await["friends"].as_array().unwrap().len(), 0);
    assert_error(
        app.get(&format!("/api/v1/users/{}", ada.id), Some(&bob.access_token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Nothing personal is left: the name and email can be taken again.
    assert_eq!(app.register_raw("ada", "ada@example.org", PASSWORD).await.status(), StatusCode::CREATED);
}

/// A deletion confirmed with a password the owner replaced while it was checked is refused: the
/// password change commits first (held open here until the deletion waits for the account's row),
/// and the old password, which the intruder knew, deletes nothing.
#[actix_web::test]
async fn a_deletion_checked_while_the_owner_changes_the_password_is_refused() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let owner = app.hold_password_change(&ada).await;
    let deleted = app.while_held(owner, 1, "COMMIT", delete_me(&app, &ada, PASSWORD)).await;
    assert_error(deleted, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let kept = format!("SELECT count(*) AS n FROM users WHERE id = '{}' AND deleting_since IS NULL", ada.id);
    assert_eq!(app.count(&kept).await, 1, "the account stays, not marked for deletion");
}

#[actix_web::test]
async fn guests_cannot_delete_themselves_and_a_missing_password_is_refused() {
    let app = spawn_app().await;
    let visitor = open_session(&app, "visitor").await;
    assert_error(delete_me(&app, &visitor.guest, "anything").await, StatusCode::FORBIDDEN, "forbidden").await;
    let ada = app.register("ada").await;
    let res = app.request(Method::DELETE, "/api/v1/users/me", Some(&ada.access_token), Some(json!({}))).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(app.me(&ada.access_token).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn an_admin_deletes_an_account_audited_closing_its_sockets() {
    let app = spawn_app().await;
    let root = user_with_role(&app, "root", "admin").await;
    let moderator = user_with_role(&app, "mod", "moderator").await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "g", &[&bob]).await;
    app.send(&ada, room, "before").await;
    let mut ada_ws = app.ws(&ada.access_token).await;
    let path = format!("/api/v1/admin/users/{}", ada.id);

    assert_error(app.delete(&path, Some(&moderator.access_token)).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(app.delete(&path, Some(&bob.access_token)).await, StatusCode::FORBIDDEN, "forbidden").await;
    let own = format!("/api/v1/admin/users/{}", root.id);
    assert_error(app.delete(&own, Some(&root.access_token)).await, StatusCode::FORBIDDEN, "forbidden").await;
    let guest = open_session(&app, "visitor").await;
    let res = app.delete(&format!("/api/v1/admin/users/{}", guest.guest.id), Some(&root.access_token)).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    assert_eq!(app.delete(&path, Some(&root.access_token)).await.status(), StatusCode::NO_CONTENT);

    assert_eq!(ada_ws.closed_with_reason().await, (4001, "account deleted".to_owned()));
    assert_error(app.login("ada", PASSWORD).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.delete(&path, Some(&root.access_token)).await, StatusCode::NOT_FOUND, "not_found").await;
    let history = app.history(&bob, room, "").await;
    assert!(history["messages"][0]["sender_id"].is_null(), "{history}");
    let log: Value = app.get("/api/v1/admin/audit-log", Some(&root.access_token)).await.json().await.unwrap();
    let entry = &log["entries"][0];
    assert_eq!(entry["action"], "user.deleted", "{log}");
    assert_eq!(entry["target_type"], "user");
    assert_eq!(entry["target_id"], ada.id.to_string());
    assert_eq!(entry["actor_id"], root.id.to_string());
}

/// One lock order, room before user. A request of the account's still under way (here a reply,
/// which takes the checked path) holds its room's row and waits for the account's. An account's
/// deletion changes the rooms the account created (the foreign key clears their `created_by`)
/// and hands on those it owns: had it taken the account's row first and then waited for such a
/// room, each would wait for the other, and PostgreSQL would abort one of them after a second.
/// It locks those rooms first, so it waits behind the send, which commits.
#[actix_web::test]
async fn a_send_under_way_in_a_room_the_account_created_does_not_deadlock_with_its_deletion() {
    use crate::helpers::wait::{check, eventually};
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "ada's", &[&bob]).await;
    let first = app.send(&bob, room, "first").await;
    let waiting = "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
                   AND wait_event_type = 'Lock'";

    // The send waits for the room's row, then the deletion does too (for its first lock, or, in
    // the other order, for the foreign key's update after the account's row).
    let mut blocker = app.hold_room_row(room).await;
    let body = json!({"body": "last words", "reply_to": first["id"]});
    let sent = tokio::spawn(app.post(&format!("/api/v1/rooms/{room}/messages"), Some(&ada.access_token), body));
    eventually("the send to wait for the room", async || check(app.count(waiting).await, |&n| n == 1)).await;
    let deleted = tokio::spawn(delete_me(&app, &ada, PASSWORD));
    eventually("the deletion to wait too", async || check(app.count(waiting).await, |&n| n == 2)).await;
    blocker.batch_execute("ROLLBACK").await.expect("rollback");

    let sent = sent.await.expect("send task");
    assert_eq!(sent.status(), StatusCode::CREATED, "{:?}", sent.text().await);
    let deleted = deleted.await.expect("deletion task");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT, "{:?}", deleted.text().await);
    let kept = format!("SELECT count(*) AS n FROM messages WHERE room_id = '{room}' AND sender_id IS NULL");
    assert_eq!(app.count(&kept).await, 1, "the send's message stays, without its deleted sender");
    assert_eq!(app.owners(room).await, [bob.id], "the room was handed on");
}

/// An account's deletion chosen as a deadlock's victim tries its last transaction again: its owner
/// is signed out by then and could not. Staged with that transaction, which locks the account's
/// rooms and then hands them on (the heir's membership row, held here) while another transaction
/// holding that membership asks for the room.
#[actix_web::test]
async fn a_deletion_chosen_as_a_deadlocks_victim_tries_again_and_ends() {
    use crate::helpers::wait::{check, eventually};
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "ada's", &[&bob]).await;
    let waiting = "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
                   AND wait_event_type = 'Lock'";

    let mut other = app.hold_membership_row(room, bob.id).await;
    // Read when this transaction starts to wait, below.
    other.batch_execute("SET LOCAL deadlock_timeout = '60s'").await.expect("set");
    let deleted = tokio::spawn(delete_me(&app, &ada, PASSWORD));
    eventually("the deletion to wait for the heir", async || check(app.count(waiting).await, |&n| n == 1)).await;
    // This transaction checks for a deadlock only after a minute, so the deletion's check (a
    // second after its wait began) finds the cycle: it is the one aborted, which gives this
    // transaction the room (the deletion could not have committed).
    other
        .batch_execute(&format!("SELECT 1 FROM rooms WHERE id = '{room}' FOR UPDATE"))
        .await
        .expect("the room, once the deletion's transaction was aborted");
    eventually("the deletion's second try to wait for the room", async || check(app.count(waiting).await, |&n| n == 1))
        .await;
    other.batch_execute("ROLLBACK").await.expect("rollback");

    let res = deleted.await.expect("deletion task");
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "{:?}", res.text().await);
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM users WHERE id = '{}'", ada.id)).await, 0);
    assert_eq!(app.owners(room).await, [bob.id], "the room was handed on");
}

async fn export(app: &TestApp, user: &TestUser) -> (reqwest::header::HeaderMap, String) {
    let res = app.get("/api/v1/users/me/export", Some(&user.access_token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers().clone();
    (headers, res.text().await.unwrap())
}

#[actix_web::test]
async fn the_export_holds_the_callers_profile_friends_rooms_and_messages_only() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let room = app.group(&ada, "ours", &[&bob]).await;
    let other = app.group(&bob, "bobs", &[]).await;
    app.befriend(&ada, &bob).await;
    let mine = [app.send(&ada, room, "first of mine").await, app.send(&ada, room, "second of mine").await];
    app.send(&bob, room, "bob-secret in a shared room").await;
    app.send(&bob, other, "bob-secret elsewhere").await;
    let res =
        app.delete(&format!("/api/v1/messages/{}", mine[1]["id"].as_str().unwrap()), Some(&ada.access_token)).await;
    assert!(res.status().is_success());

    let (headers, text) = export(&app, &ada).await;

    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    assert!(headers["content-disposition"].to_str().unwrap().contains("attachment"));
    let doc: Value = serde_json::from_str(&text).expect("the export is one JSON document");
    assert_eq!(doc["user"]["id"], ada.id.to_string());
    assert_eq!(doc["user"]["email"], "ada@example.org");
    assert_eq!(doc["friends"][0]["user_id"], bob.id.to_string());
    assert_eq!(doc["friends"][0]["username"], "bob");
    let rooms: Vec<Uuid> = doc["rooms"].as_array().unwrap().iter().map(|r| uuid_of(&r["id"])).collect();
    assert_eq!(rooms, [room]);
    assert_eq!(doc["rooms"][0]["role"], "owner");
    let messages = doc["messages"].as_array().unwrap();
    let ids: Vec<&Value> = messages.iter().map(|m| &m["id"]).collect();
    assert_eq!(ids, [&mine[0]["id"], &mine[1]["id"]]);
    assert_eq!(messages[0]["body"], "first of mine");
    assert_eq!(messages[1]["deleted"], true);
    // Nobody else's words or email.
    assert!(!text.contains("bob-secret") && !text.contains("bob@example.org"), "{text}");
}

#[actix_web::test]
async fn a_large_export_is_complete_across_pages() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "big", &[]).await;
    // More than two pages (500 each), all at one instant: the pages are cut by id within a time.
    app.sql(&format!(
        "INSERT INTO messages (id, room_id, seq, rev, sender_id, body) \
         SELECT gen_random_uuid(), '{room}', g, g, '{}', 'bulk ' || g FROM generate_series(1, 1234) g",
        ada.id
    ))
    .await;

    let (_, text) = export(&app, &ada).await;

    let doc: Value = serde_json::from_str(&text).expect("one JSON document");
    let messages = doc["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1234);
    let distinct: std::collections::HashSet<&str> = messages.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(distinct.len(), 1234, "no message twice");
    let visitor = open_session(&app, "visitor").await;
    assert_error(
        app.get("/api/v1/users/me/export", Some(&visitor.guest.access_token)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}
