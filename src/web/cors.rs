//! Cross-origin access for the support widget, which runs inside other sites' pages and calls
//! this server's API from there. Only the routes the widget uses answer cross-origin requests
//! (the preflight included); every other route stays same-origin only.
//!
//! `Access-Control-Allow-Origin: *` without credentials is enough and safe here: the API
//! authenticates with bearer tokens that a page only has if it obtained them itself (a visitor's
//! guest session), never with cookies, so a foreign page gains no ambient authority by being
//! allowed to read the answers.

use actix_web::Error;
use actix_web::HttpResponse;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE_SECS: &str = "600";

/// Whether the widget calls this path: opening a session, keeping its tokens fresh, and its one
/// room (details, history, read marker). Sending and live events go over `/ws`, which browsers
/// do not subject to CORS.
pub fn is_widget_route(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/v1/") else { return false };
    let parts: Vec<&str> = rest.split('/').collect();
    matches!(
        parts.as_slice(),
        ["support", "sessions"]
            | ["auth", "refresh" | "logout"]
            | ["users", "me"]
            | ["rooms"]
            | ["rooms", _]
            | ["rooms", _, "messages" | "read"]
    ) && parts.iter().all(|p| !p.is_empty())
}

/// Answers the preflight of a widget route and marks its responses readable from any origin.
/// Requests without an `Origin` header (same-origin GETs, non-browser clients) pass untouched.
pub async fn widget_cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let cross_origin = req.headers().contains_key(header::ORIGIN) && is_widget_route(req.path());
    if !cross_origin {
        return Ok(next.call(req).await?.map_into_left_body());
    }
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
    use super::is_widget_route;

    #[test]
    fn only_the_widgets_routes_are_cross_origin() {
        for path in [
            "/api/v1/support/sessions",
            "/api/v1/auth/refresh",
            "/api/v1/auth/logout",
            "/api/v1/users/me",
            "/api/v1/rooms",
            "/api/v1/rooms/abc",
            "/api/v1/rooms/abc/messages",
            "/api/v1/rooms/abc/read",
        ] {
            assert!(is_widget_route(path), "{path}");
        }
        for path in [
            "/api/v1/auth/login",
            "/api/v1/auth/register",
            "/api/v1/auth/logout-all",
            "/api/v1/admin/users",
            "/api/v1/users/me/password",
            "/api/v1/rooms/abc/members",
            "/api/v1/rooms//messages",
            "/api/v1/contact",
            "/admin",
            "/ws",
        ] {
            assert!(!is_widget_route(path), "{path}");
        }
    }
}
