//! axe-core over every view of the chat app, the admin panel and the widget, in the light and the
//! dark theme: no serious or critical violation anywhere (see axe.rs).

use std::time::Duration;

use serde_json::{Value, json};

use super::axe::violations;
use super::webdriver::{Browser, Driver, ENTER};
use super::{create_room, open_admin, open_room, open_signed_in, register_admin, register_session};
use crate::helpers::{PASSWORD, spawn_app};

/// Checks the page in the light theme and in the dark one (as the theme button sets them), with
/// the system preference pointing the other way each time.
pub async fn check_both_themes(browser: &Browser, what: &str, found: &mut Vec<String>) {
    check_both_themes_in(browser, what, None, found).await;
}

/// `check_both_themes` for the part of the page `scope` selects (an open dialog, say). The page's
/// theme and the emulated system preference are put back afterwards, so the test goes on as it was.
pub async fn check_both_themes_in(browser: &Browser, what: &str, scope: Option<&str>, found: &mut Vec<String>) {
    let chosen = browser.script("return document.documentElement.getAttribute('data-theme');", json!([])).await;
    for theme in ["light", "dark"] {
        let system = if theme == "light" { "dark" } else { "light" };
        browser
            .cdp("Emulation.setEmulatedMedia", json!({"features": [{"name": "prefers-color-scheme", "value": system}]}))
            .await;
        browser.script("document.documentElement.setAttribute('data-theme', arguments[0]);", json!([theme])).await;
        // Colours may be transitioning: measure the settled ones.
        tokio::time::sleep(Duration::from_millis(400)).await;
        found.extend(violations(browser, &format!("{what} ({theme})"), scope).await);
    }
    browser
        .script(
            "const t = arguments[0]; if (t === null) document.documentElement.removeAttribute('data-theme'); else document.documentElement.setAttribute('data-theme', t);",
            json!([chosen]),
        )
        .await;
    browser.cdp("Emulation.setEmulatedMedia", json!({"features": []})).await;
}

/// The support widget in both colour schemes: it follows the visitor's system preference (the
/// host page's theme is not its business), so that is what is switched.
pub async fn check_widget_both_schemes(browser: &Browser, what: &str, found: &mut Vec<String>) {
    for scheme in ["light", "dark"] {
        browser
            .cdp("Emulation.setEmulatedMedia", json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}))
            .await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        found.extend(violations(browser, &format!("{what} ({scheme})"), Some("[data-plauder-widget]")).await);
    }
    browser.cdp("Emulation.setEmulatedMedia", json!({"features": []})).await;
}

/// The interface's buttons under `root` (a script expression for an element or shadow root) that
/// show an emoji glyph, or carry only a name (an icon button) without an SVG icon: emoji render as
/// empty boxes where no emoji font is installed.
pub async fn emoji_glyph_buttons(browser: &Browser, root: &str) -> Value {
    browser
        .script(
            &format!(
                "const root = {root}; return [...root.querySelectorAll('button')].filter(b => b.getClientRects().length > 0 \
                 && (/\\p{{Extended_Pictographic}}/u.test(b.textContent) || (!b.textContent.trim() && !b.querySelector('svg')))).map(b => b.outerHTML);"
            ),
            json!([]),
        )
        .await
}

