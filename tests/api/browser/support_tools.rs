//! The support inbox's tools in the panel, with a visitor on another site's page: staff write a
//! canned reply and insert it into an answer, mail the chat's transcript (it reaches a real SMTP
//! server), block the visitor's browser (the widget's id for it is what gets blocked, and a new
//! chat from it is refused), and lift the block again. axe-core runs over the dialogs.

use serde_json::{Value, json};

use super::a11y::check_both_themes;
use super::webdriver::{Driver, ENTER};
use super::{click_across_a_redraw, open_admin, register_admin, screenshot_path};
use crate::helpers::smtp::SmtpServer;
use crate::helpers::spawn_app_with;

const SHADOW: &str = "const w = document.querySelector('[data-plauder-widget]')?.shadowRoot;";

#[actix_web::test]
async fn staff_insert_a_canned_reply_mail_the_transcript_and_block_the_visitors_browser() {
    let Some(driver) = Driver::start().await else { return };
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| smtp.configure(s)).await;
    register_admin(&app, "root", "Rita Root").await;

    // A visitor starts a chat from the shop's page, giving an address.
    let visitor = driver.browser(1000, 800).await;
    visitor.goto(&super::widget::shop_page(&app.address)).await;
    visitor
        .wait_until("the widget", &format!("{SHADOW} return !!w && !!w.querySelector('.launcher');"), json!([]))
        .await;
    visitor.script(&format!("{SHADOW} w.querySelector('.launcher').click();"), json!([])).await;
    visitor.wait_until("the start form", &format!("{SHADOW} return !!w.querySelector('.start');"), json!([])).await;
    visitor
        .script(
            &format!(
                "{SHADOW} const n = w.querySelector('.start input[name=name]'); n.value = 'Tom'; \
                 n.form.querySelector('input[name=email]').value = 'tom@visitor.example'; n.form.requestSubmit();"
            ),
            json!([]),
        )
        .await;
    visitor
        .wait_until("the composer", &format!("{SHADOW} return !!w.querySelector('.composer textarea');"), json!([]))
        .await;
    visitor
        .script(
            &format!("{SHADOW} const i = w.querySelector('.composer textarea'); i.value = 'Where is my parcel?'; i.form.requestSubmit();"),
            json!([]),
        )
        .await;
    visitor
        .wait_until("the message sent", &format!("{SHADOW} return !!w.querySelector('.msg.mine');"), json!([]))
        .await;
    let browser_id = visitor
        .script(
            "return Object.entries(localStorage).find(([k]) => k.startsWith('plauder.widget.browser:'))?.[1] ?? null;",
            json!([]),
        )
        .await;
    let browser_id = browser_id.as_str().expect("the widget keeps a browser id").to_owned();

    let admin = driver.browser(1280, 860).await;
    open_admin(&admin, &app, "root").await;
    admin.click("a[data-view=support]").await;

    // A canned reply, written once for everyone.
    admin.click("#canned-open").await;
    admin.wait_for("dialog[open] #canned-form").await;
    admin.type_into("#canned-new-title", "Parcel").await;
    admin.type_into("#canned-new-body", "Your parcel is on its way; the tracking link follows by mail.").await;
    admin.click("#canned-form button[type=submit]").await;
    admin.wait_text("#canned-manage-list", "Parcel").await;
    let mut found = Vec::new();
    check_both_themes(&admin, "the canned replies", &mut found).await;
    admin.script("document.querySelector('dialog[open]').close();", json!([])).await;

    // Inserted into the answer at the cursor, then sent.
    admin.click("#session-list .session").await;
    admin.wait_text("#support-messages", "Where is my parcel?").await;
    admin.type_into("#reply", "Hello Tom! ").await;
    admin.click("#canned-button").await;
    admin.wait_for("dialog[open] #canned-list .canned-item").await;
    admin.type_into("#canned-filter", "parc").await;
    admin.click("#canned-list .canned-item").await;
    let typed = admin.script("return document.querySelector('#reply').value;", json!([])).await;
    assert_eq!(typed, "Hello Tom! Your parcel is on its way; the tracking link follows by mail.");
    // Focus goes back in the dialog's `close` event, a task of its own after the click.
    admin.wait_until("the focus back in the answer", "return document.activeElement.id === 'reply';", json!([])).await;
    admin.type_into("#reply", ENTER).await;
    admin.wait_text("#support-messages", "tracking link").await;
    visitor
        .wait_until(
            "the answer in the widget",
            &format!("{SHADOW} return w.textContent.includes('tracking link');"),
            json!([]),
        )
        .await;

    // The transcript, to the address the visitor gave.
    admin.click("#transcript-button").await;
    admin.wait_for("dialog[open] #transcript-form").await;
    let to = admin.script("return document.querySelector('#transcript-email').value;", json!([])).await;
    assert_eq!(to, "tom@visitor.example", "prefilled with the address the visitor gave");
    let to = "tom@visitor.example";
    admin.click("#transcript-form button[type=submit]").await;
    admin.wait_text("#toasts", "on its way").await;
    let mail = smtp.wait_for_mail(to).await;
    let text = mail["text"].as_str().expect("text");
    assert!(text.contains("Where is my parcel?") && text.contains("tracking link"), "{text}");

    // Blocking the browser: the dialog knows it, the chat closes, and that browser is refused.
    admin.click("#block-button").await;
    admin.wait_for("dialog[open] #block-form").await;
    assert_eq!(admin.script("return document.querySelector('#block-browser').checked;", json!([])).await, true);
    check_both_themes(&admin, "the block dialog", &mut found).await;
    admin.screenshot(&screenshot_path("admin-block.png")).await;
    admin.click("#block-address").await;
    admin.type_into("#block-reason", "Abusive").await;
    admin.click("#block-form button[type=submit]").await;
    admin.wait_text("#toasts", "Tom is blocked").await;
    admin.wait_for(".closed-note:not([hidden])").await;
    let res = app
        .post("/api/v1/support/sessions", None, json!({"name": "Tom again", "context": {"browser_id": browser_id}}))
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::FORBIDDEN);
    let res = app.post("/api/v1/support/sessions", None, json!({"name": "Somebody else"})).await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED, "the address was not blocked");

    // Listed, and lifted.
    admin.click("#blocks-open").await;
    admin.wait_for("dialog[open] #block-list .lift-block").await;
    check_both_themes(&admin, "the blocked visitors", &mut found).await;
    admin.click("#block-list .lift-block").await;
    admin.wait_text("#block-list", "Nobody is blocked").await;
    let res = app
        .post("/api/v1/support/sessions", None, json!({"name": "Tom, forgiven", "context": {"browser_id": browser_id}}))
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    let audit: Value = {
        let login: Value = app.login("root", crate::helpers::PASSWORD).await.json().await.expect("json");
        let token = login["access_token"].as_str().expect("token").to_owned();
        app.get("/api/v1/admin/audit-log", Some(&token)).await.json().await.expect("json")
    };
    let actions: Vec<&str> =
        audit["entries"].as_array().expect("entries").iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["support.transcript_sent", "support.visitor_blocked", "support.visitor_unblocked"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    visitor.close().await;
    admin.close().await;
    assert!(found.is_empty(), "axe-core: serious or critical violations:\n{}", found.join("\n"));
}

