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
    browser.type_into("#mfa-setup-password", PASSWORD).await;
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

#[actix_web::test]
async fn the_security_settings_list_the_devices_sign_one_out_change_the_password_and_sign_out_everywhere() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    let session = register_session(&app, "ada", "Ada").await;
    let phone = crate::sessions::login_from(
        &app,
        "ada",
        "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36",
    )
    .await;
    let browser = driver.browser(1100, 900).await;
    open_signed_in(&browser, &app, &session).await;

    browser.click("#security").await;
    browser.wait_for("#sessions-list li[data-current=false]").await;
    let shown = browser.script("return [...document.querySelectorAll('#sessions-list li')].map(li => li.dataset.current + ':' + li.querySelector('strong').textContent);", json!([])).await;
    // The app's own session was made by the test's API client (no User-Agent); the phone's names its browser.
    assert_eq!(shown, json!(["false:Chrome, Android", "true:Unknown browser"]), "{shown}");
    let mut found = Vec::new();
    super::a11y::check_both_themes(&browser, "the security settings", &mut found).await;
    assert!(found.is_empty(), "axe-core: serious or critical violations:\n{}", found.join("\n"));
    browser.screenshot(&screenshot_path("security-sessions.png")).await;

    // Signing the phone out: gone from the list, and its refresh token no longer works.
    browser.click("#sessions-list li[data-current=false] .sign-out-session").await;
    browser
        .wait_until("the phone gone", "return document.querySelectorAll('#sessions-list li').length === 1;", json!([]))
        .await;
    let res = app.refresh(phone["refresh_token"].as_str().expect("token")).await;
    assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);

    // The password: a wrong current one is refused beside its field; two different new ones too.
    browser.type_into("#current-password", "not my password").await;
    browser.type_into("#new-password", "a fresh new passphrase").await;
    browser.type_into("#repeat-password", &format!("a fresh new passphrase{ENTER}")).await;
    browser.wait_text("#current-password-error", "wrong").await;
    browser.clear("#current-password").await;
    browser.type_into("#current-password", PASSWORD).await;
    browser.clear("#repeat-password").await;
    browser.type_into("#repeat-password", &format!("another passphrase{ENTER}")).await;
    browser.wait_text("#repeat-password-error", "differ").await;
    browser.clear("#repeat-password").await;
    browser.type_into("#repeat-password", &format!("a fresh new passphrase{ENTER}")).await;
    // Changed: this device carries on with the new session; the old tokens are dead.
    browser
        .wait_until(
            "the new session stored",
            "const s = JSON.parse(localStorage.getItem('plauder.session') || 'null'); return !!s && s.refresh_token !== arguments[0];",
            json!([session["refresh_token"]]),
        )
        .await;
    let res = app.refresh(session["refresh_token"].as_str().expect("token")).await;
    assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("ada", "a fresh new passphrase").await.status(), reqwest::StatusCode::OK);
    browser.wait_for("#sessions-list li[data-current=true]").await;
    let stored = browser.script("return JSON.parse(localStorage.getItem('plauder.session'));", json!([])).await;
    assert_eq!(app.me(stored["access_token"].as_str().expect("token")).await.status(), reqwest::StatusCode::OK);

    // Everywhere: asked inside the page first, then every session ends, this one too.
    browser.click("#logout-everywhere").await;
    browser.wait_for("#logout-everywhere-confirm:not([hidden])").await;
    browser.click("#logout-everywhere-yes").await;
    browser.wait_for("#login-form").await;
    assert_eq!(browser.script("return !!document.querySelector('dialog[open]');", json!([])).await, json!(false));
    let res = app.refresh(stored["refresh_token"].as_str().expect("token")).await;
    assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);
}
