//! The sign-in page's account recovery and the app's two-factor settings in the browser: the
//! "forgot password" flow with the link of the mail aiosmtpd received, and enrolling two-factor
//! from the security settings (the secret read from the page, the code computed here) and signing
//! in with a code.

use serde_json::json;

use super::webdriver::{Driver, ENTER};
use super::{open_signed_in, register_session, screenshot_path};
use crate::helpers::smtp::{SmtpServer, reset_token};
use crate::helpers::{PASSWORD, spawn_app, spawn_app_with};
use crate::mfa::{authenticator, code};

#[actix_web::test]
async fn forgot_password_on_the_sign_in_page_mails_a_link_that_opens_the_reset_form() {
    let Some(driver) = Driver::start().await else { return };
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| smtp.configure(s)).await;
    register_session(&app, "ada", "Ada").await;
    let browser = driver.browser(1000, 760).await;

    browser.goto(&format!("{}/", app.address)).await;
    browser.click("#forgot-password").await;
    browser.type_into("#forgot-form input[name=email]", &format!("ada@example.org{ENTER}")).await;
    browser.wait_text("#auth-notice", "on its way").await;
    let mail = smtp.wait_for_mail("ada@example.org").await;
    let token = reset_token(&mail);

    // The mail's link, on this test's server (its public_url is the default one).
    browser.goto(&format!("{}/#reset-password={token}", app.address)).await;
    browser.wait_for("#reset-form:not([hidden]) input[name=password]").await;
    browser.screenshot(&screenshot_path("reset-password.png")).await;
    // The server's password rules: refused with the reason beside the field, the link still good.
    browser.type_into("#reset-form input[name=password]", &format!("aaaaaaaaaa{ENTER}")).await;
    browser
        .wait_until(
            "the password's error beside the field",
            "const el = document.querySelector('#reset-form .field-error[data-for=password]'); return !!el && el.textContent.length > 0;",
            json!([]),
        )
        .await;
    browser.clear("#reset-form input[name=password]").await;
    browser.type_into("#reset-form input[name=password]", &format!("a fresh new passphrase{ENTER}")).await;
    browser.wait_text("#auth-notice", "password is changed").await;
    assert_eq!(browser.script("return location.hash;", json!([])).await, json!(""));

    browser.type_into("#login-form input[name=login]", "ada").await;
    browser.type_into("#login-form input[name=password]", &format!("a fresh new passphrase{ENTER}")).await;
    browser.wait_for("#new-chat").await;

    // The link is spent: opened again, the form says so.
    browser.script("localStorage.clear();", json!([])).await;
    browser.goto(&format!("{}/#reset-password={token}", app.address)).await;
    browser.type_into("#reset-form input[name=password]", &format!("yet another passphrase{ENTER}")).await;
    browser.wait_text("#auth-error", "invalid, used or expired").await;
}

#[actix_web::test]
async fn enrolling_two_factor_in_the_security_settings_then_signing_in_with_a_code() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    let session = register_session(&app, "ada", "Ada").await;
    let browser = driver.browser(1100, 800).await;
    open_signed_in(&browser, &app, &session).await;

    browser.click("#security").await;
    browser.click("#mfa-setup").await;
    browser.wait_for("#totp-qr").await;
    let secret = browser.text("#totp-secret").await;
    assert_eq!(secret.len(), 32, "{secret}");
    let totp = authenticator(&secret);
    browser.type_into("#totp-code", &format!("{}{ENTER}", code(&totp, 0))).await;
    browser.wait_for("#recovery-codes").await;
    let codes = browser.script("return document.querySelectorAll('#recovery-codes li').length;", json!([])).await;
    assert_eq!(codes, json!(10));
    browser.screenshot(&screenshot_path("two-factor-recovery-codes.png")).await;

    // The app carries on with the new session the confirmation handed it.
    browser.click("#mfa-done").await;
    browser.wait_text("#mfa-state", "10 recovery codes left").await;
    browser.script("document.getElementById('security-dialog').close();", json!([])).await;
    browser
        .wait_until(
            "the new session stored",
            "const s = JSON.parse(localStorage.getItem('plauder.session') || 'null'); return !!s && s.access_token !== arguments[0];",
            json!([session["access_token"]]),
        )
        .await;
    browser.wait_for("#new-chat").await;
    let stored =
        browser.script("return JSON.parse(localStorage.getItem('plauder.session')).access_token;", json!([])).await;
    assert_ne!(stored, session["access_token"]);
    assert_eq!(app.me(stored.as_str().expect("token")).await.status(), reqwest::StatusCode::OK);

    // Signed out, signing in asks for the code.
    browser.click("#logout").await;
    browser.type_into("#login-form input[name=login]", "ada").await;
    browser.type_into("#login-form input[name=password]", &format!("{PASSWORD}{ENTER}")).await;
    browser.wait_for("#mfa-form:not([hidden]) input[name=code]").await;
    browser.type_into("#mfa-form input[name=code]", &format!("000000{ENTER}")).await;
    browser.wait_text("#auth-error", "Wrong").await;
    browser.clear("#mfa-form input[name=code]").await;
    browser.type_into("#mfa-form input[name=code]", &format!("{}{ENTER}", code(&totp, 1))).await;
    browser.wait_for("#new-chat").await;
}
