//! End-to-end tests of the chat app, the admin panel and the support widget in real headless
//! Chromium, driven over WebDriver (chromedriver) against the real server: two people chatting
//! live, recovery after a lost connection, message bodies that look like HTML, files sent between
//! them, a visitor on another site talking to an admin in the panel, and the panel's views. They take the screenshots in
//! docs/screenshots/ that the README shows (see `screenshot_path`). Skipped only when chromedriver is missing and
//! PLAUDER_REQUIRE_BROWSER is unset (scripts/test.sh installs Chromium and sets it).

pub mod a11y;
mod accounts;
mod admin;
mod assistant;
mod avatars;
pub mod axe;
mod chat;
pub mod files;
mod integrations;
mod pwa;
mod rooms;
mod support_tools;
pub mod webdriver;
pub mod widget;

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp};
use webdriver::Browser;

/// Where to save a screenshot: the README's copy in docs/screenshots/ when it does not exist yet
/// or `PLAUDER_UPDATE_SCREENSHOTS` is set; otherwise target/screenshots/, so that an ordinary
/// test run does not rewrite tracked images (PNG bytes differ on every render).
pub fn screenshot_path(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme_copy = root.join("docs/screenshots").join(name);
    if std::env::var_os("PLAUDER_UPDATE_SCREENSHOTS").is_some() || !readme_copy.exists() {
        return readme_copy;
    }
    let dir = root.join("target/screenshots");
    let _ = std::fs::create_dir_all(&dir);
    dir.join(name)
}

/// Registers `username` over the API and returns the session the app keeps in localStorage
/// (`{user, access_token, refresh_token}`).
pub async fn register_session(app: &TestApp, username: &str, display_name: &str) -> Value {
    let res = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": username, "email": format!("{username}@example.org"), "password": PASSWORD, "display_name": display_name}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "register {username}");
    let body: Value = res.json().await.expect("json");
    json!({"user": body["user"], "access_token": body["access_token"], "refresh_token": body["refresh_token"]})
}

/// The API's view of a session made by [`register_session`], for the helpers that take a
/// `TestUser` (friendships, sockets).
pub fn session_user(session: &Value) -> crate::helpers::TestUser {
    crate::helpers::TestUser {
        id: session["user"]["id"].as_str().and_then(|i| i.parse().ok()).expect("the session's user id"),
        access_token: session["access_token"].as_str().expect("the session's access token").to_owned(),
        // The page may have swapped the session's refresh token for a new one: not for the API.
        refresh_token: String::new(),
    }
}

/// Opens the app signed in as `session` (put where the client library keeps it) and waits
/// until the room list is there.
pub async fn open_signed_in(browser: &Browser, app: &TestApp, session: &Value) {
    browser.goto(&format!("{}/", app.address)).await;
    browser.script("localStorage.setItem('plauder.session', arguments[0]);", json!([session.to_string()])).await;
    browser.goto(&format!("{}/", app.address)).await;
    browser.wait_for("#new-chat").await;
}

/// Opens the room whose list entry has this id, and waits for its history.
pub async fn open_room(browser: &Browser, room_id: &str) {
    browser.click(&format!("#room-list .room[data-room-id=\"{room_id}\"]")).await;
    browser.wait_for(&format!("section.chat[data-room-id=\"{room_id}\"] #composer")).await;
}

/// What presses in [`press_across_a_redraw`].
#[derive(Clone, Copy, Debug)]
pub enum Pointer {
    Mouse,
    Finger,
}

/// [`press_across_a_redraw`] with the mouse.
pub async fn click_across_a_redraw(browser: &Browser, css: &str, meanwhile: impl Future<Output = ()>) {
    press_across_a_redraw(browser, css, Pointer::Mouse, meanwhile).await;
}

