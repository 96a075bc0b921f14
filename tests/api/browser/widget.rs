//! The support widget on another site's page, and an admin answering from the panel.

use std::net::TcpListener;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use super::webdriver::{Browser, Driver, ENTER};
use super::{open_admin, register_admin, screenshot_path};
use crate::helpers::spawn_app;

/// Serves one page that embeds the widget from `plauder` on a port of its own: a different
/// origin, so every call the widget makes is a real cross-origin request. The page's own styles
/// try to reach the widget's buttons (they must not). Returns the page's URL.
fn host_page(plauder: &str) -> String {
    let html = format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Example shop</title>
<style>button {{ background: rgb(255, 0, 0) !important; font-family: serif; }}</style></head>
<body><h1>Example shop</h1><p>Shoes, mostly.</p>
<script src="{plauder}/widget.js" data-color="#0a7d5a" data-title="Shop support"
  data-greeting="Hello from the shop! Ask us anything." async></script>
</body></html>"##
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the host page");
    let port = listener.local_addr().expect("address").port();
    let server = HttpServer::new(move || {
        let html = html.clone();
        App::new().route(
            "/",
            web::get().to(move || {
                let html = html.clone();
                async move { HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html) }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    actix_web::rt::spawn(server);
    format!("http://127.0.0.1:{port}/")
}

/// The widget's shadow root, as the start of a script.
const SHADOW: &str = "const w = document.querySelector('[data-plauder-widget]')?.shadowRoot;";

async fn widget_wait(browser: &Browser, what: &str, expr: &str, args: Value) -> Value {
    browser.wait_until(what, &format!("{SHADOW} if (!w) return false; {expr}"), args).await
}

/// Fills the widget's input (found by selector) and submits its form, as typing and Enter would.
async fn widget_submit(browser: &Browser, css: &str, value: &str) {
    widget_wait(browser, css, "return !!w.querySelector(arguments[0]);", json!([css])).await;
    browser
        .script(
            &format!("{SHADOW} const i = w.querySelector(arguments[0]); i.value = arguments[1]; i.dispatchEvent(new Event('input')); i.form.requestSubmit();"),
            json!([css, value]),
        )
        .await;
}

async fn widget_has_message(browser: &Browser, class: &str, body: &str) {
    widget_wait(
        browser,
        &format!("a {class} message {body:?} in the widget"),
        "return [...w.querySelectorAll('.messages .msg.' + arguments[0] + ' .bubble')].some(b => b.textContent === arguments[1]);",
        json!([class, body]),
    )
    .await;
}

#[actix_web::test]
async fn a_visitor_on_another_site_chats_with_an_admin_who_answers_from_the_panel_live() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    register_admin(&app, "root", "Rita Root").await;
    // The plauder server and the shop listen on different ports: two origins.
    let shop = host_page(&app.address);
    let visitor = driver.browser(1100, 800).await;
    let admin = driver.browser(1280, 820).await;

    open_admin(&admin, &app, "root").await;
    admin.click("a[data-view=support]").await;
    admin.wait_text("#session-list", "No open support chats").await;

    // The button appears on the shop's page, in the colour its tag asks for; the page's own
    // button rule does not reach into the widget.
    visitor.goto(&shop).await;
    // It shows only once styled (no unstyled flash), so the first visible button has the colour.
    let colour = widget_wait(
        &visitor,
        "the widget's button",
        "const b = w.querySelector('.launcher'); return b && b.getClientRects().length > 0 && getComputedStyle(b).backgroundColor;",
        json!([]),
    )
    .await;
    assert_eq!(colour, "rgb(10, 125, 90)");
    visitor.script(&format!("{SHADOW} w.querySelector('.launcher').click();"), json!([])).await;
    widget_wait(
        &visitor,
        "the greeting",
        "return w.querySelector('.greeting')?.textContent === 'Hello from the shop! Ask us anything.';",
        json!([]),
    )
    .await;
    // A name of blanks passes the browser's check but not the server's: the visitor is told.
    widget_submit(&visitor, ".start input[name=name]", "   ").await;
    widget_wait(
        &visitor,
        "the server's refusal in the form",
        "return w.querySelector('.start .error')?.textContent.includes('Name must be');",
        json!([]),
    )
    .await;
    visitor
        .script(
            &format!("{SHADOW} w.querySelector('.start input[name=email]').value = 'grace@example.org';"),
            json!([]),
        )
        .await;
    widget_submit(&visitor, ".start input[name=name]", "Grace Hopper").await;
    widget_submit(&visitor, ".composer textarea", "Hi! My order #1234 has not arrived.").await;
    widget_has_message(&visitor, "mine", "Hi! My order #1234 has not arrived.").await;

    // The inbox shows the new chat live, unanswered, with its last message.
    admin.wait_text("#session-list", "Grace Hopper").await;
    admin.wait_text("#session-list", "My order #1234").await;
    admin.wait_text("#session-list .unread-badge", "1").await;
    admin.click("#session-list .session").await;
    admin.wait_text("#support-messages", "Hi! My order #1234 has not arrived.").await;
    admin.wait_text("#conversation .subtitle", "grace@example.org").await;
    admin.type_into("#reply", &format!("Sorry to hear that, Grace! Let me check.{ENTER}")).await;

    // The visitor sees the answer live; the inbox counts the chat as answered.
    widget_has_message(&visitor, "staff", "Sorry to hear that, Grace! Let me check.").await;
    admin
        .wait_until("the badge to go", "return !document.querySelector('#session-list .unread-badge');", json!([]))
        .await;

    // Text that looks like HTML stays text on both sides.
    let html = "<img src=x onerror=alert(1)>";
    widget_submit(&visitor, ".composer textarea", html).await;
    widget_has_message(&visitor, "mine", html).await;
    admin.wait_until(
        "the HTML-looking message as text",
        "return [...document.querySelectorAll('#support-messages .body')].some(b => b.textContent === arguments[0]);",
        json!([html]),
    )
    .await;
    assert_eq!(admin.script("return document.querySelectorAll('#support-messages img').length;", json!([])).await, 0);
    admin.screenshot(&screenshot_path("admin-support.png")).await;
    visitor.screenshot(&screenshot_path("widget.png")).await;

    // After a reload the conversation is still there (the guest session was kept).
    visitor.goto(&shop).await;
    widget_wait(
        &visitor,
        "the button after the reload",
        "return w.querySelector('.launcher')?.getClientRects().length > 0;",
        json!([]),
    )
    .await;
    visitor.script(&format!("{SHADOW} w.querySelector('.launcher').click();"), json!([])).await;
    widget_has_message(&visitor, "mine", "Hi! My order #1234 has not arrived.").await;
    widget_has_message(&visitor, "staff", "Sorry to hear that, Grace! Let me check.").await;
    assert_eq!(visitor.script(&format!("{SHADOW} return !!w.querySelector('.start');"), json!([])).await, false);

    // The admin writes while the visitor's panel is closed: the button counts it.
    visitor.script(&format!("{SHADOW} w.querySelector('.close').click();"), json!([])).await;
    admin.type_into("#reply", &format!("Found it: it ships tomorrow.{ENTER}")).await;
    widget_wait(
        &visitor,
        "the unread count on the button",
        "return w.querySelector('.launcher .badge')?.textContent === '1';",
        json!([]),
    )
    .await;
    visitor.script(&format!("{SHADOW} w.querySelector('.launcher').click();"), json!([])).await;
    widget_has_message(&visitor, "staff", "Found it: it ships tomorrow.").await;

    // Closing the chat in the panel tells the visitor, who may start a new one.
    admin.click("#close-session").await;
    admin.wait_text("#conversation .closed-note", "closed").await;
    widget_wait(
        &visitor,
        "the closed notice",
        "return w.querySelector('.notice')?.textContent.includes('closed');",
        json!([]),
    )
    .await;
    admin.wait_text("#session-list", "No open support chats").await;

    // The widget follows the visitor's dark system theme.
    visitor
        .cdp("Emulation.setEmulatedMedia", json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}))
        .await;
    widget_wait(
        &visitor,
        "the dark panel",
        "return getComputedStyle(w.querySelector('.panel')).backgroundColor === 'rgb(23, 25, 35)';",
        json!([]),
    )
    .await;

    visitor.close().await;
    admin.close().await;
}
