//! Personal API tokens and bot accounts: what programs use to join plauder.
//!
//! Any account manages its own tokens with its login (an API token cannot mint or revoke tokens:
//! a leaked token must not be able to outlive its revocation). A token's value is returned once,
//! at creation; only its hash is stored. Revoking one closes the sockets it opened (4001), on
//! every instance, through the same path a logout takes.
//!
//! A bot is an account with `is_bot` set and no password, made by an admin (REST or the command
//! line), who receives the bot's first token (scopes read and write) with it. Everything else
//! about a bot is an ordinary account's: it is added to rooms, rate-limited and moderated the same
//! way. A built-in bot (an assistant) can be one of these, created at start-up.

use chrono::{DateTime, Duration, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;
use serde_json::json;

use crate::auth::Caller;
use crate::auth::api_token::{self, Scope};
use crate::db::models::{ApiToken, NewApiToken, NewUser, Role, User};
use crate::db::queries::{api_tokens, users};
use crate::error::{ApiError, ApiResult};
use crate::ids::{ApiTokenId, UserId};
use crate::service::admin::Actor;
use crate::service::{audit, validate};
use crate::state::AppState;
use crate::views::{UserView, format_time};

/// The longest expiry a token may be given, in days (about ten years); none means never.
pub const MAX_EXPIRY_DAYS: u32 = 3650;
/// Longest token name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// A token as its owner sees it in a list (never its value).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: ApiTokenId,
    pub name: String,
    /// The value's first characters (`plt_` and a few more), to tell tokens apart.
    pub hint: String,
    pub scopes: Vec<Scope>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<String>,
    /// At most a minute behind.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
}

impl TokenView {
    pub fn new(t: &ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            hint: t.hint.clone(),
            scopes: t.scopes.iter().filter_map(|s| s.parse().ok()).collect(),
            expires_at: t.expires_at.as_ref().map(format_time),
            last_used_at: t.last_used_at.as_ref().map(format_time),
            revoked_at: t.revoked_at.as_ref().map(format_time),
            created_at: format_time(&t.created_at),
        }
    }
}

/// A token just made: its view and, this once, its value.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub view: TokenView,
    /// The value to use as `Authorization: Bearer <token>`; shown only now.
    pub token: String,
}

/// What a new token is to be.
pub struct TokenRequest {
    pub name: String,
    /// `read`, `write`, `admin`.
    pub scopes: Vec<String>,
    /// Days until it expires; `None`: never.
    pub expires_in_days: Option<u32>,
}

fn sessions_only(caller: &Caller) -> ApiResult<()> {
    if caller.api_token.is_some() {
        return Err(ApiError::Forbidden(
            "API tokens are managed with a signed-in session, not with an API token.".into(),
        ));
    }
    Ok(())
}

/// Checks a request against the rules and the role of the account the token is for.
fn validate_request(req: &TokenRequest, role: Role) -> ApiResult<(String, Vec<String>, Option<DateTime<Utc>>)> {
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "name",
            format!("name must be 1 to {MAX_NAME_CHARS} characters without control characters."),
        ));
    }
    let wanted = req
        .scopes
        .iter()
        .map(|s| s.parse::<Scope>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ApiError::validation("scopes", "Scopes are read, write and admin."))?;
    if wanted.is_empty() {
        return Err(ApiError::validation("scopes", "Give at least one scope: read, write or admin."));
    }
    if wanted.contains(&Scope::Admin) && !role.is_staff() {
        return Err(ApiError::validation("scopes", "Only admins and moderators may give a token the admin scope."));
    }
    let mut scopes: Vec<String> = Vec::new();
    for scope in [Scope::Read, Scope::Write, Scope::Admin] {
        if wanted.contains(&scope) {
            scopes.push(scope.as_str().to_owned());
        }
    }
    let expires_at = match req.expires_in_days {
        None => None,
        Some(days) if (1..=MAX_EXPIRY_DAYS).contains(&days) => Some(Utc::now() + Duration::days(i64::from(days))),
        Some(_) => {
            return Err(ApiError::validation(
                "expires_in_days",
                format!("expires_in_days must be 1 to {MAX_EXPIRY_DAYS}, or absent for a token that does not expire."),
            ));
        }
    };
    Ok((name, scopes, expires_at))
}

