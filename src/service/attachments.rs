//! Attachments: uploads (streamed to a temporary file while hashed and counted, typed from their
//! content, checked against the limits and the optional scanner, then stored by content hash),
//! who may download what, the views messages carry, and the sweep of blobs nothing refers to.
//!
//! A file belongs to its uploader until it is sent with a message (`service::messages::send`
//! links it in the message's own transaction); from then on the message's room decides who may
//! read it. Deleting the message or the room deletes the row, and the next retention pass the
//! bytes (unless another row names the same content).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::auth::Caller;
use crate::auth::ratelimit::KeyedLimiter;
use crate::auth::signed_url::{Refused, UrlSigner, Variant};
use crate::config::{AttachmentSettings, BlobStoreKind};
use crate::db::models::{Attachment, NewAttachment};
use crate::db::queries::attachments as q;
use crate::error::{ApiError, ApiResult};
use crate::ids::{AttachmentId, MessageId, UserId};
use crate::service::access::RoomAccess;
use crate::service::upload_quota::{InFlight, over_quota};
use crate::storage::{BlobStore, BlobStream};
use crate::views::{AttachmentView, MessageView};

/// Bytes of an upload's head kept for sniffing its type (infer needs far fewer).
const SNIFF_BYTES: usize = 8192;
/// Longest display name kept, in characters.
const MAX_NAME_CHARS: usize = 200;

/// What the attachment routes share: the store, the link signer, the upload limiter and the
/// directory uploads are written to first.
pub struct Attachments {
    pub store: Arc<dyn BlobStore>,
    pub signer: UrlSigner,
    pub limiter: KeyedLimiter<UserId>,
    /// The bytes of each owner's uploads in progress, held against the quota.
    pub in_flight: InFlight,
    /// Uploads in progress (avatars' pictures too, before they are stored).
    pub(crate) tmp: PathBuf,
    pub(crate) settings: AttachmentSettings,
}

impl Attachments {
    /// The store `attachments.store` names (the local one under `attachments.directory`, or the
    /// S3 bucket), and `tmp/` under `attachments.directory` for uploads in progress. Nothing is
    /// asked of a remote store yet: [`Attachments::check_store`] does that.
    ///
    /// # Errors
    /// The directories cannot be created; a bad limiter or S3 setting.
    pub fn new(settings: &AttachmentSettings, jwt_secret: &[u8]) -> anyhow::Result<Self> {
        let dir = Path::new(&settings.directory);
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp)
            .map_err(|e| anyhow::anyhow!("attachments.directory {}: {e}", settings.directory))?;
        let store: Arc<dyn BlobStore> = match settings.store {
            BlobStoreKind::Local => Arc::new(
                crate::storage::local::LocalStore::open(dir)
                    .map_err(|e| anyhow::anyhow!("attachments.directory {}: {e}", settings.directory))?,
            ),
            BlobStoreKind::S3 => Arc::new(crate::storage::s3::S3Store::open(&settings.s3)?),
        };
        Ok(Self {
            store,
            signer: UrlSigner::new(jwt_secret, settings.url_ttl_secs),
            limiter: KeyedLimiter::new(
                settings.upload_burst,
                Duration::from_millis(settings.upload_replenish_interval_ms),
            )?,
            in_flight: InFlight::default(),
            tmp,
            settings: settings.clone(),
        })
    }
}

impl Attachments {
    /// Asks the store whether it can be used (for S3: lists the bucket once), at start-up. A
    /// store that gives no definite answer (nothing listening yet, a timeout, a server error) is
    /// logged as a warning and the start goes on: files answer `unavailable` until it is back,
    /// and an object store started beside plauder (a container that comes up later) does not
    /// stop it.
    ///
    /// # Errors
    /// The store refuses us, with the reason (no such bucket, a key it does not accept, access
    /// denied, a local directory that cannot be used).
    pub async fn check_store(&self) -> anyhow::Result<()> {
        let store = match self.settings.store {
            BlobStoreKind::Local => "the local attachment store",
            BlobStoreKind::S3 => "the S3 attachment store (attachments.s3)",
        };
        match self.store.check().await {
            Ok(()) => Ok(()),
            Err(e) if crate::storage::is_unreachable(&e) => {
                tracing::warn!(error = %e, "{store} does not answer; starting anyway, files are unavailable until it does");
                Ok(())
            }
            Err(e) => Err(anyhow::anyhow!("{store} cannot be used: {e}")),
        }
    }
}

