//! Files in the chat app: an image and a PDF picked in one browser reach another live, after a
//! lost connection (sync) and after a reload (history), open full size and download; refused
//! files are named next to the composer without losing what was typed; an upload in flight can
//! be cancelled; dropped and pasted files upload like picked ones. The files are made by the test and picked through the real file input.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::a11y::check_both_themes;
use super::chat::SOCKET_CUTTER;
use super::webdriver::{Driver, ENTER};
use super::{create_room, open_room, open_signed_in, register_session, screenshot_path};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// A directory of the test's own for the files the browser picks; removed when dropped.
pub struct PickedFiles(PathBuf);

impl PickedFiles {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("plauder-picked-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the files' directory");
        Self(dir)
    }

    /// Writes a file and returns its absolute path, as WebDriver wants it.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).expect("write a file to pick");
        path
    }
}

impl Drop for PickedFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A PNG of `width`×`height` pixels: an evening sky over the sea with a sun, something to look
/// at in the screenshot. `noise` makes it hard to compress (a large file).
pub fn picture_png(width: u32, height: u32, noise: bool) -> Vec<u8> {
    let mut seed: u32 = 0x9e37_79b9;
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let fx = x as f32 / width as f32;
        let fy = y as f32 / height as f32;
        let (dx, dy) = ((fx - 0.68) * width as f32, (fy - 0.42) * height as f32);
        let sun = (dx * dx + dy * dy).sqrt() < height as f32 * 0.12;
        let horizon = 0.62 + 0.02 * (fx * 18.0).sin();
        let [r, g, b] = if sun {
            [255.0, 214.0, 120.0]
        } else if fy < horizon {
            [255.0 - 150.0 * (1.0 - fy), 140.0 + 40.0 * fy, 120.0 + 110.0 * (1.0 - fy)]
        } else {
            [30.0 + 40.0 * (1.0 - fy), 70.0 + 50.0 * (1.0 - fy), 120.0 + 60.0 * (1.0 - fy)]
        };
        let mut jitter = 0.0;
        if noise {
            // xorshift: reproducible, and no compressor finds a pattern in it.
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            jitter = f32::from((seed & 0x3f) as u8) - 32.0;
        }
        image::Rgb([
            (r + jitter).clamp(0.0, 255.0) as u8,
            (g + jitter).clamp(0.0, 255.0) as u8,
            (b + jitter).clamp(0.0, 255.0) as u8,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("encode the PNG");
    out.into_inner()
}

/// A small PDF (browsers and the server know it by its `%PDF-` start).
pub fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n% Trip plan\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}

/// Uploads a file over the API (as another client would) and returns its view.
async fn upload(app: &TestApp, session: &Value, name: &str, bytes: Vec<u8>) -> Value {
    let url = reqwest::Url::parse_with_params(&format!("{}/api/v1/attachments", app.address), &[("name", name)])
        .expect("url");
    let res = app
        .client
        .post(url)
        .bearer_auth(session["access_token"].as_str().expect("token"))
        .body(bytes)
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), StatusCode::CREATED, "upload {name}");
    res.json().await.expect("json")
}

/// The script that holds once an image in `#messages` with this alt text has loaded; returns
/// its natural width.
const IMAGE_LOADED: &str = "const img = [...document.querySelectorAll('#messages .att-image img')].find(i => i.alt === arguments[0]); \
     return !!img && img.complete && img.naturalWidth;";