/// Presses on the middle of the element `css` names (the mouse's button, or a finger: a tap), runs
/// `meanwhile`, which must draw that element anew (this waits until the pressed one has left the
/// page), and releases at the same point: a click that meets a list drawn again under the pointer.
///
/// The point is taken once the socket is open: while it connects the chat's sidebar shows
/// "Connecting…" above the lists (the lists are drawn first), and that line's coming and going
/// moves them under a point taken earlier (the press then missed the entry: a flaky failure on a
/// loaded machine). The admin panel has no such line.
pub async fn press_across_a_redraw(
    browser: &Browser,
    css: &str,
    pointer: Pointer,
    meanwhile: impl Future<Output = ()>,
) {
    browser
        .wait_until(
            "the socket open (no status line above the lists)",
            "const line = document.querySelector('.conn'); return !line || line.dataset.state === 'open';",
            json!([]),
        )
        .await;
    let at = browser
        .script(
            "const r = document.querySelector(arguments[0]).getBoundingClientRect(); \
             window.pressed = document.querySelector(arguments[0]); \
             document.addEventListener('pointerdown', (e) => { window.pressedOn = e.target; }, { capture: true, once: true }); \
             return [r.x + r.width / 2, r.y + r.height / 2];",
            json!([css]),
        )
        .await;
    let (x, y) = (at[0].clone(), at[1].clone());
    let (press, release) = match pointer {
        Pointer::Mouse => {
            let mouse = |kind: &str| json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1});
            (("Input.dispatchMouseEvent", mouse("mousePressed")), ("Input.dispatchMouseEvent", mouse("mouseReleased")))
        }
        Pointer::Finger => (
            ("Input.dispatchTouchEvent", json!({"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})),
            ("Input.dispatchTouchEvent", json!({"type": "touchEnd", "touchPoints": []})),
        ),
    };
    browser.cdp(press.0, press.1).await;
    // The press must have met the element, or the list entry around it (whose content takes no
    // pointer events), or the test would test nothing.
    let on = browser
        .script(
            "const on = window.pressedOn, entry = window.pressed.closest('li'); \
             return !!on && !!entry && (on.contains(window.pressed) || window.pressed.contains(on)) \
                 && on.closest('li') === entry || String(on?.outerHTML).slice(0, 200);",
            json!([]),
        )
        .await;
    assert_eq!(on, json!(true), "the {pointer:?} press fell on another element than {css}");
    meanwhile.await;
    browser
        .wait_until(
            "the pressed element drawn anew",
            "return window.pressed && !window.pressed.isConnected;",
            json!([]),
        )
        .await;
    browser.cdp(release.0, release.1).await;
}

/// Creates a room over the API as `owner` (a session from `register_session`) and returns its id.
pub async fn create_room(app: &TestApp, owner: &Value, body: Value) -> String {
    let token = owner["access_token"].as_str().expect("token");
    let res = app.post("/api/v1/rooms", Some(token), body).await;
    // 200: a direct room that already existed.
    assert!(res.status() == StatusCode::CREATED || res.status() == StatusCode::OK, "create room: {}", res.status());
    let room: Value = res.json().await.expect("json");
    room["id"].as_str().expect("room id").to_owned()
}

/// How many message items in the open room have exactly this body.
pub async fn count_messages(browser: &Browser, body: &str) -> u64 {
    browser
        .script(
            "return [...document.querySelectorAll('#messages li.msg[data-id] .body')].filter(b => b.textContent === arguments[0]).length;",
            json!([body]),
        )
        .await
        .as_u64()
        .unwrap_or(0)
}

/// Registers `username` and makes them an admin (as `plauder user create --role admin` would).
pub async fn register_admin(app: &TestApp, username: &str, display_name: &str) -> Value {
    let session = register_session(app, username, display_name).await;
    app.sql(&format!("UPDATE users SET role = 'admin' WHERE username = '{username}'")).await;
    session
}

/// Signs in on the admin panel's own form and waits for its navigation.
pub async fn open_admin(browser: &Browser, app: &TestApp, login: &str) {
    browser.goto(&format!("{}/admin", app.address)).await;
    browser.type_into("#login-form input[name=login]", login).await;
    browser.type_into("#login-form input[name=password]", &format!("{PASSWORD}{}", webdriver::ENTER)).await;
    browser.wait_for(".admin-nav").await;
}

/// Picks a language in the page's language select, as a user would (the page reloads in it).
pub async fn pick_language(browser: &Browser, code: &str) {
    browser
        .script(
            "window.__oldPage = true; const s = document.querySelector('#lang-select'); s.value = arguments[0]; s.dispatchEvent(new Event('change'));",
            json!([code]),
        )
        .await;
    browser
        .wait_until(
            "the page reloaded in the new language",
            "return !window.__oldPage && document.documentElement.lang === arguments[0] && !!document.querySelector('#lang-select');",
            json!([code]),
        )
        .await;
}