/// A store's failure as the API answers it: a remote store's is `unavailable` (try again; the
/// upload was not kept, a download can be retried), a local disk's `internal`.
pub(crate) fn store_error(e: std::io::Error) -> ApiError {
    if crate::storage::is_unreachable(&e) { ApiError::StoreUnavailable(e.into()) } else { ApiError::internal(e) }
}

/// What the client said about an upload; none of it is trusted for anything but display and a
/// consistency check.
pub struct UploadMeta {
    pub name: Option<String>,
    /// The Content-Type header, if any.
    pub declared_type: Option<String>,
    /// The Content-Length header, if any.
    pub declared_len: Option<u64>,
}

/// A temporary upload file, deleted when dropped unless it was moved into the store first.
pub(crate) struct TempFile(pub(crate) PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        // The store has its own link or copy; never created: nothing to remove.
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The name as shown to people: the last path component of what the client sent, without
/// control characters, at most 200 characters; "file" if nothing is left. It is never used as a
/// path: blobs are stored by hash.
pub fn display_name(raw: Option<&str>) -> String {
    let raw = raw.unwrap_or_default();
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." { "file".to_owned() } else { cleaned.to_owned() }
}

/// The extensions a name may have for the types an operator is likely to allow (the first is
/// the one a download gets when its name has none of them); a name whose extension belongs to
/// another type is a lie about the content. `infer` knows one extension per type but offers no
/// look-up by type, hence this table (its names, plus the usual aliases).
const EXTENSIONS: &[(&str, &[&str])] = &[
    ("image/png", &["png"]),
    ("image/jpeg", &["jpg", "jpeg", "jpe", "jfif"]),
    ("image/gif", &["gif"]),
    ("image/webp", &["webp"]),
    ("image/avif", &["avif"]),
    ("image/heif", &["heif", "heic"]),
    ("image/tiff", &["tif", "tiff"]),
    ("image/bmp", &["bmp"]),
    ("application/pdf", &["pdf"]),
    ("application/zip", &["zip"]),
    ("application/gzip", &["gz", "tgz"]),
    ("application/x-7z-compressed", &["7z"]),
    ("application/vnd.rar", &["rar"]),
    ("application/x-tar", &["tar"]),
    ("application/rtf", &["rtf"]),
    ("application/epub+zip", &["epub"]),
    ("application/msword", &["doc"]),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", &["docx"]),
    ("application/vnd.ms-excel", &["xls"]),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", &["xlsx"]),
    ("application/vnd.ms-powerpoint", &["ppt"]),
    ("application/vnd.openxmlformats-officedocument.presentationml.presentation", &["pptx"]),
    ("application/vnd.oasis.opendocument.text", &["odt"]),
    ("application/vnd.oasis.opendocument.spreadsheet", &["ods"]),
    ("application/vnd.oasis.opendocument.presentation", &["odp"]),
    ("video/mp4", &["mp4"]),
    ("video/webm", &["webm"]),
    ("video/quicktime", &["mov"]),
    ("video/x-matroska", &["mkv"]),
    ("audio/mpeg", &["mp3"]),
    ("audio/m4a", &["m4a"]),
    ("audio/ogg", &["ogg", "oga"]),
    ("audio/opus", &["opus"]),
    ("audio/x-wav", &["wav"]),
    ("audio/x-flac", &["flac"]),
    ("text/plain", &["txt"]),
];

/// Extensions of types without magic bytes (which `infer` cannot detect) that a browser or
/// desktop opens as something active or as text: a detected type never has one, so a PDF named
/// `page.html` is refused rather than saved as a web page.
const TEXT_EXTENSIONS: &[&str] =
    &["htm", "html", "xhtml", "shtml", "svg", "svgz", "js", "mjs", "css", "json", "csv", "md", "xml", "hta"];

/// Formats that are zip files inside: `infer` tells some of them apart and reports the others
/// (an Office file written without the member order it looks for) as `application/zip`, which
/// they truly are, so these names fit that type too.
const ZIP_CONTAINERS: &[&str] = &["docx", "xlsx", "pptx", "odt", "ods", "odp", "epub"];

/// The extensions `content_type` goes by in [`EXTENSIONS`] (none for a type not in it).
fn extensions_of(content_type: &str) -> &'static [&'static str] {
    EXTENSIONS.iter().find(|(t, _)| *t == content_type).map_or(&[], |(_, exts)| exts)
}

