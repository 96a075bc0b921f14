//! The admin panel's views in the browser: live stats, users (role, ban, unban), a ban closing
//! the banned user's chat page, message removal, the audit log, contact-form entries, and who
//! may use the panel at all.

use reqwest::StatusCode;
use serde_json::json;

use super::webdriver::{Driver, ENTER};
use super::{open_admin, open_signed_in, register_admin, register_session, screenshot_path};
use crate::helpers::spawn_app;

#[actix_web::test]
async fn a_ban_in_the_panel_closes_the_banned_users_chat_page_and_the_audit_log_records_it() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    register_admin(&app, "root", "Rita Root").await;
    let mallory = register_session(&app, "mallory", "Mallory").await;
    let chat = driver.browser(1100, 800).await;
    let admin = driver.browser(1280, 820).await;
    open_signed_in(&chat, &app, &mallory).await;

    open_admin(&admin, &app, "root").await;
    admin.click("a[data-view=users]").await;
    admin.type_into("#user-search", "mall").await;
    admin.wait_until(
        "only mallory listed",
        "const items = document.querySelectorAll('#user-list .user'); return items.length === 1 && items[0].dataset.username === 'mallory';",
        json!([]),
    )
    .await;
    admin.click("#user-list .user[data-username=mallory] .ban").await;
    admin
        .type_into("#user-list .user[data-username=mallory] .ban-reason", &format!("Spamming every room{ENTER}"))
        .await;
    admin.wait_text("#user-list .user[data-username=mallory] .pill", "banned").await;
    admin.wait_text("#user-list .user[data-username=mallory] .ban-note", "Spamming every room").await;
    admin.screenshot(&screenshot_path("admin-users.png")).await;

    // Mallory's open chat page is signed out at once and says why.
    chat.wait_text("#auth-error", "suspended").await;
    let res = app.login("mallory", crate::helpers::PASSWORD).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Unbanned, the account works again.
    admin.click("#user-list .user[data-username=mallory] .unban").await;
    admin
        .wait_until(
            "the ban to go",
            "return !document.querySelector('#user-list .user[data-username=mallory] .pill');",
            json!([]),
        )
        .await;
    assert_eq!(app.login("mallory", crate::helpers::PASSWORD).await.status(), StatusCode::OK);

    // Both actions are in the audit log, by the admin.
    admin.click("a[data-view=audit]").await;
    admin.wait_text("#audit-rows", "user.unbanned").await;
    admin.wait_text("#audit-rows", "user.banned").await;
    admin.wait_text("#audit-rows", "Spamming every room").await;
    admin.wait_text("#audit-rows", "Rita Root").await;

    chat.close().await;
    admin.close().await;
}

