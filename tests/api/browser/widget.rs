//! The support widget on another site's page, and an admin answering from the panel (a
//! visitor's screenshot included).

use std::net::TcpListener;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use super::a11y::{check_both_themes, check_both_themes_in, check_widget_both_schemes};
use super::files::{PickedFiles, picture_png};
use super::webdriver::{Browser, Driver, ENTER};
use super::{open_admin, register_admin, screenshot_path};
use crate::helpers::spawn_app;
use crate::helpers::wait::{check, eventually};

/// The shop page of `host_page`, for other modules' tests.
pub fn shop_page(plauder: &str) -> String {
    host_page(plauder)
}

/// Serves one page that embeds the widget from `plauder` on a port of its own: a different
/// origin, so every call the widget makes is a real cross-origin request. The page's own styles
/// try to reach the widget's buttons (they must not). Returns the page's URL.
fn host_page(plauder: &str) -> String {
    host_page_with(
        plauder,
        r##"data-color="#0a7d5a" data-title="Shop support" data-greeting="Hello from the shop! Ask us anything.""##,
    )
}

/// The shop page with the widget's script tag carrying `attributes`.
pub fn host_page_with(plauder: &str, attributes: &str) -> String {
    host_page_with_head(plauder, attributes, "")
}

/// The shop page with `head` (markup) in its head, before the widget loads.
fn host_page_with_head(plauder: &str, attributes: &str, head: &str) -> String {
    let html = format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Example shop</title>
<style>button {{ background: rgb(255, 0, 0) !important; font-family: serif; }}</style>{head}</head>
<body><h1>Example shop</h1><p>Shoes, mostly.</p>
<script src="{plauder}/widget.js" {attributes} async></script>
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
    let root = register_admin(&app, "root", "Rita Root").await;
    // Rita has a profile picture: the visitor sees it beside her answers, the inbox beside hers.
    let res = app
        .client
        .put(format!("{}/api/v1/users/me/avatar", app.address))
        .bearer_auth(root["access_token"].as_str().expect("token"))
        .body(picture_png(320, 320, false))
        .send()
        .await
        .expect("set the avatar");
    assert_eq!(res.status(), reqwest::StatusCode::OK);
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

    // The visitor sees the answer live, with who wrote it: Rita's picture (from the plauder
    // origin, on the shop's page) and name; the inbox counts the chat as answered.
    widget_has_message(&visitor, "staff", "Sorry to hear that, Grace! Let me check.").await;
    let face = widget_wait(
        &visitor,
        "the staff member's picture and name",
        "const a = w.querySelector('.msg.staff .author'); const img = a?.querySelector('.face img'); \
         return !!img && img.complete && img.naturalWidth > 0 && a.querySelector('.name').textContent === 'Rita Root' && img.naturalWidth;",
        json!([]),
    )
    .await;
    assert_eq!(face, 256, "the avatar, made square");
    admin
        .wait_until(
            "Rita's picture beside her answer in the inbox",
            "const img = document.querySelector('#support-messages .author-face .avatar img'); return !!img && img.complete && img.naturalWidth > 0;",
            json!([]),
        )
        .await;
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
    assert_eq!(
        admin.script("return document.querySelectorAll('#support-messages .body img').length;", json!([])).await,
        0
    );
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

#[actix_web::test]
async fn a_blocked_visitor_reads_the_refusal_in_the_widgets_language_not_the_servers_english() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    let root = register_admin(&app, "root", "Rita Root").await;
    // Staff blocked the address an earlier chat came from (this machine's, as the browser's is).
    let res = app.post("/api/v1/support/sessions", None, json!({"name": "Mallory"})).await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    let session: Value = res.json().await.expect("json");
    let id = session["session_id"].as_str().expect("session id").to_owned();
    let res = app
        .post(
            &format!("/api/v1/admin/support/sessions/{id}/block"),
            root["access_token"].as_str(),
            json!({"address": true, "hours": 1, "reason": "Abusive"}),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);

    for (lang, refusal) in [
        ("de", "Du kannst gerade keinen Support-Chat beginnen."),
        ("en", "You cannot open a support chat at the moment."),
    ] {
        let visitor = driver.browser(1000, 800).await;
        visitor.goto(&host_page_with(&app.address, &format!(r#"data-lang="{lang}""#))).await;
        widget_wait(&visitor, "the button", "return !!w.querySelector('.launcher');", json!([])).await;
        visitor.script(&format!("{SHADOW} w.querySelector('.launcher').click();"), json!([])).await;
        widget_submit(&visitor, ".start input[name=name]", "Mallory").await;
        let shown = widget_wait(
            &visitor,
            "the refusal",
            "const e = w.querySelector('.start .error')?.textContent; return e ? e : false;",
            json!([]),
        )
        .await;
        assert_eq!(shown, refusal, "{lang}");
        visitor.close().await;
    }
}

/// Picks `file` with the composer's screenshot button and waits until it has uploaded.
async fn attach_screenshot(browser: &Browser, file: &std::path::Path) {
    let input = browser
        .element_by_script(&format!("{SHADOW} return w.querySelector('.composer .shot-input');"), json!([]))
        .await;
    browser.attach_file_to(&input, file).await;
    widget_wait(browser, "the screenshot uploaded", "return !!w.querySelector('.uploads .upload.done');", json!([]))
        .await;
}

/// A page script that loses the `support.session_closed` frames the page's WebSockets receive
/// while `window.dropClosed` is set (as a widget offline at the close would miss it), counting
/// them in `window.droppedClosed`; `window.lastSocket` is the socket opened last, and
/// `window.socketsOpened` counts them.
const LOSES_CLOSE_EVENTS: &str = r#"<script>
window.dropClosed = false;
window.droppedClosed = 0;
const RealWebSocket = window.WebSocket;
window.WebSocket = class extends RealWebSocket {
  constructor(...args) { super(...args); window.lastSocket = this; window.socketsOpened = (window.socketsOpened ?? 0) + 1; }
  get onmessage() { return super.onmessage; }
  set onmessage(handler) {
    super.onmessage = handler && ((e) => {
      if (window.dropClosed && String(e.data).includes('"support.session_closed"')) {
        window.droppedClosed += 1;
        return;
      }
      handler.call(this, e);
    });
  }
};
</script>"#;

/// Closes the one open support chat, as staff.
async fn close_the_open_chat(app: &crate::helpers::TestApp, token: &str) {
    let res = app.get("/api/v1/admin/support/sessions?status=open", Some(token)).await;
    let inbox: Value = res.json().await.expect("json");
    let id = inbox["sessions"][0]["id"].as_str().expect("an open chat").to_owned();
    let res = app.post(&format!("/api/v1/admin/support/sessions/{id}/close"), Some(token), json!({})).await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
}

/// Opens `page` and starts a chat as Grace saying "Hello?".
async fn start_a_chat(visitor: &Browser, page: &str) {
    visitor.goto(page).await;
    widget_wait(visitor, "the button", "return !!w.querySelector('.launcher');", json!([])).await;
    visitor.script(&format!("{SHADOW} w.querySelector('.launcher').click();"), json!([])).await;
    widget_submit(visitor, ".start input[name=name]", "Grace").await;
    widget_submit(visitor, ".composer textarea", "Hello?").await;
    widget_has_message(visitor, "mine", "Hello?").await;
}

/// Opens `page` (with [`LOSES_CLOSE_EVENTS`]), starts a chat as Grace saying "Hello?", then has
/// staff close it while the page loses the close's frame, as a widget offline at the close would.
async fn lose_the_close_of_a_new_chat(visitor: &Browser, page: &str, app: &crate::helpers::TestApp, token: &str) {
    start_a_chat(visitor, page).await;
    visitor.script("window.dropClosed = true;", json!([])).await;
    close_the_open_chat(app, token).await;
    eventually("the close's event lost on its way", async || {
        check(visitor.script("return window.droppedClosed;", json!([])).await, |n| n == &json!(1))
    })
    .await;
}

/// The text in the composer of the conversation the widget shows, once there is one.
async fn composer_text(browser: &Browser) -> Value {
    widget_wait(
        browser,
        "a conversation's composer with text in it",
        "const v = w.querySelector('.composer textarea')?.value; return v ? v : false;",
        json!([]),
    )
    .await
}

#[actix_web::test]
async fn a_visitors_unsent_text_outlives_the_chats_close_and_starts_the_next_chat() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    let root = register_admin(&app, "root", "Rita Root").await;
    let token = root["access_token"].as_str().expect("token");
    let visitor = driver.browser(1000, 800).await;
    // The close is missed (as while offline): the visitor writes on, and the refused send shows
    // the close and keeps the text.
    lose_the_close_of_a_new_chat(&visitor, &host_page_with_head(&app.address, "", LOSES_CLOSE_EVENTS), &app, token)
        .await;
    widget_submit(&visitor, ".composer textarea", "Are you still there?").await;
    widget_wait(
        &visitor,
        "the closed notice saying the text is kept",
        "const n = w.querySelector('.notice'); return !n.hidden && n.textContent.includes('closed') && n.textContent.includes('kept');",
        json!([]),
    )
    .await;
    visitor.script(&format!("{SHADOW} w.querySelector('.notice button').click();"), json!([])).await;
    widget_submit(&visitor, ".start input[name=name]", "Grace").await;
    assert_eq!(composer_text(&visitor).await, "Are you still there?");
    visitor.script(&format!("{SHADOW} w.querySelector('.composer').requestSubmit();"), json!([])).await;
    widget_has_message(&visitor, "mine", "Are you still there?").await;

    // The close arrives while the visitor is typing, a screenshot in the tray: the draft goes to
    // the next chat too, the screenshot (the closed chat's guest's) does not.
    visitor.script("window.dropClosed = false;", json!([])).await;
    let picked = PickedFiles::new();
    let shot = picked.write("cart.png", &picture_png(200, 120, false));
    attach_screenshot(&visitor, &shot).await;
    visitor
        .script(
            &format!("{SHADOW} const i = w.querySelector('.composer textarea'); i.value = 'One more thing'; i.dispatchEvent(new Event('input'));"),
            json!([]),
        )
        .await;
    close_the_open_chat(&app, token).await;
    widget_wait(
        &visitor,
        "the closed notice saying the draft is kept",
        "const n = w.querySelector('.notice'); return !n.hidden && n.textContent.includes('kept');",
        json!([]),
    )
    .await;
    visitor.script(&format!("{SHADOW} w.querySelector('.notice button').click();"), json!([])).await;
    widget_submit(&visitor, ".start input[name=name]", "Grace").await;
    assert_eq!(composer_text(&visitor).await, "One more thing");
    assert_eq!(
        visitor.script(&format!("{SHADOW} return w.querySelectorAll('.uploads .upload').length;"), json!([])).await,
        0
    );
    visitor.script(&format!("{SHADOW} w.querySelector('.composer').requestSubmit();"), json!([])).await;
    widget_has_message(&visitor, "mine", "One more thing").await;
    assert_eq!(visitor.script("return window.droppedClosed;", json!([])).await, json!(1));
    visitor.close().await;
}

/// Whether the widget shows its conversation as closed: the notice up, the composer gone.
const SHOWS_CLOSED: &str = "const n = w.querySelector('.notice'); return !!n && !n.hidden && n.textContent.includes('closed') && w.querySelector('.composer').hidden;";

#[actix_web::test]
async fn a_widget_offline_at_the_close_shows_it_once_back_without_a_send() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    let root = register_admin(&app, "root", "Rita Root").await;
    let token = root["access_token"].as_str().expect("token");
    let visitor = driver.browser(1000, 800).await;
    let page = host_page_with_head(&app.address, "", LOSES_CLOSE_EVENTS);
    // The close's frame is lost (the visitor's network was down), then the socket drops and the
    // widget reconnects: it finds the chat closed before the visitor writes anything.
    lose_the_close_of_a_new_chat(&visitor, &page, &app, token).await;
    let opened = visitor.script("return window.socketsOpened;", json!([])).await;
    assert_eq!(
        visitor.script(&format!("{SHADOW} return w.querySelector('.composer').hidden;"), json!([])).await,
        false
    );
    visitor.script("window.lastSocket.close();", json!([])).await;
    widget_wait(&visitor, "the closed notice after the reconnect", SHOWS_CLOSED, json!([])).await;
    let reopened = visitor.script("return window.socketsOpened;", json!([])).await;
    assert!(reopened.as_u64() > opened.as_u64(), "a new socket: {opened} then {reopened}");

    // The page reloaded later shows the conversation closed from the start, its history kept.
    visitor.goto(&page).await;
    widget_wait(&visitor, "the closed notice after the reload", SHOWS_CLOSED, json!([])).await;
    widget_has_message(&visitor, "mine", "Hello?").await;
    // And the visitor opens the widget and starts a new conversation from there.
    visitor.script(&format!("{SHADOW} w.querySelector('.launcher').click();"), json!([])).await;
    assert_eq!(visitor.script(&format!("{SHADOW} return w.querySelector('.panel').hidden;"), json!([])).await, false);
    visitor.script(&format!("{SHADOW} w.querySelector('.notice button').click();"), json!([])).await;
    widget_submit(&visitor, ".start input[name=name]", "Grace").await;
    widget_submit(&visitor, ".composer textarea", "Back again").await;
    widget_has_message(&visitor, "mine", "Back again").await;
    assert_eq!(visitor.script("return window.droppedClosed;", json!([])).await, json!(0));
    visitor.close().await;
}

/// A page script that, while `localStorage.holdRooms` is set, holds the answer to the page's
/// `GET /api/v1/rooms` until `window.releaseRooms()` is called (`window.roomsHeld` says it
/// arrived), as a slow network would between a page load's read of its rooms and its socket.
const HOLDS_ROOMS: &str = r#"<script>
const realFetch = window.fetch;
window.fetch = async (input, init) => {
  const res = await realFetch(input, init);
  const url = typeof input === 'string' ? input : input.url;
  if (localStorage.getItem('holdRooms') && url.endsWith('/api/v1/rooms') && (init?.method ?? 'GET') === 'GET') {
    await new Promise((resolve) => { window.releaseRooms = resolve; window.roomsHeld = true; });
  }
  return res;
};
</script>"#;

#[actix_web::test]
async fn a_close_between_the_page_loads_read_of_its_rooms_and_its_socket_shows_without_a_send() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    let root = register_admin(&app, "root", "Rita Root").await;
    let token = root["access_token"].as_str().expect("token");
    let visitor = driver.browser(1000, 800).await;
    let page = host_page_with_head(&app.address, "", HOLDS_ROOMS);
    start_a_chat(&visitor, &page).await;

    // The page loads again and reads its rooms (the chat open); staff close it before the widget
    // has its answer, so before its socket exists: no socket hears the close.
    visitor.script("localStorage.setItem('holdRooms', '1');", json!([])).await;
    visitor.goto(&page).await;
    eventually("the page's read of its rooms held", async || {
        check(visitor.script("return window.roomsHeld === true;", json!([])).await, |held| held == &json!(true))
    })
    .await;
    close_the_open_chat(&app, token).await;
    visitor.script("localStorage.removeItem('holdRooms'); window.releaseRooms();", json!([])).await;
    widget_wait(&visitor, "the closed notice once the socket is up", SHOWS_CLOSED, json!([])).await;
    widget_has_message(&visitor, "mine", "Hello?").await;
    visitor.close().await;
}