/// Whether a name with extension `ext` (lowercase) fits content of type `content_type`.
fn extension_fits(content_type: &str, ext: &str) -> bool {
    extensions_of(content_type).contains(&ext) || (content_type == "application/zip" && ZIP_CONTAINERS.contains(&ext))
}

/// Whether `ext` (lowercase) names some type: in our table, `infer`'s, or a text type.
fn is_known_extension(ext: &str) -> bool {
    EXTENSIONS.iter().any(|(_, exts)| exts.contains(&ext)) || infer::is_supported(ext) || TEXT_EXTENSIONS.contains(&ext)
}

/// The name's extension, lowercase, if it has one (`.profile` has none, `a.` neither).
fn extension(name: &str) -> Option<String> {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => Some(ext.to_ascii_lowercase()),
        _ => None,
    }
}

/// The file name a download is saved under: the display name if its extension fits
/// `content_type`, else the name with the type's extension appended (`notes` → `notes.pdf`,
/// `page.html` → `page.html.pdf`), so a saved file never opens as something it is not (rows from
/// before extensions were checked included). A type missing from [`EXTENSIONS`] keeps a name
/// whose extension `infer` knows (upload checked it fits) and gets `.bin` otherwise.
pub fn download_name(name: &str, content_type: &str) -> String {
    let ext = extension(name);
    match extensions_of(content_type) {
        [] if ext.as_deref().is_some_and(|e| infer::is_supported(e) && !TEXT_EXTENSIONS.contains(&e)) => {
            name.to_owned()
        }
        [] => format!("{name}.bin"),
        _ if ext.as_deref().is_some_and(|e| extension_fits(content_type, e)) => name.to_owned(),
        [canonical, ..] => format!("{name}.{canonical}"),
    }
}

/// Decides the type from the content and checks it against the settings, the declared type and
/// the name's extension.
fn decide_type(settings: &AttachmentSettings, head: &[u8], declared: Option<&str>, name: &str) -> ApiResult<String> {
    let kind = infer::get(head);
    let detected = kind.map_or("application/octet-stream", |t| t.mime_type());
    if !settings.allowed_types.iter().any(|t| t == detected) {
        return Err(ApiError::UnsupportedMediaType(format!("Files of type {detected} are not accepted here.")));
    }
    let declared = declared
        .and_then(|d| d.split(';').next())
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty() && d != "application/octet-stream");
    if let Some(declared) = declared
        && declared != detected
    {
        return Err(ApiError::UnsupportedMediaType(format!(
            "The file was declared as {declared} but its content is {detected}."
        )));
    }
    // An extension nobody knows (`v1.2`, `notes.final`) says nothing; a known one must fit.
    if let Some(ext) = extension(name)
        && is_known_extension(&ext)
        && !extension_fits(detected, &ext)
        && kind.is_none_or(|t| !t.extension().eq_ignore_ascii_case(&ext))
    {
        return Err(ApiError::UnsupportedMediaType(format!("The file is named .{ext} but its content is {detected}.")));
    }
    Ok(detected.to_owned())
}

/// What `owner`'s stored attachments take, sent or not.
async fn stored_bytes(state: &crate::state::AppState, owner: UserId) -> ApiResult<u64> {
    let mut conn = state.db().await?;
    Ok(u64::try_from(q::bytes_of_owner(&mut conn, owner).await?).unwrap_or(0))
}

fn too_large(max: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!("A file may be at most {max} bytes."))
}

