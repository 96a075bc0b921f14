//! The profile picture in the chat app: picked in the profile editor, it shows at once in the
//! editor and the sidebar, at another member's beside the owner's messages, and goes again with
//! "remove" (initials are back); a file that is not a picture is refused next to the picker.

use serde_json::{Value, json};

use super::a11y::check_both_themes_in;
use super::files::{PickedFiles, picture_png};
use super::webdriver::{Driver, ENTER};
use super::{open_room, open_signed_in, register_session};
use crate::helpers::spawn_app;

/// Whether the avatar picture inside `arguments[0]` has loaded; its natural width if so.
const PICTURE_LOADED: &str =
    "const img = document.querySelector(arguments[0]); return !!img && img.complete && img.naturalWidth;";

#[actix_web::test]
async fn a_picture_set_in_the_profile_editor_shows_in_the_sidebar_and_to_others_and_can_be_removed() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    let ada = register_session(&app, "ada", "Ada Lovelace").await;
    let bob = register_session(&app, "bob", "Bob").await;
    let token = |s: &Value| s["access_token"].as_str().expect("token").to_owned();
    let res = app
        .post(
            "/api/v1/rooms",
            Some(&token(&ada)),
            json!({"kind": "group", "name": "Faces", "member_ids": [bob["user"]["id"]]}),
        )
        .await;
    let room: Value = res.json().await.expect("json");
    let room = room["id"].as_str().expect("room id").to_owned();
    let picked = PickedFiles::new();
    let photo = picked.write("me.png", &picture_png(640, 400, false));
    let notes = picked.write("notes.txt", b"not a picture at all\n");
    let a = driver.browser(1280, 820).await;
    open_signed_in(&a, &app, &ada).await;
    assert_eq!(a.script("return document.querySelectorAll('header.me .avatar img').length;", json!([])).await, 0);

    a.click("#profile").await;
    a.wait_for("dialog[open] #avatar-change").await;
    assert_eq!(
        a.script("return document.querySelector('#avatar-remove').hidden;", json!([])).await,
        true,
        "nothing to remove yet"
    );
    let mut found = Vec::new();
    check_both_themes_in(&a, "the profile editor", Some("dialog[open]"), &mut found).await;

    // Not a picture: refused next to the picker, nothing changes.
    a.attach_files("#avatar-input", &[&notes]).await;
    a.wait_text("#avatar-error", "That file is not a picture").await;

    // A picture: it shows at once, in the editor and in the sidebar, as the 256 px square.
    a.attach_files("#avatar-input", &[&photo]).await;
    let width =
        a.wait_until("the picture in the editor", PICTURE_LOADED, json!([".avatar-edit-preview .avatar img"])).await;
    assert_eq!(width, 256);
    a.wait_until("the picture in the sidebar", PICTURE_LOADED, json!(["header.me .avatar img"])).await;
    assert_eq!(a.text("#avatar-error").await, "");
    assert_eq!(a.script("return document.querySelector('#avatar-remove').hidden;", json!([])).await, false);
    check_both_themes_in(&a, "the profile editor with a picture", Some("dialog[open]"), &mut found).await;
    let me: Value = app.me(&token(&ada)).await.json().await.expect("json");
    let url = me["avatar_url"].as_str().expect("the server has it").to_owned();
    assert!(url.starts_with("/api/v1/avatars/"), "{url}");
    a.click("dialog[open] .modal-head button").await;
    a.wait_until("the dialog to close", "return !document.querySelector('dialog[open]');", json!([])).await;
    open_room(&a, &room).await;
    a.type_into("#composer", &format!("Do you like my new picture?{ENTER}")).await;

    // Bob sees it beside her message (an <img> under the app's CSP, no token needed).
    let b = driver.browser(1280, 820).await;
    open_signed_in(&b, &app, &bob).await;
    open_room(&b, &room).await;
    b.wait_text("#messages", "Do you like my new picture?").await;
    let src = b
        .wait_until(
            "Ada's picture beside her message",
            "const img = document.querySelector('#messages li.msg .avatar img'); return img && img.complete && img.naturalWidth ? img.getAttribute('src') : null;",
            json!([]),
        )
        .await;
    assert_eq!(src, url.as_str());
    b.close().await;

    // Removed: initials again, in the editor and the sidebar, and for the server.
    a.click("#profile").await;
    a.wait_for("dialog[open] #avatar-remove").await;
    a.click("#avatar-remove").await;
    a.wait_until(
        "initials in the sidebar",
        "return !document.querySelector('header.me .avatar img') && document.querySelector('header.me .avatar').textContent.startsWith('AL');",
        json!([]),
    )
    .await;
    a.wait_until("the remove button to hide", "return document.querySelector('#avatar-remove').hidden;", json!([]))
        .await;
    let me: Value = app.me(&token(&ada)).await.json().await.expect("json");
    assert_eq!(me["avatar_url"], Value::Null);
    assert!(found.is_empty(), "accessibility violations:\n{}", found.join("\n"));
    a.close().await;
}
