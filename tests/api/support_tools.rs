//! The support inbox's tools: canned replies (staff manage them together), blocking a visitor by
//! address or browser for a set time (audited; a blocked visitor cannot open a new session until
//! the block ends or is lifted), and mailing a session's transcript through the mail queue to a
//! real SMTP server (audited, in the visitor's language).

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::smtp::SmtpServer;
use crate::helpers::{TestApp, TestUser, assert_error, open_session, spawn_app, spawn_app_with, user_with_role};

const BROWSER: &str = "b7f3c1d2e4a5968877665544";

async fn open_from(app: &TestApp, name: &str, browser_id: Option<&str>) -> reqwest::Response {
    let mut context = json!({"language": "de-DE"});
    if let Some(id) = browser_id {
        context["browser_id"] = json!(id);
    }
    app.post(
        "/api/v1/support/sessions",
        None,
        json!({"name": name, "email": "vera@visitor.example", "context": context}),
    )
    .await
}

async fn opened(app: &TestApp, name: &str, browser_id: Option<&str>) -> Value {
    let res = open_from(app, name, browser_id).await;
    assert_eq!(res.status(), StatusCode::CREATED, "open a session as {name}");
    res.json().await.expect("json")
}

async fn audit_actions(app: &TestApp, admin: &TestUser) -> Vec<Value> {
    let log: Value = app.get("/api/v1/admin/audit-log", Some(&admin.access_token)).await.json().await.expect("json");
    log["entries"].as_array().expect("entries").clone()
}