/// `POST /attachments`: streams `body` to a temporary file while hashing and counting it,
/// refuses it at `max_bytes`, types it from its content, reads an image's size from its header,
/// runs the scanner, and stores it. The upload is the caller's, unsent.
///
/// # Errors
/// `rate_limited` past the upload rate or the quota; `payload_too_large` past `max_bytes` or
/// `max_image_pixels`; `unsupported_media_type` for a type not allowed or one that disagrees with
/// the declared type or the name; `validation_failed` (`file`) for an empty file, an image whose
/// header cannot be read, or a file the scanner rejects; `unavailable` when the scanner or a
/// remote store (S3) fails.
pub async fn upload<S, E>(
    state: &crate::state::AppState,
    caller: &Caller,
    meta: UploadMeta,
    mut body: S,
) -> ApiResult<AttachmentView>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let att = &state.attachments;
    let settings = &att.settings;
    att.limiter.check(&caller.id)?;
    if meta.declared_len.is_some_and(|n| n > settings.max_bytes) {
        return Err(too_large(settings.max_bytes));
    }
    let used = stored_bytes(state, caller.id).await?;
    let quota = settings.user_quota_bytes;
    // Held until this upload ends: another of the owner's that starts meanwhile counts it.
    let mut reserved = att.in_flight.reserve(caller.id, used, meta.declared_len.unwrap_or(0), quota)?;
    let name = display_name(meta.name.as_deref());

    let temp = TempFile(att.tmp.join(format!("{}.part", uuid::Uuid::new_v4())));
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp.0)
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("creating {}: {e}", temp.0.display())))?;
    let mut hasher = Sha256::new();
    let mut head: Vec<u8> = Vec::with_capacity(SNIFF_BYTES);
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("The upload was interrupted: {e}")))?;
        size += chunk.len() as u64;
        if size > settings.max_bytes {
            return Err(too_large(settings.max_bytes));
        }
        // Without a Content-Length the size is learnt while reading: the quota holds as it grows.
        if size > reserved.bytes() {
            reserved.resize(used, size, quota)?;
        }
        if head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    if size == 0 {
        return Err(ApiError::validation("file", "The file is empty."));
    }
    // Durable before it is renamed into the store: a crash then leaves the whole blob or none.
    file.sync_all().await.map_err(ApiError::internal)?;
    drop(file);

    let content_type = decide_type(settings, &head, meta.declared_type.as_deref(), &name)?;
    // An image type plauder does not read (one an operator allowed beyond `images::IMAGE_TYPES`)
    // is a plain file: no size, no thumbnail, stored as sent.
    let (width, height) = if crate::service::images::IMAGE_TYPES.contains(&content_type.as_str()) {
        image_size(settings, &temp.0).await?
    } else {
        (None, None)
    };
    // The scanner sees the file as it was sent; what is stored of an image has its metadata
    // removed (and may be smaller), so its hash and size are taken again.
    scan(settings, &temp.0).await?;
    let (sha256, size, thumbnail, width, height) = if width.is_some() {
        let processed =
            process_image(&att.tmp, &temp.0, &content_type, settings.thumbnail_max_px, settings.max_image_pixels)
                .await?;
        // Width and height as the image is shown (upright), like its thumbnail.
        let (width, height) = if processed.turned { (height, width) } else { (width, height) };
        (processed.sha256, processed.size, processed.thumbnail, width, height)
    } else {
        (format!("{:x}", hasher.finalize()), size, None, width, height)
    };
    // A check without the lock before the store's PUT (refusing early is cheap), with the sum read
    // again: uploads that finished while this one streamed are in it now. The binding one is below.
    let used = stored_bytes(state, caller.id).await?;
    reserved.resize(used, size, quota)?;

    let new = NewAttachment {
        id: AttachmentId::new(),
        owner_id: caller.id,
        sha256: &sha256,
        size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
        content_type: &content_type,
        name: &name,
        width,
        height,
        thumbnail_sha256: thumbnail.as_ref().map(|t| t.sha256.as_str()),
        thumbnail_content_type: thumbnail.as_ref().map(|t| t.content_type),
    };
    let blobs: Vec<(&str, &Path)> = std::iter::once((sha256.as_str(), temp.0.as_path()))
        .chain(thumbnail.as_ref().map(|t| (t.sha256.as_str(), t.file.0.as_path())))
        .collect();
    put_blobs(att.store.as_ref(), &blobs).await?;
    let store = att.store.as_ref();
    let mut conn = state.db().await?;
    let row = conn
        .transaction::<_, ApiError, _>(async |conn| {
            // The owner's uploads sum and insert one at a time, so two running at once cannot
            // each pass the quota with what the other adds (the sum above was read before the
            // body streamed).
            q::lock_owner(conn, new.owner_id).await?;
            // Shared with other uploads, exclusive of the sweep: once this row commits, no sweep
            // deletes its blobs, and one deleting them now has finished when this lock is ours.
            let keys: Vec<&str> = std::iter::once(new.sha256).chain(new.thumbnail_sha256).collect();
            q::lock_blobs_shared(conn, &keys).await?;
            let used = u64::try_from(q::bytes_of_owner(conn, new.owner_id).await?).unwrap_or(0);
            if used.saturating_add(size) > quota {
                return Err(over_quota(quota));
            }
            restore_swept(store, &blobs).await?;
            q::insert(conn, &new).await.map_err(|e| crate::error::gone_meanwhile(e, account_gone))
        })
        .await;
    drop(conn);
    // Committed, the row counts in the stored sum; failed, it counts nowhere.
    drop(reserved);
    let row = match row {
        Ok(row) => row,
        Err(e) => {
            forget_blobs(state, blobs.iter().map(|(key, _)| (*key).to_owned()).collect());
            return Err(e);
        }
    };
    metrics::counter!("plauder_attachment_uploads_total").increment(1);
    metrics::counter!("plauder_attachment_upload_bytes_total").increment(size);
    Ok(AttachmentView::new(&row, &att.signer, chrono::Utc::now().timestamp()))
}

