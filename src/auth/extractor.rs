//! Who the caller is and what their global role lets them reach: the one place roles are
//! enforced for routes. Taking one of these as a handler argument is what protects the route:
//!
//! - [`AuthUser`]: any signed-in account except a guest (support-chat visitor);
//! - [`AnyUser`]: any signed-in account, guests included, for the few routes PROTOCOL.md opens to
//!   guests (their support room's read and write routes, `GET /users/me`); what a guest may do
//!   inside a room is then [`crate::service::access::RoomAccess`]'s business;
//! - [`StaffUser`]: an admin or a moderator (the routes PROTOCOL.md marks M);
//! - [`AdminUser`]: an admin.
//!
//! Each checks the token's signature and expiry, then the account as it is now (one primary-key
//! read), so bans, deletions, role changes and revocations apply at once to tokens already handed
//! out. A missing or bad token is 401; a banned account or the wrong role 403.
//!
//! The bearer may also be a personal API token (`plt_...`, see [`crate::auth::api_token`]): looked
//! up by hash with its account (one read), refused when revoked or expired (401), and then held to
//! its scopes: `read` for `GET`/`HEAD`, `write` for other methods, and `admin` as well on the
//! routes of [`StaffUser`] and [`AdminUser`] (403 naming the missing scope).
//!
//! The caller is judged before the body: actix extracts a handler's arguments together, and a
//! body error (ready once the body is read) would otherwise win over the account read, so a
//! non-admin sending a bad body to an admin route learnt `validation_failed` instead of 403. Each
//! extractor leaves an [`AuthPending`] in the request that [`crate::api::extract::ApiJson`]
//! waits on before it reports a body error.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};

use crate::auth::api_token::{self, Scope, Scopes};
use crate::db::models::{ApiToken, Role, User};
use crate::error::ApiError;
use crate::ids::{ApiTokenId, RoomId, UserId};
use crate::state::AppState;

/// Who is calling, as services see it: the account as it is now, and its global role. The
/// extractors below produce one after checking the route's role rule; the WebSocket connection
/// holds the one it was opened with.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: UserId,
    pub role: Role,
    /// Shared: a command clones its caller, and the sockets of one user on a worker share the
    /// row they read when it is the same (`realtime::connection`).
    pub user: Arc<User>,
    /// What the credential reaches: everything for a login session, the token's scopes for an
    /// API token.
    pub scopes: Scopes,
    /// The API token the caller authenticated with, if any.
    pub api_token: Option<ApiTokenId>,
    /// The login session of the caller's access token (its `sid`); none for an API token or a
    /// bot acting for an incoming webhook.
    pub login_session: Option<uuid::Uuid>,
}

impl Caller {
    /// # Errors
    /// `forbidden` when the caller's API token lacks `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.allows(scope) { Ok(()) } else { Err(api_token::missing(scope)) }
    }
}

/// A signed-in caller other than a guest.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Caller);

/// A signed-in caller of any role, guests included.
#[derive(Debug, Clone)]
pub struct AnyUser(pub Caller);

/// A signed-in admin or moderator.
#[derive(Debug, Clone)]
pub struct StaffUser(pub Caller);

/// A signed-in admin.
#[derive(Debug, Clone)]
pub struct AdminUser(pub Caller);

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// In a request's extensions while its caller is being authenticated: resolves once that is
/// decided (either way), when the authentication drops its sender.
pub struct AuthPending(pub tokio::sync::oneshot::Receiver<()>);

/// Authenticates the request, then lets `allowed` judge the role; `refusal` is the 403 message.
/// `staff_route`: the route is one of the staff's, which an API token reaches only with the
/// `admin` scope.
fn extract<T: 'static>(
    req: &HttpRequest,
    allowed: fn(Role) -> bool,
    refusal: &'static str,
    staff_route: bool,
    wrap: fn(Caller) -> T,
) -> Extracted<T> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let token = bearer_token(req).map(str::to_owned);
    let method_scope = match *req.method() {
        actix_web::http::Method::GET | actix_web::http::Method::HEAD => Scope::Read,
        _ => Scope::Write,
    };
    let (decided, pending) = tokio::sync::oneshot::channel();
    req.extensions_mut().insert(AuthPending(pending));
    Box::pin(async move {
        // Dropped with this future, when the caller is decided: a body error waits for that.
        let _decided = decided;
        let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("AppState missing")))?;
        let token = token.ok_or_else(|| ApiError::Unauthorized("Missing access token.".into()))?;
        let caller = authenticate(&state, &token).await?;
        if !allowed(caller.role) {
            return Err(ApiError::Forbidden(refusal.into()));
        }
        caller.require(method_scope)?;
        if staff_route {
            caller.require(Scope::Admin)?;
        }
        Ok(wrap(caller))
    })
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        extract(req, |r| r != Role::Guest, "Guests can only use their support room.", false, AuthUser)
    }
}

