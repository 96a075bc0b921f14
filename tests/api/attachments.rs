//! Attachments: the streamed upload and its refusals, sending files with messages over REST and
//! WebSocket, who may download them (signed links, tokens, Range), the scan hook, and what the
//! retention job leaves in the store (the tests count the blobs of their own store). The round
//! trips run on both stores, the local directory and S3 (a bucket per test on the moto server
//! scripts/test.sh starts); the S3 store's own cases (a bucket shared by two instances, one that
//! is missing or goes away) follow them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use plauder::config::{BlobStoreKind, Settings};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use serde_json::{Value, json};
use sha2::Digest as _;
use uuid::Uuid;

use crate::helpers::s3::{Bucket, PREFIX, Relay};
use crate::helpers::wait::{check, eventually};
use crate::helpers::{
    JWT_SECRET, TestApp, TestUser, assert_error, open_session, spawn_app, spawn_app_from, spawn_app_with,
    test_settings, user_with_role,
};

/// Where a test's app keeps its files.
#[derive(Clone, Copy, Debug)]
pub enum Store {
    Local,
    S3,
}

/// An app whose attachment store is `store` (S3: a bucket of its own).
pub async fn spawn_on(store: Store) -> TestApp {
    let mut settings = test_settings().await;
    if let Store::S3 = store {
        Bucket::create().await.configure(&mut settings);
    }
    spawn_app_from(settings).await
}

/// For each `name`, a module `name` with the tests `local` and `s3`, which run the function
/// `name(store)` on that store.
macro_rules! on_each_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn local() {
                super::$name(super::Store::Local).await;
            }

            #[actix_web::test]
            async fn s3() {
                super::$name(super::Store::S3).await;
            }
        }
    )*};
}
pub(crate) use on_each_store;

on_each_store!(
    an_uploaded_png_is_typed_from_its_content_and_stored_once_by_its_hash,
    an_image_and_a_pdf_sent_with_a_message_reach_the_other_member_and_download_by_link,
    ranges_are_served_and_out_of_bounds_ones_get_416,
    a_file_larger_than_one_part_is_stored_whole_and_served_in_ranges,
    retention_removes_the_files_of_deleted_messages_rooms_and_unsent_uploads,
    a_photo_is_served_without_its_gps_and_with_a_thumbnail_and_both_go_with_the_message,
    a_blob_the_sweep_deletes_before_its_upload_names_it_is_stored_again,
    an_upload_whose_client_hangs_up_during_its_commit_leaves_no_row_without_its_blob,
);

/// A connection holding `user`'s uploads lock (`OWNER_LOCK_CLASS`) in an open transaction: their
/// next upload stores its blob, then waits before its row until the holder rolls back.
async fn hold_uploads_of(app: &TestApp, user: &TestUser) -> diesel_async::AsyncPgConnection {
    use diesel_async::{AsyncConnection, SimpleAsyncConnection};
    use plauder::db::queries::attachments::OWNER_LOCK_CLASS;
    let mut holder = diesel_async::AsyncPgConnection::establish(&app.db_url).await.expect("connect");
    holder
        .batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({OWNER_LOCK_CLASS}, hashtext('{}'))", user.id))
        .await
        .expect("hold the user's uploads");
    holder
}

/// The store's key of `bytes`: their SHA-256 in hex.
fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// An upload stores its blob, then names it in its row's transaction: a sweep that runs in between
/// finds the blob named by nothing and deletes it, and the upload, once its row has committed,
/// finds it gone and stores it again. (The upload is staged between the two by holding its owner's
/// lock, which its transaction takes first.)
async fn a_blob_the_sweep_deletes_before_its_upload_names_it_is_stored_again(store: Store) {
    use diesel_async::SimpleAsyncConnection;

    let app = spawn_on(store).await;
    let ada = app.register("ada").await;
    let bytes = pdf("swept in between");
    let key = sha256_hex(&bytes);
    let mut holder = hold_uploads_of(&app, &ada).await;

    let uploaded = upload_raw(&app, &ada, "late.pdf", None, bytes.clone());
    let sweep_between = async {
        eventually("the blob stored", async || check(blobs(&app).await, |b| b.contains(&key))).await;
        let report = crate::retention::completed(&app).await;
        assert_eq!(report.attachment_blobs, 1, "{report:?}");
        assert!(!blobs(&app).await.contains(&key), "the sweep deleted the blob nothing named yet");
        holder.batch_execute("ROLLBACK").await.expect("release");
    };
    let (res, ()) = tokio::join!(uploaded, sweep_between);

    assert_eq!(res.status(), StatusCode::CREATED);
    let view: Value = res.json().await.expect("json");
    assert!(blobs(&app).await.contains(&key), "stored again");
    let content = content_by_token(&app, &ada, &view).await;
    assert_eq!(content.status(), StatusCode::OK);
    assert_eq!(content.bytes().await.expect("bytes").to_vec(), bytes);
    assert_eq!(crate::retention::completed(&app).await.attachment_blobs, 0, "named now: the sweep keeps it");
}

/// As above, with the client hanging up while the upload's row commits (the commit made slow by
/// a deferred trigger of the test's): the row commits all the same, so its blob, deleted by the
/// sweep in between, must be back in the store by then; no step after the commit may be needed
/// (the request's handler is dropped with its client).
async fn an_upload_whose_client_hangs_up_during_its_commit_leaves_no_row_without_its_blob(store: Store) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

    let app = spawn_on(store).await;
    let ada = app.register("ada").await;
    let bytes = pdf("hung up at the commit");
    let key = sha256_hex(&bytes);
    let mut slow = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
    slow.batch_execute(
        "CREATE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS \
           $$ BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$; \
         CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON attachments \
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_slow_commit();",
    )
    .await
    .expect("slow commits");
    let mut holder = hold_uploads_of(&app, &ada).await;

    // A raw connection, so that hanging up resets it: the server's next read fails at once, and
    // the dispatcher drops the request's handler (a plain close can go unnoticed until it answers).
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.expect("connect to the server");
    let head = format!(
        "POST /api/v1/attachments?name=gone.pdf HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
        ada.access_token,
        bytes.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut conn, head.as_bytes()).await.expect("request head");
    tokio::io::AsyncWriteExt::write_all(&mut conn, &bytes).await.expect("request body");
    eventually("the blob stored", async || check(blobs(&app).await, |b| b.contains(&key))).await;
    assert_eq!(crate::retention::completed(&app).await.attachment_blobs, 1);
    assert!(!blobs(&app).await.contains(&key), "the sweep deleted the blob nothing named yet");
    holder.batch_execute("ROLLBACK").await.expect("release");

    // The upload's transaction is committing (in the trigger's sleep): its client hangs up.
    let sleeping =
        "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()";
    eventually("the upload's commit under way", async || check(app.count(sleeping).await, |n| *n == 1)).await;
    conn.set_zero_linger().expect("linger");
    drop(conn);

    let rows = format!("SELECT count(*) AS n FROM attachments WHERE sha256 = '{key}'");
    eventually("the row committed", async || check(app.count(&rows).await, |n| *n == 1)).await;
    assert!(blobs(&app).await.contains(&key), "a committed row names a blob the store does not have");
}

/// A valid 1×1 PNG.
pub fn png() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
        .expect("png")
}