/// Stores each (key, file) of `blobs`, before the transaction whose row names them: a remote
/// store's PUT takes as long as the file takes to send, and a transaction around it would hold a
/// pooled connection (and the owner's lock) for that long, so that a few slow uploads would make
/// every other request wait for the pool.
///
/// # Errors
/// `unavailable` when a remote store fails, `internal` when the local disk does.
pub(crate) async fn put_blobs(store: &dyn crate::storage::BlobStore, blobs: &[(&str, &Path)]) -> ApiResult<()> {
    for (key, file) in blobs {
        store.put_file(key, file).await.map_err(store_error)?;
    }
    Ok(())
}

/// Inside the transaction that names `blobs`, once it holds their locks shared
/// (`lock_blobs_shared`): stores again any the sweep deleted between [`put_blobs`] and that lock,
/// while nothing named them. No sweep deletes them while the lock is held, and a delete begun
/// before it has finished (the sweep holds the blob's lock exclusively until it has), so one look
/// at the store tells (a store that shows a delete to the next read at once: S3, MinIO, R2 and
/// the local directory do).
///
/// Inside the transaction rather than after its commit, so that a row commits only with its
/// blobs in the store: a store failing here refuses the write and names nothing missing, and a
/// request dropped during its commit (the client hung up) leaves nothing undone. The price is a
/// look at the store (a HEAD request on S3) while the transaction holds its locks, and, only in
/// that race, a whole PUT.
///
/// # Errors
/// As [`put_blobs`].
pub(crate) async fn restore_swept(store: &dyn crate::storage::BlobStore, blobs: &[(&str, &Path)]) -> ApiResult<()> {
    for (key, file) in blobs {
        if !store.exists(key).await.map_err(store_error)? {
            metrics::counter!("plauder_attachment_blobs_stored_again_total").increment(1);
            store.put_file(key, file).await.map_err(store_error)?;
        }
    }
    Ok(())
}

/// The uploader's account was deleted while the upload streamed.
pub(crate) fn account_gone() -> ApiError {
    ApiError::Unauthorized("The account was deleted.".into())
}

/// A thumbnail waiting in `tmp/` to be stored.
struct Thumbnail {
    file: TempFile,
    sha256: String,
    content_type: &'static str,
}

/// What is stored of an image: its hash and size once its metadata is removed, and its
/// thumbnail if it needs one.
struct ProcessedImage {
    sha256: String,
    size: u64,
    thumbnail: Option<Thumbnail>,
    /// Its EXIF orientation turns it by a quarter: it shows as wide as its pixels are high.
    turned: bool,
}

/// Writes `data` to `path` and syncs it (before the file is renamed into the store).
pub(crate) fn write_synced(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path)?;
    file.write_all(data)?;
    file.sync_all()
}

/// Strips the image's metadata in place and makes its thumbnail (`service::images`), on a
/// blocking thread.
async fn process_image(
    tmp: &Path,
    path: &Path,
    content_type: &str,
    max_side: u32,
    max_pixels: u64,
) -> ApiResult<ProcessedImage> {
    let (tmp, path, content_type) = (tmp.to_owned(), path.to_owned(), content_type.to_owned());
    let unreadable = |e: String| crate::service::images::Failure::Unreadable(e).into_api();
    let decoding = crate::service::images::decoding().await.map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(move || -> ApiResult<ProcessedImage> {
        let _decoding = decoding;
        let data = std::fs::read(&path).map_err(ApiError::internal)?;
        let (data, turned) = if crate::service::images::has_metadata_container(&content_type) {
            let stripped = crate::service::images::strip_metadata(data).map_err(unreadable)?;
            write_synced(&path, &stripped.data).map_err(ApiError::internal)?;
            let turned = stripped.is_turned();
            (stripped.data, turned)
        } else {
            (data, false)
        };
        let thumbnail = match crate::service::images::thumbnail(&data, &content_type, max_side, max_pixels)
            .map_err(crate::service::images::Failure::into_api)?
        {
            None => None,
            Some((bytes, kind)) => {
                let file = TempFile(tmp.join(format!("{}.thumb.part", uuid::Uuid::new_v4())));
                write_synced(&file.0, &bytes).map_err(ApiError::internal)?;
                Some(Thumbnail { file, sha256: format!("{:x}", Sha256::digest(&bytes)), content_type: kind })
            }
        };
        Ok(ProcessedImage {
            sha256: format!("{:x}", Sha256::digest(&data)),
            size: data.len() as u64,
            thumbnail,
            turned,
        })
    })
    .await
    .map_err(ApiError::internal)?
}