impl FromRequest for AnyUser {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        extract(req, |_| true, "", false, AnyUser)
    }
}

impl FromRequest for StaffUser {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        extract(req, Role::is_staff, "Only admins and moderators may do that.", true, StaffUser)
    }
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        extract(req, |r| r == Role::Admin, "Only admins may do that.", true, AdminUser)
    }
}

impl Deref for AuthUser {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl Deref for AnyUser {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl Deref for StaffUser {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl Deref for AdminUser {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

/// Checks an access token against the account as it is now, whatever its role; shared with the
/// WebSocket upgrade (which guests may use).
///
/// # Errors
/// `unauthorized` for a bad, expired or revoked token or a deleted account (or one being deleted);
/// `forbidden` for a banned one; `unavailable` when the database is down.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    authenticate_until(state, token).await.map(|grant| grant.caller)
}

/// What an access token grants a WebSocket: the caller, until when, and for which login session.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub caller: Caller,
    /// The token's `exp` (seconds since the epoch): a WebSocket stays authorised until then (plus
    /// `realtime.token_grace_ms`) unless `auth.refresh` extends it.
    pub expires_at: u64,
    /// The login session (refresh-token family) that issued the token: its logout closes the
    /// socket. `None` for tokens issued before tokens carried it.
    pub session: Option<uuid::Uuid>,
}

/// As [`authenticate`], with what the token grants a WebSocket besides the caller.
///
/// # Errors
/// As [`authenticate`].
pub async fn authenticate_until(state: &AppState, token: &str) -> Result<TokenGrant, ApiError> {
    if api_token::is_api_token(token) {
        return authenticate_api_token(state, token).await;
    }
    let claims = state.jwt.verify(token).ok_or_else(invalid_access_token)?;
    let user = {
        let mut conn = state.db().await?;
        crate::db::queries::users::find(&mut conn, claims.sub).await?.ok_or_else(invalid_access_token)?
    };
    grant_for(state, &claims, user).await
}

fn invalid_access_token() -> ApiError {
    ApiError::Unauthorized("Invalid or expired access token.".into())
}

fn invalid_api_token() -> ApiError {
    ApiError::Unauthorized("Invalid, expired or revoked API token.".into())
}

/// What the verified access token `claims` grants, the account read being `user`.
async fn grant_for(state: &AppState, claims: &crate::auth::jwt::Claims, user: User) -> Result<TokenGrant, ApiError> {
    // The mark first: a deletion's sign-out moves the version too, and a token issued while it
    // began (by a login that had read the account just before) must not outlive it either.
    if user.is_being_deleted() {
        return Err(invalid_access_token());
    }
    // Before the version: a ban also revokes the tokens, and the client should learn that it is
    // banned rather than that its token is stale.
    if user.is_banned() {
        return Err(crate::service::accounts::banned());
    }
    if user.token_version != claims.ver {
        return Err(invalid_access_token());
    }
    // mfa.require_for_staff: staff without two-factor act as plain users until they enrol. The
    // row keeps its role (what the WebSocket re-check compares with), the caller acts with this.
    let role = crate::service::mfa::effective_role(state, user.id, user.role).await?;
    Ok(TokenGrant {
        caller: Caller {
            id: user.id,
            role,
            user: Arc::new(user),
            scopes: Scopes::FULL,
            api_token: None,
            login_session: claims.sid,
        },
        expires_at: claims.exp,
        session: claims.sid,
    })
}

/// What a WebSocket upgrade reads: the grant, and the user's rooms and friends.
pub struct SocketGrant<T> {
    pub grant: TokenGrant,
    pub rooms: Vec<RoomId>,
    pub friends: Vec<UserId>,
    /// What `before_read` made.
    pub opened: T,
}

/// As [`authenticate_until`], for a WebSocket upgrade, which also needs the user's room ids and
/// friend ids. They are read after `before_read` ran for the user (the connection subscribes to
/// its user's topic there, so that a membership change or a chosen status committed after the
/// read reaches it). The account, its rooms and its friends are one statement
/// (`db::account_reads`); an API token's account is read there again after its lookup.
///
/// # Errors
/// As [`authenticate`].
pub async fn authenticate_socket<T>(
    state: &AppState,
    token: &str,
    before_read: impl FnOnce(UserId) -> T,
) -> Result<SocketGrant<T>, ApiError> {
    if api_token::is_api_token(token) {
        let (row, user) = find_api_token(state, token).await?;
        let opened = before_read(user.id);
        // The account read again after the subscription, as with an access token, and the grant
        // made from that read: a status chosen on another device, or a role changed, while the
        // token was looked up is in it, or reaches the socket on the user's topic. With the
        // lookup's row the socket missed both (the WebSocket re-check compares the role it was
        // made with against the account's).
        let found = state.account_reads.read(user.id).await?.ok_or_else(invalid_api_token)?;
        let grant = api_token_grant(state, &row, found.user).await?;
        return Ok(SocketGrant { grant, rooms: found.both.rooms, friends: found.both.friends, opened });
    }
    let claims = state.jwt.verify(token).ok_or_else(invalid_access_token)?;
    let opened = before_read(claims.sub);
    let found = state.account_reads.read(claims.sub).await?.ok_or_else(invalid_access_token)?;
    let grant = grant_for(state, &claims, found.user).await?;
    Ok(SocketGrant { grant, rooms: found.both.rooms, friends: found.both.friends, opened })
}

/// A WebSocket opened with an API token that never expires still needs an `exp`: the end of
/// year 9999, which the connection's timer treats as never.
const NEVER_SECS: u64 = 253_402_300_799;

/// Uses of a token closer together than this record no new `last_used_at`.
const TOUCH_EVERY_SECS: i64 = 60;

/// As [`authenticate_until`], for a personal API token. Its id serves as the grant's login
/// session, so revoking the token closes its sockets the way a logout closes a session's.
async fn authenticate_api_token(state: &AppState, token: &str) -> Result<TokenGrant, ApiError> {
    let (row, user) = find_api_token(state, token).await?;
    api_token_grant(state, &row, user).await
}

/// The personal API token `token` and its account, refused when the token is revoked or expired
/// or the account is being deleted or banned; its use is recorded.
async fn find_api_token(state: &AppState, token: &str) -> Result<(ApiToken, User), ApiError> {
    let hash = api_token::hash(token);
    let mut conn = state.db().await?;
    let (row, user) =
        crate::db::queries::api_tokens::find_by_hash(&mut conn, &hash).await?.ok_or_else(invalid_api_token)?;
    let now = chrono::Utc::now();
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|t| t <= now) {
        return Err(invalid_api_token());
    }
    check_token_account(&user)?;
    if row.last_used_at.is_none_or(|t| (now - t).num_seconds() >= TOUCH_EVERY_SECS) {
        crate::db::queries::api_tokens::touch(&mut conn, row.id).await?;
    }
    Ok((row, user))
}

/// An API token's account may act: not being deleted (its tokens are revoked; the mark covers
/// one made meanwhile), not banned, and not an incoming webhook's bot (which takes no token: one
/// made before that was refused would let an admin read the hook's room).
fn check_token_account(user: &User) -> Result<(), ApiError> {
    if user.is_being_deleted() || crate::service::incoming_hooks::is_hook_bot(user) {
        return Err(invalid_api_token());
    }
    if user.is_banned() {
        return Err(crate::service::accounts::banned());
    }
    Ok(())
}

/// What the checked token `row` grants, its account read as `user`.
async fn api_token_grant(state: &AppState, row: &ApiToken, user: User) -> Result<TokenGrant, ApiError> {
    check_token_account(&user)?;
    // As for an access token: under mfa.require_for_staff, staff without two-factor act through
    // their tokens as plain users too, whatever the token was made with.
    let role = crate::service::mfa::effective_role(state, user.id, user.role).await?;
    let expires_at = row.expires_at.map_or(NEVER_SECS, |t| u64::try_from(t.timestamp()).unwrap_or(0));
    let mut scopes = Scopes::from_names(&row.scopes);
    // The admin scope lapses with the role that granted it.
    scopes.admin &= role.is_staff();
    Ok(TokenGrant {
        caller: Caller {
            id: user.id,
            role,
            user: Arc::new(user),
            scopes,
            api_token: Some(row.id),
            login_session: None,
        },
        expires_at,
        session: Some(row.id.0),
    })
}

/// The token from `Authorization: Bearer <token>`.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}
