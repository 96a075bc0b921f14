//! The assistant in the browser: the admin panel's knowledge base (add an entry, try a question),
//! an answer growing in the chat app as the model streams it and then standing as a message with
//! the bot badge, and the same in the support widget with the "a person will answer" hand-over,
//! axe-core over each of these views.

use serde_json::{Value, json};

use super::a11y::{check_both_themes, check_widget_both_schemes};
use super::webdriver::Driver;
use super::widget::shop_page;
use super::{open_admin, open_room, open_signed_in, register_admin};
use crate::assistant::{Model, Mood, PIECES};
use crate::helpers::spawn_app_with;

const SHADOW: &str = "const w = document.querySelector('[data-plauder-widget]')?.shadowRoot; if (!w) return false;";

#[actix_web::test]
async fn answers_grow_in_the_app_and_the_widget_and_the_panel_keeps_the_knowledge_base() {
    let Some(driver) = Driver::start().await else { return };
    let model = Model::start(Mood::Streams { gap_ms: 700 }).await;
    let url = model.url.clone();
    let app = spawn_app_with(|s| {
        s.assistant.enabled = true;
        s.assistant.endpoint = url;
        s.assistant.model = "test-model".into();
        s.assistant.support_wait_ms = 100;
    })
    .await;
    let root = register_admin(&app, "root", "Rita Root").await;
    let token = root["access_token"].as_str().expect("token").to_owned();
    let whole = PIECES.concat();

    // The panel: an FAQ entry added through the form, then a question tried against it.
    let admin = driver.browser(1280, 900).await;
    open_admin(&admin, &app, "root").await;
    admin.click("a[data-view=knowledge]").await;
    admin.type_into("#create-knowledge-form input[name=title]", "How do I reset my password?").await;
    admin.type_into("#create-knowledge-form textarea[name=body]", "Use the link on the sign-in page.").await;
    admin.click("#create-knowledge-form button[type=submit]").await;
    admin.wait_text("#knowledge-list", "How do I reset my password?").await;
    admin.type_into("#knowledge-search-form input[name=q]", "I forgot my password").await;
    admin.click("#knowledge-search-form button[type=submit]").await;
    admin.wait_text("#knowledge-hits", "How do I reset my password?").await;
    let mut found = Vec::new();
    check_both_themes(&admin, "the knowledge base", &mut found).await;

    // The app: a mention; the answer grows in place, then stands as the assistant's message.
    let res = app.post("/api/v1/rooms", Some(&token), json!({"kind": "group", "name": "Help"})).await;
    let room: Value = res.json().await.expect("room");
    let room_id = room["id"].as_str().expect("id").to_owned();
    let chat = driver.browser(1280, 820).await;
    open_signed_in(&chat, &app, &root).await;
    open_room(&chat, &room_id).await;
    let res = app
        .post(
            &format!("/api/v1/rooms/{room_id}/messages"),
            Some(&token),
            json!({"body": "@assistant how do I reset my password?"}),
        )
        .await;
    assert!(res.status().is_success());
    chat.wait_until(
        "part of the answer, still being written",
        "const b = document.querySelector('#messages li.msg.streaming .body'); \
         return !!b && b.textContent.length > 0 && b.textContent !== arguments[0];",
        json!([whole]),
    )
    .await;
    check_both_themes(&chat, "an answer being streamed", &mut found).await;
    chat.wait_until(
        "the whole answer as a message",
        "return !document.querySelector('#messages li.msg.streaming') && \
         [...document.querySelectorAll('#messages li.msg[data-id] .body')].some((b) => b.textContent === arguments[0]);",
        json!([whole]),
    )
    .await;
    chat.wait_text("#messages .msg .meta .bot-badge", "bot").await;

    // The widget: a visitor's question is answered by the assistant, growing, then handed over.
    let visitor = driver.browser(1100, 800).await;
    visitor.goto(&shop_page(&app.address)).await;
    visitor
        .wait_until("the widget's button", &format!("{SHADOW} return !!w.querySelector('.launcher');"), json!([]))
        .await;
    visitor.script(&format!("{SHADOW} w.querySelector('.launcher').click();"), json!([])).await;
    for (css, value) in
        [(".start input[name=name]", "Grace Hopper"), (".composer textarea", "How do I reset my password?")]
    {
        visitor.wait_until(css, &format!("{SHADOW} return !!w.querySelector(arguments[0]);"), json!([css])).await;
        visitor
            .script(
                &format!(
                    "{SHADOW} const i = w.querySelector(arguments[0]); i.value = arguments[1]; \
                     i.dispatchEvent(new Event('input')); i.form.requestSubmit();"
                ),
                json!([css, value]),
            )
            .await;
    }
    visitor
        .wait_until(
            "the assistant's answer growing in the widget",
            &format!(
                "{SHADOW} const b = w.querySelector('.msg.assistant[aria-busy=true] .bubble'); \
                 return !!b && b.textContent.length > 0 && b.textContent !== arguments[0];"
            ),
            json!([whole]),
        )
        .await;
    visitor
        .wait_until(
            "the whole answer and the hand-over",
            &format!(
                "{SHADOW} const done = [...w.querySelectorAll('.msg.assistant:not([aria-busy]) .bubble')].some((b) => b.textContent === arguments[0]); \
                 return done && (w.querySelector('.handover')?.textContent ?? '').includes('A person from our team');"
            ),
            json!([whole]),
        )
        .await;
    check_widget_both_schemes(&visitor, "the widget with the assistant's answer", &mut found).await;
    assert!(found.is_empty(), "accessibility violations:\n{}", found.join("\n"));
}