/// Width and height from the image's header, refused past `max_image_pixels` before anything
/// is decoded.
async fn image_size(settings: &AttachmentSettings, path: &Path) -> ApiResult<(Option<i32>, Option<i32>)> {
    let path = path.to_owned();
    let size = tokio::task::spawn_blocking(move || imagesize::size(&path))
        .await
        .map_err(ApiError::internal)?
        .map_err(|_| ApiError::validation("file", "The image's header could not be read."))?;
    let pixels = (size.width as u64).saturating_mul(size.height as u64);
    if pixels > settings.max_image_pixels {
        return Err(ApiError::PayloadTooLarge(format!(
            "The image is {}x{} pixels; at most {} pixels are accepted.",
            size.width, size.height, settings.max_image_pixels
        )));
    }
    let dim = |n: usize| i32::try_from(n).ok();
    Ok((dim(size.width), dim(size.height)))
}

/// Runs `attachments.scan_command` on the file (see config/default.toml for the exit codes).
async fn scan(settings: &AttachmentSettings, path: &Path) -> ApiResult<()> {
    let command = settings.scan_command.trim();
    if command.is_empty() {
        return Ok(());
    }
    // `sh -c '<command> "$1"' plauder-scan <path>`: the path is an argument, never part of the
    // shell text, so no file name can inject anything (and paths are ours anyway).
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{command} \"$1\""))
        .arg("plauder-scan")
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ApiError::Unavailable(anyhow::anyhow!("starting the scan command: {e}")))?;
    let timeout = Duration::from_millis(settings.scan_timeout_ms);
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => status.map_err(|e| ApiError::Unavailable(anyhow::anyhow!("scan command: {e}")))?,
        Err(_) => {
            metrics::counter!("plauder_attachment_scans_total", "outcome" => "failed").increment(1);
            return Err(ApiError::Unavailable(anyhow::anyhow!("scan command timed out")));
        }
    };
    let outcome = match status.code() {
        Some(0) => "clean",
        Some(1) => "rejected",
        _ => "failed",
    };
    metrics::counter!("plauder_attachment_scans_total", "outcome" => outcome).increment(1);
    match outcome {
        "clean" => Ok(()),
        "rejected" => Err(ApiError::validation("file", "The file was rejected by the server's malware scan.")),
        _ => Err(ApiError::Unavailable(anyhow::anyhow!("scan command exited with {status}"))),
    }
}

/// How a download is authorised: a signed link from a view, or the caller's own access token.
pub enum DownloadAuth {
    Signed { exp: i64, sig: String },
    Caller(Box<Caller>),
}

/// An attachment's bytes (or its thumbnail's), ready to serve.
pub struct Download {
    pub attachment: Attachment,
    pub content_type: String,
    /// The whole file's size; unknown for a thumbnail (served whole, without ranges).
    pub size: Option<u64>,
    pub range: Option<std::ops::RangeInclusive<u64>>,
    pub body: BlobStream,
}

fn not_found() -> ApiError {
    ApiError::NotFound("No such attachment.".into())
}