#[actix_web::test]
async fn the_panels_views_show_live_stats_remove_messages_change_roles_and_handle_contacts() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    register_admin(&app, "root", "Rita Root").await;
    let ada = register_session(&app, "ada", "Ada Lovelace").await;
    let ada_token = ada["access_token"].as_str().expect("token").to_owned();
    let admin = driver.browser(1280, 820).await;

    // Overview: the numbers, and they move without a reload.
    open_admin(&admin, &app, "root").await;
    admin.wait_text("[data-stat=users_total] .stat-value", "2").await;
    register_session(&app, "bob", "Bob").await;
    admin.wait_text("[data-stat=users_total] .stat-value", "3").await;

    // Messages: remove one by its id; its room sees it deleted.
    let res =
        app.post("/api/v1/rooms", Some(&ada_token), json!({"kind": "group", "name": "Lab", "member_ids": []})).await;
    let room: serde_json::Value = res.json().await.expect("room");
    let room_id = room["id"].as_str().expect("id").to_owned();
    let res = app
        .post(&format!("/api/v1/rooms/{room_id}/messages"), Some(&ada_token), json!({"body": "buy cheap watches"}))
        .await;
    let message: serde_json::Value = res.json().await.expect("message");
    let message_id = message["id"].as_str().expect("id").to_owned();
    admin.click("a[data-view=moderation]").await;
    admin.type_into("#remove-message-id", "not-an-id").await;
    admin.click("#remove-message-form button[type=submit]").await;
    admin.wait_text("#view-moderation .form-error", "36 characters").await;
    admin.clear("#remove-message-id").await;
    admin.type_into("#remove-message-id", &format!("{message_id}{ENTER}")).await;
    admin.wait_text("#remove-result", "Removed message").await;
    let history: serde_json::Value =
        app.get(&format!("/api/v1/rooms/{room_id}/messages"), Some(&ada_token)).await.json().await.expect("history");
    assert_eq!(history["messages"][0]["deleted"], true);

    // Users: make Ada a moderator from the role menu.
    admin.click("a[data-view=users]").await;
    admin.wait_for("#user-list .user[data-username=ada] .role-select").await;
    admin
        .script(
            "const s = document.querySelector('#user-list .user[data-username=ada] .role-select'); s.value = 'moderator'; s.dispatchEvent(new Event('change'));",
            json!([]),
        )
        .await;
    admin.wait_text("#toasts", "@ada is now moderator").await;
    let users: serde_json::Value =
        app.get("/api/v1/admin/users?q=ada", Some(&login_token(&app, "root").await)).await.json().await.expect("users");
    assert_eq!(users["users"][0]["role"], "moderator");

    // Contacts: an entry from the public form is listed as text and can be deleted.
    let res = app
        .post(
            "/api/v1/contact",
            None,
            json!({"name": "Eve", "email": "eve@example.org", "message": "<b>Call me</b> about pricing"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    admin.click("a[data-view=contacts]").await;
    admin.wait_text("#contact-list .contact-message", "<b>Call me</b> about pricing").await;
    assert_eq!(admin.script("return document.querySelectorAll('#contact-list b').length;", json!([])).await, 0);
    admin.click("#contact-list .contact .danger").await;
    admin.wait_text("#contact-list", "No messages from the contact form").await;

    // The audit log has the removal, the role change and the deletion.
    admin.click("a[data-view=audit]").await;
    for action in ["message.deleted", "user.role_changed", "contact.deleted"] {
        admin.wait_text("#audit-rows", action).await;
    }
    admin.screenshot(&screenshot_path("admin-audit.png")).await;
    admin.click("a[data-view=overview]").await;
    admin.wait_text("[data-stat=rooms_total] .stat-value", "1").await;
    admin.screenshot(&screenshot_path("admin.png")).await;
    // The theme switch (system → light → dark), stored as the chat app stores it.
    admin.click("#theme-toggle").await;
    admin.click("#theme-toggle").await;
    admin.wait_text("#theme-toggle", "dark").await;
    admin
        .wait_until(
            "the dark theme",
            "return getComputedStyle(document.body).backgroundColor === 'rgb(15, 16, 23)';",
            json!([]),
        )
        .await;
    assert_eq!(admin.script("return localStorage.getItem('plauder.theme');", json!([])).await, "dark");
    admin.screenshot(&screenshot_path("admin-dark.png")).await;

    // At phone width the panel still fits: no horizontal scrolling.
    admin.resize(390, 800).await;
    admin.click("a[data-view=support]").await;
    admin.wait_for("#session-list").await;
    let overflow = admin
        .script("return document.documentElement.scrollWidth - document.documentElement.clientWidth;", json!([]))
        .await;
    assert_eq!(overflow, 0, "the page scrolls sideways at phone width");
    admin.close().await;
}

async fn login_token(app: &crate::helpers::TestApp, login: &str) -> String {
    let res = app.login(login, crate::helpers::PASSWORD).await;
    let body: serde_json::Value = res.json().await.expect("login");
    body["access_token"].as_str().expect("token").to_owned()
}

#[actix_web::test]
async fn a_user_who_is_not_staff_is_refused_and_a_moderator_sees_only_the_moderators_views() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    register_session(&app, "bob", "Bob").await;
    register_session(&app, "mia", "Mia").await;
    app.sql("UPDATE users SET role = 'moderator' WHERE username = 'mia'").await;
    let page = driver.browser(1100, 800).await;

    page.goto(&format!("{}/admin", app.address)).await;
    page.type_into("#login-form input[name=login]", "bob").await;
    page.type_into("#login-form input[name=password]", &format!("{}{ENTER}", crate::helpers::PASSWORD)).await;
    page.wait_text("#refusal", "not an administrator or moderator").await;
    assert_eq!(page.script("return !!document.querySelector('.admin-nav');", json!([])).await, false);
    // The refusal is the page's, not the server's only line of defence.
    let token = login_token(&app, "bob").await;
    assert_eq!(app.get("/api/v1/admin/stats", Some(&token)).await.status(), StatusCode::FORBIDDEN);

    // Another account, from the same page.
    page.click("#refusal button").await;
    page.type_into("#login-form input[name=login]", "mia").await;
    page.type_into("#login-form input[name=password]", &format!("{}{ENTER}", crate::helpers::PASSWORD)).await;
    page.wait_for(".admin-nav").await;
    let views =
        page.script("return [...document.querySelectorAll('.admin-nav a')].map(a => a.dataset.view);", json!([])).await;
    assert_eq!(views, json!(["support", "moderation", "contacts"]));
    page.wait_text("#session-list", "No open support chats").await;

    // The panel is used from the keyboard: Tab reaches the navigation, Enter follows a link.
    page.script("document.querySelector('a[data-view=contacts]').focus();", json!([])).await;
    page.type_into("a[data-view=contacts]", ENTER).await;
    page.wait_for("#contact-list").await;
    page.close().await;
}

#[actix_web::test]
async fn the_panel_switches_to_german_and_formats_its_numbers_in_german() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    register_admin(&app, "root", "Rita Root").await;
    let admin = driver.browser(1280, 820).await;
    open_admin(&admin, &app, "root").await;
    admin.wait_text(".admin-nav", "Overview").await;
    super::pick_language(&admin, "de").await;
    admin.wait_text(".admin-nav", "Übersicht").await;
    admin.wait_text("#stats", "Nachrichten heute").await;
    assert_eq!(admin.text("#sign-out").await, "Abmelden");
    admin.click("a[data-view=support]").await;
    admin.wait_text("#session-list", "Keine offenen Support-Chats.").await;
    assert_eq!(admin.script("return document.title;", json!([])).await, "Support · plauder admin");
    admin.close().await;
}