/// A click on a chat in the inbox opens it even when the list is loaded again between the press
/// and the release, as it is after every message of a listed chat, and a keyboard user's focus
/// stays on their entry, also when it moves to the top. The list was built anew each time, so the
/// press and the release fell on two versions of the entry, which is no click (staff clicking a
/// chat while its visitor typed had to click again), and the focus went to the page.
#[actix_web::test]
async fn a_chat_opens_when_the_inbox_is_loaded_again_between_press_and_release() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app_with(|_| {}).await;
    register_admin(&app, "root", "Rita Root").await;
    let ann = crate::helpers::open_session(&app, "ann").await;
    let tom = crate::helpers::open_session(&app, "tom").await;
    let say = async |who: &crate::helpers::Visitor, body: &str| {
        let path = format!("/api/v1/rooms/{}/messages", who.room);
        let res = app.post(&path, Some(&who.guest.access_token), json!({"body": body})).await;
        assert!(res.status().is_success());
    };
    say(&ann, "Where is my parcel?").await;
    say(&tom, "Do you ship abroad?").await;

    let admin = driver.browser(1280, 860).await;
    open_admin(&admin, &app, "root").await;
    admin.click("a[data-view=support]").await;
    let first = "#session-list li:first-child .session";
    admin.wait_text(&format!("{first} .room-name"), "tom").await;
    // A keyboard user on ann's entry, second in the list, keeps the focus there when her message
    // loads the list again and moves her entry to the top.
    let ann_entry = format!("#session-list .session[data-session-id=\"{}\"]", ann.session_id);
    admin
        .script(
            "window.pressed = document.querySelector(arguments[0] + ' .room-name'); \
             document.querySelector(arguments[0]).focus();",
            json!([ann_entry]),
        )
        .await;
    say(&ann, "Anyone there?").await;
    admin.wait_until("the list loaded again", "return window.pressed && !window.pressed.isConnected;", json!([])).await;
    admin.wait_text(&format!("{first} .room-name"), "ann").await;
    let focused = admin.script("return document.activeElement.matches(arguments[0]);", json!([ann_entry])).await;
    assert_eq!(focused, true, "the focus stays on the entry");

    // Her next message loads the list again while staff press on her entry (at the top, it stays).
    click_across_a_redraw(&admin, &format!("{ann_entry} .room-name"), say(&ann, "Hello?")).await;
    admin.wait_text("#support-messages", "Hello?").await;
}