#[actix_web::test]
async fn every_view_of_the_chat_app_passes_axe_in_both_themes() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    let ada = register_session(&app, "ada", "Ada Lovelace").await;
    let bob = register_session(&app, "bob", "Bob").await;
    let bob_id = bob["user"]["id"].as_str().expect("id").to_owned();
    let room = create_room(&app, &ada, json!({"kind": "group", "name": "Team", "member_ids": [bob_id]})).await;
    for (who, body) in [(&bob, "Hi Ada, see https://example.org/plan"), (&ada, "Thanks Bob!")] {
        app.post(&format!("/api/v1/rooms/{room}/messages"), who["access_token"].as_str(), json!({"body": body})).await;
    }
    app.post("/api/v1/friends/requests", bob["access_token"].as_str(), json!({"user_id": ada["user"]["id"]})).await;

    let mut found = Vec::new();
    let b = driver.browser(1280, 820).await;
    b.goto(&format!("{}/", app.address)).await;
    b.wait_for("#login-form").await;
    check_both_themes(&b, "the sign-in form", &mut found).await;
    b.click("#tab-register").await;
    check_both_themes(&b, "the registration form", &mut found).await;
    b.click("#tab-login").await;
    b.click("#forgot-password").await;
    b.wait_for("#forgot-form:not([hidden])").await;
    check_both_themes(&b, "the forgot-password form", &mut found).await;
    // A reset mail's link opens the page on the new password's form.
    b.goto("about:blank").await;
    b.goto(&format!("{}/#reset-password=a-token-from-a-mail", app.address)).await;
    b.wait_for("#reset-form:not([hidden])").await;
    check_both_themes(&b, "the password reset form", &mut found).await;
    // An account with two-factor on is asked for its code.
    let mia = app.register("mia").await;
    crate::mfa::enrol(&app, &mia).await;
    b.goto(&format!("{}/", app.address)).await;
    b.wait_for("#login-form:not([hidden])").await;
    b.type_into("#login-form input[name=login]", "mia").await;
    b.type_into("#login-form input[name=password]", &format!("{PASSWORD}{ENTER}")).await;
    b.wait_for("#mfa-form:not([hidden]) input[name=code]").await;
    check_both_themes(&b, "the two-factor code form", &mut found).await;

    open_signed_in(&b, &app, &ada).await;
    check_both_themes(&b, "the room list without a room", &mut found).await;
    open_room(&b, &room).await;
    b.wait_text("#messages", "Thanks Bob!").await;
    check_both_themes(&b, "a room with messages", &mut found).await;
    b.type_into("#search", "thanks").await;
    b.wait_text("#search-results mark", "Thanks").await;
    check_both_themes(&b, "search results", &mut found).await;
    b.type_into("#search", "\u{E00C}").await;
    b.wait_for("#room-list .room").await;
    b.click("#tab-people").await;
    b.wait_for("#incoming-requests").await;
    check_both_themes(&b, "the people tab", &mut found).await;
    b.click("#tab-chats").await;
    b.click("#new-chat").await;
    b.wait_for("dialog[open] #new-chat-search").await;
    // Focus moves into the dialog, and back to the button that opened it when it closes.
    assert_eq!(b.script("return document.activeElement.id;", json!([])).await, "new-chat-search");
    check_both_themes(&b, "the new chat dialog", &mut found).await;
    b.type_into("#new-chat-search", "\u{E00C}").await;
    b.wait_until("the dialog to close", "return !document.querySelector('dialog[open]');", json!([])).await;
    assert_eq!(b.script("return document.activeElement.id;", json!([])).await, "new-chat");
    b.click(".chat-head button[aria-label=Members]").await;
    b.wait_for("dialog[open] .people-list").await;
    check_both_themes(&b, "the members dialog", &mut found).await;
    b.close().await;
    assert!(found.is_empty(), "axe-core: serious or critical violations:\n{}", found.join("\n"));
}

#[actix_web::test]
async fn every_view_of_the_admin_panel_passes_axe_in_both_themes() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    let root = register_admin(&app, "root", "Rita Root").await;
    register_session(&app, "ada", "Ada Lovelace").await;
    app.post("/api/v1/support/sessions", None, json!({"name": "Vera", "email": "vera@example.org"})).await;
    app.post(
        "/api/v1/contact",
        None,
        json!({"name": "Carl", "email": "carl@example.org", "message": "Do you ship to Mars?"}),
    )
    .await;
    let res = app
        .post(
            "/api/v1/admin/canned-replies",
            root["access_token"].as_str(),
            json!({"title": "Opening hours", "body": "We answer from 9 to 17 on weekdays."}),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);

    let mut found = Vec::new();
    let b = driver.browser(1280, 820).await;
    b.goto(&format!("{}/admin", app.address)).await;
    b.wait_for("#login-form").await;
    check_both_themes(&b, "the panel's sign-in", &mut found).await;
    open_admin(&b, &app, "root").await;
    // Every view the navigation offers an admin (web/admin/main.js's VIEWS), none left out.
    let views =
        b.script("return [...document.querySelectorAll('.admin-nav a')].map(a => a.dataset.view);", json!([])).await;
    let views: Vec<String> = serde_json::from_value(views).expect("the views");
    assert_eq!(
        views,
        ["overview", "support", "users", "moderation", "audit", "contacts", "mail", "bots", "webhooks", "knowledge"]
    );
    for view in &views {
        b.click(&format!("a[data-view={view}]")).await;
        b.wait_for(&format!("#view-{view}")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        if view == "support" {
            b.click("#session-list .session").await;
            b.wait_for("#reply").await;
            b.type_into("#reply", &format!("Hello Vera{ENTER}")).await;
            b.wait_text("#support-messages", "Hello Vera").await;
            assert_eq!(emoji_glyph_buttons(&b, "document").await, json!([]), "the inbox's buttons");
        }
        check_both_themes(&b, &format!("the panel's {view} view"), &mut found).await;
        if view == "support" {
            b.click("#canned-button").await;
            b.wait_for("dialog[open] #canned-list .canned-item").await;
            check_both_themes(&b, "the canned-reply picker", &mut found).await;
            b.script("document.querySelector('dialog[open]').close();", json!([])).await;
            b.click("#transcript-button").await;
            b.wait_for("dialog[open] #transcript-form").await;
            check_both_themes(&b, "the transcript dialog", &mut found).await;
            b.script("document.querySelector('dialog[open]').close();", json!([])).await;
        }
    }

    // The inbox at phone width: the list, then a conversation in its place.
    b.resize(390, 780).await;
    b.click("a[data-view=support]").await;
    b.wait_for("#view-support").await;
    if b.script("return !!document.querySelector('.conversation-open');", json!([])).await == true {
        b.click(".conv-head .back").await;
    }
    b.wait_for("#session-list .session").await;
    check_both_themes(&b, "the inbox's list at phone width", &mut found).await;
    b.click("#session-list .session").await;
    b.wait_text("#support-messages", "Hello Vera").await;
    check_both_themes(&b, "a support chat at phone width", &mut found).await;
    b.close().await;
    assert!(found.is_empty(), "axe-core: serious or critical violations:\n{}", found.join("\n"));
}

