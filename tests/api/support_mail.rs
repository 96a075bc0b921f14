//! Mail around support chats against the suite's real SMTP server (aiosmtpd): staff answers
//! mailed to a visitor who is away (one mail for a burst, none while connected or after reading,
//! none after unsubscribing), the mail's link resuming the conversation through REST and a real
//! WebSocket, refused links (wrong, expired, revoked by closing, rate limit), a relay that is
//! down at first, and the staff's mail for a new chat only when no staff member is connected.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::smtp::{SmtpServer, configure_port, free_port, one_click_address, post_form};
use crate::helpers::wait::{check, eventually};
use crate::helpers::{TestApp, assert_error, open_session, spawn_app_with, user_with_role, uuid_of};

const VERA: &str = "vera@visitor.example";

/// The token after `marker` in a mail's plain-text part.
fn link_token(mail: &Value, marker: &str) -> String {
    let text = mail["text"].as_str().expect("a plain-text part");
    let start = text.find(marker).unwrap_or_else(|| panic!("{marker} in {text}")) + marker.len();
    text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

fn resume_token(mail: &Value) -> String {
    link_token(mail, "/support#plauder-resume=")
}

fn unsubscribe_token(mail: &Value) -> String {
    link_token(mail, "/api/v1/support/unsubscribe?token=")
}

/// Reply mails after one second; the staff's "new chat" mail off unless a test wants it.
async fn app_with(smtp_port: u16, staff_mail: bool) -> TestApp {
    spawn_app_with(|s| {
        configure_port(s, smtp_port);
        s.support.reply_mail_delay_secs = 1;
        s.support.staff_new_chat_mail = staff_mail;
    })
    .await
}

async fn resume(app: &TestApp, token: &str) -> reqwest::Response {
    app.post("/api/v1/support/resume", None, json!({ "token": token })).await
}

/// How many mails of `kind` the queue holds.
async fn queued(app: &TestApp, kind: &str) -> i64 {
    app.count(&format!("SELECT count(*) AS n FROM mail_queue WHERE kind = '{kind}'")).await
}

/// Waits until the session's pending reply mail was decided (sent or dropped).
async fn reply_decided(app: &TestApp, session: Uuid) {
    eventually("the pending reply mail decided", async || {
        check(
            app.count(&format!(
                "SELECT count(*) AS n FROM support_sessions WHERE id = '{session}' AND reply_mail_due_at IS NOT NULL"
            ))
            .await,
            |n| *n == 0,
        )
    })
    .await;
}

#[actix_web::test]
async fn a_burst_of_answers_to_an_absent_visitor_makes_one_mail_whose_link_resumes_the_conversation() {
    let smtp = SmtpServer::start();
    let app = app_with(smtp.port, false).await;
    let sam = user_with_role(&app, "sam", "admin").await;
    let v = open_session(&app, "vera").await;
    app.send(&v.guest, v.room, "My order has not arrived.").await;
    for body in ["Sorry to hear that!", "Let me check the <tracking>.", "It ships tomorrow."] {
        app.send(&sam, v.room, body).await;
    }

    let mail = smtp.wait_for_mail(VERA).await;
    assert_eq!(mail["subject"], "3 new answers from our support team", "{mail}");
    let text = mail["text"].as_str().expect("text");
    assert!(text.starts_with("Hello vera,"), "{text}");
    assert!(
        text.contains("Sorry to hear that!")
            && text.contains("Let me check the <tracking>.")
            && text.contains("It ships tomorrow."),
        "{text}"
    );
    assert!(!text.contains("My order has not arrived."), "the visitor's own message is not mailed back: {text}");
    let html = mail["html"].as_str().expect("html");
    assert!(html.contains("Let me check the &lt;tracking&gt;."), "{html}");
    let token = resume_token(&mail);
    assert!(html.contains(&format!("/support#plauder-resume={token}\"")), "{html}");
    // Only hashes are stored.
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM support_mail_tokens WHERE token_hash = '{token}'::bytea")).await,
        0
    );
    reply_decided(&app, v.session_id).await;
    assert_eq!(queued(&app, "support_reply").await, 1, "one mail for the burst");

    // The link: a new login of the visitor, answered as opening the session is.
    let res = resume(&app, &token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("json");
    assert_eq!(uuid_of(&body["session_id"]), v.session_id);
    assert_eq!(uuid_of(&body["room"]["id"]), v.room);
    assert_eq!(uuid_of(&body["user"]["id"]), v.guest.id);
    assert_eq!(body["user"]["role"], "guest");
    assert!(body["refresh_token"].is_string() && body["expires_in"].is_u64(), "{body}");
    let access = body["access_token"].as_str().expect("access token");
    // It works like the widget's own: history over REST, writing over a real WebSocket, and staff
    // hear it.
    let history: Value =
        app.get(&format!("/api/v1/rooms/{}/messages", v.room), Some(access)).await.json().await.expect("json");
    let bodies: Vec<&str> =
        history["messages"].as_array().expect("messages").iter().filter_map(|m| m["body"].as_str()).collect();
    assert!(bodies.contains(&"It ships tomorrow."), "{bodies:?}");
    let mut sam_ws = app.ws(&sam.access_token).await;
    let mut ws = app.ws(access).await;
    assert_eq!(uuid_of(&ws.hello["data"]["user"]["id"]), v.guest.id);
    let reply = ws.command("message.send", json!({ "room_id": v.room, "body": "Thanks, back again!" })).await;
    assert_eq!(reply["ok"], true, "{reply}");
    let heard = sam_ws.event_where("message.new", |e| e["message"]["body"] == "Thanks, back again!").await;
    assert_eq!(uuid_of(&heard["message"]["sender_id"]), v.guest.id);
    // The link keeps working until it expires or the session closes.
    assert_eq!(resume(&app, &token).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn no_mail_goes_while_the_visitor_is_connected_or_once_they_have_read_the_answers() {
    let smtp = SmtpServer::start();
    let app = app_with(smtp.port, false).await;
    let sam = user_with_role(&app, "sam", "moderator").await;
    let v = open_session(&app, "vera").await;
    app.send(&v.guest, v.room, "Hello?").await;

    // Connected: they see the answer live.
    let ws = app.ws(&v.guest.access_token).await;
    app.send(&sam, v.room, "Hi, I am here.").await;
    reply_decided(&app, v.session_id).await;
    assert_eq!(queued(&app, "support_reply").await, 0);
    ws.close().await;

    // Away but read (the widget was open in another tab, say): nothing to mail.
    let answer = app.send(&sam, v.room, "Anything else?").await;
    let res = app
        .post(&format!("/api/v1/rooms/{}/read", v.room), Some(&v.guest.access_token), json!({ "seq": answer["seq"] }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    reply_decided(&app, v.session_id).await;
    assert_eq!(queued(&app, "support_reply").await, 0);

    // Away and unread: a mail with only what is new (the answer seen live is not in it either).
    app.send(&sam, v.room, "Closing the loop here.").await;
    let mail = smtp.wait_for_mail(VERA).await;
    assert_eq!(mail["subject"], "A new answer from our support team");
    let text = mail["text"].as_str().expect("text");
    assert!(text.contains("Closing the loop here."), "{text}");
    assert!(!text.contains("Hi, I am here.") && !text.contains("Anything else?"), "{text}");

    // The assistant's or another visitor's message is no staff answer: a visitor message alone
    // schedules nothing.
    app.send(&v.guest, v.room, "Thanks").await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM support_sessions WHERE id = '{}' AND reply_mail_due_at IS NOT NULL",
            v.session_id
        ))
        .await,
        0
    );
}

#[actix_web::test]
async fn the_mails_unsubscribe_link_stops_further_mails_in_one_click() {
    let smtp = SmtpServer::start();
    let app = app_with(smtp.port, false).await;
    let sam = user_with_role(&app, "sam", "admin").await;
    let v = open_session(&app, "vera").await;
    app.send(&sam, v.room, "First answer").await;
    let mail = smtp.wait_for_mail(VERA).await;
    let token = unsubscribe_token(&mail);
    assert!(mail["html"].as_str().is_some_and(|h| h.contains(&format!("unsubscribe?token={token}\""))), "{mail}");

    // A plain GET, as a mail program opens it: a page that says so.
    let res = app.get(&format!("/api/v1/support/unsubscribe?token={token}"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().is_ok_and(|c| c.starts_with("text/html")));
    let page = res.text().await.expect("page");
    assert!(page.contains("Unsubscribed") && page.contains("no more mails"), "{page}");
    // Again: the same (the link stays valid, the state does not change), also with parameters a
    // mail service appended.
    assert_eq!(app.get(&format!("/api/v1/support/unsubscribe?token={token}"), None).await.status(), StatusCode::OK);
    let tracked = format!("/api/v1/support/unsubscribe?token={token}&utm_source=mail");
    assert_eq!(app.get(&tracked, None).await.status(), StatusCode::OK);

    app.send(&sam, v.room, "Second answer").await;
    // Nothing is even scheduled for an unsubscribed session.
    reply_decided(&app, v.session_id).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(queued(&app, "support_reply").await, 1);

    // A wrong token: a page in the browser's language, and the contract's error over POST.
    let res = app
        .client
        .get(format!("{}/api/v1/support/unsubscribe?token=nope", app.address))
        .header("accept-language", "de")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.expect("page").contains("Link ungültig"));
    let res = app.post("/api/v1/support/unsubscribe", None, json!({ "token": "nope" })).await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["error"]["details"]["fields"]["token"].is_string(), "{body}");
    assert_eq!(
        app.post("/api/v1/support/unsubscribe", None, json!({ "token": token })).await.status(),
        StatusCode::NO_CONTENT
    );
    let res = app.get("/api/v1/support/unsubscribe", None).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

/// A mail program's own "unsubscribe" button (RFC 8058) on a reply mail: the mail names its
/// one-click address, and the form posted there (no credentials, the token in the address) stops
/// the session's reply mails, as the link does. (digest.rs tries the refused forms.)
#[actix_web::test]
async fn a_mail_programs_one_click_unsubscribe_stops_further_mails() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| {
        configure_port(s, smtp.port);
        s.support.reply_mail_delay_secs = 1;
        s.email.public_url = "https://chat.example.org".to_owned();
    })
    .await;
    let sam = user_with_role(&app, "sam", "admin").await;
    let v = open_session(&app, "vera").await;
    app.send(&v.guest, v.room, "Do you ship to Austria?").await;
    // The staff's notice of a new chat is no mail to unsubscribe from.
    let to_sam = smtp.wait_for_mail("sam@example.org").await;
    assert!(to_sam["list_unsubscribe"].is_null() && to_sam["list_unsubscribe_post"].is_null(), "{to_sam}");
    app.send(&sam, v.room, "First answer").await;
    let mail = smtp.wait_for_mail(VERA).await;
    let address = one_click_address(&mail);
    assert_eq!(address, format!("/api/v1/support/unsubscribe/one-click?token={}", unsubscribe_token(&mail)));

    let res = post_form(&app, &address, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.send(&sam, v.room, "Second answer").await;
    reply_decided(&app, v.session_id).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(queued(&app, "support_reply").await, 1, "no second mail");
}

/// A resume link used while staff close the chat gives no session: the close revokes the link,
/// and a resume checked before that commit used to issue a guest login after it. Here the close,
/// as it writes the session and its links, is held open until the resume waits for the link.
#[actix_web::test]
async fn a_link_used_while_staff_close_the_chat_gives_no_session() {
    let smtp = SmtpServer::start();
    let app = app_with(smtp.port, false).await;
    let sam = user_with_role(&app, "sam", "admin").await;
    let v = open_session(&app, "vera").await;
    app.send(&sam, v.room, "An answer").await;
    let token = resume_token(&smtp.wait_for_mail(VERA).await);
    let sessions = format!("SELECT count(*) AS n FROM refresh_tokens WHERE user_id = '{}'", v.guest.id);
    let before = app.count(&sessions).await;
    let close = app
        .hold(&format!(
            "UPDATE support_sessions SET status = 'closed', closed_at = now() WHERE id = '{0}'; \
             UPDATE support_mail_tokens SET revoked_at = now() WHERE session_id = '{0}' AND purpose = 'resume'",
            v.session_id
        ))
        .await;
    let resumed = app.while_held(close, 1, "COMMIT", resume(&app, &token)).await;
    assert_error(resumed, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(app.count(&sessions).await, before, "no guest session was issued");
}

#[actix_web::test]
async fn wrong_expired_and_revoked_links_are_refused_and_resuming_is_rate_limited() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| {
        smtp.configure(s);
        s.support.reply_mail_delay_secs = 1;
        s.support.staff_new_chat_mail = false;
        s.support.resume_burst = 7;
        s.support.resume_replenish_interval_ms = 600_000;
    })
    .await;
    let sam = user_with_role(&app, "sam", "admin").await;
    let v = open_session(&app, "vera").await;
    app.send(&sam, v.room, "An answer").await;
    let token = resume_token(&smtp.wait_for_mail(VERA).await);

    // 1: wrong.
    let body =
        assert_error(resume(&app, "not-a-token").await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["error"]["details"]["fields"]["token"].is_string(), "{body}");
    // Malformed: refused before the budget is asked.
    let res = app.raw(reqwest::Method::POST, "/api/v1/support/resume", None, "{\"token\":").await;
    assert_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    // 2: an unsubscribe token is no resume token.
    let unsub = unsubscribe_token(&smtp.mails()[0]);
    assert_error(resume(&app, &unsub).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    // 3: expired.
    app.sql("UPDATE support_mail_tokens SET expires_at = now() - interval '1 second' WHERE purpose = 'resume'").await;
    assert_error(resume(&app, &token).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    app.sql("UPDATE support_mail_tokens SET expires_at = now() + interval '1 day' WHERE purpose = 'resume'").await;
    // 4: valid again.
    assert_eq!(resume(&app, &token).await.status(), StatusCode::OK);
    // 5: a banned guest gets no session from it.
    let banned = |on: bool| {
        format!("UPDATE users SET banned_at = {} WHERE id = '{}'", if on { "now()" } else { "NULL" }, v.guest.id)
    };
    app.sql(&banned(true)).await;
    assert_error(resume(&app, &token).await, StatusCode::FORBIDDEN, "forbidden").await;
    app.sql(&banned(false)).await;
    // 6: a visitor blocked since (the chat left open) gets no session from it either.
    let block = app
        .post(
            &format!("/api/v1/admin/support/sessions/{}/block", v.session_id),
            Some(&sam.access_token),
            json!({"address": true, "hours": 1, "close": false}),
        )
        .await;
    assert_eq!(block.status(), StatusCode::CREATED);
    assert_error(resume(&app, &token).await, StatusCode::FORBIDDEN, "forbidden").await;
    let id = block.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let lifted = app.delete(&format!("/api/v1/admin/support/blocks/{id}"), Some(&sam.access_token)).await;
    assert_eq!(lifted.status(), StatusCode::NO_CONTENT);
    // 7: closing the session revokes it.
    let res = app
        .post(&format!("/api/v1/admin/support/sessions/{}/close", v.session_id), Some(&sam.access_token), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(resume(&app, &token).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    // 8: past the budget of this address (malformed bodies never reached it).
    assert_error(resume(&app, &token).await, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[actix_web::test]
async fn a_reply_mail_waits_while_the_relay_is_down_and_arrives_once_it_is_up() {
    let port = free_port();
    let app = app_with(port, false).await;
    let sam = user_with_role(&app, "sam", "admin").await;
    let v = open_session(&app, "vera").await;
    app.send(&sam, v.room, "Are you still there?").await;
    eventually("a failed try of the reply mail", async || {
        check(
            app.count("SELECT count(*) AS n FROM mail_queue WHERE kind = 'support_reply' AND attempts > 0 AND sent_at IS NULL").await,
            |n| *n == 1,
        )
    })
    .await;
    let smtp = SmtpServer::start_on(port);
    let mail = smtp.wait_for_mail(VERA).await;
    assert!(mail["text"].as_str().is_some_and(|t| t.contains("Are you still there?")), "{mail}");
}

#[actix_web::test]
async fn staff_get_a_mail_for_a_new_chat_only_when_none_of_them_is_connected() {
    let smtp = SmtpServer::start();
    let app = app_with(smtp.port, true).await;
    user_with_role(&app, "sam", "admin").await;
    let mo = user_with_role(&app, "moe", "moderator").await;
    app.register("ulla").await;
    // An admin whose account is being deleted gets no mail.
    let dora = user_with_role(&app, "dora", "admin").await;
    app.sql(&format!("UPDATE users SET deleting_since = now() WHERE id = '{}'", dora.id)).await;
    let res = app.patch("/api/v1/users/me/preferences", Some(&mo.access_token), json!({ "language": "de" })).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Nobody of the staff is connected: the mail goes with the visitor's first message.
    let v = open_session(&app, "vera").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(queued(&app, "support_new_chat").await, 0, "not before the visitor wrote");
    app.send(&v.guest, v.room, "Do you ship to Austria?").await;
    let to_sam = smtp.wait_for_mail("sam@example.org").await;
    assert_eq!(to_sam["subject"], "New support chat from vera");
    let text = to_sam["text"].as_str().expect("text");
    assert!(text.starts_with("Hello sam,") && text.contains("> Do you ship to Austria?"), "{text}");
    assert!(text.contains(&format!("/admin#support={}", v.room)), "{text}");
    let to_mo = smtp.wait_for_mail("moe@example.org").await;
    assert_eq!(to_mo["subject"], "Neuer Support-Chat von vera");
    assert!(
        smtp.mails().iter().all(|m| !m["to"].to_string().contains("ulla") && !m["to"].to_string().contains("dora")),
        "no mail for non-staff, nor for staff being deleted"
    );
    // A second message sends nothing more.
    app.send(&v.guest, v.room, "Or to Switzerland?").await;

    // One staff member connected (invisible, even): no mail for the next chat.
    let mut ws = app.ws(&mo.access_token).await;
    assert_eq!(ws.command("presence.set", json!({ "status": "invisible" })).await["ok"], true);
    let w = open_session(&app, "walt").await;
    app.send(&w.guest, w.room, "Hello").await;
    eventually("the new chat's staff mail decided", async || {
        check(
            app.count(&format!(
                "SELECT count(*) AS n FROM support_sessions WHERE id = '{}' AND staff_mail_pending",
                w.session_id
            ))
            .await,
            |n| *n == 0,
        )
    })
    .await;
    assert_eq!(queued(&app, "support_new_chat").await, 2, "only the first chat's two mails");
}

/// Under `mfa.require_for_staff`, staff without two-factor act as plain users and cannot open the
/// inbox: their open app does not count as staff online, and they get no new-chat mail; staff
/// with two-factor do.
#[actix_web::test]
async fn with_the_two_factor_requirement_only_staff_who_have_it_count_and_are_mailed() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| {
        configure_port(s, smtp.port);
        s.support.staff_new_chat_mail = true;
        s.mfa.require_for_staff = true;
    })
    .await;
    let sam = user_with_role(&app, "sam", "admin").await;
    let moe = user_with_role(&app, "moe", "moderator").await;
    crate::mfa::enrol(&app, &moe).await;
    // Sam, without two-factor, has the app open; moe, who could answer, does not.
    let _sams_app = app.ws(&sam.access_token).await;

    let v = open_session(&app, "vera").await;
    app.send(&v.guest, v.room, "Anyone there?").await;
    let to_moe = smtp.wait_for_mail("moe@example.org").await;
    assert_eq!(to_moe["subject"], "New support chat from vera");
    assert_eq!(queued(&app, "support_new_chat").await, 1, "none for sam");
}
