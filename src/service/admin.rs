//! The admin panel: counters, the user directory, role changes and bans. Who may call what is
//! settled by the route's extractor (`AdminUser`, `StaffUser`); the rules here are about targets.
//!
//! An admin cannot change their own role or ban themselves: the panel always keeps at least the
//! admin who is using it, and a slip cannot lock the last admin out.

use diesel_async::AsyncConnection;
use serde::Serialize;
use serde_json::json;

use crate::auth::Caller;
use crate::db::models::{Role, User};
use crate::db::queries::{stats, users};
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;
use crate::protocol::CloseReason;
use crate::service::{accounts, audit};
use crate::state::AppState;
use crate::views::{UserView, format_time};

/// Largest page of the user directory.
pub const MAX_PAGE: i64 = 100;
/// Longest ban reason, in characters.
pub const MAX_BAN_REASON_CHARS: usize = 500;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Stats {
    /// Accounts other than guests.
    pub users_total: i64,
    /// Users with at least one open WebSocket (on any instance, with Redis).
    pub users_online: usize,
    pub rooms_total: i64,
    /// Messages not deleted.
    pub messages_total: i64,
    /// Messages not deleted, created since midnight UTC.
    pub messages_today: i64,
    /// Open WebSocket connections (of every instance, with Redis).
    pub connections: usize,
    pub support_open: i64,
    /// Mean seconds from a support session's opening to staff's first answer; null before any.
    pub avg_first_response_secs: Option<f64>,
}

/// `GET /admin/stats`. The live counters (`users_online`, `connections`) are the deployment's when
/// instances share Redis (each instance reports its own; see `realtime::cluster_stats`), this
/// instance's while Redis is away.
///
/// # Errors
/// Database failures only.
pub async fn stats(state: &AppState) -> ApiResult<Stats> {
    let db = {
        let mut conn = state.db().await?;
        stats::load(&mut conn).await?
    };
    let live = state.notify.live_figures().await?;
    Ok(Stats {
        users_total: db.users_total,
        users_online: live.users_online,
        rooms_total: db.rooms_total,
        messages_total: db.messages_total,
        messages_today: db.messages_today,
        connections: live.connections,
        support_open: db.support_open,
        avg_first_response_secs: db.avg_first_response_secs,
    })
}

/// A user as the panel shows them: the profile with email, and the moderation state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AdminUserView {
    #[serde(flatten)]
    pub user: UserView,
    pub banned: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub banned_at: Option<String>,
    pub ban_reason: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_seen_at: Option<String>,
    /// When the account's deletion began: one under way, or stopped half-way (deleting the account
    /// again finishes it). Null otherwise.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deleting_since: Option<String>,
}

