//! Avatars: `PUT /users/me/avatar` makes a square, re-encoded picture (no EXIF), kept in the
//! attachment store (both stores: the round trip runs on the local directory and on S3), named
//! by `avatar_url` in every user object and served publicly with caching headers; its refusals
//! (type, size, bombs, guests); `DELETE`; what the retention sweep keeps and removes; and who
//! may read whose user object (support visitors: staff only).

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use serde_json::{Value, json};

use crate::attachments::{Store, blobs, contains, jpeg_with_gps, on_each_store, pdf, png, png_bomb, spawn_on};
use crate::helpers::{TestApp, TestUser, assert_error, open_session, spawn_app, spawn_app_with, user_with_role};

on_each_store!(an_avatar_is_made_square_without_exif_served_to_anyone_and_swept_once_removed);

async fn put_avatar_raw(app: &TestApp, token: Option<&str>, bytes: Vec<u8>) -> reqwest::Response {
    let mut req = app.client.put(format!("{}/api/v1/users/me/avatar", app.address)).body(bytes);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.expect("put avatar")
}

async fn put_avatar(app: &TestApp, user: &TestUser, bytes: Vec<u8>) -> Value {
    let res = put_avatar_raw(app, Some(&user.access_token), bytes).await;
    assert_eq!(res.status(), StatusCode::OK, "set the avatar");
    res.json().await.expect("json")
}

