//! Avatars: `PUT /users/me/avatar` turns an uploaded image into a square picture of
//! `attachments.avatar_px` pixels (decided from the content like an attachment, re-encoded so no
//! EXIF or GPS survives), keeps it in the attachment store under its SHA-256 and names it on the
//! user; `DELETE` removes it; `GET /avatars/{key}` serves it to anyone.
//!
//! The picture's address is public but unguessable: it carries the picture's hash, which only
//! someone who saw the user object (or the picture) knows, and every signed-in user may read any
//! user object (`GET /users/{id}`). So it needs no token and no signature: an `<img>` works
//! anywhere, the widget's on another site included, and as the address changes with the picture
//! it is cached for good. Once no user has the picture any more, its address answers 404 and the
//! retention sweep deletes the blob (which `db::queries::attachments::referenced` keeps while it
//! is someone's avatar).

use bytes::Bytes;
use diesel::OptionalExtension;
use diesel_async::AsyncConnection;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::db::queries::{attachments as blobs, users};
use crate::error::{ApiError, ApiResult};
use crate::service::attachments::{TempFile, store_error, write_synced};
use crate::state::AppState;
use crate::storage::BlobStream;
use crate::views::UserView;

fn too_large(max: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!("An avatar may be at most {max} bytes."))
}

/// `PUT /users/me/avatar`: reads the body (refused at `attachments.avatar_max_bytes`), checks it
/// is an image by its content and within `max_image_pixels` by its header, makes the square
/// picture on a blocking thread, stores it and sets it as the caller's avatar (an external
/// `avatar_url` goes). The previous picture is left to the retention sweep.
///
/// # Errors
/// `rate_limited` past the upload rate (shared with attachments); `payload_too_large` past
/// `avatar_max_bytes` or `max_image_pixels`; `unsupported_media_type` for anything but a PNG,
/// JPEG, GIF or WebP, whatever it was declared as; `validation_failed` (`file`) for an empty body
/// or an image that cannot be decoded; `unavailable` when a remote store (S3) fails.
pub async fn set<S, E>(state: &AppState, caller: &Caller, declared_len: Option<u64>, mut body: S) -> ApiResult<UserView>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let att = &state.attachments;
    let settings = &att.settings;
    att.limiter.check(&caller.id)?;
    let max = settings.avatar_max_bytes;
    if declared_len.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let mut data = Vec::with_capacity(usize::try_from(declared_len.unwrap_or(0).min(max)).unwrap_or(0));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("The upload was interrupted: {e}")))?;
        if (data.len() + chunk.len()) as u64 > max {
            return Err(too_large(max));
        }
        data.extend_from_slice(&chunk);
    }
    if data.is_empty() {
        return Err(ApiError::validation("file", "The file is empty."));
    }
    let detected = infer::get(&data).map_or("application/octet-stream", |t| t.mime_type());
    if !crate::service::images::IMAGE_TYPES.contains(&detected) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "An avatar must be a PNG, JPEG, GIF or WebP image; this file is {detected}."
        )));
    }
    let size = imagesize::blob_size(&data)
        .map_err(|_| ApiError::validation("file", "The image's header could not be read."))?;
    let pixels = (size.width as u64).saturating_mul(size.height as u64);
    if pixels > settings.max_image_pixels {
        return Err(ApiError::PayloadTooLarge(format!(
            "The image is {}x{} pixels; at most {} pixels are accepted.",
            size.width, size.height, settings.max_image_pixels
        )));
    }

    let side = settings.avatar_px;
    let temp = TempFile(att.tmp.join(format!("{}.avatar.part", uuid::Uuid::new_v4())));
    let path = temp.0.clone();
    let max_pixels = settings.max_image_pixels;
    let decoding = crate::service::images::decoding().await.map_err(ApiError::internal)?;
    let (key, content_type) = tokio::task::spawn_blocking(move || -> ApiResult<(String, &'static str)> {
        let _decoding = decoding;
        let (picture, content_type) = crate::service::images::avatar(&data, detected, side, max_pixels)
            .map_err(crate::service::images::Failure::into_api)?;
        write_synced(&path, &picture).map_err(ApiError::internal)?;
        Ok((format!("{:x}", Sha256::digest(&picture)), content_type))
    })
    .await
    .map_err(ApiError::internal)??;

    let blobs = [(key.as_str(), temp.0.as_path())];
    crate::service::attachments::put_blobs(att.store.as_ref(), &blobs).await?;
    let user_id = caller.id;
    let store = att.store.as_ref();
    let mut conn = state.db().await?;
    let user = conn
        .transaction::<_, ApiError, _>(async |conn| {
            // Shared with uploads, exclusive of the sweep: once this change commits, no sweep
            // deletes the picture, and one that deleted it before is undone here
            // (`attachments::restore_swept`).
            blobs::lock_blobs_shared(conn, &[key.as_str()]).await?;
            crate::service::attachments::restore_swept(store, &blobs).await?;
            // The account deleted while the picture was made: no row to change.
            users::set_avatar(conn, user_id, Some((&key, content_type)))
                .await
                .optional()?
                .ok_or_else(crate::service::attachments::account_gone)
        })
        .await;
    drop(conn);
    let user = match user {
        Ok(user) => user,
        Err(e) => {
            crate::service::attachments::forget_blobs(state, vec![key]);
            return Err(e);
        }
    };
    Ok(UserView::own(&user))
}

/// `DELETE /users/me/avatar`: the caller has no avatar any more (an external `avatar_url`
/// neither); the picture's address answers 404 from now on. Removing none is not an error.
///
/// # Errors
/// Only the database's.
pub async fn remove(state: &AppState, caller: &Caller) -> ApiResult<UserView> {
    let mut conn = state.db().await?;
    let user = users::set_avatar(&mut conn, caller.id, None).await?;
    Ok(UserView::own(&user))
}

/// An avatar's picture, ready to serve.
pub struct Picture {
    pub content_type: String,
    /// `None` when it was not asked for (the client has it cached).
    pub body: Option<BlobStream>,
}

fn not_found() -> ApiError {
    ApiError::NotFound("No such avatar.".into())
}

/// `GET /avatars/{key}`: the picture, while it is someone's avatar (its bytes only if `body`).
///
/// # Errors
/// `not_found` for anything that is not a key, and for a picture nobody has (any more);
/// `unavailable` when a remote store (S3) fails.
pub async fn get(state: &AppState, key: &str, body: bool) -> ApiResult<Picture> {
    if !crate::storage::is_key(key) {
        return Err(not_found());
    }
    let content_type = {
        let mut conn = state.db().await?;
        users::avatar_content_type(&mut conn, key).await?.ok_or_else(not_found)?
    };
    if !body {
        return Ok(Picture { content_type, body: None });
    }
    let stream = state.attachments.store.get(key, None).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ApiError::internal(anyhow::anyhow!("avatar blob {key} missing from the store"))
        } else {
            store_error(e)
        }
    })?;
    Ok(Picture { content_type, body: Some(stream) })
}