#[actix_web::test]
async fn staff_manage_canned_replies_together_and_others_cannot() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let moderator = user_with_role(&app, "mona", "moderator").await;
    let ada = app.register("ada").await;
    let path = "/api/v1/admin/canned-replies";

    let res = app
        .post(path, Some(&moderator.access_token), json!({"title": " Greeting ", "body": "Hello! How can I help?"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let greeting: Value = res.json().await.expect("json");
    assert_eq!(greeting["title"], "Greeting");
    let res =
        app.post(path, Some(&admin.access_token), json!({"title": "Opening hours", "body": "We answer 9–17."})).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let list: Value = app.get(path, Some(&admin.access_token)).await.json().await.expect("json");
    let titles: Vec<&str> =
        list["replies"].as_array().expect("replies").iter().filter_map(|r| r["title"].as_str()).collect();
    assert_eq!(titles, ["Greeting", "Opening hours"]);

    // One title once, whatever its case; an edit keeps the rules.
    let dup = app.post(path, Some(&admin.access_token), json!({"title": "GREETING", "body": "x"})).await;
    assert_error(dup, StatusCode::CONFLICT, "conflict").await;
    let id = greeting["id"].as_str().expect("id");
    let res = app.patch(&format!("{path}/{id}"), Some(&admin.access_token), json!({"body": "Hi there!"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let edited: Value = res.json().await.expect("json");
    assert_eq!((&edited["title"], &edited["body"]), (&json!("Greeting"), &json!("Hi there!")));
    let res = app.patch(&format!("{path}/{id}"), Some(&admin.access_token), json!({"title": "opening HOURS"})).await;
    assert_error(res, StatusCode::CONFLICT, "conflict").await;

    for (body, status, code) in [
        (json!({"title": "", "body": "x"}), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (json!({"title": "t".repeat(101), "body": "x"}), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (json!({"title": "a\u{7}b", "body": "x"}), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (json!({"title": "Blank", "body": "  \n "}), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (json!({"title": "Long", "body": "x".repeat(4001)}), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        (json!({"title": "Extra", "body": "x", "shared": true}), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
    ] {
        assert_error(app.post(path, Some(&admin.access_token), body).await, status, code).await;
    }
    assert_error(app.get(path, Some(&ada.access_token)).await, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app.post(path, Some(&ada.access_token), json!({"title": "Mine", "body": "x"})).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    let res = app.delete(&format!("{path}/{id}"), Some(&moderator.access_token)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.delete(&format!("{path}/{id}"), Some(&admin.access_token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = app.patch(&format!("{path}/{}", Uuid::new_v4()), Some(&admin.access_token), json!({"body": "x"})).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn a_blocked_browser_cannot_open_a_new_session_until_the_block_is_lifted() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let first = opened(&app, "Troll", Some(BROWSER)).await;
    let session = first["session_id"].as_str().expect("session id");

    let res = app
        .post(
            &format!("/api/v1/admin/support/sessions/{session}/block"),
            Some(&admin.access_token),
            json!({"browser": true, "hours": 24, "reason": "Spam"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let block: Value = res.json().await.expect("json");
    assert_eq!((&block["browser"], &block["address"], &block["reason"]), (&json!(true), &Value::Null, &json!("Spam")));
    assert_eq!(block["session_id"], session);

    // The session is closed, and the same browser is refused a new one; another browser is not.
    let sessions: Value = app
        .get("/api/v1/admin/support/sessions?status=closed", Some(&admin.access_token))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(sessions["sessions"][0]["id"], session);
    assert_error(open_from(&app, "Troll again", Some(BROWSER)).await, StatusCode::FORBIDDEN, "forbidden").await;
    opened(&app, "Someone else", Some("another-browser-0123456789")).await;
    opened(&app, "No widget id", None).await;

    let entries = audit_actions(&app, &admin).await;
    let blocked = entries.iter().find(|e| e["action"] == "support.visitor_blocked").expect("the block audited");
    assert_eq!((&blocked["target_type"], &blocked["target_id"]), (&json!("support_block"), &block["id"]));
    assert_eq!((&blocked["details"]["session_id"], &blocked["details"]["reason"]), (&json!(session), &json!("Spam")));

    let list: Value =
        app.get("/api/v1/admin/support/blocks", Some(&admin.access_token)).await.json().await.expect("json");
    assert_eq!(list["blocks"].as_array().map(Vec::len), Some(1));
    let id = block["id"].as_str().expect("block id");
    let res = app.delete(&format!("/api/v1/admin/support/blocks/{id}"), Some(&admin.access_token)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    opened(&app, "Troll, forgiven", Some(BROWSER)).await;
    assert!(audit_actions(&app, &admin).await.iter().any(|e| e["action"] == "support.visitor_unblocked"));
    let again = app.delete(&format!("/api/v1/admin/support/blocks/{id}"), Some(&admin.access_token)).await;
    assert_error(again, StatusCode::NOT_FOUND, "not_found").await;
}

/// A block that closes its chat closes the visitor's other open chats it matches too (a spammer's
/// other tabs stayed open and writable), and nobody else's.
#[actix_web::test]
async fn a_block_closes_every_open_chat_of_the_visitor_it_matches() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let first = opened(&app, "Troll", Some(BROWSER)).await;
    let second = opened(&app, "Troll, second tab", Some(BROWSER)).await;
    let bystander = opened(&app, "Bystander", Some("bystander-browser-0123456789")).await;
    let session = first["session_id"].as_str().expect("session id");
    let block = format!("/api/v1/admin/support/sessions/{session}/block");
    let res = app.post(&block, Some(&admin.access_token), json!({"browser": true, "hours": 24})).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let ids = async |status: &str| {
        let page: Value = app
            .get(&format!("/api/v1/admin/support/sessions?status={status}"), Some(&admin.access_token))
            .await
            .json()
            .await
            .expect("json");
        let mut ids: Vec<Value> =
            page["sessions"].as_array().expect("sessions").iter().map(|s| s["id"].clone()).collect();
        ids.sort_by_key(ToString::to_string);
        ids
    };
    let mut both = vec![first["session_id"].clone(), second["session_id"].clone()];
    both.sort_by_key(ToString::to_string);
    assert_eq!(ids("closed").await, both);
    assert_eq!(ids("open").await, [bystander["session_id"].clone()]);
    let room = second["room"]["id"].as_str().expect("room id");
    let res = app
        .post(&format!("/api/v1/rooms/{room}/messages"), second["access_token"].as_str(), json!({"body": "still here"}))
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

#[actix_web::test]
async fn an_address_block_refuses_every_browser_there_until_it_runs_out() {
    let app = spawn_app().await;
    let moderator = user_with_role(&app, "mona", "moderator").await;
    let first = opened(&app, "Troll", None).await;
    let session = first["session_id"].as_str().expect("session id");
    let res = app
        .post(
            &format!("/api/v1/admin/support/sessions/{session}/block"),
            Some(&moderator.access_token),
            json!({"address": true, "hours": 1, "close": false}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let block: Value = res.json().await.expect("json");
    assert_eq!(block["address"], "127.0.0.1");
    let open: Value = app
        .get("/api/v1/admin/support/sessions?status=open", Some(&moderator.access_token))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(open["sessions"][0]["id"], session, "close: false leaves the session open");
    assert_error(open_from(&app, "Other", Some(BROWSER)).await, StatusCode::FORBIDDEN, "forbidden").await;

    // Run out (as an hour later): open again.
    app.sql("UPDATE support_blocks SET expires_at = now() - interval '1 second'").await;
    opened(&app, "Later", Some(BROWSER)).await;
    let list: Value =
        app.get("/api/v1/admin/support/blocks", Some(&moderator.access_token)).await.json().await.expect("json");
    assert_eq!(list["blocks"], json!([]));
}

/// A session opened from `address` (behind a trusted proxy that saw it).
async fn open_behind_proxy(app: &TestApp, name: &str, address: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/api/v1/support/sessions", app.address))
        .header("x-forwarded-for", address)
        .json(&json!({"name": name, "email": "vera@visitor.example", "context": {"language": "de-DE"}}))
        .send()
        .await
        .expect("request")
}

/// A host is commonly given a whole IPv6 /64 and can use any address in it: blocking one address
/// blocks the network, as the per-address limits count it, and no more.
#[actix_web::test]
async fn an_ipv6_address_block_covers_its_64_and_not_the_next() {
    let app = spawn_app_with(|s| s.server.trusted_proxies = vec!["127.0.0.0/8".to_owned()]).await;
    let moderator = user_with_role(&app, "mona", "moderator").await;
    let res = open_behind_proxy(&app, "Troll", "2001:db8:1:2::1").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let first: Value = res.json().await.expect("json");
    let session = first["session_id"].as_str().expect("session id");
    let res = app
        .post(
            &format!("/api/v1/admin/support/sessions/{session}/block"),
            Some(&moderator.access_token),
            json!({"address": true, "hours": 1}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let block: Value = res.json().await.expect("json");
    assert_eq!(block["address"], "2001:db8:1:2::1", "staff see the address they blocked");

    let res = open_behind_proxy(&app, "Troll again", "2001:db8:1:2:a:b:c:d").await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = open_behind_proxy(&app, "Neighbour", "2001:db8:1:3::1").await;
    assert_eq!(res.status(), StatusCode::CREATED, "the next /64 is not blocked");
    let res = open_behind_proxy(&app, "Someone on IPv4", "192.0.2.1").await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // A block written before the key existed (the migration wrote its key in PostgreSQL's
    // spelling, or left none) still matches its own address.
    app.sql("UPDATE support_blocks SET address_key = NULL").await;
    let res = open_behind_proxy(&app, "Troll, third time", "2001:db8:1:2::1").await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

#[actix_web::test]
async fn bad_blocks_get_the_contracts_errors() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let ada = app.register("ada").await;
    let visitor = open_session(&app, "Vera").await;
    let path = format!("/api/v1/admin/support/sessions/{}/block", visitor.session_id);
    for body in [
        json!({"hours": 5}),
        json!({"address": false, "browser": false, "hours": 5}),
        json!({"address": true, "hours": 0}),
        json!({"address": true, "hours": 8761}),
        json!({"address": true, "hours": -1}),
        json!({"address": true, "hours": 2, "reason": "r".repeat(501)}),
        // This visitor's widget sent no browser id.
        json!({"browser": true, "hours": 2}),
        json!({"address": true, "hours": 2, "until": "forever"}),
    ] {
        let res = app.post(&path, Some(&admin.access_token), body.clone()).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let res = app.post(&path, Some(&ada.access_token), json!({"address": true, "hours": 2})).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let unknown = format!("/api/v1/admin/support/sessions/{}/block", Uuid::new_v4());
    assert_error(
        app.post(&unknown, Some(&admin.access_token), json!({"address": true, "hours": 2})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // A browser id that breaks its rule is refused when the session opens.
    for bad in ["short", "has spaces in it, too many", &"x".repeat(65)] {
        let res = open_from(&app, "Vera", Some(bad)).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    // Nothing was blocked by any of it.
    opened(&app, "Vera again", Some(BROWSER)).await;
}

/// Deleted messages do not take the places of kept ones: a session whose first 2,000 messages
/// were deleted still mails the later ones (the cap once counted the tombstones).
#[actix_web::test]
async fn a_transcript_leaves_deleted_messages_out_without_losing_later_ones() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| smtp.configure(s)).await;
    let admin = user_with_role(&app, "root", "admin").await;
    let first = opened(&app, "Vera", None).await;
    let session = first["session_id"].as_str().expect("session id");
    let room: uuid::Uuid = first["room"]["id"].as_str().and_then(|r| r.parse().ok()).expect("room");
    let guest_id: uuid::Uuid = first["user"]["id"].as_str().and_then(|r| r.parse().ok()).expect("guest");
    let guest = first["access_token"].as_str().expect("token");
    app.insert_messages(room, guest_id, 2000).await;
    app.sql(&format!("UPDATE messages SET deleted_at = now(), body = '' WHERE room_id = '{room}'")).await;
    for body in ["Still there?", "Hello?", "Thanks!"] {
        let res = app.post(&format!("/api/v1/rooms/{room}/messages"), Some(guest), json!({ "body": body })).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let path = format!("/api/v1/admin/support/sessions/{session}/transcript");
    let res = app.post(&path, Some(&admin.access_token), json!({})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.json::<Value>().await.expect("json")["messages"], 3);
}

#[actix_web::test]
async fn a_transcript_is_mailed_to_the_visitor_in_their_language_and_audited() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| smtp.configure(s)).await;
    let admin = user_with_role(&app, "root", "admin").await;
    app.sql("UPDATE users SET display_name = 'Rita' WHERE username = 'root'").await;
    let first = opened(&app, "Vera", None).await;
    let session = first["session_id"].as_str().expect("session id");
    let room = first["room"]["id"].as_str().expect("room");
    let guest = first["access_token"].as_str().expect("token");
    let path = format!("/api/v1/admin/support/sessions/{session}/transcript");

    // Nothing said yet: nothing to send.
    assert_error(app.post(&path, Some(&admin.access_token), json!({})).await, StatusCode::CONFLICT, "conflict").await;
    app.post(&format!("/api/v1/rooms/{room}/messages"), Some(guest), json!({"body": "Mein Paket <fehlt>"})).await;
    app.post(
        &format!("/api/v1/rooms/{room}/messages"),
        Some(&admin.access_token),
        json!({"body": "Wir schauen nach."}),
    )
    .await;
    let removed: Value = app
        .post(&format!("/api/v1/rooms/{room}/messages"), Some(guest), json!({"body": "oops, wrong chat"}))
        .await
        .json()
        .await
        .expect("json");
    app.delete(&format!("/api/v1/messages/{}", removed["id"].as_str().expect("id")), Some(guest)).await;

    let res = app.post(&path, Some(&admin.access_token), json!({})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let queued: Value = res.json().await.expect("json");
    assert_eq!(queued, json!({"email": "vera@visitor.example", "messages": 2}));
    let mail = smtp.wait_for_mail("vera@visitor.example").await;
    assert_eq!(mail["subject"], "Dein Gespräch mit unserem Support");
    // The mail's lines end in CRLF on the wire.
    let text = mail["text"].as_str().expect("text").replace("\r\n", "\n");
    assert!(text.starts_with("Hallo Vera,"), "{text}");
    assert!(text.contains("Vera:\nMein Paket <fehlt>") && text.contains("Rita:\nWir schauen nach."), "{text}");
    assert!(!text.contains("oops"), "deleted messages stay out: {text}");
    assert!(mail["html"].as_str().expect("html").contains("Mein Paket &lt;fehlt&gt;"));

    // To another address on request; audited each time.
    let res = app.post(&path, Some(&admin.access_token), json!({"email": "vera@elsewhere.example"})).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    smtp.wait_for_mail("vera@elsewhere.example").await;
    let sent: Vec<Value> =
        audit_actions(&app, &admin).await.into_iter().filter(|e| e["action"] == "support.transcript_sent").collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        (&sent[0]["target_id"], &sent[0]["details"]["email"]),
        (&json!(session), &json!("vera@elsewhere.example"))
    );

    let bad = app.post(&path, Some(&admin.access_token), json!({"email": "not an address"})).await;
    assert_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let quiet = open_session(&app, "Quiet").await;
    app.sql(&format!("UPDATE support_sessions SET visitor_email = NULL WHERE id = '{}'", quiet.session_id)).await;
    app.send(&quiet.guest, quiet.room, "hello").await;
    let res = app
        .post(
            &format!("/api/v1/admin/support/sessions/{}/transcript", quiet.session_id),
            Some(&admin.access_token),
            json!({}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let unknown = format!("/api/v1/admin/support/sessions/{}/transcript", Uuid::new_v4());
    assert_error(app.post(&unknown, Some(&admin.access_token), json!({})).await, StatusCode::NOT_FOUND, "not_found")
        .await;
}