/// `GET /attachments/{id}/content`: the file (or the byte range `range` of it, a Range header's
/// value) for a valid signed link, for its uploader while unsent, and for whoever may read its
/// message's room (members; staff in support rooms; anyone signed in for a public group room,
/// as its history is).
///
/// # Errors
/// `not_found` for an unknown id, a forged link and a caller who may not read it (the same
/// answer, so ids cannot be probed); `forbidden` for an expired link of ours;
/// `range_not_satisfiable` for a range outside the file.
pub async fn download(
    state: &crate::state::AppState,
    id: AttachmentId,
    variant: Variant,
    auth: DownloadAuth,
    range: Option<&str>,
) -> ApiResult<Download> {
    let mut conn = state.db().await?;
    let row = q::find(&mut conn, id).await?.ok_or_else(not_found)?;
    match auth {
        DownloadAuth::Signed { exp, sig } => {
            let now = chrono::Utc::now().timestamp();
            match state.attachments.signer.verify(id, variant, exp, &sig, now) {
                Ok(()) => {}
                Err(Refused::Invalid) => return Err(not_found()),
                Err(Refused::Expired) => {
                    return Err(ApiError::Forbidden(
                        "This download link has expired; load the message again for a fresh one.".into(),
                    ));
                }
            }
        }
        DownloadAuth::Caller(caller) => may_read(&mut conn, &row, &caller).await?,
    }
    drop(conn);
    if variant == Variant::Thumbnail {
        let (Some(key), Some(content_type)) = (row.thumbnail_sha256.clone(), row.thumbnail_content_type.clone()) else {
            return Err(not_found());
        };
        let body = state.attachments.store.get(&key, None).await.map_err(store_error)?;
        return Ok(Download { attachment: row, content_type, size: None, range: None, body });
    }
    let size = u64::try_from(row.size_bytes).unwrap_or(0);
    let range = match range {
        None => None,
        Some(header) => {
            use http_range_header::{RangeRejected, RangeUnsatisfiableError as Refused};
            match http_range_header::parse_range_header(header).and_then(|r| r.validate(size)) {
                // One range is served as such; several (rare; multipart answers) get the whole
                // file, which RFC 9110 allows.
                Ok(ranges) if ranges.len() == 1 => ranges.into_iter().next(),
                Ok(_) => None,
                // Many ranges, or overlapping ones, are several ranges too: the whole file, not
                // a refusal of what a range request may always get.
                Err(Refused::Rejected(RangeRejected::TooManyOverlapping | RangeRejected::TooMany)) => None,
                Err(_) => return Err(ApiError::RangeNotSatisfiable { size }),
            }
        }
    };
    let body = state.attachments.store.get(&row.sha256, range.clone()).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ApiError::internal(anyhow::anyhow!("attachment {id}: blob {} missing from the store", row.sha256))
        } else {
            store_error(e)
        }
    })?;
    Ok(Download { content_type: row.content_type.clone(), attachment: row, size: Some(size), range, body })
}

async fn may_read(conn: &mut AsyncPgConnection, row: &Attachment, caller: &Caller) -> ApiResult<()> {
    match row.room_id {
        None if row.owner_id == Some(caller.id) => Ok(()),
        None => Err(not_found()),
        Some(room_id) => {
            // Only "may not read" looks like "no such file"; a database that cannot answer is
            // its own error (503), not a file that is gone.
            let access = RoomAccess::load(conn, room_id, caller).await.map_err(|e| match e {
                ApiError::NotFound(_) | ApiError::Forbidden(_) => not_found(),
                e => e,
            })?;
            access.require_read().map_err(|_| not_found())
        }
    }
}

/// Fills `attachments` of these views (one query for all of them).
///
/// # Errors
/// A database error.
pub async fn fill(
    conn: &mut AsyncPgConnection,
    signer: &UrlSigner,
    views: &mut [MessageView],
) -> Result<(), diesel::result::Error> {
    let ids: Vec<MessageId> = views.iter().filter(|v| !v.deleted).map(|v| v.id).collect();
    let rows = q::of_messages(conn, &ids).await?;
    MessageView::fill_attachments(views, &rows, signer);
    Ok(())
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Unsent uploads past `unsent_retention_secs` whose rows were deleted.
    pub unsent: u64,
    /// Blobs deleted because no row names them.
    pub blobs: u64,
}

/// Keys checked against the database per statement.
const SWEEP_CHUNK: usize = 500;