#[actix_web::test]
async fn the_widget_passes_axe_closed_open_in_a_conversation_and_ended_in_both_languages_and_schemes() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    let root = register_admin(&app, "root", "Rita Root").await;
    let mut found = Vec::new();
    for language in ["en", "de"] {
        let shop = super::widget::host_page_with(
            &app.address,
            &format!(r##"data-color="#0a7d5a" data-title="Shop support" data-lang="{language}""##),
        );
        let b = driver.browser(1000, 800).await;
        b.goto(&shop).await;
        let shadow = "const w = document.querySelector('[data-plauder-widget]')?.shadowRoot;";
        b.wait_until(
            "the widget",
            &format!("{shadow} return w && w.querySelector('.launcher')?.getClientRects().length > 0;"),
            json!([]),
        )
        .await;
        assert_eq!(b.script(&format!("{shadow} return w.host.getAttribute('lang');"), json!([])).await, language);
        let what = |state: &str| format!("the widget ({language}) {state}");
        check_widget_both_schemes(&b, &what("closed"), &mut found).await;
        b.script(&format!("{shadow} w.querySelector('.launcher').click();"), json!([])).await;
        b.wait_until("the start form", &format!("{shadow} return !!w.querySelector('.start');"), json!([])).await;
        check_widget_both_schemes(&b, &what("with its start form"), &mut found).await;
        b.script(
            &format!(
                "{shadow} const i = w.querySelector('.start input[name=name]'); i.value = 'Ida'; i.form.requestSubmit();"
            ),
            json!([]),
        )
        .await;
        b.wait_until("the composer", &format!("{shadow} return !!w.querySelector('.composer textarea');"), json!([]))
            .await;
        b.script(
            &format!("{shadow} const i = w.querySelector('.composer textarea'); i.value = 'Hello, see https://example.org'; i.form.requestSubmit();"),
            json!([]),
        )
        .await;
        b.wait_until("the message", &format!("{shadow} return !!w.querySelector('.msg.mine');"), json!([])).await;
        check_widget_both_schemes(&b, &what("in a conversation"), &mut found).await;
        let shadow_root = "document.querySelector('[data-plauder-widget]').shadowRoot";
        assert_eq!(emoji_glyph_buttons(&b, shadow_root).await, json!([]), "the widget's buttons");

        // Staff end the chat: it stays readable, with the offer to start a new one.
        let token = root["access_token"].as_str();
        let sessions: Value = app.get("/api/v1/admin/support/sessions", token).await.json().await.expect("json");
        let open = sessions["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .find(|s| s["status"] == "open")
            .and_then(|s| s["id"].as_str())
            .expect("the open session")
            .to_owned();
        let res = app.post(&format!("/api/v1/admin/support/sessions/{open}/close"), token, json!({})).await;
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        b.wait_until(
            "the chat to end",
            &format!("{shadow} const c = w.querySelector('.composer'); return !!c && c.hidden && !!w.querySelector('.notice button.link');"),
            json!([]),
        )
        .await;
        check_widget_both_schemes(&b, &what("after the chat ended"), &mut found).await;
        b.close().await;
    }
    assert!(found.is_empty(), "axe-core: serious or critical violations:\n{}", found.join("\n"));
}