/// Makes the browser report German as its only language before any page script runs.
const GERMAN_BROWSER: &str = "Object.defineProperty(navigator, 'languages', { get: () => ['de-DE', 'de'] }); Object.defineProperty(navigator, 'language', { get: () => 'de-DE' });";

/// The launcher's label, the start form's labels and its error, as the visitor sees them.
async fn widget_texts(browser: &Browser) -> Value {
    browser
        .script(
            &format!("{SHADOW} return {{ button: w.querySelector('.launcher-label')?.textContent, title: w.querySelector('.head strong')?.textContent, labels: [...w.querySelectorAll('.start label span')].map(s => s.textContent), start: w.querySelector('.start button[type=submit]')?.textContent, lang: w.host.getAttribute('lang') }};"),
            json!([]),
        )
        .await
}

#[actix_web::test]
async fn the_widget_speaks_german_by_data_lang_or_the_browser_and_keeps_its_overrides() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    register_admin(&app, "root", "Rita Root").await;

    // data-lang="de" in an English browser: the widget's own texts are German, the server's
    // refusal of a blank name too, and an override from the tag stays as written.
    let shop = host_page_with(&app.address, r#"data-lang="de" data-greeting="Willkommen im Schuhladen!""#);
    let visitor = driver.browser(1000, 800).await;
    visitor.goto(&shop).await;
    widget_wait(&visitor, "the button", "return w.querySelector('.launcher')?.getClientRects().length > 0;", json!([]))
        .await;
    visitor.script(&format!("{SHADOW} w.querySelector('.launcher').click();"), json!([])).await;
    widget_wait(&visitor, "the start form", "return !!w.querySelector('.start');", json!([])).await;
    let texts = widget_texts(&visitor).await;
    assert_eq!(texts["button"], "Schreib uns");
    assert_eq!(texts["title"], "Schreib uns");
    assert_eq!(texts["start"], "Chat starten");
    assert_eq!(texts["labels"], json!(["Dein Name", "E-Mail (optional, für eine spätere Antwort)"]));
    assert_eq!(texts["lang"], "de");
    assert_eq!(
        visitor.script(&format!("{SHADOW} return w.querySelector('.greeting').textContent;"), json!([])).await,
        "Willkommen im Schuhladen!"
    );
    widget_submit(&visitor, ".start input[name=name]", "   ").await;
    widget_wait(
        &visitor,
        "the server's refusal, in German",
        "return w.querySelector('.start .error')?.textContent === 'Der Name muss 1 bis 64 Zeichen lang sein, ohne Steuerzeichen.';",
        json!([]),
    )
    .await;
    widget_submit(&visitor, ".start input[name=name]", "Greta").await;
    widget_wait(
        &visitor,
        "the composer",
        "return w.querySelector('.composer textarea')?.getAttribute('placeholder') === 'Nachricht schreiben…';",
        json!([]),
    )
    .await;
    assert_eq!(
        visitor
            .script(
                &format!("{SHADOW} return w.querySelector('.composer button[type=submit]').textContent;"),
                json!([])
            )
            .await,
        "Senden"
    );
    visitor.screenshot(&screenshot_path("widget-de.png")).await;
    visitor.close().await;

    // No data-lang, a German browser: German. data-lang="en" in the same browser: English.
    let german = driver.browser(1000, 800).await;
    german.on_new_document(GERMAN_BROWSER).await;
    german.goto(&host_page_with(&app.address, "")).await;
    widget_wait(
        &german,
        "the German button",
        "return w.querySelector('.launcher-label')?.textContent === 'Schreib uns';",
        json!([]),
    )
    .await;
    german.goto(&host_page_with(&app.address, r#"data-lang="en" data-button-label="Help""#)).await;
    widget_wait(
        &german,
        "the English widget",
        "return w.querySelector('.head strong')?.textContent === 'Chat with us';",
        json!([]),
    )
    .await;
    assert_eq!(
        german.script(&format!("{SHADOW} return w.querySelector('.launcher-label').textContent;"), json!([])).await,
        "Help"
    );
    german.close().await;
}

#[actix_web::test]
async fn typing_shows_both_ways_links_are_safe_the_badge_survives_a_reload_and_staff_may_opt_into_alerts() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    register_admin(&app, "root", "Rita Root").await;
    let shop = host_page(&app.address);
    let visitor = driver.browser(1000, 800).await;
    let admin = driver.browser(1280, 820).await;
    open_admin(&admin, &app, "root").await;
    admin.click("a[data-view=support]").await;
    admin.wait_for("#inbox-sound").await;

    visitor.goto(&shop).await;
    widget_wait(&visitor, "the button", "return w.querySelector('.launcher')?.getClientRects().length > 0;", json!([]))
        .await;
    visitor.script(&format!("{SHADOW} w.querySelector('.launcher').click();"), json!([])).await;
    widget_submit(&visitor, ".start input[name=name]", "Ida").await;
    widget_submit(&visitor, ".composer textarea", "Hello there").await;
    widget_has_message(&visitor, "mine", "Hello there").await;
    admin.wait_text("#session-list", "Ida").await;
    admin.click("#session-list .session").await;
    admin.wait_text("#support-messages", "Hello there").await;

    // Opening the chat marks it read: the inbox stops counting it before any answer, and the
    // visitor sees "Seen". The inbox shows where the visitor came from.
    admin
        .wait_until(
            "the unread badge to go",
            "return !document.querySelector('#session-list .unread-badge');",
            json!([]),
        )
        .await;
    widget_wait(
        &visitor,
        "Seen under the visitor's message",
        "return [...w.querySelectorAll('.msg.mine .seen-mark')].map(x => x.textContent).join() === 'Seen';",
        json!([]),
    )
    .await;
    admin.wait_text("#visitor-context", &shop).await;
    admin.wait_text("#visitor-context", "English").await;
    admin.wait_text("#visitor-context", "Local time").await;

    // The visitor types: the inbox shows it. Staff type: the widget shows it.
    visitor
        .script(
            &format!("{SHADOW} const i = w.querySelector('.composer textarea'); i.value = 'Also'; i.dispatchEvent(new Event('input'));"),
            json!([]),
        )
        .await;
    admin.wait_text("#visitor-typing", "Ida is typing…").await;
    admin.type_into("#reply", "Let me look").await;
    widget_wait(
        &visitor,
        "staff typing",
        "return w.querySelector('.typing')?.textContent === 'Support is typing…';",
        json!([]),
    )
    .await;
    // Sending ends it; an address in the answer is a safe link in the widget.
    admin.type_into("#reply", &format!(": https://example.org/help.{ENTER}")).await;
    widget_has_message(&visitor, "staff", "Let me look: https://example.org/help.").await;
    widget_wait(&visitor, "typing to end", "return w.querySelector('.typing')?.textContent === '';", json!([])).await;
    let link = visitor
        .script(
            &format!("{SHADOW} const a = [...w.querySelectorAll('.msg.staff .bubble a')].pop(); return a && [a.getAttribute('href'), a.rel, a.target];"),
            json!([]),
        )
        .await;
    assert_eq!(link, json!(["https://example.org/help", "noopener noreferrer", "_blank"]));

    // Two answers while the panel is closed: the badge counts them, and still does after a reload.
    visitor.script(&format!("{SHADOW} w.querySelector('.close').click();"), json!([])).await;
    admin.type_into("#reply", &format!("One{ENTER}")).await;
    admin.type_into("#reply", &format!("Two{ENTER}")).await;
    widget_wait(&visitor, "the badge", "return w.querySelector('.launcher .badge')?.textContent === '2';", json!([]))
        .await;
    visitor.goto(&shop).await;
    widget_wait(
        &visitor,
        "the badge after the reload",
        "const b = w.querySelector('.launcher .badge'); return b && !b.hidden && b.textContent === '2';",
        json!([]),
    )
    .await;
    // Opening reads them: after another reload there is no badge.
    visitor.script(&format!("{SHADOW} w.querySelector('.launcher').click();"), json!([])).await;
    widget_has_message(&visitor, "staff", "Two").await;
    eventually("the visitor's read marker at the last message", async || {
        check(
            app.count(
                "SELECT count(*) AS n FROM room_members m JOIN users u ON u.id = m.user_id \
                 WHERE u.role = 'guest' AND m.last_read_seq >= (SELECT max(seq) FROM messages WHERE room_id = m.room_id)",
            )
            .await,
            |n| *n == 1,
        )
    })
    .await;
    visitor.goto(&shop).await;
    widget_wait(
        &visitor,
        "the button after the second reload",
        "return w.querySelector('.launcher')?.getClientRects().length > 0;",
        json!([]),
    )
    .await;
    widget_has_message(&visitor, "staff", "Two").await;
    assert_eq!(
        visitor.script(&format!("{SHADOW} return w.querySelector('.launcher .badge').hidden;"), json!([])).await,
        true
    );

    // Alerts are opt-in: none while off; on (and remembered), a visitor's message in a chat the
    // staff member is not looking at raises one.
    admin
        .script("window.__alerts = 0; addEventListener('plauder:alert', () => { window.__alerts += 1; });", json!([]))
        .await;
    // At phone width the inbox shows one pane at a time: back to the list.
    admin.resize(600, 820).await;
    admin.click("#conversation .back").await;
    widget_submit(&visitor, ".composer textarea", "Are you there?").await;
    admin.wait_text("#session-list", "Are you there?").await;
    assert_eq!(admin.script("return window.__alerts;", json!([])).await, 0);
    admin.click("#inbox-sound").await;
    assert_eq!(
        admin.script("return document.querySelector('#inbox-sound').getAttribute('aria-pressed');", json!([])).await,
        "true"
    );
    widget_submit(&visitor, ".composer textarea", "Hello?").await;
    admin.wait_until("an alert", "return window.__alerts === 1;", json!([])).await;

    // Notifications allowed and the panel's tab in the background: the alert is a desktop
    // notification too, naming the visitor. (The page's Notification is wrapped to see it made.)
    admin.cdp("Browser.grantPermissions", json!({"permissions": ["notifications"], "origin": app.address})).await;
    admin
        .script(
            "window.__notes = []; const Real = window.Notification; \
             window.Notification = new Proxy(Real, { \
               construct(target, args) { window.__notes.push({ title: args[0], body: args[1]?.body }); return Reflect.construct(target, args); }, \
               get(target, prop) { return Reflect.get(target, prop); } });",
            json!([]),
        )
        .await;
    assert_eq!(admin.script("return Notification.permission;", json!([])).await, "granted");
    // The panel in the background: `document.hidden` as a background tab reports it. (A real
    // second tab in front hid the panel only asynchronously, so under load the visitor's message
    // could arrive first, and the test failed for the browser's timing, not the panel's.)
    admin
        .script(
            "Object.defineProperty(document, 'hidden', { configurable: true, get: () => true }); \
             Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' }); \
             document.dispatchEvent(new Event('visibilitychange'));",
            json!([]),
        )
        .await;
    widget_submit(&visitor, ".composer textarea", "Anyone?").await;
    let notes =
        admin.wait_until("a notification", "return window.__notes.length > 0 && window.__notes;", json!([])).await;
    assert_eq!(notes, json!([{"title": "New message from Ida", "body": "Anyone?"}]));
    assert_eq!(admin.script("return window.__alerts;", json!([])).await, 2);
    admin.goto(&format!("{}/admin#support", app.address)).await;
    admin.wait_for("#inbox-sound").await;
    assert_eq!(
        admin.script("return document.querySelector('#inbox-sound').getAttribute('aria-pressed');", json!([])).await,
        "true"
    );

    visitor.close().await;
    admin.close().await;
}

#[actix_web::test]
async fn a_visitors_screenshot_reaches_the_inbox_where_staff_open_it_full_size() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    register_admin(&app, "root", "Rita Root").await;
    let shop = host_page(&app.address);
    let picked = PickedFiles::new();
    let shot = picked.write("checkout.png", &picture_png(1200, 750, false));
    let visitor = driver.browser(1100, 800).await;
    let admin = driver.browser(1280, 820).await;
    open_admin(&admin, &app, "root").await;
    admin.click("a[data-view=support]").await;

    visitor.goto(&shop).await;
    widget_wait(
        &visitor,
        "the widget's button",
        "return w.querySelector('.launcher')?.getClientRects().length > 0;",
        json!([]),
    )
    .await;
    visitor.script(&format!("{SHADOW} w.querySelector('.launcher').click();"), json!([])).await;
    widget_submit(&visitor, ".start input[name=name]", "Grace Hopper").await;
    widget_wait(&visitor, "the composer", "return !!w.querySelector('.composer textarea');", json!([])).await;

    // The screenshot button's file input (inside the widget's shadow root) takes the picture; it
    // uploads across origins at once and goes with the message.
    let label = visitor
        .script(&format!("{SHADOW} return w.querySelector('.composer .attach').getAttribute('aria-label');"), json!([]))
        .await;
    assert_eq!(label, "Attach a screenshot");
    attach_screenshot(&visitor, &shot).await;
    widget_submit(&visitor, ".composer textarea", "The checkout button does nothing, see the screenshot").await;
    widget_has_message(&visitor, "mine", "The checkout button does nothing, see the screenshot").await;
    // The visitor sees it too, from the plauder server's signed link on the shop's page.
    widget_wait(
        &visitor,
        "the screenshot in the widget",
        "const img = w.querySelector('.messages .msg.mine .att-image img'); return !!img && img.complete && img.naturalWidth > 0;",
        json!([]),
    )
    .await;
    assert_eq!(visitor.script(&format!("{SHADOW} return w.querySelector('.uploads').hidden;"), json!([])).await, true);

    // Staff see the chat in the inbox, the screenshot inline, and open it full size.
    admin.wait_text("#session-list", "Grace Hopper").await;
    admin.click("#session-list .session").await;
    let thumb = admin
        .wait_until(
            "the screenshot in the inbox",
            "const img = document.querySelector('#support-messages .att-image img'); return !!img && img.complete && img.naturalWidth;",
            json!([]),
        )
        .await;
    assert_eq!(thumb, 320);
    assert_eq!(
        admin.script("return document.querySelector('#support-messages .att-image img').alt;", json!([])).await,
        "checkout.png"
    );
    let mut found = Vec::new();
    check_both_themes(&admin, "a support chat with a screenshot", &mut found).await;
    check_widget_both_schemes(&visitor, "the widget with a screenshot", &mut found).await;
    admin.click("#support-messages .att-image").await;
    let full = admin
        .wait_until(
            "the full-size screenshot",
            "const img = document.querySelector('dialog[open] .lightbox-image'); return !!img && img.complete && img.naturalWidth;",
            json!([]),
        )
        .await;
    assert_eq!(full, 1200);
    admin.type_into("dialog[open] button[aria-label=Close]", "\u{E00C}").await;
    admin.wait_until("the viewer to close", "return !document.querySelector('dialog[open]');", json!([])).await;

    // Staff answer with a file of their own, attached in the inbox: the visitor gets it in the
    // widget as a download with its name, from the plauder server's signed link.
    let invoice = picked.write("invoice.pdf", b"%PDF-1.4\n% invoice\ntrailer << >>\n%%EOF\n");
    admin.attach_files("#attach-input", &[&invoice]).await;
    admin.wait_for("#uploads .upload.done").await;
    check_both_themes_in(&admin, "the inbox's reply box with a file", Some("#conversation"), &mut found).await;
    admin.type_into("#reply", &format!("Here is your invoice.{ENTER}")).await;
    admin.wait_until("the tray to empty", "return document.querySelector('#uploads').hidden;", json!([])).await;
    widget_has_message(&visitor, "staff", "Here is your invoice.").await;
    let href = widget_wait(
        &visitor,
        "the staff's file in the widget",
        "const a = [...w.querySelectorAll('.messages .msg.staff .att-file')].find(a => a.querySelector('.att-name')?.textContent === 'invoice.pdf'); return a ? a.href : false;",
        json!([]),
    )
    .await;
    let res = app.client.get(href.as_str().expect("a link")).send().await.expect("download");
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert!(res.bytes().await.expect("bytes").starts_with(b"%PDF-1.4"), "the staff's file, as uploaded");

    visitor.close().await;
    admin.close().await;
    assert!(found.is_empty(), "axe-core: serious or critical violations:\n{}", found.join("\n"));
}

