//! `GET /ws`: authenticates before the upgrade (401 / 403 as for REST), then hands the socket to
//! a connection actor.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::auth::extractor::{authenticate_socket, bearer_token};
use crate::error::ApiError;
use crate::realtime::connection::Opening;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    /// For browsers, which cannot set headers on a WebSocket: the access token (or an API token).
    pub token: Option<String>,
}

/// `GET /ws`
pub async fn connect(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<WsQuery>,
) -> Result<HttpResponse, actix_web::Error> {
    let token = bearer_token(&req).map(str::to_owned).or_else(|| query.into_inner().token);
    let token = token.ok_or_else(|| ApiError::Unauthorized("Missing access token.".into()))?;
    // Subscribed to the user's topic before the rooms are read (see `Opening`).
    let opened =
        authenticate_socket(&state, &token, |user_id| Opening::new(&state, user_id)).await.inspect_err(|e| {
            // /ws has no request span (see startup), so its server-side failures are logged here.
            if matches!(
                e,
                ApiError::Unavailable(_)
                    | ApiError::TimedOut(_)
                    | ApiError::SearchTimedOut(_)
                    | ApiError::Contended(_)
                    | ApiError::Internal(_)
            ) {
                tracing::error!(error = ?e, "WebSocket upgrade failed");
            }
        })?;
    // A socket receives every event of the user's rooms: reading, whatever it may send.
    opened.grant.caller.require(crate::auth::api_token::Scope::Read)?;
    crate::realtime::connection::start(&req, stream, state, opened)
}
