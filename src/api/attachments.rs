//! Attachment routes: the streamed upload and the download (signed link or access token, with
//! Range support).

use actix_web::http::StatusCode;
use actix_web::http::header::{
    self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue, HeaderValue,
};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::extract::ApiQuery;
use crate::auth::AnyUser;
use crate::auth::extractor::{authenticate, bearer_token};
use crate::auth::signed_url::Variant;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ids::AttachmentId;
use crate::service::attachments::{self, DownloadAuth, UploadMeta};
use crate::state::AppState;
use crate::views::AttachmentView;

#[derive(Debug, Deserialize, IntoParams)]
pub struct UploadQuery {
    /// The file's name, for display only (anything up to its last `/` or `\\` is dropped).
    pub name: Option<String>,
}

/// `POST /api/v1/attachments`
///
/// The body is the file itself (not multipart), streamed to disk as it arrives; `Content-Type`
/// may declare its type, which must then agree with the content.
#[utoipa::path(tag = "attachments", security(("bearer" = [])),
    params(UploadQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = AttachmentView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
#[post("/attachments")]
pub async fn upload_attachment(
    state: web::Data<AppState>,
    caller: AnyUser,
    req: HttpRequest,
    query: ApiQuery<UploadQuery>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let headers = req.headers();
    let meta = UploadMeta {
        name: query.into_inner()?.name,
        declared_type: headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned),
        declared_len: headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()),
    };
    let view = attachments::upload(&state, &caller, meta, body).await?;
    Ok(HttpResponse::Created().json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LinkQuery {
    /// Expiry of a signed link (Unix seconds), as the view's `url` carries it.
    pub exp: Option<i64>,
    /// Signature of a signed link.
    pub sig: Option<String>,
}

/// Types shown inline by a browser (the images plauder read and stripped at upload); everything
/// else, other image types an operator allowed included, is served as a download.
const INLINE_TYPES: &[&str] = crate::service::images::IMAGE_TYPES;

/// `GET /api/v1/attachments/{id}/content`
///
/// Authorised by the signed link of a message view (`exp` and `sig`), or by an access token of
/// someone who may read the message's room (the uploader, while unsent). Honours a single
/// `Range`.
#[utoipa::path(tag = "attachments", security((), ("bearer" = [])),
    params(("id" = Uuid, Path), LinkQuery),
    responses((status = 200, description = "The file"), (status = 206, description = "The requested range"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "An expired link"),
              (status = 404, body = ErrorBody), (status = 416, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[get("/attachments/{id}/content")]
pub async fn download_attachment(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<AttachmentId>,
    query: ApiQuery<LinkQuery>,
) -> ApiResult<HttpResponse> {
    serve(&state, &req, id.into_inner(), query, Variant::Content).await
}

/// `GET /api/v1/attachments/{id}/thumbnail`
///
/// An image's thumbnail (see `thumbnail_url`), authorised as the file is; 404 where there is
/// none. Served whole (no ranges).
#[utoipa::path(tag = "attachments", security((), ("bearer" = [])),
    params(("id" = Uuid, Path), LinkQuery),
    responses((status = 200, description = "The thumbnail"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "An expired link"),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[get("/attachments/{id}/thumbnail")]
pub async fn download_thumbnail(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<AttachmentId>,
    query: ApiQuery<LinkQuery>,
) -> ApiResult<HttpResponse> {
    serve(&state, &req, id.into_inner(), query, Variant::Thumbnail).await
}

async fn serve(
    state: &AppState,
    req: &HttpRequest,
    id: AttachmentId,
    query: ApiQuery<LinkQuery>,
    variant: Variant,
) -> ApiResult<HttpResponse> {
    let q = query.into_inner()?;
    let auth = match (q.exp, q.sig) {
        (Some(exp), Some(sig)) => DownloadAuth::Signed { exp, sig },
        _ => {
            let token = bearer_token(req).ok_or_else(|| ApiError::Unauthorized("Missing access token.".into()))?;
            let caller = authenticate(state, token).await?;
            // Called directly rather than through an extractor, so the scope is checked here.
            caller.require(crate::auth::api_token::Scope::Read)?;
            DownloadAuth::Caller(Box::new(caller))
        }
    };
    let range = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok());
    let download = attachments::download(state, id, variant, auth, range).await?;
    let a = &download.attachment;
    let (status, length) = match (&download.range, download.size) {
        (Some(r), _) => (StatusCode::PARTIAL_CONTENT, Some(r.end() - r.start() + 1)),
        (None, size) => (StatusCode::OK, size),
    };
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, download.content_type.as_str()))
        .insert_header((header::ACCEPT_RANGES, if download.size.is_some() { "bytes" } else { "none" }))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        // The bytes under an id never change; only who may fetch them does.
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .insert_header(disposition(
            &attachments::download_name(&a.name, &download.content_type),
            INLINE_TYPES.contains(&download.content_type.as_str()),
        ));
    if let (Some(r), Some(size)) = (&download.range, download.size) {
        res.insert_header((header::CONTENT_RANGE, format!("bytes {}-{}/{size}", r.start(), r.end())));
    }
    if let Some(length) = length {
        res.no_chunking(length);
    }
    Ok(res.streaming(download.body))
}

/// `inline` for images, `attachment` for everything else, with the name to save under (the display
/// name with an extension that fits the content; UTF-8 in `filename*`, an ASCII stand-in in
/// `filename` for old clients).
fn disposition(name: &str, inline: bool) -> ContentDisposition {
    let ascii: String = name.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).collect();
    let ascii = ascii.replace(['"', '\\'], "_");
    ContentDisposition {
        disposition: if inline { DispositionType::Inline } else { DispositionType::Attachment },
        parameters: vec![
            DispositionParam::Filename(ascii),
            DispositionParam::FilenameExt(ExtendedValue {
                charset: Charset::Ext("UTF-8".to_owned()),
                language_tag: None,
                value: name.as_bytes().to_vec(),
            }),
        ],
    }
}
