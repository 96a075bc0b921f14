//! `AuthUser`: the authenticated caller of a protected route. Taking it as a handler argument is
//! what protects the route. It checks the token's signature and expiry, then the account as it is
//! now (one primary-key read), so that bans, deletions, role changes and revocations apply at once
//! to tokens already handed out.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use uuid::Uuid;

use crate::db::models::{Role, User};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: Uuid,
    pub role: Role,
    pub user: User,
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req).map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("AppState missing")))?;
            let token = token.ok_or_else(|| ApiError::Unauthorized("Missing access token.".into()))?;
            authenticate(&state, &token).await
        })
    }
}

/// Checks an access token against the account as it is now; shared with the WebSocket upgrade.
///
/// # Errors
/// `unauthorized` for a bad, expired or revoked token or a deleted account; `forbidden` for a
/// banned one; `unavailable` when the database is down.
pub async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    let invalid = || ApiError::Unauthorized("Invalid or expired access token.".into());
    let claims = state.jwt.verify(token).ok_or_else(invalid)?;
    let mut conn = state.db().await?;
    let user = crate::db::queries::users::find(&mut conn, claims.sub).await?.ok_or_else(invalid)?;
    if user.token_version != claims.ver {
        return Err(invalid());
    }
    if user.is_banned() {
        return Err(ApiError::Forbidden("This account is banned.".into()));
    }
    Ok(AuthUser { id: user.id, role: user.role(), user })
}

/// The token from `Authorization: Bearer <token>`.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}
