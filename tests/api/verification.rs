//! Email verification against the suite's real SMTP server: with the setting off nothing is
//! restricted and a user may still confirm their address; with it on, registration answers
//! without tokens, the mail's link confirms (once, before it expires, for the address it was sent
//! to), login is refused with `email_not_verified` until then, and the resend route answers 202
//! for every address while mailing only where it should.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::smtp::SmtpServer;
use crate::helpers::{PASSWORD, TestApp, assert_error, spawn_app_with};

fn verify_token(mail: &Value) -> String {
    let text = mail["text"].as_str().expect("a plain-text part");
    let marker = "/#verify-email=";
    let start = text.find(marker).unwrap_or_else(|| panic!("a verification link in {text}")) + marker.len();
    text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.post("/api/v1/auth/verify-email", None, json!({ "token": token })).await
}

async fn resend(app: &TestApp, email: &str) -> reqwest::Response {
    app.post("/api/v1/auth/verify-email/resend", None, json!({ "email": email })).await
}

async fn me(app: &TestApp, token: &str) -> Value {
    app.me(token).await.json().await.expect("json")
}

#[actix_web::test]
async fn with_verification_off_nothing_is_restricted_and_the_address_can_still_be_confirmed() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| smtp.configure(s)).await;
    let ada = app.register("ada").await;
    assert_eq!(me(&app, &ada.access_token).await["email_verified"], false);
    assert_eq!(app.login("ada", PASSWORD).await.status(), StatusCode::OK);

    assert_eq!(resend(&app, "ADA@example.org").await.status(), StatusCode::ACCEPTED);
    let mail = smtp.wait_for_mail("ada@example.org").await;
    assert_eq!(mail["subject"], "Confirm your email address for plauder");
    let token = verify_token(&mail);
    assert!(mail["html"].as_str().is_some_and(|h| h.contains(&format!("/#verify-email={token}\""))), "{mail}");
    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&app, &ada.access_token).await["email_verified"], true);
    // Used: refused the second time.
    let body = assert_error(verify(&app, &token).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["error"]["details"]["fields"]["token"].is_string(), "{body}");
    // Confirmed: a resend mails nothing more.
    assert_eq!(resend(&app, "ada@example.org").await.status(), StatusCode::ACCEPTED);

    // A new address is unconfirmed again, whatever changed it.
    app.sql("UPDATE users SET email = 'ada@new.example' WHERE username = 'ada'").await;
    assert_eq!(me(&app, &ada.access_token).await["email_verified"], false);
    // Another user's profile never shows it.
    let bob = app.register("bob").await;
    let seen: Value =
        app.get(&format!("/api/v1/users/{}", ada.id), Some(&bob.access_token)).await.json().await.expect("json");
    assert!(seen.get("email_verified").is_none() && seen.get("email").is_none(), "{seen}");
    assert_eq!(smtp.mails().len(), 1, "only the one asked for: {:?}", smtp.mails());
}

#[actix_web::test]
async fn with_verification_required_login_waits_for_the_mailed_link() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| {
        smtp.configure(s);
        s.accounts.require_email_verification = true;
    })
    .await;
    let res = app
        .client
        .post(format!("{}/api/v1/auth/register", app.address))
        .header("accept-language", "de")
        .json(&json!({ "username": "ada", "email": "ada@example.org", "password": PASSWORD }))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["email_verification_required"], true);
    assert_eq!(body["user"]["email_verified"], false);
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none(), "{body}");

    let first = smtp.wait_for_mail("ada@example.org").await;
    assert_eq!(first["subject"], "Bestätige deine E-Mail-Adresse für plauder", "in the registration's language");
    let first = verify_token(&first);

    // Login is refused, with a reason the client can act on, whether by name or address.
    for login in ["ada", "ada@example.org"] {
        let body = assert_error(app.login(login, PASSWORD).await, StatusCode::FORBIDDEN, "forbidden").await;
        assert_eq!(body["error"]["details"]["reason"], "email_not_verified", "{body}");
    }
    // A wrong password still says only that.
    assert_error(app.login("ada", "not the password").await, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Expired: refused.
    app.sql("UPDATE email_verification_tokens SET expires_at = now() - interval '1 second'").await;
    assert_error(verify(&app, &first).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    // A new link replaces the old one.
    assert_eq!(resend(&app, "ada@example.org").await.status(), StatusCode::ACCEPTED);
    let second = verify_token(&smtp.wait_for_mail_after("ada@example.org", 1).await);
    assert_ne!(first, second);
    assert_eq!(verify(&app, &second).await.status(), StatusCode::NO_CONTENT);
    let res = app.login("ada", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let session: Value = res.json().await.expect("json");
    assert_eq!(session["user"]["email_verified"], true);
    // Reused: refused.
    assert_error(verify(&app, &second).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    // Bad input.
    assert_error(verify(&app, "").await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app.raw(reqwest::Method::POST, "/api/v1/auth/verify-email", None, "{\"token\":").await;
    assert_error(res, StatusCode::BAD_REQUEST, "bad_request").await;

    // A link for an address the account no longer has confirms nothing.
    app.register_raw("bob", "bob@example.org", PASSWORD).await;
    let bob_token = verify_token(&smtp.wait_for_mail("bob@example.org").await);
    app.sql("UPDATE users SET email = 'bob@elsewhere.example' WHERE username = 'bob'").await;
    assert_error(verify(&app, &bob_token).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let body = assert_error(app.login("bob", PASSWORD).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(body["error"]["details"]["reason"], "email_not_verified");
}

#[actix_web::test]
async fn resend_answers_202_for_every_address_and_mails_only_within_the_budget() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| {
        smtp.configure(s);
        s.accounts.require_email_verification = true;
        s.accounts.resend_address_burst = 1;
        s.accounts.resend_address_replenish_interval_ms = 600_000;
    })
    .await;
    assert_eq!(app.register_raw("ada", "ada@example.org", PASSWORD).await.status(), StatusCode::ACCEPTED);
    smtp.wait_for_mail("ada@example.org").await;

    let mut bodies = Vec::new();
    for email in ["ada@example.org", "nobody@example.org", "ada@example.org", "nobody@example.org"] {
        let res = resend(&app, email).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "{email}");
        bodies.push(res.text().await.expect("body"));
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "bodies differ: {bodies:?}");
    // The first resend for ada mails; the second is past the address's budget.
    smtp.wait_for_mail_after("ada@example.org", 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let mails = smtp.mails();
    assert_eq!(mails.len(), 2, "registration's and one resend: {mails:?}");
    assert!(mails.iter().all(|m| m["to"] == "ada@example.org"), "{mails:?}");

    // Not an address: the contract's error.
    assert_error(resend(&app, "not an address").await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = app.post("/api/v1/auth/verify-email/resend", None, json!({})).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}
