//! axe-core over every view of the chat app, the admin panel and the widget, in the light and the
//! dark theme: no serious or critical violation anywhere (see axe.rs).

use std::time::Duration;

use serde_json::{Value, json};

use super::axe::violations;
use super::webdriver::{Browser, Driver, ENTER};
use super::{open_admin, open_room, open_signed_in, register_admin, register_session};
use crate::helpers::spawn_app;

/// Checks the page in the light theme and in the dark one (as the theme button sets them), with
/// the system preference pointing the other way each time.
pub async fn check_both_themes(browser: &Browser, what: &str, found: &mut Vec<String>) {
    for theme in ["light", "dark"] {
        let system = if theme == "light" { "dark" } else { "light" };
        browser
            .cdp("Emulation.setEmulatedMedia", json!({"features": [{"name": "prefers-color-scheme", "value": system}]}))
            .await;
        browser.script("document.documentElement.setAttribute('data-theme', arguments[0]);", json!([theme])).await;
        // Colours may be transitioning: measure the settled ones.
        tokio::time::sleep(Duration::from_millis(400)).await;
        found.extend(violations(browser, &format!("{what} ({theme})"), None).await);
    }
}

async fn create_room(app: &crate::helpers::TestApp, owner: &Value, body: Value) -> String {
    let token = owner["access_token"].as_str().expect("token");
    let res = app.post("/api/v1/rooms", Some(token), body).await;
    let room: Value = res.json().await.expect("json");
    room["id"].as_str().expect("room id").to_owned()
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

    open_signed_in(&b, &app, &ada).await;
    check_both_themes(&b, "the room list without a room", &mut found).await;
    open_room(&b, &room).await;
    b.wait_text("#messages", "Thanks Bob!").await;
    check_both_themes(&b, "a room with messages", &mut found).await;
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
    register_admin(&app, "root", "Rita Root").await;
    register_session(&app, "ada", "Ada Lovelace").await;
    app.post("/api/v1/support/sessions", None, json!({"name": "Vera", "email": "vera@example.org"})).await;
    app.post(
        "/api/v1/contact",
        None,
        json!({"name": "Carl", "email": "carl@example.org", "message": "Do you ship to Mars?"}),
    )
    .await;

    let mut found = Vec::new();
    let b = driver.browser(1280, 820).await;
    b.goto(&format!("{}/admin", app.address)).await;
    b.wait_for("#login-form").await;
    check_both_themes(&b, "the panel's sign-in", &mut found).await;
    open_admin(&b, &app, "root").await;
    for view in ["overview", "support", "users", "moderation", "audit", "contacts"] {
        b.click(&format!("a[data-view={view}]")).await;
        b.wait_for(&format!("#view-{view}")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        if view == "support" {
            b.click("#session-list .session").await;
            b.wait_for("#reply").await;
            b.type_into("#reply", &format!("Hello Vera{ENTER}")).await;
            b.wait_text("#support-messages", "Hello Vera").await;
        }
        check_both_themes(&b, &format!("the panel's {view} view"), &mut found).await;
    }
    b.close().await;
    assert!(found.is_empty(), "axe-core: serious or critical violations:\n{}", found.join("\n"));
}

#[actix_web::test]
async fn the_widget_passes_axe_closed_open_and_in_a_conversation_in_both_themes() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    let shop = super::widget::shop_page(&app.address);
    let b = driver.browser(1000, 800).await;
    b.goto(&shop).await;
    let shadow = "const w = document.querySelector('[data-plauder-widget]')?.shadowRoot;";
    b.wait_until(
        "the widget",
        &format!("{shadow} return w && w.querySelector('.launcher')?.getClientRects().length > 0;"),
        json!([]),
    )
    .await;
    let mut found = Vec::new();
    let check = async |what: &str, found: &mut Vec<String>| {
        for scheme in ["light", "dark"] {
            b.cdp(
                "Emulation.setEmulatedMedia",
                json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(400)).await;
            found.extend(violations(&b, &format!("the widget {what} ({scheme})"), Some("[data-plauder-widget]")).await);
        }
    };
    check("closed", &mut found).await;
    b.script(&format!("{shadow} w.querySelector('.launcher').click();"), json!([])).await;
    b.wait_until("the start form", &format!("{shadow} return !!w.querySelector('.start');"), json!([])).await;
    check("with its start form", &mut found).await;
    b.script(
        &format!(
            "{shadow} const i = w.querySelector('.start input[name=name]'); i.value = 'Ida'; i.form.requestSubmit();"
        ),
        json!([]),
    )
    .await;
    b.wait_until("the composer", &format!("{shadow} return !!w.querySelector('.composer textarea');"), json!([])).await;
    b.script(
        &format!("{shadow} const i = w.querySelector('.composer textarea'); i.value = 'Hello, see https://example.org'; i.form.requestSubmit();"),
        json!([]),
    )
    .await;
    b.wait_until("the message", &format!("{shadow} return !!w.querySelector('.msg.mine');"), json!([])).await;
    check("in a conversation", &mut found).await;
    b.close().await;
    assert!(found.is_empty(), "axe-core: serious or critical violations:\n{}", found.join("\n"));
}