impl AdminUserView {
    pub fn new(u: &User) -> Self {
        Self {
            user: UserView::own(u),
            banned: u.is_banned(),
            banned_at: u.banned_at.as_ref().map(format_time),
            ban_reason: u.ban_reason.clone(),
            last_seen_at: u.last_seen_at.as_ref().map(format_time),
            deleting_since: u.deleting_since.as_ref().map(format_time),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserPage {
    pub users: Vec<AdminUserView>,
    /// How many users match the filter in all.
    pub total: i64,
    pub has_more: bool,
}

pub struct UserQuery {
    pub q: Option<String>,
    pub role: Option<String>,
    pub banned: Option<bool>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

fn parse_role(field: &str, role: &str) -> ApiResult<Role> {
    role.parse::<Role>().map_err(|_| ApiError::validation(field, "role must be admin, moderator, user or guest."))
}

/// `GET /admin/users?q=&role=&banned=&limit=&offset=`: by username.
///
/// # Errors
/// `validation_failed` for a bad role, limit, offset or an over-long `q`.
pub async fn list_users(state: &AppState, query: UserQuery) -> ApiResult<UserPage> {
    let role = query.role.as_deref().map(|r| parse_role("role", r)).transpose()?;
    let (limit, offset) = crate::service::validate::page(query.limit, query.offset, 50, MAX_PAGE)?;
    if let Some(q) = &query.q {
        crate::service::validate::text("q", q)?;
    }
    if query.q.as_ref().is_some_and(|q| q.chars().count() > 100) {
        return Err(ApiError::validation("q", "q must be at most 100 characters."));
    }
    let filter = users::AdminFilter { q: query.q.as_deref(), role: role.map(Role::as_str), banned: query.banned };
    let mut conn = state.db().await?;
    let (page, total) = users::admin_search(&mut conn, &filter, limit, offset).await?;
    let has_more = offset + (page.len() as i64) < total;
    Ok(UserPage { users: page.iter().map(AdminUserView::new).collect(), total, has_more })
}

pub struct UserUpdate {
    pub role: Option<String>,
    pub banned: Option<bool>,
    pub ban_reason: Option<String>,
}

/// `PATCH /admin/users/{id}`: role change, ban (with reason) or unban, each recorded in the
/// audit log in the same transaction. A ban also revokes every token of the user and closes
/// their live sockets with 4003 on every instance; a role change closes them with 4001 so they
/// reconnect as the new role.
///
/// # Errors
/// `not_found` for an unknown user; `validation_failed` for a bad role, a reason without a ban or
/// an over-long reason, and for making anyone a guest or a guest anything else (guests are
/// support visitors, not accounts); `forbidden` for changing one's own role or banning oneself.
pub async fn update_user(state: &AppState, caller: &Caller, id: UserId, req: UserUpdate) -> ApiResult<AdminUserView> {
    change_user(state, Actor::Admin(caller), id, req).await
}

/// Who makes an admin change: an admin through the API, or the operator on the command line
/// (`plauder user …`), who has no account. The operator is recorded in the audit log as a null
/// actor with `"via": "cli"` in the details, and is not held to the rules that protect an admin
/// from themselves: the command line is how a locked-out deployment gets an admin back.
#[derive(Clone, Copy)]
pub enum Actor<'a> {
    Admin(&'a Caller),
    CommandLine,
}

impl Actor<'_> {
    /// The acting account, none for the command line.
    pub fn id(self) -> Option<UserId> {
        match self {
            Actor::Admin(caller) => Some(caller.id),
            Actor::CommandLine => None,
        }
    }

    /// The audit entry's details, marked when they come from the command line.
    pub fn details(self, mut details: serde_json::Value) -> serde_json::Value {
        if let (Actor::CommandLine, Some(map)) = (self, details.as_object_mut()) {
            map.insert("via".to_owned(), json!("cli"));
        }
        details
    }
}

/// [`update_user`] by either kind of actor.
///
/// # Errors
/// As [`update_user`]; the self-protection rules apply to admins only.
pub async fn change_user(state: &AppState, by: Actor<'_>, id: UserId, req: UserUpdate) -> ApiResult<AdminUserView> {
    let role = req.role.as_deref().map(|r| parse_role("role", r)).transpose()?;
    if req.ban_reason.is_some() && req.banned != Some(true) {
        return Err(ApiError::validation("ban_reason", "ban_reason goes with banned: true."));
    }
    let reason = req.ban_reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > MAX_BAN_REASON_CHARS) {
        return Err(ApiError::validation(
            "ban_reason",
            format!("ban_reason must be at most {MAX_BAN_REASON_CHARS} characters."),
        ));
    }
    let mut conn = state.db().await?;
    let target = users::find(&mut conn, id).await?.ok_or_else(|| ApiError::NotFound("No such user.".into()))?;
    if by.id() == Some(id) && (role.is_some_and(|r| r != target.role) || req.banned == Some(true)) {
        return Err(ApiError::Forbidden("Admins cannot change their own role or ban themselves.".into()));
    }
    let role = role.filter(|r| *r != target.role);
    if role.is_some_and(|new| new == Role::Guest || target.role == Role::Guest) {
        return Err(ApiError::validation(
            "role",
            "Guests are support visitors: no account becomes or stops being one.",
        ));
    }
    let ban = req.banned.filter(|b| *b || target.is_banned());
    if role.is_none() && ban.is_none() {
        return Ok(AdminUserView::new(&target));
    }
    let (actor, old_role) = (by.id(), target.role);
    let reason = reason.map(str::to_owned);
    let updated = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            let mut user = target;
            if let Some(new) = role {
                user = users::set_role(conn, id, new).await?;
                let details = json!({ "from": old_role.as_str(), "to": new.as_str() });
                audit::record_by(conn, actor, audit::Action::UserRoleChanged, id, by.details(details)).await?;
            }
            match ban {
                Some(true) => {
                    user = users::set_banned(conn, id, true, reason.as_deref()).await?;
                    accounts::revoke_all(conn, id).await?;
                    // Also the devices an API token subscribed, which no sign-out reaches: a
                    // banned account gets no more pushes of its rooms' messages.
                    crate::db::queries::push::delete_all_of(conn, id).await?;
                    let details = by.details(json!({ "reason": reason }));
                    audit::record_by(conn, actor, audit::Action::UserBanned, id, details).await?;
                }
                Some(false) => {
                    user = users::set_banned(conn, id, false, None).await?;
                    audit::record_by(conn, actor, audit::Action::UserUnbanned, id, by.details(json!({}))).await?;
                }
                None => {}
            }
            // The token version may have moved; read the row as committed.
            Ok(users::find(conn, id).await?.unwrap_or(user))
        })
        .await?;
    if ban == Some(true) {
        state.notify.close_user(id, CloseReason::Banned);
    } else if role.is_some() {
        state.notify.close_user(id, CloseReason::RoleChanged);
    }
    Ok(AdminUserView::new(&updated))
}