async fn insert_token(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    name: &str,
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
) -> ApiResult<CreatedToken> {
    let (token, hint) = api_token::generate().map_err(ApiError::Internal)?;
    let hash = api_token::hash(&token);
    let new = NewApiToken { id: ApiTokenId::new(), user_id, name, token_hash: &hash, hint: &hint, scopes, expires_at };
    let row = api_tokens::insert(conn, &new).await?;
    Ok(CreatedToken { view: TokenView::new(&row), token })
}

/// `POST /users/me/tokens`.
///
/// # Errors
/// `forbidden` with an API token; `validation_failed` for a bad name, no scopes, the admin scope
/// without a staff role, or a bad expiry.
pub async fn create(state: &AppState, caller: &Caller, req: TokenRequest) -> ApiResult<CreatedToken> {
    sessions_only(caller)?;
    let (name, scopes, expires_at) = validate_request(&req, caller.role)?;
    let mut conn = state.db().await?;
    conn.transaction::<_, ApiError, _>(async |conn| {
        // The session was checked when the request came in: a revocation committed since (a
        // password change or reset, logout-all, a ban) ends this too, or the token would outlive
        // it. The account's row first, as every revocation takes it.
        crate::service::accounts::lock_unrevoked(conn, &caller.user).await?;
        insert_token(conn, caller.id, &name, scopes, expires_at).await
    })
    .await
}

/// `GET /users/me/tokens`: newest first, revoked ones included.
///
/// # Errors
/// `forbidden` with an API token; database failures.
pub async fn list(state: &AppState, caller: &Caller) -> ApiResult<Vec<TokenView>> {
    sessions_only(caller)?;
    let mut conn = state.db().await?;
    Ok(api_tokens::list_for_user(&mut conn, caller.id).await?.iter().map(TokenView::new).collect())
}

/// `DELETE /users/me/tokens/{id}`: revokes the token and closes its sockets. Revoking a revoked
/// token changes nothing.
///
/// # Errors
/// `forbidden` with an API token; `not_found` for a token that is not the caller's.
pub async fn revoke(state: &AppState, caller: &Caller, id: ApiTokenId) -> ApiResult<()> {
    sessions_only(caller)?;
    revoke_for(state, caller.id, id).await
}

async fn revoke_for(state: &AppState, user_id: UserId, id: ApiTokenId) -> ApiResult<()> {
    let mut conn = state.db().await?;
    api_tokens::revoke(&mut conn, user_id, id).await?.ok_or_else(|| ApiError::NotFound("No such API token.".into()))?;
    // The token's id is its sockets' session (see auth::extractor); the periodic re-check closes
    // them too should this message be lost.
    state.notify.close_session(user_id, id.0);
    Ok(())
}

/// A bot as the admin panel lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BotView {
    #[serde(flatten)]
    pub user: UserView,
    pub tokens: Vec<TokenView>,
}

/// A bot just made, with its first token's value.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedBot {
    pub user: UserView,
    pub token: CreatedToken,
}

/// `POST /admin/bots` and `plauder bot create`: the account (no password, role user, `is_bot`)
/// and its first token (read and write, no expiry), recorded in the audit log.
///
/// # Errors
/// `validation_failed` for a bad username or display name; `conflict` for a taken username; as
/// [`lock_acting_admin`] for an admin banned, demoted or signed out meanwhile.
pub async fn create_bot(
    state: &AppState,
    by: Actor<'_>,
    username: &str,
    display_name: Option<&str>,
) -> ApiResult<CreatedBot> {
    validate::username(username)?;
    if username.to_lowercase().starts_with(crate::service::incoming_hooks::HOOK_BOT_PREFIX) {
        return Err(ApiError::validation("username", "Names beginning with hook- are the incoming webhooks' bots'."));
    }
    let display_name = match display_name {
        Some(name) => validate::display_name(name)?,
        None => username.to_owned(),
    };
    let mut conn = state.db().await?;
    let username = username.to_owned();
    conn.transaction::<_, ApiError, _>(async move |conn| {
        lock_acting_admin(conn, by).await?;
        let new = NewUser {
            id: UserId::new(),
            username: &username,
            email: None,
            display_name: &display_name,
            role: Role::User,
            password_hash: None,
            is_bot: true,
        };
        let user = users::insert(conn, &new).await.map_err(|e| match e {
            diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                ApiError::Conflict("That username is taken.".into())
            }
            other => other.into(),
        })?;
        let scopes = vec![Scope::Read.as_str().to_owned(), Scope::Write.as_str().to_owned()];
        let token = insert_token(conn, user.id, "initial", scopes, None).await?;
        audit::record_by(
            conn,
            by.id(),
            audit::Action::BotCreated,
            user.id,
            by.details(json!({ "username": username })),
        )
        .await?;
        Ok(CreatedBot { user: UserView::public(&user), token })
    })
    .await
}