/// The same PNG with its header claiming 100,000 × 100,000 pixels: a few dozen bytes that would
/// decode to 40 GB.
pub fn png_bomb() -> Vec<u8> {
    let mut bytes = png();
    // IHDR's width and height follow the 8-byte signature, the chunk length and "IHDR".
    bytes[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bytes[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    bytes
}

/// A GIF whose header says 1 × 1 pixels and whose one frame is `side` × `side`, all one colour (a
/// few KB): the header check passes it, and a decoder left alone allocates `side`² × 4 bytes.
pub fn gif_bomb(side: u16) -> Vec<u8> {
    let mut encoder = gif::Encoder::new(Vec::new(), 1, 1, &[0, 0, 0, 255, 255, 255]).expect("gif");
    let pixels = vec![0; usize::from(side) * usize::from(side)];
    let frame = gif::Frame { width: side, height: side, buffer: pixels.into(), ..gif::Frame::default() };
    encoder.write_frame(&frame).expect("frame");
    encoder.into_inner().expect("trailer")
}

/// A small PDF (what `infer` and browsers recognise by its `%PDF-` start), with `text` inside.
pub fn pdf(text: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {text}\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n").into_bytes()
}

const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

async fn upload_raw(
    app: &TestApp,
    user: &TestUser,
    name: &str,
    content_type: Option<&str>,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let url = reqwest::Url::parse_with_params(&format!("{}/api/v1/attachments", app.address), &[("name", name)])
        .expect("url");
    let mut req = app.client.post(url).bearer_auth(&user.access_token).body(bytes);
    if let Some(ct) = content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    req.send().await.expect("upload")
}

pub async fn upload(app: &TestApp, user: &TestUser, name: &str, bytes: Vec<u8>) -> Value {
    let res = upload_raw(app, user, name, None, bytes).await;
    assert_eq!(res.status(), StatusCode::CREATED, "upload {name}");
    res.json().await.expect("json")
}

pub async fn send_with(app: &TestApp, user: &TestUser, room: Uuid, body: &str, ids: &[&Value]) -> reqwest::Response {
    let ids: Vec<&Value> = ids.iter().map(|a| &a["id"]).collect();
    app.post(
        &format!("/api/v1/rooms/{room}/messages"),
        Some(&user.access_token),
        json!({"body": body, "attachment_ids": ids}),
    )
    .await
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn store_dir(app: &TestApp) -> PathBuf {
    PathBuf::from(&app.state.settings.attachments.directory)
}

/// The keys of the blobs in the app's store: the local store's file names under `blobs/`, or the
/// objects under the test prefix of its bucket (listed over HTTP, not through plauder's store).
pub async fn blobs(app: &TestApp) -> Vec<String> {
    let settings = &app.state.settings.attachments;
    match settings.store {
        BlobStoreKind::Local => files_under(&store_dir(app).join("blobs"))
            .iter()
            .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
            .collect(),
        BlobStoreKind::S3 => Bucket::named(&settings.s3.bucket).blobs().await,
    }
}

fn temp_files(app: &TestApp) -> Vec<PathBuf> {
    files_under(&store_dir(app).join("tmp"))
}

/// A refusal's `Retry-After`, in seconds.
fn retry_after_secs(res: &reqwest::Response) -> u64 {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds")
}

/// Uploads `bytes` with `Transfer-Encoding: chunked` (no Content-Length, so the server only
/// learns the size by reading), over a plain socket; the response's status line.
async fn chunked_upload(app: &TestApp, user: &TestUser, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&host).await.expect("connect");
    let head = format!(
        "POST /api/v1/attachments?name=big.pdf HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        user.access_token
    );
    socket.write_all(head.as_bytes()).await.expect("head");
    for chunk in bytes.chunks(500) {
        // The server may answer and close before the whole body is sent.
        if socket.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.is_err()
            || socket.write_all(chunk).await.is_err()
            || socket.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = socket.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = socket.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).lines().next().unwrap_or_default().to_owned()
}

/// GET of an attachment's content with `user`'s access token (`view`: its upload's or message's view).
async fn content_by_token(app: &TestApp, user: &TestUser, view: &Value) -> reqwest::Response {
    app.get(
        &format!("/api/v1/attachments/{}/content", view["id"].as_str().unwrap_or_default()),
        Some(&user.access_token),
    )
    .await
}

/// GET of a link from a view (relative to the server), without any Authorization header.
async fn fetch_link(app: &TestApp, url: &str) -> reqwest::Response {
    app.client.get(format!("{}{url}", app.address)).send().await.expect("download")
}

async fn an_uploaded_png_is_typed_from_its_content_and_stored_once_by_its_hash(store: Store) {
    let app = spawn_on(store).await;
    let ada = app.register("ada").await;

    let first = upload(&app, &ada, "dot.png", png()).await;
    let second = upload(&app, &ada, "again.png", png()).await;

    assert_eq!(first["content_type"], "image/png");
    assert_eq!(first["size"], png().len());
    assert_eq!((first["width"].as_i64(), first["height"].as_i64()), (Some(1), Some(1)));
    assert_eq!(first["name"], "dot.png");
    // No larger than a thumbnail: the image's own link serves as one.
    assert_eq!(first["thumbnail_url"], first["url"]);
    assert_ne!(first["id"], second["id"], "two uploads, two attachments");
    let stored = blobs(&app).await;
    assert_eq!(stored.len(), 1, "one blob for one content: {stored:?}");
    let name = &stored[0];
    assert_eq!(name.len(), 64, "named by its SHA-256: {name}");
    assert!(temp_files(&app).is_empty(), "no temporary file left");
}

async fn an_image_and_a_pdf_sent_with_a_message_reach_the_other_member_and_download_by_link(store: Store) {
    let app = spawn_on(store).await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let room = app.group(&ada, "files", &[&bob]).await;
    let image = upload(&app, &ada, "dot.png", png()).await;
    let doc = upload(&app, &ada, "notes.pdf", pdf("notes")).await;

    let res = send_with(&app, &ada, room, "", &[&image, &doc]).await;

    assert_eq!(res.status(), StatusCode::CREATED, "an empty body is fine with files");
    let sent: Value = res.json().await.expect("json");
    let history = app.history(&bob, room, "").await;
    let message = &history["messages"][0];
    assert_eq!(message["id"], sent["id"]);
    let files = message["attachments"].as_array().expect("attachments");
    assert_eq!(files.len(), 2, "{message}");
    assert_eq!(files[0]["id"], image["id"]);
    assert_eq!(files[1]["content_type"], "application/pdf");

    let img = fetch_link(&app, files[0]["url"].as_str().expect("url")).await;
    assert_eq!(img.status(), StatusCode::OK);
    assert_eq!(img.headers()["x-content-type-options"], "nosniff");
    assert_eq!(img.headers()[CONTENT_TYPE], "image/png");
    assert!(img.headers()[CONTENT_DISPOSITION].to_str().unwrap_or_default().starts_with("inline"));
    assert_eq!(img.bytes().await.expect("bytes").to_vec(), png());
    let pdf_res = fetch_link(&app, files[1]["url"].as_str().expect("url")).await;
    assert_eq!(pdf_res.status(), StatusCode::OK);
    let disposition = pdf_res.headers()[CONTENT_DISPOSITION].to_str().unwrap_or_default().to_owned();
    assert!(disposition.starts_with("attachment") && disposition.contains("notes.pdf"), "{disposition}");
    assert_eq!(pdf_res.bytes().await.expect("bytes").to_vec(), pdf("notes"));

    // With a token instead of a link: a member may, the sender's own upload too.
    let by_token = content_by_token(&app, &bob, &image).await;
    assert_eq!(by_token.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_message_sent_with_files_over_websocket_carries_them_in_the_event_sync_and_edits() {
    let app = spawn_app().await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let room = app.group(&ada, "files", &[&bob]).await;
    let image = upload(&app, &ada, "dot.png", png()).await;
    let mut ada_ws = app.ws(&ada.access_token).await;
    let mut bob_ws = app.ws(&bob.access_token).await;

    let reply =
        ada_ws.command("message.send", json!({"room_id": room, "body": "look", "attachment_ids": [image["id"]]})).await;

    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["data"]["message"]["attachments"][0]["id"], image["id"], "{reply}");
    let event = bob_ws.event("message.new").await;
    assert_eq!(event["message"]["attachments"][0]["id"], image["id"], "{event}");
    assert_eq!(event["message"]["attachments"][0]["width"], 1);
    let id = event["message"]["id"].as_str().expect("id").to_owned();
    let sync = bob_ws.command("sync", json!({"room_id": room, "since_seq": 0})).await;
    assert_eq!(sync["data"]["messages"][0]["attachments"][0]["id"], image["id"], "{sync}");
    let edited =
        app.patch(&format!("/api/v1/messages/{id}"), Some(&ada.access_token), json!({"body": "look again"})).await;
    assert_eq!(edited.status(), StatusCode::OK);
    let edited: Value = edited.json().await.expect("json");
    assert_eq!(edited["attachments"][0]["id"], image["id"], "an edit keeps the files: {edited}");
    // As it could have been sent without words, it can be edited to none (it used to be 422)...
    let res = app.patch(&format!("/api/v1/messages/{id}"), Some(&ada.access_token), json!({"body": " "})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let edited: Value = res.json().await.expect("json");
    assert_eq!((edited["body"].as_str(), edited["attachments"][0]["id"].clone()), (Some(" "), image["id"].clone()));
    // ...and a message without files cannot.
    let plain = app.send(&ada, room, "words only").await;
    let plain = plain["id"].as_str().expect("id");
    let res = app.patch(&format!("/api/v1/messages/{plain}"), Some(&ada.access_token), json!({"body": ""})).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[actix_web::test]
async fn another_users_or_a_used_attachment_in_a_send_is_refused_and_no_message_is_made() {
    let app = spawn_app().await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let room = app.group(&ada, "files", &[&bob]).await;
    let bobs = upload(&app, &bob, "dot.png", png()).await;
    let adas = upload(&app, &ada, "mine.pdf", pdf("mine")).await;

    let res = send_with(&app, &ada, room, "stolen", &[&bobs]).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = send_with(&app, &ada, room, "mixed", &[&adas, &bobs]).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let unknown = json!({"id": Uuid::new_v4()});
    let res = send_with(&app, &ada, room, "guessed", &[&unknown]).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM messages").await, 0, "no message for a refused send");
    assert_eq!(app.count("SELECT count(*) AS n FROM attachments WHERE message_id IS NOT NULL").await, 0);

    let res = send_with(&app, &ada, room, "first", &[&adas]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = send_with(&app, &ada, room, "second", &[&adas]).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = send_with(&app, &ada, room, "twice", &[&adas, &adas]).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM messages").await, 1);
    let res = app.get(&format!("/api/v1/rooms/{}/messages", room), Some(&bob.access_token)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn wrong_types_lying_names_and_lying_headers_get_415() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;

    let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00rest of a zip archive".to_vec();
    let body = assert_error(
        upload_raw(&app, &ada, "a.zip", None, zip).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("application/zip"), "{body}");
    let text = b"just some words, no magic number".to_vec();
    assert_error(
        upload_raw(&app, &ada, "a.txt", None, text).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    // A PDF named like a picture, and one declared as a picture.
    assert_error(
        upload_raw(&app, &ada, "holiday.png", None, pdf("x")).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_error(
        upload_raw(&app, &ada, "doc", Some("image/png"), pdf("x")).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    // Named as a web page (no magic bytes, so no detected type has it), as another image type, or
    // with the extension of a type infer detects: each a lie about a PDF or a PNG.
    for (name, bytes) in [
        ("page.html", pdf("x")),
        ("page.HTM", pdf("x")),
        ("dot.jpg", png()),
        ("report.docx", pdf("x")),
        ("a.svg", png()),
    ] {
        let body = assert_error(
            upload_raw(&app, &ada, name, None, bytes).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        assert!(body["error"]["message"].as_str().unwrap_or_default().contains(&format!(".{ext} ")), "{name}: {body}");
    }
    // Declared right (parameters and case aside), it passes.
    let res = upload_raw(&app, &ada, "doc.PDF", Some("Application/PDF; charset=binary"), pdf("x")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // A name without an extension, or with one no type has, is kept for display, and the download
    // is saved under it with the detected type's extension.
    for (name, saved) in [("notes", "notes.pdf"), ("draft v1.2", "draft v1.2.pdf"), ("doc.PDF", "doc.PDF")] {
        let res = upload_raw(&app, &ada, name, None, pdf("x")).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{name}");
        let view: Value = res.json().await.expect("json");
        assert_eq!(view["name"], name);
        let res = app
            .get(&format!("/api/v1/attachments/{}/content", view["id"].as_str().expect("id")), Some(&ada.access_token))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let disposition = res.headers()[CONTENT_DISPOSITION].to_str().expect("ascii").to_owned();
        assert!(disposition.starts_with("attachment;"), "{disposition}");
        assert!(disposition.contains(&format!("filename=\"{saved}\"")), "{name}: {disposition}");
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM attachments").await, 4);
    assert_eq!(blobs(&app).await.len(), 1, "one content, stored once");
    assert!(temp_files(&app).is_empty(), "refused uploads leave no file: {:?}", temp_files(&app));
}

#[test]
fn a_download_is_named_with_an_extension_of_its_type() {
    use plauder::service::attachments::download_name;
    // Rows stored before names were checked: a PDF named as a web page is saved as a PDF.
    assert_eq!(download_name("page.html", "application/pdf"), "page.html.pdf");
    assert_eq!(download_name("photo.JPEG", "image/jpeg"), "photo.JPEG");
    assert_eq!(download_name("photo", "image/jpeg"), "photo.jpg");
    assert_eq!(download_name(".profile", "image/png"), ".profile.png");
    // A type outside the table: a name infer knows is kept, anything else opens as nothing.
    assert_eq!(download_name("disk.qcow2", "application/x-qemu-disk"), "disk.qcow2");
    assert_eq!(download_name("disk.html", "application/x-qemu-disk"), "disk.html.bin");
}

/// Two uploads at once on two instances (each counts only its own uploads in progress), both
/// held in the store's PUT, so past every early look at the quota before either commits: only the
/// check under the owner's lock tells them apart, and the refused one's file is deleted again.
/// (Passes without the count of uploads in progress too: it is the binding check's test.)
#[actix_web::test]
async fn two_uploads_at_once_cannot_both_pass_the_quota() {
    let relay = Relay::start().await;
    let mut settings = test_settings().await;
    Bucket::create().await.configure(&mut settings);
    settings.attachments.s3.endpoint = relay.url.clone();
    settings.attachments.s3.timeout_ms = 30_000;
    settings.attachments.user_quota_bytes = 600;
    let one = spawn_app_from(settings.clone()).await;
    let two = spawn_app_from(settings).await;
    let ada = one.register("ada").await;
    let file = |text: &str| {
        let mut bytes = pdf(text);
        bytes.extend(std::iter::repeat_n(b'z', 400));
        bytes
    };

    relay.hold();
    let (first, second, ()) = tokio::join!(
        upload_raw(&one, &ada, "one.pdf", None, file("one")),
        upload_raw(&two, &ada, "two.pdf", None, file("two")),
        async {
            // An upload's first request to the store is its PUT, after every early check: with
            // one held from each instance, both have passed them and neither has committed.
            eventually("both PUTs held", async || check(relay.held_connections(), |n| *n == 2)).await;
            relay.release();
        }
    );

    let mut statuses = [first.status(), second.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::TOO_MANY_REQUESTS]);
    let refused = if first.status() == StatusCode::CREATED { second } else { first };
    assert!(refused.headers().get("retry-after").is_some());
    let body = assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("delete some"), "{body}");
    assert_eq!(one.count("SELECT count(*) AS n FROM attachments").await, 1);
    eventually("the refused upload's file deleted", async || check(blobs(&one).await.len(), |n| *n == 1)).await;
}

/// On one instance, an upload that would pass the quota beside another of the owner's still in
/// progress is refused at once, before its body is read or stored, with a shorter wait than a
/// full quota's; once the first has ended, its share is given back.
#[actix_web::test]
async fn an_upload_past_the_quota_beside_one_in_progress_is_refused_before_it_is_stored() {
    let app = spawn_app_with(|s| {
        s.attachments.user_quota_bytes = 600;
        s.attachments.scan_command = "sleep 2; true".to_owned();
    })
    .await;
    let ada = app.register("ada").await;
    let file = |text: &str| {
        let mut bytes = pdf(text);
        bytes.extend(std::iter::repeat_n(b'z', 400));
        bytes
    };
    let first = actix_web::rt::spawn({
        let request = app
            .client
            .post(format!("{}/api/v1/attachments?name=one.pdf", app.address))
            .bearer_auth(&ada.access_token)
            .body(file("one"));
        async move { request.send().await.expect("the first upload").status() }
    });
    // The first has begun (its temporary file exists, its share is held); the scanner's pause
    // keeps it in progress for two seconds.
    eventually("the first upload read", async || check(temp_files(&app).len(), |n| *n == 1)).await;

    let refused = upload_raw(&app, &ada, "two.pdf", None, file("two")).await;
    assert!(!first.is_finished(), "refused while the first was still in progress, not after it");
    let wait = retry_after_secs(&refused);
    assert_eq!(wait, 5);
    let body = assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("in progress"), "{body}");
    assert_eq!(body["error"]["details"]["reason"], "uploads_in_progress", "{body}");
    assert_eq!(temp_files(&app).len(), 1, "the second's body was not written");

    assert_eq!(first.await.expect("the first upload's task"), StatusCode::CREATED);
    assert_eq!(app.state.attachments.in_flight.held_by(ada.id.into()), 0, "the share given back");
    assert_eq!(blobs(&app).await.len(), 1, "only the first was stored");
    assert!(temp_files(&app).is_empty(), "{:?}", temp_files(&app));
}

#[actix_web::test]
async fn uploads_past_the_burst_get_429_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.attachments.upload_burst = 2;
        s.attachments.upload_replenish_interval_ms = 60_000;
    })
    .await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);

    for name in ["one.pdf", "two.pdf"] {
        assert_eq!(upload_raw(&app, &ada, name, None, pdf(name)).await.status(), StatusCode::CREATED);
    }
    let res = upload_raw(&app, &ada, "three.pdf", None, pdf("three")).await;
    let wait = retry_after_secs(&res);
    assert!((1..=60).contains(&wait), "{wait}");
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // The limit is per account.
    assert_eq!(upload_raw(&app, &bob, "bobs.pdf", None, pdf("bob")).await.status(), StatusCode::CREATED);
    assert_eq!(app.count("SELECT count(*) AS n FROM attachments").await, 3);
    assert!(temp_files(&app).is_empty(), "{:?}", temp_files(&app));
}

/// An image whose frame is larger than its header says is refused by what its decoder may
/// allocate (the header's pixel limit as an 8-bit RGBA picture), as an upload and as an avatar,
/// and nothing is stored; one within the limit is taken.
#[actix_web::test]
async fn an_image_larger_than_its_header_says_is_refused_not_decoded() {
    let app = spawn_app_with(|s| s.attachments.max_image_pixels = 1_000_000).await;
    let ada = app.register("ada").await;
    let bomb = gif_bomb(2000);
    let body = assert_error(
        upload_raw(&app, &ada, "bomb.gif", None, bomb.clone()).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("memory"), "{body}");
    let avatar = app
        .client
        .put(format!("{}/api/v1/users/me/avatar", app.address))
        .bearer_auth(&ada.access_token)
        .body(bomb)
        .send()
        .await
        .expect("put avatar");
    assert_error(avatar, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM attachments").await, 0);

    let fine = upload_raw(&app, &ada, "fine.gif", None, gif_bomb(400)).await;
    assert_eq!(fine.status(), StatusCode::CREATED);
}

/// An upload or an avatar finishing while the uploader's account is deleted (its row deleted by a
/// transaction not yet committed) waits for the deletion and answers 401, not 500.
#[actix_web::test]
async fn an_upload_overtaken_by_its_accounts_deletion_is_401() {
    let app = spawn_app().await;
    for avatar in [false, true] {
        let ada = app.register(if avatar { "ada2" } else { "ada" }).await;
        let held = app.hold(&format!("DELETE FROM users WHERE id = '{}'", ada.id)).await;
        let upload = async {
            if avatar {
                app.client
                    .put(format!("{}/api/v1/users/me/avatar", app.address))
                    .bearer_auth(&ada.access_token)
                    .body(png())
                    .send()
                    .await
                    .expect("put avatar")
            } else {
                upload_raw(&app, &ada, "late.png", None, png()).await
            }
        };
        let res = app.while_held(held, 1, "COMMIT", upload).await;
        assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM attachments").await, 0);
}

#[actix_web::test]
async fn oversize_uploads_bombs_empty_files_and_quota_are_refused_in_the_error_model() {
    let app = spawn_app_with(|s| {
        // Below the quota, so that a body streamed without a Content-Length passes it first.
        s.attachments.max_bytes = 500;
        s.attachments.user_quota_bytes = 600;
        s.attachments.max_image_pixels = 1_000_000;
    })
    .await;
    let ada = app.register("ada").await;

    let mut big = pdf("big");
    big.extend(std::iter::repeat_n(b'x', 5000));
    assert_error(
        upload_raw(&app, &ada, "big.pdf", None, big.clone()).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    // Without a Content-Length (chunked) the limit holds while the body streams.
    let status = chunked_upload(&app, &ada, &big).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    let body = assert_error(
        upload_raw(&app, &ada, "bomb.png", None, png_bomb()).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("100000x100000"), "{body}");
    assert_error(
        upload_raw(&app, &ada, "empty.pdf", None, Vec::new()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    let mut half = pdf("half");
    half.extend(std::iter::repeat_n(b'y', 400));
    assert_eq!(upload_raw(&app, &ada, "half.pdf", None, half.clone()).await.status(), StatusCode::CREATED);
    let res = upload_raw(&app, &ada, "more.pdf", None, half.clone()).await;
    assert!(res.headers().get("retry-after").is_some());
    let body = assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Told apart from a rate: files have to go first.
    assert_eq!(body["error"]["details"]["reason"], "attachment_quota", "{body}");
    // Without a Content-Length the quota holds while the body streams: this body passes the quota
    // with its first 500 bytes, before it reaches the size limit (read whole, it was 413).
    let status = chunked_upload(&app, &ada, &big).await;
    assert!(status.starts_with("HTTP/1.1 429"), "{status}");

    assert_eq!(blobs(&app).await.len(), 1, "only the accepted upload is stored");
    assert!(temp_files(&app).is_empty(), "{:?}", temp_files(&app));
}

#[actix_web::test]
async fn a_path_like_name_is_kept_for_display_only() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;

    let a = upload(&app, &ada, "../../etc/passwd.pdf", pdf("p")).await;
    let b = upload(&app, &ada, "..\\..\\windows\\win.pdf", pdf("q")).await;
    let c = upload(&app, &ada, "../..", pdf("r")).await;

    assert_eq!(a["name"], "passwd.pdf");
    assert_eq!(b["name"], "win.pdf");
    assert_eq!(c["name"], "file");
    let dir = store_dir(&app);
    for key in blobs(&app).await {
        assert!(key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    }
    for path in files_under(&dir) {
        assert!(path.starts_with(dir.join("blobs")), "nothing stored outside blobs/: {path:?}");
    }
    assert_eq!(blobs(&app).await.len(), 3);
}

#[actix_web::test]
async fn only_readers_of_the_room_download_and_links_cannot_be_forged_or_outlive_their_expiry() {
    let app = spawn_app().await;
    let (ada, bob, eve) = (app.register("ada").await, app.register("bob").await, app.register("eve").await);
    let room = app.group(&ada, "private", &[&bob]).await;
    let doc = upload(&app, &ada, "secret.pdf", pdf("secret")).await;
    let id = doc["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/attachments/{id}/content");

    // Unsent: the uploader only.
    assert_eq!(app.get(&path, Some(&ada.access_token)).await.status(), StatusCode::OK);
    assert_error(app.get(&path, Some(&bob.access_token)).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(send_with(&app, &ada, room, "here", &[&doc]).await.status(), StatusCode::CREATED);
    assert_eq!(app.get(&path, Some(&bob.access_token)).await.status(), StatusCode::OK);
    assert_error(app.get(&path, Some(&eve.access_token)).await, StatusCode::NOT_FOUND, "not_found").await;
    let guessed = format!("/api/v1/attachments/{}/content", Uuid::new_v4());
    assert_error(app.get(&guessed, Some(&ada.access_token)).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(app.get(&path, None).await, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let url = doc["url"].as_str().expect("url").to_owned();
    assert_eq!(fetch_link(&app, &url).await.status(), StatusCode::OK);
    let forged = format!("{path}?exp=99999999999&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_error(fetch_link(&app, &forged).await, StatusCode::NOT_FOUND, "not_found").await;
    let other = url.replace(&id, &Uuid::new_v4().to_string());
    assert_error(fetch_link(&app, &other).await, StatusCode::NOT_FOUND, "not_found").await;
    let stretched = url.replacen("exp=", "exp=9", 1);
    assert_error(fetch_link(&app, &stretched).await, StatusCode::NOT_FOUND, "not_found").await;
    // A genuine link, signed with the server's key, whose time has passed.
    let signer = plauder::auth::signed_url::UrlSigner::new(JWT_SECRET.as_bytes(), 60);
    let old =
        signer.url(id.parse::<Uuid>().expect("uuid").into(), plauder::auth::signed_url::Variant::Content, 1_000_000);
    assert_error(fetch_link(&app, &old).await, StatusCode::FORBIDDEN, "forbidden").await;
}

async fn ranges_are_served_and_out_of_bounds_ones_get_416(store: Store) {
    let app = spawn_on(store).await;
    let ada = app.register("ada").await;
    let bytes = pdf("range test with some length to it");
    let doc = upload(&app, &ada, "r.pdf", bytes.clone()).await;
    let url = format!("{}{}", app.address, doc["url"].as_str().expect("url"));
    let len = bytes.len();

    let res = app.client.get(&url).header(RANGE, "bytes=5-9").send().await.expect("range");
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()[CONTENT_RANGE], format!("bytes 5-9/{len}").as_str());
    assert_eq!(res.bytes().await.expect("bytes").to_vec(), bytes[5..=9].to_vec());
    let res = app.client.get(&url).header(RANGE, "bytes=-4").send().await.expect("suffix");
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.expect("bytes").to_vec(), bytes[len - 4..].to_vec());

    // An end past the file is cut to the file (RFC 9110), not refused.
    let res = app.client.get(&url).header(RANGE, format!("bytes=10-{}", len + 50)).send().await.expect("long range");
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()[CONTENT_RANGE], format!("bytes 10-{}/{len}", len - 1).as_str());
    // Overlapping ranges are several ranges: the whole file.
    let res = app.client.get(&url).header(RANGE, "bytes=0-9,0-9,0-9").send().await.expect("overlapping");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.expect("body").len(), len);

    for bad in [
        format!("bytes={len}-"),
        format!("bytes={}-{}", len + 10, len + 20),
        "bytes=9-5".to_owned(),
        "lines=1-2".to_owned(),
    ] {
        let res = app.client.get(&url).header(RANGE, &bad).send().await.expect("bad range");
        assert_eq!(
            res.headers().get(CONTENT_RANGE).and_then(|v| v.to_str().ok()),
            Some(format!("bytes */{len}").as_str()),
            "{bad}"
        );
        assert_error(res, StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable").await;
    }
}

/// Past 8 MiB the S3 store uploads in parts: the pieces come back in order, a range across a
/// part boundary too, and the sweep deletes the whole object.
async fn a_file_larger_than_one_part_is_stored_whole_and_served_in_ranges(store: Store) {
    let app = spawn_on(store).await;
    let ada = app.register("ada").await;
    let mut bytes = pdf("large");
    // A pattern that repeats every 251 bytes: a part stored twice or out of order shows.
    bytes.extend((0..9 * 1024 * 1024 - bytes.len()).map(|i| (i % 251) as u8));

    let doc = upload(&app, &ada, "large.pdf", bytes.clone()).await;

    assert_eq!(blobs(&app).await, vec![format!("{:x}", sha2::Sha256::digest(&bytes))]);
    let url = format!("{}{}", app.address, doc["url"].as_str().expect("url"));
    let whole = app.client.get(&url).send().await.expect("download");
    assert_eq!(whole.status(), StatusCode::OK);
    assert!(whole.bytes().await.expect("bytes").to_vec() == bytes, "the whole file comes back as sent");
    let boundary = 8 * 1024 * 1024;
    let (from, to) = (boundary - 100, boundary + 99);
    let res = app.client.get(&url).header(RANGE, format!("bytes={from}-{to}")).send().await.expect("range");
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.expect("bytes").to_vec(), bytes[from..=to].to_vec());

    app.sql(&format!(
        "UPDATE attachments SET created_at = now() - interval '2 days' WHERE id = '{}'",
        doc["id"].as_str().unwrap_or_default()
    ))
    .await;
    plauder::service::retention::run_once(&app.state).await.expect("retention pass");
    assert!(blobs(&app).await.is_empty(), "{:?}", blobs(&app).await);
}

#[actix_web::test]
async fn the_scan_command_rejects_a_file_which_is_then_gone() {
    let script = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("scan-{}.sh", Uuid::new_v4().simple()));
    std::fs::write(&script, "#!/bin/sh\n# A stand-in scanner: rejects files carrying the EICAR test signature.\nif grep -q 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE' \"$1\"; then exit 1; fi\nexit 0\n").expect("script");
    std::process::Command::new("chmod").arg("+x").arg(&script).status().expect("chmod");
    let command = script.display().to_string();
    let app = spawn_app_with(|s| s.attachments.scan_command = command).await;
    let ada = app.register("ada").await;

    let body = assert_error(
        upload_raw(&app, &ada, "eicar.pdf", None, pdf(EICAR)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(body["error"]["details"]["fields"]["file"].as_str().unwrap_or_default().contains("scan"), "{body}");
    assert_eq!(app.count("SELECT count(*) AS n FROM attachments").await, 0);
    assert!(blobs(&app).await.is_empty() && temp_files(&app).is_empty(), "the rejected file is deleted");

    let res = upload_raw(&app, &ada, "clean.pdf", None, pdf("clean")).await;
    assert_eq!(res.status(), StatusCode::CREATED, "a clean file passes");
    assert_eq!(blobs(&app).await.len(), 1);
}

#[actix_web::test]
async fn a_failing_scanner_refuses_the_upload_as_unavailable() {
    let app = spawn_app_with(|s| s.attachments.scan_command = "exit 2; true".to_owned()).await;
    let ada = app.register("ada").await;

    assert_error(upload_raw(&app, &ada, "a.pdf", None, pdf("a")).await, StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        .await;
    assert!(blobs(&app).await.is_empty() && temp_files(&app).is_empty());
}

async fn retention_removes_the_files_of_deleted_messages_rooms_and_unsent_uploads(store: Store) {
    let app = spawn_on(store).await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let kept_room = app.group(&ada, "kept", &[&bob]).await;
    let doomed_room = app.group(&ada, "doomed", &[&bob]).await;
    let kept = upload(&app, &ada, "kept.pdf", pdf("kept")).await;
    let in_deleted_message = upload(&app, &ada, "gone.pdf", pdf("gone with its message")).await;
    let in_deleted_room = upload(&app, &ada, "room.pdf", pdf("gone with its room")).await;
    let unsent_old = upload(&app, &ada, "old.pdf", pdf("never sent, old")).await;
    let _unsent_new = upload(&app, &ada, "new.pdf", pdf("never sent, new")).await;
    assert_eq!(send_with(&app, &ada, kept_room, "kept", &[&kept]).await.status(), StatusCode::CREATED);
    let doomed: Value =
        send_with(&app, &ada, kept_room, "doomed", &[&in_deleted_message]).await.json().await.expect("json");
    assert_eq!(send_with(&app, &ada, doomed_room, "x", &[&in_deleted_room]).await.status(), StatusCode::CREATED);
    let deleted =
        app.delete(&format!("/api/v1/messages/{}", doomed["id"].as_str().expect("id")), Some(&ada.access_token)).await;
    assert_eq!(deleted.status(), StatusCode::OK);
    let deleted: Value = deleted.json().await.expect("json");
    assert_eq!(deleted["attachments"], json!([]), "a deleted message shows no files");
    assert_eq!(
        app.delete(&format!("/api/v1/rooms/{doomed_room}"), Some(&ada.access_token)).await.status(),
        StatusCode::NO_CONTENT
    );
    app.sql(&format!(
        "UPDATE attachments SET created_at = now() - interval '2 days' WHERE id = '{}'",
        unsent_old["id"].as_str().unwrap_or_default()
    ))
    .await;
    assert_eq!(blobs(&app).await.len(), 5, "nothing removed before the pass");

    let outcome = plauder::service::retention::run_once(&app.state).await.expect("retention pass");

    let plauder::service::retention::Outcome::Completed(report) = outcome else { panic!("skipped") };
    assert_eq!((report.unsent_attachments, report.attachment_blobs), (1, 3), "{report:?}");
    assert_eq!(blobs(&app).await.len(), 2, "the kept file and the recent unsent one: {:?}", blobs(&app).await);
    let history = app.history(&bob, kept_room, "").await;
    let url = history["messages"][1]["attachments"][0]["url"].as_str().map(str::to_owned);
    let url =
        url.or_else(|| history["messages"][0]["attachments"][0]["url"].as_str().map(str::to_owned)).expect("kept url");
    assert_eq!(fetch_link(&app, &url).await.status(), StatusCode::OK, "the kept file still downloads");
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// An upload past the unsent age that is being sent while the retention job runs stays with its
/// message. The send's transaction (staged here: the link made, not committed) holds the row; the
/// pass must not delete it once that commits.
#[actix_web::test]
async fn an_old_upload_sent_while_the_retention_job_runs_stays_with_its_message() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let room = app.group(&ada, "r", &[]).await;
    let file = upload(&app, &ada, "old.pdf", pdf("uploaded yesterday, sent now")).await;
    let file_id = file["id"].as_str().expect("id").to_owned();
    app.sql(&format!("UPDATE attachments SET created_at = now() - interval '2 days' WHERE id = '{file_id}'")).await;
    let message = app.send(&ada, room, "the file follows").await;
    let mut sending = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
    sending
        .batch_execute(&format!(
            "BEGIN; UPDATE attachments SET message_id = '{}', room_id = '{room}' WHERE id = '{file_id}'",
            message["id"].as_str().expect("id")
        ))
        .await
        .expect("link");

    let commit_later = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sending.batch_execute("COMMIT").await.expect("commit");
    };
    let (report, ()) = tokio::join!(crate::retention::completed(&app), commit_later);

    assert_eq!(report.unsent_attachments, 0, "{report:?}");
    let linked = format!("SELECT count(*) AS n FROM attachments WHERE id = '{file_id}' AND message_id IS NOT NULL");
    assert_eq!(app.count(&linked).await, 1);
}

#[actix_web::test]
async fn a_visitors_screenshot_reaches_staff_and_no_other_visitor() {
    let app = spawn_app().await;
    let staff = user_with_role(&app, "helper", "moderator").await;
    let visitor = open_session(&app, "visitor").await;
    let other = open_session(&app, "stranger").await;
    let shot = upload(&app, &visitor.guest, "screenshot.png", png()).await;

    let res = send_with(&app, &visitor.guest, visitor.room, "this is what I see", &[&shot]).await;

    assert_eq!(res.status(), StatusCode::CREATED);
    let history = app.history(&staff, visitor.room, "").await;
    assert_eq!(history["messages"][0]["attachments"][0]["id"], shot["id"], "{history}");
    let path = format!("/api/v1/attachments/{}/content", shot["id"].as_str().unwrap_or_default());
    assert_eq!(app.get(&path, Some(&staff.access_token)).await.status(), StatusCode::OK);
    assert_error(app.get(&path, Some(&other.guest.access_token)).await, StatusCode::NOT_FOUND, "not_found").await;
    // Nor can another visitor send it as theirs.
    let res = send_with(&app, &other.guest, other.room, "mine now", &[&shot]).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

/// A `width`×`height` JPEG photo carrying an EXIF segment with a GPS position in it.
pub fn jpeg_with_gps(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Jpeg).expect("encode jpeg");
    let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(out.into_inner().into()).expect("parse jpeg");
    let exif = b"Exif\0\0MM\0*\0\0\0\x08 GPSLatitude 52.5200 N GPSLongitude 13.4050 E".to_vec();
    let segment = img_parts::jpeg::JpegSegment::new_with_contents(img_parts::jpeg::markers::APP1, exif.into());
    jpeg.segments_mut().insert(1, segment);
    let mut bytes = Vec::new();
    jpeg.encoder().write_to(&mut bytes).expect("write jpeg");
    bytes
}

/// An EXIF block (TIFF, big-endian) as a phone writes it, in short: the orientation `orientation`
/// and a GPS directory whose map datum is "SECRETDATUM" (a string to look for).
fn exif_with_orientation_and_gps(orientation: u16) -> Vec<u8> {
    let entry = |tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        let mut e = Vec::new();
        e.extend_from_slice(&tag.to_be_bytes());
        e.extend_from_slice(&kind.to_be_bytes());
        e.extend_from_slice(&count.to_be_bytes());
        e.extend_from_slice(&value);
        e
    };
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    // IFD0 at 8: orientation (SHORT) and the GPS directory's offset (LONG) 38.
    let [hi, lo] = orientation.to_be_bytes();
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend(entry(0x0112, 3, 1, [hi, lo, 0, 0]));
    tiff.extend(entry(0x8825, 4, 1, 38u32.to_be_bytes()));
    tiff.extend_from_slice(&0u32.to_be_bytes());
    // The GPS directory at 38: latitude ref "N" and the map datum, 12 bytes at 68.
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend(entry(0x0001, 2, 2, *b"N\0\0\0"));
    tiff.extend(entry(0x0012, 2, 12, 68u32.to_be_bytes()));
    tiff.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(tiff.len(), 68);
    tiff.extend_from_slice(b"SECRETDATUM\0");
    tiff
}

/// The orientation in an image's EXIF, if it has one.
fn orientation_of(bytes: &[u8]) -> Option<u8> {
    use img_parts::ImageEXIF as _;
    let image = img_parts::DynImage::from_bytes(bytes.to_vec().into()).expect("container")?;
    image.exif().and_then(|exif| image::metadata::Orientation::from_exif_chunk(&exif)).map(|o| o.to_exif())
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn a_photo_is_served_without_its_gps_and_with_a_thumbnail_and_both_go_with_the_message(store: Store) {
    let app = spawn_on(store).await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let room = app.group(&ada, "photos", &[&bob]).await;
    let original = jpeg_with_gps(640, 480);
    assert!(contains(&original, b"GPSLatitude"));

    let photo = upload(&app, &ada, "holiday.jpg", original.clone()).await;

    assert_eq!((photo["width"].as_i64(), photo["height"].as_i64()), (Some(640), Some(480)));
    assert!((photo["size"].as_u64().unwrap_or(0) as usize) < original.len(), "{photo}");
    let sent: Value = send_with(&app, &ada, room, "", &[&photo]).await.json().await.expect("json");
    let file = &app.history(&bob, room, "").await["messages"][0]["attachments"][0];
    let served = fetch_link(&app, file["url"].as_str().expect("url")).await.bytes().await.expect("bytes").to_vec();
    assert!(!contains(&served, b"GPSLatitude") && !contains(&served, b"Exif"), "metadata removed");
    assert_eq!(served.len() as u64, photo["size"].as_u64().unwrap_or(0));
    let decoded = image::load_from_memory(&served).expect("still a valid JPEG");
    assert_eq!((decoded.width(), decoded.height()), (640, 480));

    let thumb_url = file["thumbnail_url"].as_str().expect("thumbnail_url");
    assert!(thumb_url.contains("/thumbnail?"), "{thumb_url}");
    let res = fetch_link(&app, thumb_url).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "image/jpeg");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let thumb = image::load_from_memory(&res.bytes().await.expect("bytes")).expect("thumbnail decodes");
    assert_eq!((thumb.width(), thumb.height()), (320, 240));
    // A content link does not open the thumbnail route, nor the other way round.
    let swapped = thumb_url.replace("/thumbnail?", "/content?");
    assert_error(fetch_link(&app, &swapped).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(blobs(&app).await.len(), 2, "the photo and its thumbnail");

    let id = sent["id"].as_str().expect("id");
    assert_eq!(app.delete(&format!("/api/v1/messages/{id}"), Some(&ada.access_token)).await.status(), StatusCode::OK);
    plauder::service::retention::run_once(&app.state).await.expect("retention pass");
    assert!(blobs(&app).await.is_empty(), "photo and thumbnail removed: {:?}", blobs(&app).await);
}

/// An image type the operator allows beyond the four plauder reads (here BMP) is a plain file:
/// accepted, stored exactly as sent, without size or thumbnail, and downloaded rather than shown
/// inline. (It was 422, its header "unreadable", whatever the setting said.)
#[actix_web::test]
async fn an_allowed_image_type_plauder_does_not_read_is_stored_as_a_plain_file() {
    let app = spawn_app_with(|s| s.attachments.allowed_types.push("image/bmp".to_owned())).await;
    let ada = app.register("ada").await;
    // A 1×1 BMP: file header, BITMAPINFOHEADER, one 24-bit pixel padded to four bytes.
    let mut bmp: Vec<u8> = b"BM".to_vec();
    bmp.extend(58u32.to_le_bytes());
    bmp.extend([0u8; 4]);
    bmp.extend(54u32.to_le_bytes());
    bmp.extend(40u32.to_le_bytes());
    bmp.extend(1i32.to_le_bytes());
    bmp.extend(1i32.to_le_bytes());
    bmp.extend(1u16.to_le_bytes());
    bmp.extend(24u16.to_le_bytes());
    bmp.extend([0u8; 24]);
    bmp.extend([0x00, 0x00, 0xff, 0x00]);

    let view = upload(&app, &ada, "red.bmp", bmp.clone()).await;

    assert_eq!(view["content_type"], "image/bmp", "{view}");
    assert!(view["width"].is_null() && view["height"].is_null(), "{view}");
    assert!(view.get("thumbnail_url").is_none_or(Value::is_null), "{view}");
    let res = content_by_token(&app, &ada, &view).await;
    assert_eq!(res.status(), StatusCode::OK);
    let disposition = res.headers()[CONTENT_DISPOSITION].to_str().unwrap_or_default().to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(res.bytes().await.expect("bytes").to_vec(), bmp, "stored as sent");
    // Not allowed, it is refused as before.
    let other = spawn_app().await;
    let bob = other.register("bob").await;
    let res = upload_raw(&other, &bob, "red.bmp", None, bmp).await;
    assert_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
}

#[actix_web::test]
async fn a_small_image_is_its_own_thumbnail_and_a_broken_one_is_refused() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;

    let small = upload(&app, &ada, "dot.png", png()).await;
    assert_eq!(small["thumbnail_url"], small["url"]);
    let pdf_file = upload(&app, &ada, "a.pdf", pdf("a")).await;
    assert!(pdf_file["thumbnail_url"].is_null());
    let mut broken = png();
    broken.truncate(40);
    let body = assert_error(
        upload_raw(&app, &ada, "broken.png", None, broken).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(body["error"]["details"]["fields"]["file"].is_string(), "{body}");
    assert_eq!(blobs(&app).await.len(), 2);
    assert!(temp_files(&app).is_empty(), "{:?}", temp_files(&app));
}

/// Two instances on one database and one bucket (each with its own local directory): a file
/// uploaded to one downloads from the other, ranges included, and one instance's sweep removes it
/// once its message is deleted on the other. Objects in the bucket that are not `<prefix>/<key>`
/// are someone else's and stay.
#[actix_web::test]
async fn two_instances_sharing_a_bucket_serve_each_others_files_and_one_sweep_cleans_up() {
    let bucket = Bucket::create().await;
    let mut settings = test_settings().await;
    bucket.configure(&mut settings);
    let mut other = settings.clone();
    other.attachments.directory = format!("{}-second", settings.attachments.directory);
    let (one, two) = (spawn_app_from(settings).await, spawn_app_from(other).await);
    let (ada, bob) = (one.register("ada").await, one.register("bob").await);
    let room = one.group(&ada, "shared", &[&bob]).await;
    let bytes = pdf("uploaded to one, read from two");
    let foreign =
        ["elsewhere/report.pdf".to_owned(), format!("{PREFIX}/notes.txt"), format!("{PREFIX}/old/{}", "a".repeat(64))];
    for key in &foreign {
        bucket.put(key, b"not plauder's").await;
    }

    let doc = upload(&one, &ada, "shared.pdf", bytes.clone()).await;
    let sent: Value = send_with(&one, &ada, room, "for you", &[&doc]).await.json().await.expect("json");

    let history = two.history(&bob, room, "").await;
    let url = history["messages"][0]["attachments"][0]["url"].as_str().expect("url").to_owned();
    let res = fetch_link(&two, &url).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.expect("bytes").to_vec(), bytes);
    let res = two.client.get(format!("{}{url}", two.address)).header(RANGE, "bytes=0-7").send().await.expect("range");
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.expect("bytes").to_vec(), bytes[..8].to_vec());
    assert!(files_under(&store_dir(&two)).is_empty(), "the second instance keeps nothing locally");

    let id = sent["id"].as_str().expect("id");
    assert_eq!(two.delete(&format!("/api/v1/messages/{id}"), Some(&ada.access_token)).await.status(), StatusCode::OK);
    let outcome = plauder::service::retention::run_once(&one.state).await.expect("retention pass");
    let plauder::service::retention::Outcome::Completed(report) = outcome else { panic!("skipped") };
    assert_eq!(report.attachment_blobs, 1, "{report:?}");
    let mut left = bucket.keys().await;
    left.sort();
    let mut expected = foreign.to_vec();
    expected.sort();
    assert_eq!(left, expected, "only the other objects are left");
    assert_error(fetch_link(&two, &url).await, StatusCode::NOT_FOUND, "not_found").await;
}

/// A bucket that does not exist (a definite answer) stops the start with the reason; an endpoint
/// where nothing listens (no answer) does not, and files are `unavailable` until it answers;
/// settings that cannot work are refused before anything is asked.
#[actix_web::test]
async fn a_missing_bucket_stops_the_start_a_dead_endpoint_does_not_and_bad_s3_settings_are_refused() {
    let mut settings = test_settings().await;
    Bucket::named("plauder-test-no-such-bucket").configure(&mut settings);
    settings.validate().expect("the settings themselves are fine");
    let err = plauder::startup::Application::build(settings).await.err().expect("no start without the bucket");
    let text = format!("{err:#}");
    assert!(
        text.contains("attachments.s3")
            && text.contains("plauder-test-no-such-bucket")
            && text.contains("NoSuchBucket"),
        "{text}"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let mut settings = test_settings().await;
    Bucket::named("plauder-test-anything").configure(&mut settings);
    settings.attachments.s3.endpoint = format!("http://127.0.0.1:{closed}");
    settings.attachments.s3.timeout_ms = 1000;
    let started = std::time::Instant::now();
    let app = spawn_app_from(settings).await;
    assert!(started.elapsed() < Duration::from_secs(10), "gave up asking within the timeout: {:?}", started.elapsed());
    let ada = app.register("ada").await;
    let body = assert_error(
        upload_raw(&app, &ada, "a.pdf", None, pdf("a")).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("Files"), "{body}");
    assert_eq!(app.count("SELECT count(*) AS n FROM attachments").await, 0, "the refused upload left no row");

    let base = test_settings().await;
    type Spoil = fn(&mut Settings);
    let cases: [(&str, Spoil); 5] = [
        ("attachments.s3.bucket", |s| s.attachments.s3.bucket = String::new()),
        ("attachments.s3.endpoint", |s| s.attachments.s3.allow_http = false),
        ("attachments.s3.endpoint", |s| s.attachments.s3.endpoint = "minio:9000".to_owned()),
        ("attachments.s3.access_key_id", |s| s.attachments.s3.secret_access_key = String::new().into()),
        ("attachments.s3.prefix", |s| s.attachments.s3.prefix = "a/../b".to_owned()),
    ];
    for (key, spoil) in cases {
        let mut settings = base.clone();
        Bucket::named("plauder-test-anything").configure(&mut settings);
        spoil(&mut settings);
        let why = settings.validate().expect_err(key);
        assert!(why.contains(key) && why.contains("PLAUDER__ATTACHMENTS__S3__"), "{why}");
    }
}

/// A bucket that goes away under a running server: uploads and downloads get 503 `unavailable`
/// saying files are affected, the refused upload leaves nothing behind, and messages (those sent
/// with files before, and new ones) are not lost. Once the bucket is back, uploads work again.
#[actix_web::test]
async fn a_bucket_that_goes_away_gives_503_unavailable_and_loses_no_message() {
    let bucket = Bucket::create().await;
    let app = spawn_app_with(|s| bucket.configure(s)).await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let room = app.group(&ada, "files", &[&bob]).await;
    let doc = upload(&app, &ada, "before.pdf", pdf("before")).await;
    assert_eq!(send_with(&app, &ada, room, "with a file", &[&doc]).await.status(), StatusCode::CREATED);

    bucket.delete().await;

    let body = assert_error(
        upload_raw(&app, &ada, "after.pdf", None, pdf("after")).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("Files"), "{body}");
    assert_eq!(app.count("SELECT count(*) AS n FROM attachments").await, 1, "the refused upload left no row");
    assert!(temp_files(&app).is_empty(), "{:?}", temp_files(&app));
    let history = app.history(&bob, room, "").await;
    assert_eq!(history["messages"][0]["body"], "with a file", "{history}");
    let url = history["messages"][0]["attachments"][0]["url"].as_str().expect("the file is still listed").to_owned();
    assert_error(fetch_link(&app, &url).await, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let sent = app.send(&ada, room, "files are down, chat is not").await;
    assert_eq!(sent["body"], "files are down, chat is not", "{sent}");

    bucket.make().await;
    let res = upload_raw(&app, &ada, "after.pdf", None, pdf("after")).await;
    assert_eq!(res.status(), StatusCode::CREATED, "uploads work again once the bucket is back");
    assert_eq!(bucket.blobs().await.len(), 1);
}

/// The sweep deletes an upload's blob before its row names it, and then the store goes away: the
/// upload cannot store the blob again, so it is refused (503) and leaves no row naming a file the
/// store does not have (its owner's quota not taken either). Staged as in
/// `a_blob_the_sweep_deletes_before_its_upload_names_it_is_stored_again`.
#[actix_web::test]
async fn an_upload_that_cannot_store_its_swept_blob_again_leaves_no_row() {
    use diesel_async::SimpleAsyncConnection;

    let bucket = Bucket::create().await;
    let app = spawn_app_with(|s| bucket.configure(s)).await;
    let ada = app.register("ada").await;
    let bytes = pdf("swept, then the store went away");
    let key = sha256_hex(&bytes);
    let mut holder = hold_uploads_of(&app, &ada).await;

    let uploaded = upload_raw(&app, &ada, "late.pdf", None, bytes.clone());
    let sweep_then_outage = async {
        eventually("the blob stored", async || check(bucket.blobs().await, |b| b.contains(&key))).await;
        assert_eq!(crate::retention::completed(&app).await.attachment_blobs, 1);
        bucket.delete().await;
        holder.batch_execute("ROLLBACK").await.expect("release");
    };
    let (res, ()) = tokio::join!(uploaded, sweep_then_outage);

    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM attachments").await, 0, "no row names the missing blob");
    bucket.make().await;
    let view = upload(&app, &ada, "late.pdf", bytes.clone()).await;
    assert_eq!(bucket.blobs().await, [key]);
    let content = content_by_token(&app, &ada, &view).await;
    assert_eq!(content.bytes().await.expect("bytes").to_vec(), bytes);
}

/// A phone photo: 64×32 pixels stored as taken, EXIF orientation 6 (turn right to view) and a GPS
/// position; a PNG with the same EXIF in its eXIf chunk and a text chunk.
fn rotated_photos() -> [(&'static str, Vec<u8>); 2] {
    use img_parts::ImageEXIF as _;
    let img = image::RgbImage::from_fn(64, 32, |x, _| image::Rgb([(x * 4) as u8, 0, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img.clone()).write_to(&mut out, image::ImageFormat::Jpeg).expect("jpeg");
    let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(out.into_inner().into()).expect("parse jpeg");
    jpeg.set_exif(Some(exif_with_orientation_and_gps(6).into()));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img).write_to(&mut out, image::ImageFormat::Png).expect("png");
    let mut png = img_parts::png::Png::from_bytes(out.into_inner().into()).expect("parse png");
    png.set_exif(Some(exif_with_orientation_and_gps(6).into()));
    png.chunks_mut().insert(1, img_parts::png::PngChunk::new(*b"tEXt", b"Comment\0SECRETTEXT".to_vec().into()));
    let (mut jpeg_bytes, mut png_bytes) = (Vec::new(), Vec::new());
    jpeg.encoder().write_to(&mut jpeg_bytes).expect("write jpeg");
    png.encoder().write_to(&mut png_bytes).expect("write png");
    [("phone.jpg", jpeg_bytes), ("phone.png", png_bytes)]
}

#[actix_web::test]
async fn a_rotated_photo_keeps_its_orientation_and_loses_its_gps() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;

    for (name, original) in rotated_photos() {
        assert_eq!(orientation_of(&original), Some(6), "{name}");
        assert!(contains(&original, b"SECRETDATUM"), "{name}");

        let view = upload(&app, &ada, name, original).await;

        // Width and height as it shows: upright, turned by a quarter.
        assert_eq!((view["width"].as_i64(), view["height"].as_i64()), (Some(32), Some(64)), "{name}: {view}");
        let res = app
            .get(&format!("/api/v1/attachments/{}/content", view["id"].as_str().expect("id")), Some(&ada.access_token))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let served = res.bytes().await.expect("bytes").to_vec();
        assert!(
            !contains(&served, b"SECRETDATUM") && !contains(&served, b"SECRETTEXT"),
            "{name}: GPS and text removed"
        );
        assert_eq!(orientation_of(&served), Some(6), "{name}: the orientation is kept");
        assert_eq!(served.len() as u64, view["size"].as_u64().unwrap_or(0));
        let decoded = image::load_from_memory(&served).expect("still a valid image");
        assert_eq!((decoded.width(), decoded.height()), (64, 32), "{name}: pixels untouched");
    }
}

/// The sweep and uploads meet on one lock per blob: a blob an upload is storing (its lock held
/// shared) is left to the next pass, and an upload of the very blob the sweep is deleting (its lock
/// held exclusively) waits for that delete, then stores it again; uploads of other content never
/// wait for the sweep's deletes.
#[actix_web::test]
async fn the_sweep_and_uploads_meet_on_each_blobs_own_lock() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    use plauder::db::queries::attachments::BLOB_LOCK_CLASS;

    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let orphan = pdf("nothing names me");
    let key = sha256_hex(&orphan);
    let file = upload(&app, &ada, "orphan.pdf", orphan.clone()).await;
    app.sql(&format!("DELETE FROM attachments WHERE id = '{}'", file["id"].as_str().expect("id"))).await;
    assert!(blobs(&app).await.contains(&key));

    let mut holder = AsyncPgConnection::establish(&app.db_url).await.expect("connect");
    let lock = |mode: &str| format!("BEGIN; SELECT pg_advisory_xact_lock{mode}({BLOB_LOCK_CLASS}, hashtext('{key}'))");
    holder.batch_execute(&lock("_shared")).await.expect("hold as an upload would");
    let report = crate::retention::completed(&app).await;
    assert_eq!(report.attachment_blobs, 0, "{report:?}");
    assert!(blobs(&app).await.contains(&key), "a blob being stored stays");
    // Another upload goes on meanwhile.
    upload(&app, &ada, "other.pdf", pdf("other content")).await;
    holder.batch_execute("ROLLBACK").await.expect("release");
    assert_eq!(crate::retention::completed(&app).await.attachment_blobs, 1);
    assert!(!blobs(&app).await.contains(&key));

    // The sweep "deleting" the blob: an upload of the same bytes waits, then stores it.
    holder.batch_execute(&lock("")).await.expect("hold as the sweep would");
    let release_later = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        holder.batch_execute("ROLLBACK").await.expect("release");
    };
    let started = std::time::Instant::now();
    let (again, ()) = tokio::join!(upload(&app, &ada, "again.pdf", orphan), release_later);
    assert!(started.elapsed() >= Duration::from_millis(300), "the upload waited for the blob's lock");
    assert!(again["id"].is_string());
    assert!(blobs(&app).await.contains(&key));
}

/// A multipart upload to S3 whose caller goes away mid-way (a client that disconnected, the
/// shutdown timeout) is finished by a task of its own instead of being left in parts, which S3
/// keeps (and bills) unlisted until someone aborts them; the finished object has no row, so the
/// next sweep deletes it.
#[actix_web::test]
async fn a_multipart_upload_whose_caller_goes_away_is_finished_not_left_in_parts() {
    let app = spawn_on(Store::S3).await;
    let bucket = Bucket::named(&app.state.settings.attachments.s3.bucket);
    let bytes: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let key = sha256_hex(&bytes);
    let file = std::env::temp_dir().join(format!("plauder-multipart-{}", Uuid::new_v4()));
    std::fs::write(&file, &bytes).expect("write the file");

    let store = app.state.attachments.store.clone();
    let mut put = store.put_file(&key, &file);
    let begun = async {
        eventually("the multipart upload begun", async || check(bucket.pending_uploads().await, |n| *n > 0)).await
    };
    tokio::select! {
        done = &mut put => panic!("stored before it could be dropped: {done:?}"),
        _ = begun => {}
    }
    drop(put);

    // The file is the caller's: removing it does not cut the upload short.
    std::fs::remove_file(&file).expect("remove the file");
    eventually("the object stored", async || check(bucket.blobs().await, |b| b.contains(&key))).await;
    assert_eq!(bucket.pending_uploads().await, 0, "no parts left behind");
}

/// The blob is stored before the transaction whose row names it: while a slow store keeps an
/// upload waiting, the upload holds no pooled connection, so other requests go on with a pool of
/// one; the upload completes when the store answers.
#[actix_web::test]
async fn an_upload_waiting_for_a_slow_store_holds_no_database_connection() {
    let relay = Relay::start().await;
    let mut settings = test_settings().await;
    Bucket::create().await.configure(&mut settings);
    settings.attachments.s3.endpoint = relay.url.clone();
    settings.attachments.s3.timeout_ms = 30_000;
    settings.database.pool_max_size = plauder::db::own_connections(&settings.database) + 1;
    settings.database.pool_timeout_ms = 1000;
    let app = spawn_app_from(settings).await;
    let ada = app.register("ada").await;

    relay.hold();
    let stored = upload_raw(&app, &ada, "slow.pdf", None, pdf("slow store"));
    let meanwhile = async {
        eventually("the upload's PUT held", async || check(relay.held_bytes(), |n| *n > 0)).await;
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(app.get("/api/v1/rooms", Some(&ada.access_token)).await.status());
        }
        relay.release();
        statuses
    };
    let (res, statuses) = tokio::join!(stored, meanwhile);

    assert_eq!(statuses, [StatusCode::OK; 3], "requests went on while the upload waited for the store");
    assert_eq!(res.status(), StatusCode::CREATED);
    let view: Value = res.json().await.expect("json");
    let content = content_by_token(&app, &ada, &view).await;
    assert_eq!(content.bytes().await.expect("bytes").to_vec(), pdf("slow store"));
}