async fn user_view(app: &TestApp, viewer: &TestUser, id: uuid::Uuid) -> Value {
    let res = app.get(&format!("/api/v1/users/{id}"), Some(&viewer.access_token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.expect("json")
}

/// Fetches a relative URL the way an `<img>` does: no token.
async fn fetch(app: &TestApp, url: &str) -> reqwest::Response {
    app.client.get(format!("{}{url}", app.address)).send().await.expect("fetch")
}

/// The picture's key (its SHA-256) from an `avatar_url`.
fn key_of(url: &str) -> String {
    let key = url.strip_prefix("/api/v1/avatars/").unwrap_or_else(|| panic!("not an avatar address: {url}"));
    assert!(key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()), "{url}");
    key.to_owned()
}

async fn an_avatar_is_made_square_without_exif_served_to_anyone_and_swept_once_removed(store: Store) {
    let app = spawn_on(store).await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let room = app.group(&ada, "faces", &[&bob]).await;

    let me = put_avatar(&app, &ada, jpeg_with_gps(640, 480)).await;

    let url = me["avatar_url"].as_str().expect("avatar_url").to_owned();
    let key = key_of(&url);
    assert_eq!(me["id"], ada.id.to_string());
    assert!(me["email"].is_string(), "the caller's own view: {me}");
    // Everyone signed in sees it, in the user object and in member lists.
    assert_eq!(user_view(&app, &bob, ada.id).await["avatar_url"], url.as_str());
    let members: Value =
        app.get(&format!("/api/v1/rooms/{room}/members"), Some(&bob.access_token)).await.json().await.expect("json");
    let ada_member =
        members["members"].as_array().expect("members").iter().find(|m| m["user"]["id"] == ada.id.to_string());
    assert_eq!(ada_member.expect("ada is a member")["user"]["avatar_url"], url.as_str());

    // Served without a token, cacheable for good, and a square of 256 px with no EXIF left.
    let res = fetch(&app, &url).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "image/jpeg");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert!(res.headers()[CACHE_CONTROL].to_str().unwrap_or_default().contains("immutable"), "{:?}", res.headers());
    let etag = res.headers()[ETAG].to_str().expect("etag").to_owned();
    let bytes = res.bytes().await.expect("bytes").to_vec();
    assert!(!contains(&bytes, b"GPSLatitude") && !contains(&bytes, b"Exif"), "no EXIF survives");
    let picture = image::load_from_memory(&bytes).expect("a decodable picture");
    assert_eq!((picture.width(), picture.height()), (256, 256));
    let again = app.client.get(format!("{}{url}", app.address)).header(IF_NONE_MATCH, &etag).send().await.expect("304");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(blobs(&app).await.contains(&key), "kept in the attachment store");

    // The sweep keeps a picture someone has.
    plauder::service::retention::run_once(&app.state).await.expect("retention pass");
    assert!(blobs(&app).await.contains(&key), "the sweep keeps a live avatar");
    assert_eq!(fetch(&app, &url).await.status(), StatusCode::OK);

    let res = app.delete("/api/v1/users/me/avatar", Some(&ada.access_token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.expect("json");
    assert_eq!(me["avatar_url"], Value::Null);
    assert_eq!(user_view(&app, &bob, ada.id).await["avatar_url"], Value::Null);
    assert_error(fetch(&app, &url).await, StatusCode::NOT_FOUND, "not_found").await;
    plauder::service::retention::run_once(&app.state).await.expect("retention pass");
    assert!(!blobs(&app).await.contains(&key), "the sweep deletes a picture nobody has: {:?}", blobs(&app).await);
    // Removing none is fine.
    assert_eq!(app.delete("/api/v1/users/me/avatar", Some(&ada.access_token)).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_small_or_transparent_image_keeps_its_size_and_alpha_as_a_png_square() {
    let app = spawn_app().await;
    let ada = app.register("ada").await;
    let img = image::RgbaImage::from_fn(100, 60, |x, _| image::Rgba([200, 10, 10, if x < 50 { 0 } else { 255 }]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(img).write_to(&mut bytes, image::ImageFormat::Png).expect("encode");

    let me = put_avatar(&app, &ada, bytes.into_inner()).await;

    let res = fetch(&app, me["avatar_url"].as_str().expect("url")).await;
    assert_eq!(res.headers()[CONTENT_TYPE], "image/png");
    let picture = image::load_from_memory(&res.bytes().await.expect("bytes")).expect("decodable");
    assert_eq!((picture.width(), picture.height()), (60, 60), "cropped to its centred square, not enlarged");
    assert!(picture.color().has_alpha());
}

#[actix_web::test]
async fn avatars_that_are_not_images_too_large_bombs_or_empty_are_refused_in_the_error_model() {
    let app = spawn_app_with(|s| s.attachments.avatar_max_bytes = 20_000).await;
    let ada = app.register("ada").await;
    let token = Some(ada.access_token.as_str());

    assert_error(
        put_avatar_raw(&app, token, pdf("not a face")).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    // A declared type changes nothing: the content decides.
    let res = app
        .client
        .put(format!("{}/api/v1/users/me/avatar", app.address))
        .bearer_auth(&ada.access_token)
        .header(CONTENT_TYPE, "image/png")
        .body(b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec())
        .send()
        .await
        .expect("put");
    assert_error(res, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    let mut big = png();
    big.resize(30_000, 0);
    assert_error(put_avatar_raw(&app, token, big).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_error(put_avatar_raw(&app, token, png_bomb()).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        .await;
    let body = assert_error(
        put_avatar_raw(&app, token, Vec::new()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(body["error"]["details"]["fields"]["file"].is_string(), "{body}");
    // A PNG signature on garbage: typed as PNG, but it cannot be decoded.
    let mut broken = png();
    broken.truncate(40);
    assert_error(put_avatar_raw(&app, token, broken).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    assert_error(put_avatar_raw(&app, None, png()).await, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let me: Value = app.me(&ada.access_token).await.json().await.expect("json");
    assert_eq!(me["avatar_url"], Value::Null, "nothing refused was set: {me}");
    assert!(blobs_empty(&app).await, "nothing refused was stored");
}

async fn blobs_empty(app: &TestApp) -> bool {
    blobs(app).await.is_empty()
}

/// The route has no user id: a caller can only ever change their own picture, and another
/// user's upload or removal leaves it alone. An external `avatar_url` (PATCH) replaces an
/// uploaded one, whose address then answers 404.
#[actix_web::test]
async fn a_user_changes_only_their_own_avatar_and_an_external_url_replaces_an_upload() {
    let app = spawn_app().await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let ada_url = put_avatar(&app, &ada, jpeg_with_gps(300, 300)).await["avatar_url"].as_str().expect("url").to_owned();

    let bob_url = put_avatar(&app, &bob, jpeg_with_gps(200, 320)).await["avatar_url"].as_str().expect("url").to_owned();
    assert_ne!(bob_url, ada_url);
    assert_eq!(app.delete("/api/v1/users/me/avatar", Some(&bob.access_token)).await.status(), StatusCode::OK);

    assert_eq!(user_view(&app, &bob, ada.id).await["avatar_url"], ada_url.as_str(), "ada's is untouched");
    assert_eq!(fetch(&app, &ada_url).await.status(), StatusCode::OK);

    let res = app
        .patch("/api/v1/users/me", Some(&ada.access_token), json!({"avatar_url": "https://example.org/ada.png"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(user_view(&app, &bob, ada.id).await["avatar_url"], "https://example.org/ada.png");
    assert_error(fetch(&app, &ada_url).await, StatusCode::NOT_FOUND, "not_found").await;
    // And an upload replaces the external one.
    let again = put_avatar(&app, &ada, jpeg_with_gps(300, 300)).await;
    assert_eq!(again["avatar_url"], ada_url.as_str(), "the same picture has the same address");

    // Keys that are not keys, or nobody's, are 404 like any unknown one.
    for bad in [
        "/api/v1/avatars/abc",
        "/api/v1/avatars/..%2F..%2Fetc%2Fpasswd",
        &format!("/api/v1/avatars/{}", "0".repeat(64)),
    ] {
        assert_error(fetch(&app, bad).await, StatusCode::NOT_FOUND, "not_found").await;
    }
}

/// A support visitor sees the avatar of staff answering it (the widget shows it), but reads no
/// other user and cannot set an avatar of its own.
#[actix_web::test]
async fn a_visitor_reads_staff_avatars_but_nobody_elses_and_cannot_set_one() {
    let app = spawn_app().await;
    let admin = user_with_role(&app, "root", "admin").await;
    let ada = app.register("ada").await;
    let url = put_avatar(&app, &admin, jpeg_with_gps(300, 300)).await["avatar_url"].as_str().expect("url").to_owned();
    let v = open_session(&app, "vera").await;

    let staff = user_view(&app, &v.guest, admin.id).await;
    assert_eq!(staff["avatar_url"], url.as_str());
    assert_eq!(fetch(&app, &url).await.status(), StatusCode::OK);
    assert_eq!(user_view(&app, &v.guest, v.guest.id).await["role"], "guest");
    assert_error(
        app.get(&format!("/api/v1/users/{}", ada.id), Some(&v.guest.access_token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(put_avatar_raw(&app, Some(&v.guest.access_token), png()).await, StatusCode::FORBIDDEN, "forbidden")
        .await;
    assert_error(
        app.delete("/api/v1/users/me/avatar", Some(&v.guest.access_token)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}
