//! Cross-origin access to the API, by two rules:
//!
//! - the support widget runs inside other sites' pages and calls this server's API from there:
//!   the routes it uses answer every origin (`Access-Control-Allow-Origin: *`), the preflight
//!   included;
//! - the operator's own front ends on other origins (a dev server, an app hosted elsewhere) are
//!   listed in `cors.allowed_origins`: those exact origins may call every route under `/api/v1`,
//!   and get their own origin back (with `Vary: Origin`). Any other origin gets no CORS headers
//!   outside the widget's routes, so browsers keep it out.
//!
//! Neither allows credentials, and neither needs to: the API authenticates with bearer tokens
//! that a page only has if it obtained them itself, never with cookies, so a foreign page gains
//! no ambient authority by being allowed to read the answers.
//!
//! Hand-written rather than actix-cors: actix-cors answers a preflight from an origin it does
//! not list with its own 400 error (outside the contract's error body), so on one scope it
//! cannot leave the widget's routes open to every origin while the rest of the API allows a
//! list; the two rules together are the small function below.

use actix_web::HttpResponse;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE_SECS: &str = "600";

/// Whether the widget calls this path: opening (or resuming from a mail's link) a session, keeping its tokens fresh, its one
/// room (details, history, read marker), the staff who answer (`/users/{id}`, for their name and
/// picture) and uploading a screenshot. Sending and live events go over `/ws`, which browsers do
/// not subject to CORS, and files and avatars are shown through their links in `<img>` and `<a>`,
/// which need none either.
pub fn is_widget_route(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/v1/") else { return false };
    let parts: Vec<&str> = rest.split('/').collect();
    matches!(
        parts.as_slice(),
        ["support", "sessions" | "resume"]
            | ["auth", "refresh" | "logout"]
            | ["users", _]
            | ["rooms"]
            | ["rooms", _]
            | ["rooms", _, "messages" | "read"]
            | ["attachments"]
    ) && parts.iter().all(|p| !p.is_empty())
}

/// Checks one entry of `cors.allowed_origins`: an origin as browsers send it,
/// `http(s)://host[:port]`, without path, query, user or trailing slash.
///
/// # Errors
/// Why the entry is not such an origin.
pub fn check_origin(origin: &str) -> Result<(), String> {
    let Some(host) = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")) else {
        return Err(format!("'{origin}' that does not start with http:// or https://"));
    };
    let plain = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !plain {
        return Err(format!(
            "'{origin}' that is not scheme://host[:port] in lower case (no path, no trailing slash, no wildcard)"
        ));
    }
    Ok(())
}

/// Whether the path is one of the API's (`/api/v1/…`), the routes `cors.allowed_origins` opens.
fn is_api_route(path: &str) -> bool {
    path.starts_with("/api/v1/")
}

/// Answers cross-origin preflights and marks answers readable, by the two rules of this module.
/// Requests without an `Origin` header (same-origin GETs, non-browser clients) pass untouched.
pub async fn api_cors<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    if is_widget_route(req.path()) {
        return widget_cors(req, next).await;
    }
    let listed = is_api_route(req.path())
        && origin.to_str().is_ok_and(|o| {
            req.app_data::<web::Data<crate::state::AppState>>()
                .is_some_and(|state| state.settings.cors.allowed_origins.iter().any(|a| a == o))
        });
    if !listed {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    if req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        let max_age = req
            .app_data::<web::Data<crate::state::AppState>>()
            .map_or(0, |state| state.settings.cors.max_age_secs)
            .to_string();
        let res = HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((header::VARY, "Origin"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, PUT, PATCH, DELETE"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "authorization, content-type"))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, max_age))
            .finish();
        return Ok(req.into_response(res).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    // The answer differs by origin: caches must not hand one origin's answer to another.
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("retry-after, x-request-id"));
    Ok(res.map_into_left_body())
}

/// Answers the preflight of a widget route and marks its responses readable from any origin.
async fn widget_cors<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    if req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        let res = HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "authorization, content-type"))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE_SECS))
            .finish();
        return Ok(req.into_response(res).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    // So the client library can honour rate limits and quote request ids in reports.
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("retry-after, x-request-id"));
    Ok(res.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::{check_origin, is_widget_route};

    #[test]
    fn allowed_origins_must_be_plain_origins() {
        for ok in ["http://localhost:5173", "https://app.example.org", "http://[::1]:3000"] {
            assert!(check_origin(ok).is_ok(), "{ok}");
        }
        for bad in [
            "*",
            "localhost:5173",
            "https://app.example.org/",
            "https://*.example.org",
            "https://App.example.org",
            "ftp://x",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_widgets_routes_are_cross_origin() {
        for path in [
            "/api/v1/support/sessions",
            "/api/v1/support/resume",
            "/api/v1/auth/refresh",
            "/api/v1/auth/logout",
            "/api/v1/users/me",
            "/api/v1/users/abc",
            "/api/v1/rooms",
            "/api/v1/rooms/abc",
            "/api/v1/rooms/abc/messages",
            "/api/v1/rooms/abc/read",
            "/api/v1/attachments",
        ] {
            assert!(is_widget_route(path), "{path}");
        }
        for path in [
            "/api/v1/auth/login",
            "/api/v1/auth/register",
            "/api/v1/auth/logout-all",
            "/api/v1/admin/users",
            "/api/v1/users/me/password",
            "/api/v1/users/me/avatar",
            "/api/v1/rooms/abc/members",
            "/api/v1/rooms//messages",
            "/api/v1/contact",
            "/api/v1/support/unsubscribe",
            "/api/v1/attachments/abc/content",
            "/admin",
            "/ws",
        ] {
            assert!(!is_widget_route(path), "{path}");
        }
    }
}
