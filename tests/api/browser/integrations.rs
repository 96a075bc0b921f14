//! The admin panel's "Bots & tokens" and "Webhooks" views in the browser, and the chat app's bot
//! badge: a bot made in the panel (its token shown once) posts into a room, the room shows its
//! message with the badge, and the webhook's delivery log shows the delivery and sends it again;
//! the overview flags a disabled endpoint, and keeps a keyboard user on that flag as it is drawn
//! again.

use serde_json::{Value, json};

use super::webdriver::Driver;
use super::{open_admin, open_room, open_signed_in, register_admin};
use crate::helpers::spawn_app_with;

#[actix_web::test]
async fn a_bot_made_in_the_panel_posts_with_a_badge_and_the_webhook_log_sends_again() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app_with(|s| {
        s.webhooks.allow_private = true;
        s.webhooks.poll_interval_ms = 50;
    })
    .await;
    let root = register_admin(&app, "root", "Rita Root").await;
    let root_token = root["access_token"].as_str().expect("token").to_owned();
    let admin = driver.browser(1280, 900).await;
    open_admin(&admin, &app, "root").await;

    // Bots & tokens: create a bot; its token appears once.
    admin.click("a[data-view=bots]").await;
    admin.type_into("#create-bot-form input[name=username]", "deploybot").await;
    admin.click("#create-bot-form button[type=submit]").await;
    admin.wait_for("#new-secret").await;
    let token = admin.script("return document.querySelector('#new-secret .secret-value').value;", json!([])).await;
    let token = token.as_str().expect("token value").to_owned();
    assert!(token.starts_with("plt_"), "{token}");
    admin.wait_text("#bot-list .bot[data-username=deploybot]", "initial").await;

    // A webhook endpoint pointing at a receiver the test runs (any 2xx will do here).
    let receiver = actix_web::HttpServer::new(|| {
        actix_web::App::new().default_service(actix_web::web::to(|| async { actix_web::HttpResponse::Ok().finish() }))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let url = format!("http://127.0.0.1:{}/hook", receiver.addrs()[0].port());
    actix_web::rt::spawn(receiver.run());
    admin.click("a[data-view=webhooks]").await;
    admin.type_into("#create-webhook-form input[name=url]", &url).await;
    admin.click("#create-webhook-form button[type=submit]").await;
    admin
        .wait_until(
            "the signing secret shown",
            "return (document.querySelector('#webhook-secret .secret-value')?.value ?? '').startsWith('whsec_');",
            json!([]),
        )
        .await;

    // The bot, added to Rita's room, posts; the chat app shows the badge.
    let bot_id = {
        let me: Value = app.me(&token).await.json().await.expect("me");
        me["id"].as_str().expect("id").to_owned()
    };
    let res = app
        .post("/api/v1/rooms", Some(&root_token), json!({"kind": "group", "name": "Ops", "member_ids": [bot_id]}))
        .await;
    let room: Value = res.json().await.expect("room");
    let room_id = room["id"].as_str().expect("id").to_owned();
    let res =
        app.post(&format!("/api/v1/rooms/{room_id}/messages"), Some(&token), json!({"body": "deployed v1.2"})).await;
    assert!(res.status().is_success());
    let chat = driver.browser(1280, 820).await;
    open_signed_in(&chat, &app, &root).await;
    open_room(&chat, &room_id).await;
    chat.wait_text(".msg .meta .bot-badge", "bot").await;

    // The delivery log lists the delivery; "Send again" queues it once more.
    admin.click("#webhook-list .webhook .card-actions button").await;
    admin.wait_text("#delivery-rows", "message.created").await;
    admin.wait_text("#delivery-rows", "delivered").await;
    admin.click("#delivery-rows .resend").await;
    admin.wait_text("#toasts", "Queued again").await;
    admin
        .wait_until(
            "two deliveries listed",
            "return document.querySelectorAll('#delivery-rows tr.delivery').length === 2;",
            json!([]),
        )
        .await;

    // A disabled endpoint is flagged on the overview, linking to the webhooks view.
    let list: Value = app.get("/api/v1/admin/webhooks", Some(&root_token)).await.json().await.expect("list");
    let endpoint = list["webhooks"][0]["id"].as_str().expect("id").to_owned();
    let res =
        app.patch(&format!("/api/v1/admin/webhooks/{endpoint}"), Some(&root_token), json!({"enabled": false})).await;
    assert!(res.status().is_success());
    admin.click("a[data-view=overview]").await;
    admin.wait_text("#webhook-notice a[href='#webhooks']", "1 webhook endpoint is disabled").await;
    // The overview is drawn again every few seconds and on activity (a message here): a keyboard
    // user on the notice's link stays on it.
    admin
        .script(
            "window.noticeBefore = document.querySelector('#webhooks-notice'); window.noticeBefore.focus();",
            json!([]),
        )
        .await;
    let res = app.post(&format!("/api/v1/rooms/{room_id}/messages"), Some(&root_token), json!({"body": "again"})).await;
    assert!(res.status().is_success());
    admin
        .wait_until(
            "the notice drawn anew",
            "const n = document.querySelector('#webhooks-notice'); return !!n && n !== window.noticeBefore;",
            json!([]),
        )
        .await;
    assert_eq!(admin.script("return document.activeElement.id;", json!([])).await, "webhooks-notice");
    chat.close().await;
    admin.close().await;
}
