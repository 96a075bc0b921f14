//! The email digest for users who are away, against the suite's real SMTP server (aiosmtpd):
//! one mail with what each room's notification level lets through (all of an `all` room, only
//! the mentions of a `mentions` room, nothing of a `none` or muted room, nothing of their own or
//! from someone they blocked); none for a user who read the messages or was connected; none with
//! the preference off; the next one only after the interval; the one-click unsubscribe link and a
//! bad token; German for a German recipient.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::smtp::{ONE_CLICK_MULTIPART, SmtpServer, configure_port, one_click_address, post_form};
use crate::helpers::wait::{check, eventually};
use crate::helpers::{TestApp, TestUser, assert_error, spawn_app_with};

/// Digests one second after the first message, at most one an hour.
async fn app_with(smtp_port: u16, delay_secs: u64) -> TestApp {
    spawn_app_with(|s| {
        configure_port(s, smtp_port);
        s.notifications.digest_delay_secs = delay_secs;
        s.notifications.digest_interval_secs = 3600;
        s.notifications.digest_poll_interval_ms = 100;
    })
    .await
}

fn address(name: &str) -> String {
    format!("{name}@example.org")
}

fn is_digest(mail: &Value) -> bool {
    mail["subject"].as_str().is_some_and(|s| s.contains("unread message") || s.contains("ungelesene Nachricht"))
}

/// The digests `smtp` received for `name` so far.
fn digests(smtp: &SmtpServer, name: &str) -> Vec<Value> {
    let to = address(name);
    smtp.mails()
        .into_iter()
        .filter(|m| is_digest(m) && m["rcpt_tos"].as_array().is_some_and(|r| r.iter().any(|a| a == to.as_str())))
        .collect()
}

async fn wait_for_digest(smtp: &SmtpServer, name: &str) -> Value {
    eventually(&format!("a digest to {name}"), async || digests(smtp, name).into_iter().next().ok_or(())).await
}

/// Digest mails queued for `name`.
async fn queued(app: &TestApp, name: &str) -> i64 {
    app.count(&format!(
        "SELECT count(*) AS n FROM mail_queue WHERE kind = 'email_digest' AND recipient = '{}'",
        address(name)
    ))
    .await
}

/// Waits until `user` has a digest scheduled (the scan saw a message for them).
async fn scheduled(app: &TestApp, user: &TestUser) {
    eventually("a digest scheduled", async || {
        check(
            app.count(&format!(
                "SELECT count(*) AS n FROM email_digests WHERE user_id = '{}' AND due_at IS NOT NULL",
                user.id
            ))
            .await,
            |n| *n == 1,
        )
    })
    .await;
}

/// Waits until `user`'s digest was decided (sent, or dropped).
async fn decided(app: &TestApp, user: &TestUser) {
    eventually("the digest decided", async || {
        check(
            app.count(&format!(
                "SELECT count(*) AS n FROM email_digests WHERE user_id = '{}' AND due_at IS NULL",
                user.id
            ))
            .await,
            |n| *n == 1,
        )
    })
    .await;
}

async fn set_level(app: &TestApp, user: &TestUser, room: Uuid, body: Value) {
    let res = app
        .request(Method::PUT, &format!("/api/v1/rooms/{room}/notifications"), Some(&user.access_token), Some(body))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "notification setting");
}

async fn preferences(app: &TestApp, user: &TestUser, body: Value) -> reqwest::Response {
    app.patch("/api/v1/users/me/preferences", Some(&user.access_token), body).await
}

