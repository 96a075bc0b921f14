//! Mail and password reset against a real SMTP server (aiosmtpd, tests/smtp_server.py): the
//! reset flow end to end with the token read from the received mail, the answer for unknown
//! addresses, expired and reused links, the recipient's language, rate limits, a relay that is
//! down (mails wait, are retried, and arrive once it is up; given up after max_attempts and
//! shown to admins), the log "relay" of the embedded default, the admin's and the command
//! line's resets.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::smtp::{SmtpServer, configure_port, free_port, reset_token};
use crate::helpers::wait::{check, eventually, eventually_within};
use crate::helpers::{PASSWORD, TestApp, assert_error, spawn_app_with, user_with_role};

const NEW_PASSWORD: &str = "a completely new passphrase";

async fn ask_reset(app: &TestApp, email: &str) -> reqwest::Response {
    app.post("/api/v1/auth/password-reset", None, json!({ "email": email })).await
}

async fn confirm(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.post("/api/v1/auth/password-reset/confirm", None, json!({ "token": token, "password": password })).await
}

async fn app_with_smtp(smtp: &SmtpServer) -> TestApp {
    spawn_app_with(|s| smtp.configure(s)).await
}

#[actix_web::test]
async fn a_reset_mail_carries_a_link_that_sets_the_password_ends_sessions_and_closes_sockets() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(&smtp).await;
    let ada = app.register("ada").await;
    let mut ws = app.ws(&ada.access_token).await;

    let res = ask_reset(&app, "ADA@example.org").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let mail = smtp.wait_for_mail("ada@example.org").await;
    assert_eq!(mail["subject"], "Reset your plauder password");
    assert_eq!(mail["content_type"], "multipart/alternative");
    assert!(mail["from"].as_str().is_some_and(|f| f.contains("noreply@localhost")), "{mail}");
    assert!(mail["text"].as_str().is_some_and(|t| t.contains("Hello ada,")), "{mail}");
    // A Message-ID of the sender's domain, named after the queued mail (a retry sends the same).
    let id = mail["message_id"].as_str().and_then(|m| m.strip_prefix('<')?.strip_suffix("@localhost>"));
    let id = id.unwrap_or_else(|| panic!("a Message-ID: {mail}"));
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM mail_queue WHERE id = '{id}'")).await, 1);
    let token = reset_token(&mail);
    assert!(mail["html"].as_str().is_some_and(|h| h.contains(&format!("#reset-password={token}\""))), "{mail}");
    // Only the hash is stored.
    assert_eq!(app.count("SELECT count(*) AS n FROM password_reset_tokens").await, 1);
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM password_reset_tokens WHERE token_hash = '{token}'::bytea"))
            .await,
        0
    );

    assert_eq!(confirm(&app, &token, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(ws.closed_with().await, 4001);
    assert_eq!(app.me(&ada.access_token).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&ada.refresh_token).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("ada", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("ada", NEW_PASSWORD).await.status(), StatusCode::OK);
    // The delivered mail's bodies are gone from the queue (they held a live link).
    eventually("the queue row marked sent, its bodies emptied", async || {
        check(
            app.count(
                "SELECT count(*) AS n FROM mail_queue WHERE sent_at IS NOT NULL AND body_text = '' AND body_html = ''",
            )
            .await,
            |n| *n == 1,
        )
    })
    .await;
}

/// An account whose address was never confirmed may have been made by someone else before the
/// address's owner came: the owner's reset ends the API tokens made on it, which used to outlast
/// the reset and let their maker go on reading, and the pushes they subscribed. A confirmed
/// address's tokens and their pushes stay.
#[actix_web::test]
async fn a_reset_of_an_unconfirmed_account_revokes_its_api_tokens_and_of_a_confirmed_one_keeps_them() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(&smtp).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    app.sql(&format!("UPDATE users SET email_verified_at = now() WHERE id = '{}'", bob.id)).await;
    let (adas, _) = crate::api_tokens::token(&app, &ada, &["read"]).await;
    let (bobs, _) = crate::api_tokens::token(&app, &bob, &["read"]).await;
    // A device each, subscribed as through an API token (no login session behind it).
    for user in [&ada, &bob] {
        app.sql(&format!(
            "INSERT INTO push_subscriptions (id, user_id, session_id, endpoint, p256dh, auth) \
             VALUES (gen_random_uuid(), '{}', NULL, 'https://push.example/{}', \
             decode(repeat('04', 65), 'hex'), decode(repeat('00', 16), 'hex'))",
            user.id, user.id
        ))
        .await;
    }
    for (who, email) in [("ada", "ada@example.org"), ("bob", "bob@example.org")] {
        assert_eq!(ask_reset(&app, email).await.status(), StatusCode::ACCEPTED, "{who}");
        let token = reset_token(&smtp.wait_for_mail(email).await);
        assert_eq!(confirm(&app, &token, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT, "{who}");
    }
    assert_error(app.me(&adas).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.me(&bobs).await.status(), StatusCode::OK);
    let devices = |user: &crate::helpers::TestUser| {
        format!("SELECT count(*) AS n FROM push_subscriptions WHERE user_id = '{}'", user.id)
    };
    assert_eq!(app.count(&devices(&ada)).await, 0, "the unconfirmed account's pushes end");
    assert_eq!(app.count(&devices(&bob)).await, 1, "the confirmed account's stay");
}

#[actix_web::test]
async fn a_reset_link_works_once_only_before_it_expires_and_a_newer_one_replaces_it() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(&smtp).await;
    app.register("ada").await;

    ask_reset(&app, "ada@example.org").await;
    let first = reset_token(&smtp.wait_for_mail("ada@example.org").await);
    ask_reset(&app, "ada@example.org").await;
    let second = reset_token(&smtp.wait_for_mail_after("ada@example.org", 1).await);
    assert_ne!(first, second);
    // The newer link replaced the older one.
    let body =
        assert_error(confirm(&app, &first, NEW_PASSWORD).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;
    assert!(body["error"]["details"]["fields"]["token"].is_string(), "{body}");

    // A weak password is refused without spending the link.
    assert_error(confirm(&app, &second, "short").await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(confirm(&app, &second, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
    // Used: refused the second time.
    assert_error(
        confirm(&app, &second, "yet another passphrase").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(app.login("ada", NEW_PASSWORD).await.status(), StatusCode::OK);

    // Expired: refused, and the password stays.
    ask_reset(&app, "ada@example.org").await;
    let third = reset_token(&smtp.wait_for_mail_after("ada@example.org", 2).await);
    app.sql("UPDATE password_reset_tokens SET expires_at = now() - interval '1 second' WHERE used_at IS NULL").await;
    assert_error(
        confirm(&app, &third, "yet another passphrase").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(app.login("ada", NEW_PASSWORD).await.status(), StatusCode::OK);
    // An unknown token, and malformed bodies.
    assert_error(
        confirm(&app, "not-a-token", NEW_PASSWORD).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let res = app.post("/api/v1/auth/password-reset/confirm", None, json!({ "token": third })).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app.raw(reqwest::Method::POST, "/api/v1/auth/password-reset/confirm", None, "{\"token\":").await;
    assert_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
}

#[actix_web::test]
async fn a_reset_for_an_unknown_address_answers_exactly_as_for_a_known_one_and_sends_nothing() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(&smtp).await;
    app.register("ada").await;
    let mut known_times = Vec::new();
    let mut unknown_times = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..7 {
        for (email, times) in [("ada@example.org", &mut known_times), ("nobody@example.org", &mut unknown_times)] {
            let started = Instant::now();
            let res = ask_reset(&app, email).await;
            times.push(started.elapsed());
            assert_eq!(res.status(), StatusCode::ACCEPTED, "{email}");
            bodies.push(res.text().await.expect("body"));
        }
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "bodies differ: {bodies:?}");
    known_times.sort();
    unknown_times.sort();
    let (known, unknown) = (known_times[3], unknown_times[3]);
    let gap = known.abs_diff(unknown);
    assert!(gap < Duration::from_millis(100), "median answer times differ: known {known:?}, unknown {unknown:?}");
    // Seven mails to the known address, none anywhere else.
    smtp.wait_for_mail_after("ada@example.org", 6).await;
    assert!(smtp.mails().iter().all(|m| m["rcpt_tos"] == json!(["ada@example.org"])));
    assert_eq!(app.count("SELECT count(*) AS n FROM mail_queue WHERE recipient <> 'ada@example.org'").await, 0);
    // Malformed addresses are refused (that says nothing about accounts).
    assert_error(ask_reset(&app, "not an address").await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app.post("/api/v1/auth/password-reset", None, json!({ "mail": "ada@example.org" })).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[actix_web::test]
async fn the_mail_comes_in_the_language_of_the_recipient() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(&smtp).await;
    let res = app
        .client
        .post(format!("{}/api/v1/auth/register", app.address))
        .header("Accept-Language", "de-DE,de;q=0.9,en;q=0.5")
        .json(&json!({ "username": "grete", "email": "grete@example.org", "password": PASSWORD }))
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), StatusCode::CREATED);
    let grete: Value = res.json().await.expect("json");
    let token = grete["access_token"].as_str().expect("token").to_owned();
    let prefs: Value = app.get("/api/v1/users/me/preferences", Some(&token)).await.json().await.expect("json");
    assert_eq!(prefs["language"], "de");

    ask_reset(&app, "grete@example.org").await;
    let mail = smtp.wait_for_mail("grete@example.org").await;
    assert_eq!(mail["subject"], "Neues Passwort für plauder");
    assert!(mail["text"].as_str().is_some_and(|t| t.contains("Hallo grete,")), "{mail}");
    assert!(mail["html"].as_str().is_some_and(|h| h.contains("lang=\"de\"")), "{mail}");

    // Switched to English, the next one is English.
    let res = app.patch("/api/v1/users/me/preferences", Some(&token), json!({ "language": "en" })).await;
    assert_eq!(res.status(), StatusCode::OK);
    ask_reset(&app, "grete@example.org").await;
    let mail = smtp.wait_for_mail_after("grete@example.org", 1).await;
    assert_eq!(mail["subject"], "Reset your plauder password");
    let res = app.patch("/api/v1/users/me/preferences", Some(&token), json!({ "language": "fr" })).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[actix_web::test]
async fn reset_requests_are_limited_per_address_silently_and_per_client_address_with_429() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| {
        smtp.configure(s);
        s.password_reset.address_burst = 1;
        s.password_reset.ip_burst = 4;
    })
    .await;
    app.register("ada").await;
    app.register("bob").await;
    assert_eq!(ask_reset(&app, "ada@example.org").await.status(), StatusCode::ACCEPTED);
    smtp.wait_for_mail("ada@example.org").await;
    // Over the address's budget: the same answer, no mail.
    assert_eq!(ask_reset(&app, "Ada@Example.org").await.status(), StatusCode::ACCEPTED);
    assert_eq!(ask_reset(&app, "bob@example.org").await.status(), StatusCode::ACCEPTED);
    smtp.wait_for_mail("bob@example.org").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM mail_queue WHERE recipient = 'ada@example.org'").await, 1);
    // The fourth request from this address passes, the fifth does not.
    assert_eq!(ask_reset(&app, "nobody@example.org").await.status(), StatusCode::ACCEPTED);
    let body =
        assert_error(ask_reset(&app, "nobody@example.org").await, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(body["error"]["details"]["retry_after_ms"].as_u64().is_some(), "{body}");
}

async fn admin_mail(app: &TestApp, token: &str, status: &str) -> Value {
    let res = app.get(&format!("/api/v1/admin/mail?status={status}"), Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.expect("json")
}

#[actix_web::test]
async fn mails_wait_while_the_relay_is_down_are_retried_and_arrive_once_it_is_up() {
    let port = free_port();
    let app = spawn_app_with(|s| {
        configure_port(s, port);
        s.email.max_attempts = 100;
        s.email.timeout_secs = 2;
    })
    .await;
    let admin = user_with_role(&app, "root", "admin").await;
    app.register("ada").await;

    // The request does not wait for the relay.
    let started = Instant::now();
    assert_eq!(ask_reset(&app, "ada@example.org").await.status(), StatusCode::ACCEPTED);
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    let listed = eventually("the mail tried twice and waiting", async || {
        let page = admin_mail(&app, &admin.access_token, "queued").await;
        check(page, |p| p["mails"][0]["attempts"].as_i64().is_some_and(|a| a >= 2))
    })
    .await;
    let mail = &listed["mails"][0];
    assert_eq!(mail["recipient"], "ada@example.org");
    assert_eq!(mail["kind"], "password_reset");
    assert_eq!(mail["status"], "queued");
    assert!(mail["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{mail}");
    assert!(mail["next_attempt_at"].is_string() && mail.get("body_text").is_none(), "{mail}");

    // The relay comes up on that port: the mail arrives, once.
    let smtp = SmtpServer::start_on(port);
    let received = smtp.wait_for_mail_within("ada@example.org", Duration::from_secs(20)).await;
    let token = reset_token(&received);
    eventually("the mail marked sent", async || {
        check(admin_mail(&app, &admin.access_token, "sent").await, |p| p["total"] == 1)
    })
    .await;
    assert_eq!(smtp.mails().len(), 1);
    assert_eq!(confirm(&app, &token, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
}

#[actix_web::test]
async fn a_mail_is_given_up_after_max_attempts_and_listed_as_failed_for_admins_only() {
    let port = free_port();
    let app = spawn_app_with(|s| {
        configure_port(s, port);
        s.email.max_attempts = 2;
    })
    .await;
    let admin = user_with_role(&app, "root", "admin").await;
    let ada = app.register("ada").await;
    ask_reset(&app, "ada@example.org").await;
    let failed = eventually_within(Duration::from_secs(20), "the mail given up", async || {
        check(admin_mail(&app, &admin.access_token, "failed").await, |p| p["total"] == 1)
    })
    .await;
    let mail = &failed["mails"][0];
    assert_eq!((mail["status"].as_str(), mail["attempts"].as_i64()), (Some("failed"), Some(2)), "{mail}");
    assert!(mail["failed_at"].is_string() && mail["last_error"].is_string(), "{mail}");
    assert_eq!(admin_mail(&app, &admin.access_token, "queued").await["total"], 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM mail_queue WHERE body_text <> ''").await, 0);

    assert_error(app.get("/api/v1/admin/mail", Some(&ada.access_token)).await, StatusCode::FORBIDDEN, "forbidden")
        .await;
    let res = app.get("/api/v1/admin/mail?status=lost", Some(&admin.access_token)).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[actix_web::test]
async fn without_a_relay_mails_go_to_the_log_and_count_as_sent() {
    let app = spawn_app_with(|s| s.email.host = String::new()).await;
    let admin = user_with_role(&app, "root", "admin").await;
    app.register("ada").await;
    assert_eq!(ask_reset(&app, "ada@example.org").await.status(), StatusCode::ACCEPTED);
    let page = eventually("the mail logged", async || {
        check(admin_mail(&app, &admin.access_token, "sent").await, |p| p["total"] == 1)
    })
    .await;
    assert_eq!(page["mails"][0]["attempts"], 1);
}

#[actix_web::test]
async fn an_admin_can_mail_a_user_a_reset_link_audited() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(&smtp).await;
    let admin = user_with_role(&app, "root", "admin").await;
    let ada = app.register("ada").await;

    let path = format!("/api/v1/admin/users/{}/password-reset", ada.id);
    assert_error(app.post(&path, Some(&ada.access_token), json!({})).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.post(&path, Some(&admin.access_token), json!({})).await.status(), StatusCode::ACCEPTED);
    let mail = smtp.wait_for_mail("ada@example.org").await;
    assert!(mail["text"].as_str().is_some_and(|t| t.contains("An administrator started")), "{mail}");
    // The old password works until the link is used.
    assert_eq!(app.login("ada", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(confirm(&app, &reset_token(&mail), NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.login("ada", NEW_PASSWORD).await.status(), StatusCode::OK);

    let log: Value = app.get("/api/v1/admin/audit-log", Some(&admin.access_token)).await.json().await.expect("json");
    let entry = log["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["action"] == "user.password_reset"))
        .unwrap_or_else(|| panic!("no user.password_reset entry in {log}"));
    assert_eq!(entry["actor_id"], json!(admin.id));
    assert_eq!(entry["target_id"], json!(ada.id.to_string()));
    assert_eq!(entry["details"]["method"], "mail");

    let unknown = format!("/api/v1/admin/users/{}/password-reset", uuid::Uuid::new_v4());
    assert_error(app.post(&unknown, Some(&admin.access_token), json!({})).await, StatusCode::NOT_FOUND, "not_found")
        .await;
}

#[actix_web::test]
async fn the_command_line_prints_a_reset_link_or_queues_the_mail() {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(&smtp).await;
    app.register("ada").await;
    let out = crate::cli::plauder()
        .args(["user", "reset-password", "ada", "--print-link"])
        .env("DATABASE_URL", &app.db_url)
        .output()
        .expect("run plauder");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let link = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let token = link.split_once("#reset-password=").map(|(_, t)| t.to_owned()).expect("a reset link");
    assert_eq!(confirm(&app, &token, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.login("ada", NEW_PASSWORD).await.status(), StatusCode::OK);

    // --mail queues it; the running server's worker sends it.
    let out = crate::cli::plauder()
        .args(["user", "reset-password", "ada", "--mail"])
        .env("DATABASE_URL", &app.db_url)
        .output()
        .expect("run plauder");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("queued to ada@example.org"));
    let mail = smtp.wait_for_mail("ada@example.org").await;
    assert_eq!(confirm(&app, &reset_token(&mail), "the third passphrase").await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_log WHERE action = 'user.password_reset'").await, 2);
}