#[actix_web::test]
async fn the_overview_draws_the_last_30_days_as_charts_readable_in_both_themes_and_languages() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    register_admin(&app, "root", "Rita Root").await;
    let ada = register_session(&app, "ada", "Ada Lovelace").await;
    let token = ada["access_token"].as_str().expect("token").to_owned();
    let res = app.post("/api/v1/rooms", Some(&token), json!({"kind": "group", "name": "Lab", "member_ids": []})).await;
    let room: serde_json::Value = res.json().await.expect("room");
    let room = room["id"].as_str().expect("id").to_owned();
    for i in 0..12 {
        app.post(&format!("/api/v1/rooms/{room}/messages"), Some(&token), json!({"body": format!("note {i}")})).await;
    }
    // Spread over the month: message i goes back (i * 5) % 30 days, today keeps two.
    app.sql("UPDATE messages SET created_at = now() - ((substring(body from 6)::int * 5 % 30) || ' days')::interval")
        .await;
    for (i, secs) in [(1, 40), (1, 80), (4, 600), (9, 150)] {
        let res = app.post("/api/v1/support/sessions", None, json!({"name": format!("Visitor {i}")})).await;
        let opened: serde_json::Value = res.json().await.expect("session");
        app.sql(&format!(
            "UPDATE support_sessions SET created_at = now() - interval '{i} days', \
             first_response_at = now() - interval '{i} days' + interval '{secs} seconds' WHERE id = '{}'",
            opened["session_id"].as_str().expect("id")
        ))
        .await;
    }

    let admin = driver.browser(1280, 1000).await;
    open_admin(&admin, &app, "root").await;
    admin.wait_for("#chart-messages rect.bar").await;
    let bars = admin
        .script(
            "return ['chart-messages', 'chart-sessions', 'chart-response'].map(id => \
               [...document.querySelectorAll(`#${id} rect.bar`)].filter(r => Number(r.dataset.value) > 0).length);",
            json!([]),
        )
        .await;
    assert_eq!(bars, json!([6, 3, 3]), "days with messages, with sessions, with answered sessions");
    let median = admin
        .script("return document.querySelector('#chart-response rect.bar[data-value=\"60\"]') !== null;", json!([]))
        .await;
    assert_eq!(median, true, "the median of 40 s and 80 s is 60 s");
    // The numbers as a table too.
    admin.click("#chart-messages summary").await;
    admin.wait_for("#chart-messages details[open] table").await;
    let rows = admin.script("return document.querySelectorAll('#chart-messages tbody tr').length;", json!([])).await;
    assert_eq!(rows, 30);
    admin.click("#chart-messages summary").await;
    let mut found = Vec::new();
    super::a11y::check_both_themes(&admin, "the overview with its charts", &mut found).await;
    assert!(found.is_empty(), "axe-core: serious or critical violations:\n{}", found.join("\n"));
    admin.script("document.documentElement.setAttribute('data-theme', 'light');", json!([])).await;
    admin.screenshot(&screenshot_path("admin-charts.png")).await;
    super::pick_language(&admin, "de").await;
    admin.wait_text("#charts", "Nachrichten pro Tag").await;
    admin.screenshot(&screenshot_path("admin-charts-de.png")).await;
    admin.close().await;
}
