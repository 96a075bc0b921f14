//! The browser client: the chat app at `/`, the admin panel at `/admin`, the support widget's
//! loader at `/widget.js` (and the widget alone at `/support`), and their embedded files under
//! `/static/`, with the caching, security and cross-origin headers they need. Versioned asset URLs (`/static/<version>/…`, the
//! ones index.html uses) are immutable and cached for a year; unversioned ones
//! (`/static/plauder-client.js`, for other people's pages) and the page itself revalidate with
//! their ETag on every use. The installable app's manifest (`/manifest.webmanifest`) and its
//! service worker (`/sw.js`) live at the root, where their scope must be, and revalidate too: a
//! new build's service worker is found on the next visit.

pub mod assets;
pub mod cors;

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;

/// For files whose URL changes with their content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For URLs whose content may change: cache, but ask (cheaply, with the ETag) before each use.
const REVALIDATE: &str = "no-cache";

/// The routes of the browser client; none shadows `/api/v1`, `/ws`, `/health` or `/metrics`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(index)).route(web::head().to(index)))
        .service(web::resource("/admin").route(web::get().to(admin)).route(web::head().to(admin)))
        .service(web::resource("/support").route(web::get().to(support)).route(web::head().to(support)))
        .service(web::resource("/widget.js").route(web::get().to(widget_loader)).route(web::head().to(widget_loader)))
        .service(web::resource("/manifest.webmanifest").route(web::get().to(manifest)).route(web::head().to(manifest)))
        .service(web::resource("/sw.js").route(web::get().to(service_worker)).route(web::head().to(service_worker)))
        .service(
            web::resource("/static/{path:.*}").route(web::get().to(static_file)).route(web::head().to(static_file)),
        );
}

/// `GET /`: the chat app.
pub async fn index(req: HttpRequest) -> HttpResponse {
    let (html, etag) = &*assets::INDEX;
    page(&req, html, etag)
}

/// `GET /admin`: the admin panel (the API decides who may use it; the page itself is public).
pub async fn admin(req: HttpRequest) -> HttpResponse {
    let (html, etag) = &*assets::ADMIN;
    page(&req, html, etag)
}

/// `GET /support`: the support widget on a page of its own, where a reply mail's link
/// (`#plauder-resume=<token>`) continues the visitor's conversation.
pub async fn support(req: HttpRequest) -> HttpResponse {
    let (html, etag) = &*assets::SUPPORT;
    page(&req, html, etag)
}

/// `GET /widget.js`: the support widget's loader, a classic script that other sites include with
/// a `<script src>` tag. Any origin may load it (and the versioned modules it imports, see
/// [`static_file`]); it revalidates so sites pick up a new build at once.
pub async fn widget_loader(req: HttpRequest) -> HttpResponse {
    let (js, etag) = &*assets::WIDGET_LOADER;
    let mut res = cached(&req, etag, REVALIDATE, "text/javascript; charset=utf-8", js.as_bytes());
    res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    res
}

/// `GET /manifest.webmanifest`: the web app manifest that makes the chat app installable.
pub async fn manifest(req: HttpRequest) -> HttpResponse {
    let (json, etag) = &*assets::MANIFEST;
    cached(&req, etag, REVALIDATE, "application/manifest+json", json.as_bytes())
}

/// `GET /sw.js`: the chat app's service worker (offline shell, push notifications). Browsers
/// check it for updates on every navigation anyway; `no-cache` keeps any cache in between from
/// holding an old build's worker. `Service-Worker-Allowed: /` states the scope it is meant for.
pub async fn service_worker(req: HttpRequest) -> HttpResponse {
    let (js, etag) = &*assets::SERVICE_WORKER;
    let mut res = cached(&req, etag, REVALIDATE, "text/javascript; charset=utf-8", js.as_bytes());
    res.headers_mut().insert(HeaderName::from_static("service-worker-allowed"), HeaderValue::from_static("/"));
    res
}

/// A page with its Content-Security-Policy and framing rules.
fn page(req: &HttpRequest, html: &'static str, etag: &str) -> HttpResponse {
    let mut res = cached(req, etag, REVALIDATE, "text/html; charset=utf-8", html.as_bytes());
    let headers = res.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(req)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

/// `GET /static/{path}`: an embedded file, by its plain or versioned path.
///
/// Every origin may read these files (`Access-Control-Allow-Origin: *`): they are public, carry
/// no credentials, and the support widget imports its modules from here into other sites' pages,
/// which browsers fetch in CORS mode.
///
/// # Errors
/// 404 `not_found` for a path that names no asset.
pub async fn static_file(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    let current = assets::VERSION.as_str();
    let (name, cache) = match path.split_once('/') {
        Some((version, rest)) if version == current => (rest, IMMUTABLE),
        // A page of an older build still asks for its own version: give it today's file, but
        // do not let that answer stick under the old URL.
        Some((version, rest)) if is_version(version) && assets::find(rest).is_some() => (rest, REVALIDATE),
        _ => (path.as_str(), REVALIDATE),
    };
    let (asset, etag) = assets::find(name).ok_or_else(|| ApiError::NotFound("No such file.".into()))?;
    let mut res = cached(&req, etag, cache, asset.content_type, asset.bytes);
    res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    Ok(res)
}

fn is_version(s: &str) -> bool {
    s.len() == assets::VERSION.len() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// 200 with the body, or 304 when the client's copy (If-None-Match) is current.
fn cached(
    req: &HttpRequest,
    etag: &str,
    cache_control: &'static str,
    content_type: &'static str,
    body: &'static [u8],
) -> HttpResponse {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut res = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    res.insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::ETAG, etag))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if fresh { res.finish() } else { res.content_type(content_type).body(body) }
}

/// Scripts, styles and images only from this origin (no inline script, no eval); network access
/// only to this origin, WebSocket included. `'self'` covers same-origin WebSockets in current
/// browsers; the explicit ws/wss source is for older ones, built from the Host header only when
/// that is a plain host\[:port\].
fn content_security_policy(req: &HttpRequest) -> String {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let plain_host = !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    let sockets = if plain_host { format!(" ws://{host} wss://{host}") } else { String::new() };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'{sockets}; manifest-src 'self'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}