/// `plauder token revoke`: ends every session of the user (the admin's counterpart of
/// `POST /auth/logout-all`), audited, and closes their sockets with 4001.
///
/// # Errors
/// `not_found` for an unknown user; database failures.
pub async fn revoke_sessions(state: &AppState, by: Actor<'_>, id: UserId) -> ApiResult<()> {
    let mut conn = state.db().await?;
    users::find(&mut conn, id).await?.ok_or_else(|| ApiError::NotFound("No such user.".into()))?;
    let details = by.details(json!({}));
    conn.transaction::<_, ApiError, _>(async move |conn| {
        accounts::revoke_all(conn, id).await?;
        audit::record_by(conn, by.id(), audit::Action::UserTokensRevoked, id, details).await
    })
    .await?;
    state.notify.close_user(id, CloseReason::TokensRevoked);
    Ok(())
}

/// `plauder user reset-password`: sets a new password without the current one, for a user who
/// lost theirs, with the strength rules of registration; revokes every token (so whoever held
/// the account's sessions is out), audits, and closes their sockets.
///
/// # Errors
/// `not_found` for an unknown user; `validation_failed` for a weak password or a guest (guests
/// have no password and must not gain one).
pub async fn reset_password(state: &AppState, by: Actor<'_>, id: UserId, password: String) -> ApiResult<()> {
    let target = {
        let mut conn = state.db().await?;
        users::find(&mut conn, id).await?.ok_or_else(|| ApiError::NotFound("No such user.".into()))?
    };
    if target.role == Role::Guest {
        return Err(ApiError::validation("password", "Guests are support visitors and have no password."));
    }
    // A bot acts through API tokens; a password would let whoever set it sign in as the bot,
    // into the rooms it is a member of (an incoming webhook's bot's private room).
    if target.is_bot {
        return Err(ApiError::validation("password", "Bots act through API tokens and have no password."));
    }
    crate::service::validate::password(&password, &target.username)?;
    // Hashing takes a while by design; no pooled connection is held meanwhile.
    let hash = state.passwords.hash(password).await?;
    let details = by.details(json!({}));
    let mut conn = state.db().await?;
    conn.transaction::<_, ApiError, _>(async move |conn| {
        users::set_password_hash(conn, id, &hash).await?;
        accounts::revoke_all(conn, id).await?;
        audit::record_by(conn, by.id(), audit::Action::UserPasswordReset, id, details).await
    })
    .await?;
    state.notify.close_user(id, CloseReason::PasswordChanged);
    Ok(())
}

/// `DELETE /admin/users/{id}`: deletes an account as its user could (see
/// [`accounts::erase_account`]), recorded in the audit log as `user.deleted`, and closes its
/// sockets. Admins delete their own account with `DELETE /users/me`, which asks for the password.
///
/// # Errors
/// `not_found` for an unknown user; `forbidden` for an admin deleting themselves;
/// `validation_failed` for a guest (guests go with their support session, by the retention job).
pub async fn delete_user(state: &AppState, by: Actor<'_>, id: UserId) -> ApiResult<()> {
    if by.id() == Some(id) {
        return Err(ApiError::Forbidden("Delete your own account with DELETE /users/me.".into()));
    }
    let target = {
        let mut conn = state.db().await?;
        users::find(&mut conn, id).await?.ok_or_else(|| ApiError::NotFound("No such user.".into()))?
    };
    if target.role == Role::Guest {
        return Err(ApiError::validation(
            "id",
            "Guests are support visitors: they are deleted with their support session by the retention job.",
        ));
    }
    // The username is not recorded: the deletion removes it everywhere else, and the entry's
    // target id is enough to match it with earlier entries about the same account.
    accounts::erase_account(state, id, None, Some((by.id(), by.details(json!({}))))).await
}