#[actix_web::test]
async fn an_image_and_a_pdf_go_from_one_browser_to_another_live_after_a_lost_connection_and_in_history() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app().await;
    let ada = register_session(&app, "ada", "Ada Lovelace").await;
    let bob = register_session(&app, "bob", "Bob").await;
    let room =
        create_room(&app, &ada, json!({"kind": "group", "name": "Trip planning", "member_ids": [bob["user"]["id"]]}))
            .await;
    let picked = PickedFiles::new();
    let photo = picked.write("harbour.png", &picture_png(960, 600, false));
    let plan_bytes = pdf();
    let plan = picked.write("plan.pdf", &plan_bytes);
    let a = driver.browser(1280, 820).await;
    let b = driver.browser(1280, 820).await;
    b.on_new_document(SOCKET_CUTTER).await;
    open_signed_in(&a, &app, &ada).await;
    open_signed_in(&b, &app, &bob).await;
    open_room(&a, &room).await;
    open_room(&b, &room).await;
    b.type_into("#composer", &format!("How was the harbour?{ENTER}")).await;
    a.wait_text("#messages", "How was the harbour?").await;

    // Ada picks the photo through the attach button's file input: it uploads at once and goes
    // with the text she sends next.
    a.attach_files("#attach-input", &[&photo]).await;
    a.wait_for("#uploads .upload.done").await;
    a.wait_text("#uploads", "harbour.png").await;
    a.type_into("#composer", &format!("Lovely! The view from the pier:{ENTER}")).await;
    a.wait_until("the tray to empty", "return document.querySelector('#uploads').hidden;", json!([])).await;

    // Bob sees it live, as its thumbnail: the signed link works in <img> under the page's CSP.
    let thumb = b.wait_until("the photo's thumbnail at Bob's", IMAGE_LOADED, json!(["harbour.png"])).await;
    assert_eq!(thumb, 320, "the thumbnail, not the whole photo");
    b.wait_text("#messages", "Lovely! The view from the pier:").await;

    // The PDF alone, without text: a download chip with its name and size.
    a.attach_files("#attach-input", &[&plan]).await;
    a.wait_for("#uploads .upload.done").await;
    a.click("#send").await;
    b.wait_text("#messages .att-file", "plan.pdf").await;
    assert_eq!(b.text("#messages .att-file .att-size").await, format!("{} bytes", plan_bytes.len()));
    let fetched = b
        .script_async(
            "const done = arguments[arguments.length - 1];
             fetch(document.querySelector('#messages .att-file').href)
               .then(async (r) => done([r.status, r.headers.get('content-type'), (await r.text()).slice(0, 5)]), (e) => done(String(e)));",
            json!([]),
        )
        .await;
    assert_eq!(fetched, json!([200, "application/pdf", "%PDF-"]));

    // Bob opens the photo full size, and Escape closes it with focus back on the thumbnail.
    let mut found = Vec::new();
    check_both_themes(&b, "a room with an image and a PDF", &mut found).await;
    b.click("#messages .att-image").await;
    let full = b
        .wait_until(
            "the full-size photo",
            "const img = document.querySelector('dialog[open] .lightbox-image'); return !!img && img.complete && img.naturalWidth;",
            json!([]),
        )
        .await;
    assert_eq!(full, 960);
    check_both_themes(&b, "the image viewer", &mut found).await;
    b.type_into("dialog[open] button[aria-label=Close]", "\u{E00C}").await;
    b.wait_until("the viewer to close", "return !document.querySelector('dialog[open]');", json!([])).await;
    assert_eq!(b.script("return document.activeElement.classList.contains('att-image');", json!([])).await, true);

    // Bob loses his connection; Ada's next photo (sent from another client) reaches him with
    // the sync after he is back.
    b.script("window.__blockSockets = true; window.__sockets.forEach(s => s.close());", json!([])).await;
    b.wait_text(".conn", "Reconnecting").await;
    let sunset = upload(&app, &ada, "sunset.png", picture_png(800, 500, false)).await;
    let res = app
        .post(
            &format!("/api/v1/rooms/{room}/messages"),
            ada["access_token"].as_str(),
            json!({"body": "And the sunset from the hotel", "attachment_ids": [sunset["id"]]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    a.wait_until("the sunset at Ada's", IMAGE_LOADED, json!(["sunset.png"])).await;
    b.script("window.__blockSockets = false; window.dispatchEvent(new Event('online'));", json!([])).await;
    b.wait_until("the sunset at Bob's after the sync", IMAGE_LOADED, json!(["sunset.png"])).await;

    // After a reload everything comes from the history.
    open_signed_in(&b, &app, &bob).await;
    open_room(&b, &room).await;
    for name in ["harbour.png", "sunset.png"] {
        b.wait_until(&format!("{name} from the history"), IMAGE_LOADED, json!([name])).await;
    }
    b.wait_text("#messages .att-file", "plan.pdf").await;

    a.screenshot(&screenshot_path("chat-files.png")).await;
    a.close().await;
    b.close().await;
    assert!(found.is_empty(), "axe-core: serious or critical violations:\n{}", found.join("\n"));
}

/// A file refused for a full attachment quota says that files have to go first, not that there
/// were too many at once (both are 429 `rate_limited`; the quota's carries `details.reason`).
#[actix_web::test]
async fn a_file_past_the_storage_quota_says_so_by_the_composer() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app_with(|s| s.attachments.user_quota_bytes = 100).await;
    let ada = register_session(&app, "ada", "Ada").await;
    let room = create_room(&app, &ada, json!({"kind": "group", "name": "Team", "member_ids": []})).await;
    let picked = PickedFiles::new();
    let small = picked.write("small.png", &picture_png(64, 48, false));
    assert!(std::fs::metadata(&small).expect("small.png").len() > 100, "small.png must be over the quota");
    let a = driver.browser(1100, 800).await;
    open_signed_in(&a, &app, &ada).await;
    open_room(&a, &room).await;

    a.attach_files("#attach-input", &[&small]).await;
    a.wait_text(
        "#compose-error",
        "“small.png” was not attached: your files would pass your storage quota. Delete some of them first.",
    )
    .await;
    assert_eq!(a.script("return document.querySelectorAll('#uploads .upload').length;", json!([])).await, 0);
    a.close().await;
}

#[actix_web::test]
async fn refused_files_are_named_by_the_composer_a_cancelled_upload_stops_and_the_text_stays() {
    let Some(driver) = Driver::start().await else { return };
    let app = spawn_app_with(|s| s.attachments.max_bytes = 50_000).await;
    let ada = register_session(&app, "ada", "Ada").await;
    let bob = register_session(&app, "bob", "Bob").await;
    let room =
        create_room(&app, &ada, json!({"kind": "group", "name": "Team", "member_ids": [bob["user"]["id"]]})).await;
    let picked = PickedFiles::new();
    let notes = picked.write("notes.txt", b"milk, eggs, flour\n");
    let big = picked.write("big.png", &picture_png(300, 300, true));
    assert!(std::fs::metadata(&big).expect("big.png").len() > 50_000, "big.png must be over the limit");
    let small = picked.write("small.png", &picture_png(64, 48, false));
    let a = driver.browser(1100, 800).await;
    open_signed_in(&a, &app, &ada).await;
    open_room(&a, &room).await;
    let draft = "A draft I am still writing";
    a.type_into("#composer", draft).await;
    let composer = "return document.querySelector('#composer').value;";

    // A type the server does not take (415): named next to the composer, the text untouched.
    a.attach_files("#attach-input", &[&notes]).await;
    a.wait_text("#compose-error", "“notes.txt” was not attached: files of this type cannot be sent here.").await;
    assert_eq!(a.script(composer, json!([])).await, draft);
    assert_eq!(a.script("return document.querySelectorAll('#uploads .upload').length;", json!([])).await, 0);
    let mut found = Vec::new();
    check_both_themes(&a, "a refused file by the composer", &mut found).await;

    // Too large (413).
    a.attach_files("#attach-input", &[&big]).await;
    a.wait_text("#compose-error", "“big.png” was not attached: it is too large to send.").await;
    assert_eq!(a.script(composer, json!([])).await, draft);

    // An upload held in the browser's network layer stays in flight: its progress shows, a send
    // meanwhile waits (the text stays), and cancelling drops it before it reaches the server.
    a.cdp("Fetch.enable", json!({"patterns": [{"urlPattern": "*/api/v1/attachments?*", "requestStage": "Request"}]}))
        .await;
    a.attach_files("#attach-input", &[&small]).await;
    a.wait_for("#uploads .upload.uploading progress").await;
    check_both_themes(&a, "an upload in progress", &mut found).await;
    a.click("#send").await;
    a.wait_text("#compose-error", "files are still uploading").await;
    assert_eq!(a.script(composer, json!([])).await, draft);
    a.click("#uploads .upload-cancel").await;
    a.wait_until("the upload to go", "return document.querySelector('#uploads').hidden;", json!([])).await;
    a.cdp("Fetch.disable", json!({})).await;
    assert_eq!(app.count("SELECT count(*) AS n FROM attachments").await, 0, "nothing reached the server");

    // The text goes out as it was, without files.
    a.type_into("#composer", ENTER).await;
    a.wait_until(
        "the draft sent",
        "return [...document.querySelectorAll('#messages li.msg[data-id] .body')].some(b => b.textContent === arguments[0]);",
        json!([draft]),
    )
    .await;
    let history: Value = app
        .get(&format!("/api/v1/rooms/{room}/messages"), ada["access_token"].as_str())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(history["messages"][0]["body"], draft);
    assert_eq!(history["messages"][0]["attachments"], json!([]));

    // Files dropped on the room and pasted into the message field upload the same way.
    a.script(
        "const file = (name) => new File(['%PDF-1.4\\n% ' + name + '\\n%%EOF\\n'], name, { type: 'application/pdf' });
         const dropped = new DataTransfer(); dropped.items.add(file('dropped.pdf'));
         const section = document.querySelector('section.chat');
         section.dispatchEvent(new DragEvent('dragover', { dataTransfer: dropped, bubbles: true, cancelable: true }));
         section.dispatchEvent(new DragEvent('drop', { dataTransfer: dropped, bubbles: true, cancelable: true }));
         const pasted = new DataTransfer(); pasted.items.add(file('pasted.pdf'));
         document.querySelector('#composer').dispatchEvent(new ClipboardEvent('paste', { clipboardData: pasted, bubbles: true, cancelable: true }));",
        json!([]),
    )
    .await;
    a.wait_until(
        "both files uploaded",
        "return document.querySelectorAll('#uploads .upload.done').length === 2;",
        json!([]),
    )
    .await;
    a.click("#send").await;
    a.wait_until(
        "the dropped and the pasted file in one message",
        "return [...document.querySelectorAll('#messages li.msg[data-id]')].some(li => \
           [...li.querySelectorAll('.att-file .att-name')].map(n => n.textContent).sort().join() === 'dropped.pdf,pasted.pdf');",
        json!([]),
    )
    .await;
    a.close().await;
    assert!(found.is_empty(), "axe-core: serious or critical violations:\n{}", found.join("\n"));
}