/// The token of the unsubscribe link in a digest's plain-text part.
fn unsubscribe_token(mail: &Value) -> String {
    let marker = "/api/v1/digest/unsubscribe?token=";
    let text = mail["text"].as_str().expect("a plain-text part");
    let start = text.find(marker).unwrap_or_else(|| panic!("{marker} in {text}")) + marker.len();
    text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

#[actix_web::test]
async fn an_offline_user_gets_one_digest_of_what_each_rooms_level_lets_through() {
    let smtp = SmtpServer::start();
    let app = app_with(smtp.port, 1).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let team = app.group(&bob, "Team", &[&ada, &carol]).await;
    let lobby = app.group(&bob, "Lobby", &[&ada]).await;
    let noise = app.group(&bob, "Noise", &[&ada]).await;
    let quiet = app.group(&bob, "Quiet", &[&ada]).await;
    set_level(&app, &ada, team, json!({ "level": "all" })).await;
    // Lobby keeps a group's default: mentions.
    set_level(&app, &ada, noise, json!({ "level": "none" })).await;
    let muted_until = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    set_level(&app, &ada, quiet, json!({ "level": "all", "muted_until": muted_until })).await;
    let res = app.post("/api/v1/blocks", Some(&ada.access_token), json!({ "user_id": carol.id })).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    app.send(&bob, team, "First <news>").await;
    app.send(&bob, team, "Second news").await;
    app.send(&ada, team, "my own words").await;
    app.send(&carol, team, "from carol, blocked").await;
    app.send(&bob, lobby, "chatter nobody needs").await;
    app.send(&bob, lobby, "@ada look here").await;
    app.send(&bob, noise, "noise nobody hears").await;
    app.send(&bob, quiet, "muted room message").await;

    let mail = wait_for_digest(&smtp, "ada").await;
    assert_eq!(mail["subject"], "3 unread messages on plauder", "{mail}");
    let text = mail["text"].as_str().expect("text");
    assert!(text.starts_with("Hello ada,"), "{text}");
    for expected in [
        "== Team ==",
        "First <news>",
        "Second news",
        "== Lobby ==",
        "@ada look here",
        &format!("/#room={team}"),
        &format!("/#room={lobby}"),
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    for unexpected in [
        "my own words",
        "from carol",
        "chatter nobody needs",
        "noise nobody hears",
        "muted room message",
        "Noise",
        "Quiet",
    ] {
        assert!(!text.contains(unexpected), "{unexpected:?} not in {text}");
    }
    let html = mail["html"].as_str().expect("html");
    assert!(html.contains("First &lt;news&gt;") && html.contains(&format!("/#room={team}\"")), "{html}");

    // One mail for all of it, and nothing for the others (bob's and carol's levels are the
    // default, mentions, and nobody mentioned them).
    decided(&app, &ada).await;
    assert_eq!(queued(&app, "ada").await, 1);
    assert_eq!(queued(&app, "bob").await + queued(&app, "carol").await, 0);

    // The next message waits for the interval (one digest an hour at most): its digest is due
    // exactly an interval after the first.
    app.send(&bob, team, "Later news").await;
    eventually("the next digest due an interval after the first", async || {
        check(
            app.count(&format!(
                "SELECT count(*) AS n FROM email_digests WHERE user_id = '{}' \
                 AND due_at = sent_at + interval '3600 seconds'",
                ada.id
            ))
            .await,
            |n| *n == 1,
        )
    })
    .await;
    assert_eq!(queued(&app, "ada").await, 1);
}

#[actix_web::test]
async fn no_digest_goes_to_a_user_who_read_the_messages_or_is_connected() {
    let smtp = SmtpServer::start();
    // A long quiet period: the test decides when the digests come due.
    let app = app_with(smtp.port, 3600).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let dan = app.register("dan").await;
    let team = app.group(&bob, "Team", &[&ada, &dan]).await;
    set_level(&app, &ada, team, json!({ "level": "all" })).await;
    set_level(&app, &dan, team, json!({ "level": "all" })).await;
    let dan_ws = app.ws(&dan.access_token).await;

    let message = app.send(&bob, team, "Anyone there?").await;
    scheduled(&app, &ada).await;
    scheduled(&app, &dan).await;
    let res = app
        .post(&format!("/api/v1/rooms/{team}/read"), Some(&ada.access_token), json!({ "seq": message["seq"] }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.sql("UPDATE email_digests SET due_at = now()").await;

    decided(&app, &ada).await;
    decided(&app, &dan).await;
    assert_eq!(queued(&app, "ada").await + queued(&app, "dan").await, 0);
    // What dan saw live is done with: no later digest carries it.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM email_digests WHERE user_id = '{}' AND mailed_until > '{}'",
            dan.id,
            message["created_at"].as_str().expect("created_at")
        ))
        .await,
        1
    );
    dan_ws.close().await;
}

#[actix_web::test]
async fn a_user_who_turned_the_digest_off_or_is_being_deleted_gets_none() {
    let smtp = SmtpServer::start();
    let app = app_with(smtp.port, 1).await;
    let ada = app.register("ada").await;
    let eve = app.register("eve").await;
    let bob = app.register("bob").await;
    let cyd = app.register("cyd").await;

    // On by default; a bad value is refused.
    let prefs: Value =
        app.get("/api/v1/users/me/preferences", Some(&ada.access_token)).await.json().await.expect("json");
    assert_eq!(prefs["email_digest"], true, "{prefs}");
    assert_error(
        preferences(&app, &ada, json!({ "email_digest": "no" })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let res = preferences(&app, &ada, json!({ "email_digest": false })).await;
    assert_eq!(res.status(), StatusCode::OK);
    let prefs: Value = res.json().await.expect("json");
    assert_eq!(prefs["email_digest"], false, "{prefs}");
    assert_eq!(prefs["language"], "en", "{prefs}");

    let team = app.group(&bob, "Team", &[&ada, &eve, &cyd]).await;
    for user in [&ada, &eve, &cyd] {
        set_level(&app, user, team, json!({ "level": "all" })).await;
    }
    // Cyd's account is being deleted (its deletion begun, not yet ended).
    app.sql(&format!("UPDATE users SET deleting_since = now() WHERE id = '{}'", cyd.id)).await;
    app.send(&bob, team, "News for both").await;

    // Eve (on) gets hers; the same scan passed ada and cyd by: nothing is even scheduled for them.
    let mail = wait_for_digest(&smtp, "eve").await;
    assert!(mail["text"].as_str().is_some_and(|t| t.contains("News for both")), "{mail}");
    for (user, name) in [(&ada, "ada"), (&cyd, "cyd")] {
        let scheduled = format!("SELECT count(*) AS n FROM email_digests WHERE user_id = '{}'", user.id);
        assert_eq!(app.count(&scheduled).await, 0, "{name}");
        assert_eq!(queued(&app, name).await, 0, "{name}");
    }
}

#[actix_web::test]
async fn the_digests_unsubscribe_link_turns_it_off_in_one_click() {
    let smtp = SmtpServer::start();
    let app = app_with(smtp.port, 1).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let team = app.group(&bob, "Team", &[&ada]).await;
    app.send(&bob, team, "Hello @ada").await;
    let mail = wait_for_digest(&smtp, "ada").await;
    let token = unsubscribe_token(&mail);
    assert!(mail["html"].as_str().is_some_and(|h| h.contains(&format!("unsubscribe?token={token}\""))), "{mail}");
    // An http:// public address (a laptop's) gets no List-Unsubscribe: RFC 8058 wants HTTPS.
    assert!(mail["list_unsubscribe"].is_null() && mail["list_unsubscribe_post"].is_null(), "{mail}");
    // Only its hash is stored.
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM email_digest_tokens WHERE token_hash = '{token}'::bytea")).await,
        0
    );

    // A plain GET, as a mail program opens it: a page that says so, and the preference is off.
    let res = app.get(&format!("/api/v1/digest/unsubscribe?token={token}"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().is_ok_and(|c| c.starts_with("text/html")));
    let page = res.text().await.expect("page");
    assert!(page.contains("Unsubscribed") && page.contains("no more email digests"), "{page}");
    let prefs: Value =
        app.get("/api/v1/users/me/preferences", Some(&ada.access_token)).await.json().await.expect("json");
    assert_eq!(prefs["email_digest"], false, "{prefs}");
    // Again, and over POST: the same. A link with parameters a mail service appended still works.
    assert_eq!(app.get(&format!("/api/v1/digest/unsubscribe?token={token}"), None).await.status(), StatusCode::OK);
    let tracked = format!("/api/v1/digest/unsubscribe?token={token}&utm_source=digest&utm_medium=email");
    assert_eq!(app.get(&tracked, None).await.status(), StatusCode::OK);
    let res = app.post("/api/v1/digest/unsubscribe", None, json!({ "token": token })).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // A wrong token: a page in the browser's language, and the contract's error over POST.
    let res = app.get("/api/v1/digest/unsubscribe?token=not-a-token", None).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.expect("page").contains("Link not valid"));
    let res = app
        .client
        .get(format!("{}/api/v1/digest/unsubscribe?token=not-a-token", app.address))
        .header("Accept-Language", "de-DE,de;q=0.9")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.expect("page").contains("Link ungültig"));
    let res = app.post("/api/v1/digest/unsubscribe", None, json!({ "token": "not-a-token" })).await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["error"]["details"]["fields"]["token"].is_string(), "{body}");
    // No token at all: the contract's error too.
    assert_error(
        app.get("/api/v1/digest/unsubscribe", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

/// A mail program's own "unsubscribe" button (RFC 8058): the digest names a POST-only address in
/// `List-Unsubscribe` (with `List-Unsubscribe-Post`), so that a scanner fetching it unsubscribes
/// nobody, and the form a mail program posts there, without credentials, turns digests off. A
/// form without the one-click field, one posted without the link's token, a body that is no form
/// or too large, and a broken multipart body change nothing and get the contract's errors.
#[actix_web::test]
async fn a_mail_programs_one_click_unsubscribe_turns_the_digest_off() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| {
        configure_port(s, smtp.port);
        s.notifications.digest_delay_secs = 1;
        s.notifications.digest_poll_interval_ms = 100;
        s.email.public_url = "https://chat.example.org".to_owned();
    })
    .await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let team = app.group(&bob, "Team", &[&ada]).await;
    app.send(&bob, team, "Hello @ada").await;
    let mail = wait_for_digest(&smtp, "ada").await;
    let address = one_click_address(&mail);
    assert_eq!(address, format!("/api/v1/digest/unsubscribe/one-click?token={}", unsubscribe_token(&mail)));
    // Once sent, the queue keeps no copy of the address (its token works for a year).
    eventually("the sent digest's address dropped from the queue", async || {
        check(app.count("SELECT count(*) AS n FROM mail_queue WHERE list_unsubscribe IS NOT NULL").await, |n| *n == 0)
    })
    .await;
    let form = "application/x-www-form-urlencoded";
    let one_click = "/api/v1/digest/unsubscribe/one-click";

    let res = app.get(&address, None).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "a scanner's GET does nothing");
    let res = post_form(&app, &address, form, "List-Unsubscribe=Later").await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["error"]["details"]["fields"]["List-Unsubscribe"].is_string(), "{body}");
    let res = post_form(&app, one_click, form, "List-Unsubscribe=One-Click").await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["error"]["details"]["fields"]["token"].is_string(), "{body}");
    let res = post_form(&app, &format!("{one_click}?token=nope"), form, "List-Unsubscribe=One-Click").await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["error"]["details"]["fields"]["token"].is_string(), "{body}");
    let res = post_form(&app, &address, "application/json", "{}").await;
    assert_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    let res = post_form(&app, &address, form, &format!("List-Unsubscribe=One-Click&pad={}", "x".repeat(70_000))).await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let res = post_form(&app, &address, "multipart/form-data", "List-Unsubscribe=One-Click").await;
    assert_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = post_form(&app, &address, "multipart/form-data; boundary=x", "--x\r\nno headers, no end").await;
    assert_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let prefs: Value =
        app.get("/api/v1/users/me/preferences", Some(&ada.access_token)).await.json().await.expect("json");
    assert_eq!(prefs["email_digest"], true, "nothing refused changed anything: {prefs}");

    let (multipart, body) = ONE_CLICK_MULTIPART;
    assert_eq!(post_form(&app, &address, multipart, body).await.status(), StatusCode::NO_CONTENT);
    let prefs: Value =
        app.get("/api/v1/users/me/preferences", Some(&ada.access_token)).await.json().await.expect("json");
    assert_eq!(prefs["email_digest"], false, "{prefs}");
    // A second press, as the other form, a content type in capitals with a charset: the same.
    let form = "Application/X-WWW-Form-URLEncoded; charset=UTF-8";
    assert_eq!(post_form(&app, &address, form, "List-Unsubscribe=One-Click").await.status(), StatusCode::NO_CONTENT);
}

#[actix_web::test]
async fn a_german_recipient_gets_the_digest_in_german() {
    let smtp = SmtpServer::start();
    let app = app_with(smtp.port, 1).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let res = preferences(&app, &ada, json!({ "language": "de" })).await;
    assert_eq!(res.status(), StatusCode::OK);
    let team = app.group(&bob, "Team", &[&ada]).await;
    app.send(&bob, team, "@ada Hallo!").await;

    let mail = wait_for_digest(&smtp, "ada").await;
    assert_eq!(mail["subject"], "1 ungelesene Nachricht auf plauder", "{mail}");
    let text = mail["text"].as_str().expect("text");
    assert!(text.starts_with("Hallo ada,") && text.contains("Raum öffnen") && text.contains("@ada Hallo!"), "{text}");
    assert!(mail["html"].as_str().is_some_and(|h| h.contains("lang=\"de\"")), "{mail}");
}