async fn find_bot(conn: &mut AsyncPgConnection, id: UserId) -> ApiResult<User> {
    users::find(conn, id).await?.filter(|u| u.is_bot).ok_or_else(|| ApiError::NotFound("No such bot.".into()))
}

/// `GET /admin/bots`: every bot with its tokens, by username.
///
/// # Errors
/// Database failures only.
pub async fn list_bots(state: &AppState) -> ApiResult<Vec<BotView>> {
    let mut conn = state.db().await?;
    let bots = users::list_bots(&mut conn).await?;
    let mut out = Vec::with_capacity(bots.len());
    for bot in bots {
        let tokens = api_tokens::list_for_user(&mut conn, bot.id).await?.iter().map(TokenView::new).collect();
        out.push(BotView { user: UserView::public(&bot), tokens });
    }
    Ok(out)
}

/// The acting admin's row, locked as a revocation locks it, for a credential made on an admin's
/// word (a bot, a bot's token): the admin was checked when the request came in, and a ban, a
/// demotion, or a revocation of their sign-ins or of the API token they used, committed since
/// then refuses it (a token minted from that check would outlive what ended the admin's access);
/// one that comes later waits for it.
/// The command line has no row to check.
async fn lock_acting_admin(conn: &mut AsyncPgConnection, by: Actor<'_>) -> ApiResult<()> {
    let Actor::Admin(caller) = by else { return Ok(()) };
    let current = crate::service::accounts::lock_unrevoked_caller(conn, caller).await?;
    if current.role != Role::Admin {
        return Err(ApiError::Forbidden("Only admins may do that.".into()));
    }
    Ok(())
}

/// `POST /admin/bots/{id}/tokens`: another token for a bot (admins hold bots' credentials).
///
/// # Errors
/// `not_found` for an account that is not a bot; as [`create`] for the request; as
/// [`crate::service::accounts::lock_unrevoked`], or `forbidden` for an admin demoted meanwhile.
pub async fn create_bot_token(
    state: &AppState,
    by: Actor<'_>,
    bot_id: UserId,
    req: TokenRequest,
) -> ApiResult<CreatedToken> {
    let mut conn = state.db().await?;
    let bot = find_bot(&mut conn, bot_id).await?;
    if crate::service::incoming_hooks::is_hook_bot(&bot) {
        return Err(ApiError::Forbidden(
            "An incoming webhook's bot takes no token: it posts through its hook's address.".into(),
        ));
    }
    let (name, scopes, expires_at) = validate_request(&req, bot.role)?;
    conn.transaction::<_, ApiError, _>(async |conn| {
        lock_acting_admin(conn, by).await?;
        insert_token(conn, bot.id, &name, scopes, expires_at).await
    })
    .await
}

/// `DELETE /admin/bots/{id}/tokens/{token_id}`.
///
/// # Errors
/// `not_found` for an account that is not a bot, or a token not its.
pub async fn revoke_bot_token(state: &AppState, bot_id: UserId, id: ApiTokenId) -> ApiResult<()> {
    {
        let mut conn = state.db().await?;
        find_bot(&mut conn, bot_id).await?;
    }
    revoke_for(state, bot_id, id).await
}