#[actix_web::test]
async fn a_reply_mails_link_opens_the_widget_on_the_conversation_where_the_visitor_carries_on() {
    use crate::helpers::smtp::SmtpServer;
    use crate::helpers::{open_session, spawn_app_with, user_with_role};

    let Some(driver) = Driver::start().await else { return };
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| {
        smtp.configure(s);
        s.support.reply_mail_delay_secs = 1;
        s.support.staff_new_chat_mail = false;
    })
    .await;
    let sam = user_with_role(&app, "sam", "admin").await;
    let v = open_session(&app, "vera").await;
    app.send(&v.guest, v.room, "Where is my parcel?").await;
    app.send(&sam, v.room, "It left our warehouse this morning.").await;
    let mail = smtp.wait_for_mail("vera@visitor.example").await;
    let text = mail["text"].as_str().expect("text");
    let link = text.lines().find(|l| l.contains("/support#plauder-resume=")).expect("the conversation link").trim();
    // The link as the mail has it, on this test's server (email.public_url is the default's).
    let fragment = &link[link.find("/support#").expect("path")..];

    let visitor = driver.browser(1000, 760).await;
    visitor.goto(&format!("{}{fragment}", app.address)).await;
    widget_has_message(&visitor, "mine", "Where is my parcel?").await;
    widget_has_message(&visitor, "staff", "It left our warehouse this morning.").await;
    // The panel is open, and the token is gone from the address bar.
    widget_wait(&visitor, "the open panel", "return !w.querySelector('.panel').hidden;", json!([])).await;
    assert_eq!(visitor.script("return location.hash;", json!([])).await, "");
    widget_submit(&visitor, ".composer textarea", "Great, thank you!").await;
    eventually("the visitor's message in the room", async || {
        let history = app.history(&sam, v.room, "").await;
        check(history["messages"].to_string(), |h| h.contains("Great, thank you!"))
    })
    .await;

    // A revoked link (the session closed) shows the start form saying so.
    let res = app
        .post(&format!("/api/v1/admin/support/sessions/{}/close", v.session_id), Some(&sam.access_token), json!({}))
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let other = driver.browser(1000, 760).await;
    other.goto(&format!("{}{fragment}", app.address)).await;
    widget_wait(
        &other,
        "the refusal in the start form",
        "return w.querySelector('.start .error')?.textContent.includes('invalid, expired');",
        json!([]),
    )
    .await;
    visitor.close().await;
    other.close().await;
}