/// Deletes unsent uploads past their age, then every blob no row names (those of deleted
/// messages, rooms and uploads). Run by the retention job.
///
/// # Errors
/// A database or store error; what was deleted before it stays deleted.
pub async fn sweep(state: &crate::state::AppState, conn: &mut AsyncPgConnection, batch: i64) -> ApiResult<SweepReport> {
    let att = &state.attachments;
    let mut report = SweepReport::default();
    let age = chrono::Duration::seconds(i64::try_from(att.settings.unsent_retention_secs).unwrap_or(i64::MAX / 2));
    let cutoff = chrono::Utc::now() - age;
    loop {
        let n = q::delete_unsent_before(conn, cutoff, batch).await?;
        report.unsent += n as u64;
        if (n as i64) < batch {
            break;
        }
    }
    let keys = att.store.list().await.map_err(ApiError::internal)?;
    for chunk in keys.chunks(SWEEP_CHUNK) {
        let live = q::referenced(conn, chunk).await?;
        // Each candidate is deleted under its own lock, checked once more there: a blob an upload
        // is naming (lock held) waits for the next pass, one whose row committed since the check
        // above stays, and an upload of other content never waits for the store's deletes. A
        // blob stored by an upload whose row has not taken the lock yet may go: that upload
        // stores it again before its commit (`restore_swept`).
        for key in chunk.iter().filter(|k| !live.contains(k)) {
            report.blobs += u64::from(delete_unnamed(conn, att.store.as_ref(), key).await?);
        }
    }
    remove_stale_temp_files(&att.tmp, age.to_std().unwrap_or(Duration::from_secs(86_400))).await;
    Ok(report)
}

/// Deletes blob `key` if no row names it, under its lock taken without waiting (a blob being
/// named is left alone). Whether it was deleted.
async fn delete_unnamed(
    conn: &mut AsyncPgConnection,
    store: &dyn crate::storage::BlobStore,
    key: &str,
) -> ApiResult<bool> {
    conn.transaction::<_, ApiError, _>(async |conn| {
        let key = key.to_owned();
        if !q::try_lock_blob(conn, &key).await? || !q::referenced(conn, std::slice::from_ref(&key)).await?.is_empty() {
            return Ok(false);
        }
        store.delete(&key).await.map_err(store_error)?;
        Ok(true)
    })
    .await
}

/// After an upload stored the blobs `keys` and its transaction was then refused (the quota, its
/// account gone): deletes those that no row names, in a task of its own with a connection of its
/// own, so that the refusal is answered at once (a remote store's delete may take a while). A
/// failure here is only logged, and what a refusal leaves otherwise (a pool timeout, a store that
/// failed half-way) too: the sweep deletes it.
pub(crate) fn forget_blobs(state: &crate::state::AppState, keys: Vec<String>) {
    let (pool, store) = (state.pool.clone(), state.attachments.store.clone());
    tokio::spawn(async move {
        let mut conn = match pool.get().await {
            Ok(conn) => conn,
            Err(e) => return tracing::warn!(error = %e, "deleting the blobs of a refused upload; the sweep will"),
        };
        for key in keys {
            if let Err(e) = delete_unnamed(&mut conn, store.as_ref(), &key).await {
                tracing::warn!(error = %e, "deleting the blob of a refused upload; the sweep will");
            }
        }
    });
}

/// Temporary files of uploads that were cut off by a crash (a running upload removes its own).
async fn remove_stale_temp_files(tmp: &Path, age: Duration) {
    let tmp = tmp.to_owned();
    let _ = tokio::task::spawn_blocking(move || {
        let Ok(entries) = std::fs::read_dir(&tmp) else { return };
        for entry in entries.flatten() {
            let old = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
            if old.is_some_and(|elapsed| elapsed > age) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    })
    .await;
}

/// Registers the help text of the attachment metrics.
pub fn describe_metrics() {
    metrics::describe_counter!("plauder_attachment_uploads_total", "Attachments uploaded and stored.");
    metrics::describe_counter!("plauder_attachment_upload_bytes_total", "Bytes of attachments uploaded and stored.");
    metrics::describe_counter!(
        "plauder_attachment_blobs_stored_again_total",
        "Blobs an upload stored again because the sweep deleted them before the upload's row named them."
    );
    metrics::describe_counter!(
        "plauder_attachment_scans_total",
        "Uploads run through attachments.scan_command, by outcome: clean, rejected or failed."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_office_file_seen_as_a_zip_keeps_its_name_and_a_lying_one_does_not() {
        assert!(extension_fits("application/zip", "docx"));
        assert!(extension_fits("application/zip", "zip"));
        assert!(!extension_fits("application/zip", "pdf"));
        assert!(!extension_fits("application/pdf", "docx"));
        assert_eq!(download_name("Bericht.docx", "application/zip"), "Bericht.docx");
        assert_eq!(download_name("page.html", "application/pdf"), "page.html.pdf");
        assert_eq!(download_name("notes", "application/pdf"), "notes.pdf");
    }
}
