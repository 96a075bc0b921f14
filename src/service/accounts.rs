//! Accounts and sessions: register, login, refresh-token rotation, logout, logout-all, password
//! change, and the CLI's user creation.
//!
//! A login starts a refresh-token *family*. Each refresh spends the presented token and issues the
//! next one in the family; presenting a spent token again means it was copied, so the whole family
//! is revoked (OAuth 2.0 Security BCP, refresh token rotation).

use chrono::{Duration, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::{Caller, refresh};
use crate::db::models::{NewRefreshToken, NewUser, Role, User};
use crate::db::queries::{messages, refresh_tokens, users};
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;
use crate::protocol::CloseReason;
use crate::service::validate;
use crate::state::AppState;
use crate::views::UserView;

/// What register, login and refresh answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthResponse {
    pub user: UserView,
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

pub struct Registration {
    pub username: String,
    pub email: String,
    pub password: String,
    pub display_name: Option<String>,
}

fn invalid_credentials() -> ApiError {
    ApiError::Unauthorized("Invalid login or password.".into())
}

fn invalid_refresh() -> ApiError {
    ApiError::Unauthorized("Invalid or expired refresh token.".into())
}

/// The answer to a banned account, wherever it signs in or acts.
pub fn banned() -> ApiError {
    ApiError::Forbidden("This account is banned.".into())
}

/// For signing in, an account whose deletion has begun is gone already.
pub(crate) fn being_deleted() -> ApiError {
    ApiError::Unauthorized("This account is being deleted.".into())
}

/// Validates and stores a new account with a hashed password; registration and the CLI share it.
async fn create_account(state: &AppState, reg: Registration, role: Role) -> ApiResult<User> {
    validate::username(&reg.username)?;
    validate::email(&reg.email)?;
    validate::password(&reg.password, &reg.username)?;
    let display_name = match &reg.display_name {
        Some(name) => validate::display_name(name)?,
        None => reg.username.clone(),
    };
    let hash = state.passwords.hash(reg.password).await?;
    let mut conn = state.db().await?;
    let new = NewUser {
        id: UserId::new(),
        username: &reg.username,
        email: Some(&reg.email),
        display_name: &display_name,
        role,
        password_hash: Some(&hash),
        is_bot: false,
    };
    users::insert(&mut conn, &new).await.map_err(|e| match unique_violation(&e) {
        Some(c) if c.contains("email") => ApiError::Conflict("That email is already registered.".into()),
        Some(_) => ApiError::Conflict("That username is taken.".into()),
        None => e.into(),
    })
}

fn unique_violation(e: &diesel::result::Error) -> Option<String> {
    match e {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, info) => {
            Some(info.constraint_name().unwrap_or_default().to_owned())
        }
        _ => None,
    }
}

/// What `POST /auth/register` answers: a session, or with `accounts.require_email_verification`
/// on, the new account without tokens (it may log in once its address is confirmed).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Registered {
    Session(AuthResponse),
    VerificationRequired(VerificationRequired),
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerificationRequired {
    pub user: UserView,
    /// Always true: a mail with the confirmation link is on its way.
    pub email_verification_required: bool,
}

/// `POST /auth/register`.
///
/// # Errors
/// `validation_failed` naming the bad field, `conflict` for a taken username or email.
pub async fn register(
    state: &AppState,
    reg: Registration,
    language: crate::db::models::Language,
    user_agent: Option<&str>,
) -> ApiResult<Registered> {
    let user = create_account(state, reg, Role::User).await?;
    let mut conn = state.db().await?;
    if language != crate::db::models::Language::En {
        users::set_language(&mut conn, user.id, language).await?;
    }
    if state.settings.accounts.require_email_verification {
        conn.transaction::<_, ApiError, _>(async |conn| crate::service::verification::issue(state, conn, &user).await)
            .await?;
        state.mailer.wake();
        return Ok(Registered::VerificationRequired(VerificationRequired {
            user: UserView::own(&user),
            email_verification_required: true,
        }));
    }
    start_session(state, &mut conn, &user, user_agent).await.map(Registered::Session)
}

/// `plauder user create`: an account of any role, with the same rules as registration.
///
/// # Errors
/// As [`register`].
pub async fn create_user(state: &AppState, reg: Registration, role: Role) -> ApiResult<UserView> {
    let mut user = create_account(state, reg, role).await?;
    // The operator vouches for the address of an account made on the command line.
    let mut conn = state.db().await?;
    crate::service::verification::mark_verified(&mut conn, user.id).await?;
    user.email_verified_at = Some(Utc::now());
    Ok(UserView::own(&user))
}

/// What `POST /auth/login` answers: a session, or for an account with two-factor on, the
/// challenge to complete with a code at `POST /auth/login/mfa`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    Session(AuthResponse),
    MfaRequired(crate::service::mfa::MfaChallenge),
}

/// `POST /auth/login`: by username or email, case-insensitively.
///
/// # Errors
/// The same `unauthorized` for an unknown login and a wrong password, `unauthorized` saying so for
/// an account being deleted; `forbidden` when banned.
pub async fn login(
    state: &AppState,
    login: &str,
    password: String,
    user_agent: Option<&str>,
) -> ApiResult<LoginResponse> {
    let mut conn = state.db().await?;
    let user = users::find_by_login(&mut conn, login.trim()).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    // Verified even for an unknown login (against a dummy hash) so timing does not tell them apart.
    let ok = state.passwords.verify(password, stored).await?;
    let user = user.filter(|_| ok).ok_or_else(invalid_credentials)?;
    // Before the ban: an account being deleted is going, banned or not.
    if user.is_being_deleted() {
        return Err(being_deleted());
    }
    if user.is_banned() {
        return Err(banned());
    }
    if crate::service::verification::blocks_login(state, &user) {
        return Err(crate::service::verification::not_verified());
    }
    if let Some(challenge) = crate::service::mfa::challenge_if_enrolled(state, &mut conn, &user).await? {
        return Ok(LoginResponse::MfaRequired(challenge));
    }
    start_session(state, &mut conn, &user, user_agent).await.map(LoginResponse::Session)
}

/// Issues an access token and the first refresh token of a new family. `user_agent` is the
/// request's User-Agent header, kept (cut to [`MAX_USER_AGENT_CHARS`]) so the sessions list can
/// name the device.
///
/// # Errors
/// Database failures only.
pub async fn start_session(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    user: &User,
    user_agent: Option<&str>,
) -> ApiResult<AuthResponse> {
    let session = Uuid::new_v4();
    let user_agent = user_agent.map(clean_user_agent).filter(|ua| !ua.is_empty());
    let (current, refresh_token) = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let current = lock_unrevoked(conn, user).await?;
            let token = insert_refresh_token(state, conn, user.id, session, user_agent.as_deref()).await?;
            Ok((current, token))
        })
        .await?;
    respond(state, &current, session, refresh_token)
}

/// The account's row, locked until the transaction ends as a revocation locks it, for a sign-in
/// (a session, a two-factor challenge) checked against `user` as it was read before the password
/// or code: a revocation (a password change, logout-all, a ban) that committed since then must not
/// be followed by a sign-in made from that check (401, sign in again), and one that comes after
/// this commit revokes what it issues with the rest.
///
/// # Errors
/// `unauthorized` when the account's tokens were revoked meanwhile or it is being deleted;
/// `forbidden` when it was banned.
pub(crate) async fn lock_unrevoked(conn: &mut AsyncPgConnection, user: &User) -> ApiResult<User> {
    let current = lock_usable(conn, user.id).await?;
    if current.token_version != user.token_version {
        return Err(sign_ins_ended());
    }
    Ok(current)
}

/// [`lock_unrevoked`] for a request's caller, whatever it signed in with. For an API token, the
/// token's row is held as well (`FOR SHARE`, after the account's, as an account's deletion takes
/// them), so that its revocation waits for the caller's commit or, committed first, refuses it;
/// the account's sign-ins ended elsewhere do not concern a token (a password change leaves API
/// tokens alone).
///
/// # Errors
/// As [`lock_unrevoked`]; `unauthorized` for an API token revoked meanwhile.
pub(crate) async fn lock_unrevoked_caller(conn: &mut AsyncPgConnection, caller: &Caller) -> ApiResult<User> {
    let Some(token) = caller.api_token else { return lock_unrevoked(conn, &caller.user).await };
    let current = lock_usable(conn, caller.id).await?;
    if !crate::db::queries::api_tokens::lock_unrevoked(conn, caller.id, token).await? {
        return Err(ApiError::Unauthorized("This API token was revoked.".into()));
    }
    Ok(current)
}

/// The account's row, locked as revocations lock it, if it may still be used at all.
async fn lock_usable(conn: &mut AsyncPgConnection, id: UserId) -> ApiResult<User> {
    let current = users::find_locked(conn, id).await?.ok_or_else(sign_ins_ended)?;
    if current.is_being_deleted() {
        return Err(being_deleted());
    }
    if current.is_banned() {
        return Err(banned());
    }
    Ok(current)
}

fn sign_ins_ended() -> ApiError {
    ApiError::Unauthorized("The account's sign-ins were ended while this one was checked; sign in again.".into())
}

/// The longest User-Agent kept with a session; the rest is cut (the client cannot be refused
/// for its browser's header).
pub const MAX_USER_AGENT_CHARS: usize = 512;

fn clean_user_agent(ua: &str) -> String {
    ua.chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT_CHARS).collect::<String>().trim().to_owned()
}

async fn insert_refresh_token(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    family_id: Uuid,
    user_agent: Option<&str>,
) -> ApiResult<String> {
    let token = refresh::generate().map_err(ApiError::Internal)?;
    let hash = refresh::hash(&token);
    let ttl = Duration::days(i64::from(state.settings.auth.refresh_token_ttl_days));
    let new = NewRefreshToken {
        id: Uuid::new_v4(),
        user_id,
        family_id,
        token_hash: &hash,
        expires_at: Utc::now() + ttl,
        user_agent,
    };
    refresh_tokens::insert(conn, &new).await?;
    Ok(token)
}

fn respond(state: &AppState, user: &User, session: Uuid, refresh_token: String) -> ApiResult<AuthResponse> {
    let access_token = state.jwt.issue(user, session).map_err(ApiError::Internal)?;
    Ok(AuthResponse { user: UserView::own(user), access_token, refresh_token, expires_in: state.jwt.ttl_secs })
}

enum Rotation {
    /// The account, the session (family) and its next refresh token.
    Rotated(Box<User>, Uuid, String),
    Replayed,
    Invalid,
    Banned,
    BeingDeleted,
}

/// `POST /auth/refresh`: spends the token and returns a new pair.
///
/// # Errors
/// `unauthorized` for an unknown, expired, revoked or spent token (a spent one also revokes its
/// family) and for an account being deleted; `forbidden` when the account is banned.
pub async fn refresh(state: &AppState, token: &str) -> ApiResult<AuthResponse> {
    let hash = refresh::hash(token);
    let mut conn = state.db().await?;
    let outcome = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            // The account's row first, held until the commit: a revocation of all its tokens
            // (a password change or reset, logout-all, two-factor turned on, a ban) or of this
            // session takes that row before it revokes, so it either comes first, and the token
            // is found revoked below, or waits for this commit and revokes the successor too. A
            // revocation that waited only for the token's row would not see the successor,
            // inserted after its statement began, and leave it live.
            let Some(user_id) = refresh_tokens::user_of_hash(conn, &hash).await? else {
                return Ok(Rotation::Invalid);
            };
            let Some(user) = users::find_locked(conn, user_id).await? else {
                return Ok(Rotation::Invalid);
            };
            let Some(row) = refresh_tokens::find_by_hash_for_update(conn, &hash).await? else {
                return Ok(Rotation::Invalid);
            };
            // Before the token's own state: a deletion and a ban revoke the tokens too, and the
            // client should learn why, not that its token is stale.
            if user.is_being_deleted() {
                return Ok(Rotation::BeingDeleted);
            }
            if user.is_banned() {
                return Ok(Rotation::Banned);
            }
            if row.revoked_at.is_some() || row.expires_at <= Utc::now() {
                return Ok(Rotation::Invalid);
            }
            if row.spent_at.is_some() {
                // Committed, not rolled back: the revocation must outlive this failed request.
                refresh_tokens::revoke_family(conn, row.family_id).await?;
                // As at a logout: the session's device (or the thief) gets no more pushes.
                crate::db::queries::push::delete_of_session(conn, row.family_id).await?;
                return Ok(Rotation::Replayed);
            }
            refresh_tokens::mark_spent(conn, row.id).await?;
            // The session stays the device it started on.
            let next = insert_refresh_token(state, conn, user.id, row.family_id, row.user_agent.as_deref()).await?;
            Ok(Rotation::Rotated(Box::new(user), row.family_id, next))
        })
        .await?;
    match outcome {
        Rotation::Rotated(user, session, next) => respond(state, &user, session, next),
        Rotation::Replayed => {
            tracing::warn!("spent refresh token presented again; its family is revoked");
            Err(invalid_refresh())
        }
        Rotation::Invalid => Err(invalid_refresh()),
        Rotation::Banned => Err(banned()),
        Rotation::BeingDeleted => Err(being_deleted()),
    }
}

/// `POST /auth/logout`: ends the session (refresh-token family) the token belongs to, and closes
/// the sockets opened or refreshed with that session's access tokens (4001), on every instance.
/// Unknown tokens are accepted silently, so logout is idempotent.
///
/// # Errors
/// Database failures only.
pub async fn logout(state: &AppState, token: &str) -> ApiResult<()> {
    let hash = refresh::hash(token);
    let mut conn = state.db().await?;
    let ended = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            // The account first, as every revocation takes it: a refresh of this session under
            // way (with its live token, where this logout may name a spent one) commits its
            // successor first, which the family's revocation then sees.
            let Some(user_id) = refresh_tokens::user_of_hash(conn, &hash).await? else {
                return Ok(None);
            };
            users::lock_for_revocation(conn, user_id).await?;
            let Some(row) = refresh_tokens::find_by_hash_for_update(conn, &hash).await? else {
                return Ok(None);
            };
            refresh_tokens::revoke_family(conn, row.family_id).await?;
            // The device that signed out gets no more pushes.
            crate::db::queries::push::delete_of_session(conn, row.family_id).await?;
            Ok(Some((row.user_id, row.family_id)))
        })
        .await?;
    if let Some((user_id, session)) = ended {
        state.notify.close_session(user_id, session);
    }
    Ok(())
}

/// Revokes every access and refresh token of the user: bumps the token version (access tokens
/// carry it), revokes all refresh tokens and drops open two-factor login challenges, in one
/// transaction.
///
/// # Errors
/// Database failures only.
pub async fn revoke_all(conn: &mut AsyncPgConnection, user_id: UserId) -> ApiResult<()> {
    conn.transaction::<_, ApiError, _>(async move |conn| {
        // The account's row, then its two-factor row, then its tokens and challenges: the order
        // in which the two-factor transactions take them too (`service::mfa`), so none waits for
        // the other in a circle.
        users::bump_token_version(conn, user_id).await?;
        // A lock of its two-factor codes goes: wrong codes typed with the password just changed
        // (or by whoever was just signed out) must not keep the owner out.
        crate::db::queries::mfa::reset_failures(conn, user_id).await?;
        refresh_tokens::revoke_all_for_user(conn, user_id).await?;
        // A login waiting for its second factor would otherwise end in a session after this: a
        // challenge opened with the password just changed, or by the thief just signed out.
        crate::db::queries::mfa::delete_challenges_of(conn, user_id).await?;
        // Pushes went to devices of those sessions; API tokens' subscriptions stay.
        crate::db::queries::push::delete_of_sessions(conn, user_id).await?;
        Ok(())
    })
    .await
}

/// `POST /auth/logout-all`.
///
/// # Errors
/// Database failures only.
pub async fn logout_all(state: &AppState, user_id: UserId) -> ApiResult<()> {
    let mut conn = state.db().await?;
    revoke_all(&mut conn, user_id).await?;
    state.notify.close_user(user_id, CloseReason::TokensRevoked);
    Ok(())
}

/// `POST /users/me/password`: checks the current password, stores the new one and revokes every
/// earlier token, so other devices must log in again; the device that made the change gets a
/// new session (as two-factor's confirmation hands one), so it stays signed in.
///
/// # Errors
/// `forbidden` for a wrong current password, `validation_failed` for a weak new one.
pub async fn change_password(
    state: &AppState,
    user: &User,
    current: String,
    new: String,
    user_agent: Option<&str>,
) -> ApiResult<AuthResponse> {
    let ok = state.passwords.verify(current, user.password_hash.clone()).await?;
    if !ok {
        return Err(ApiError::Forbidden("The current password is wrong.".into()));
    }
    validate::password(&new, &user.username)?;
    let hash = state.passwords.hash(new).await?;
    let mut conn = state.db().await?;
    let user_id = user.id;
    let fresh = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            // The current password was checked against the account as it was when the request
            // came in. A revocation committed since then (above all the owner's own password
            // change) ends this change: it would otherwise set a password over the owner's and
            // start a session with it, from a check of the password the owner had just replaced.
            lock_unrevoked(conn, user).await?;
            users::set_password_hash(conn, user_id, &hash).await?;
            revoke_all(conn, user_id).await?;
            // The row as this change leaves it (the token version moved), read under its lock:
            // the new session then checks it against any revocation committed after this one.
            users::find(conn, user_id).await?.ok_or_else(|| ApiError::NotFound("No such user.".into()))
        })
        .await?;
    state.notify.close_user(user_id, CloseReason::PasswordChanged);
    start_session(state, &mut conn, &fresh, user_agent).await
}

/// One login session as `GET /users/me/sessions` lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// The session's id (what `DELETE /users/me/sessions/{id}` takes).
    pub id: Uuid,
    /// When the login happened.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    /// When the session last renewed its tokens (or logged in): a device in use renews them
    /// every few minutes.
    #[schema(value_type = String, format = DateTime)]
    pub last_active_at: String,
    /// When it ends unless renewed before.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: String,
    /// The User-Agent of the browser or program that logged in; null for sessions older than
    /// this field.
    pub user_agent: Option<String>,
    /// Whether this is the session of the token the request came with.
    pub current: bool,
}

/// `GET /users/me/sessions`: the caller's sessions that can still renew their tokens, most
/// recently active first. `current` is the session of the caller's access token, if any.
///
/// # Errors
/// Database failures only.
pub async fn sessions(state: &AppState, user_id: UserId, current: Option<Uuid>) -> ApiResult<Vec<SessionInfo>> {
    use crate::views::format_time;
    let mut conn = state.db().await?;
    let rows = refresh_tokens::live_sessions(&mut conn, user_id).await?;
    Ok(rows
        .into_iter()
        .map(|r| SessionInfo {
            id: r.family_id,
            created_at: format_time(&r.started_at),
            last_active_at: format_time(&r.refreshed_at),
            expires_at: format_time(&r.expires_at),
            user_agent: r.user_agent,
            current: Some(r.family_id) == current,
        })
        .collect())
}

/// `DELETE /users/me/sessions/{id}`: signs one of the caller's devices out, as its own
/// `POST /auth/logout` would: the session's tokens are revoked and its sockets closed (4001,
/// `session logged out`), on every instance. Its access tokens keep working until they expire
/// (minutes), as after a logout.
///
/// # Errors
/// `not_found` when the caller has no live session with this id.
pub async fn end_session(state: &AppState, user_id: UserId, session: Uuid) -> ApiResult<()> {
    let mut conn = state.db().await?;
    conn.transaction::<_, ApiError, _>(async |conn| {
        // As a revocation of all tokens does (`revoke_all`): a refresh of this session under way
        // commits its successor first, and the statement below revokes that too.
        users::lock_for_revocation(conn, user_id).await?;
        let revoked = refresh_tokens::revoke_live_family_of(conn, user_id, session).await?;
        if revoked == 0 {
            return Err(ApiError::NotFound("No such session.".into()));
        }
        // In the revocation's transaction, so that a subscription made meanwhile is either seen
        // here or refused (`notifications::subscribe`).
        crate::db::queries::push::delete_of_session(conn, session).await?;
        Ok(())
    })
    .await?;
    state.notify.close_session(user_id, session);
    Ok(())
}

/// `DELETE /users/me`: the user deletes their own account, confirming with their password.
///
/// # Errors
/// `forbidden` for a wrong password; database failures.
pub async fn delete_own_account(state: &AppState, user: &User, password: String) -> ApiResult<()> {
    let ok = state.passwords.verify(password, user.password_hash.clone()).await?;
    if !ok {
        return Err(ApiError::Forbidden("The password is wrong.".into()));
    }
    erase_account(state, user.id, Some(user), None).await
}

/// Messages an account's deletion clears the sender of per transaction before it deletes the
/// account: each transaction holds its thousand for about 40 ms (docs/benchmarks.md).
const FORGET_SENDER_BATCH: i64 = 1000;

/// How often an account deletion's last transaction is tried again after PostgreSQL aborted it
/// for a conflicting one.
const CONTENDED_TRIES: u32 = 3;

/// Deletes an account, the way docs/protocol.md ("Deleting an account") describes: the row goes,
/// and with it (by foreign key) the email, password, sessions, memberships, friendships, friend
/// requests, blocks and reactions; the messages stay in their rooms with `sender_id` null, shown
/// as a deleted user. Rooms the account owned pass to their next owner as when an owner leaves.
/// `checked` is the account as read when its owner's password was checked (an own deletion): a
/// revocation committed since then (a password change, a sign-out everywhere, a ban) refuses the
/// deletion, since the password it was confirmed with may be the one just replaced.
/// `audit` is the entry to record as the deletion begins (an admin's or the operator's deletion).
/// The account is marked and signed out first (its sockets closed), and from then on signs in no
/// more; after the commit the rooms' members hear `room.member_removed` and any socket opened
/// meanwhile is closed. A deletion that stops half-way is finished by the retention job
/// ([`finish_deletions`]), or by calling this again.
///
/// # Errors
/// `not_found` when the account is already gone; `unauthorized` or `forbidden` as
/// [`lock_unrevoked`] for an own deletion checked before a revocation; database failures.
pub async fn erase_account(
    state: &AppState,
    id: UserId,
    checked: Option<&User>,
    audit: Option<(Option<UserId>, serde_json::Value)>,
) -> ApiResult<()> {
    use crate::db::models::MemberRole;
    use crate::db::queries::rooms;
    let mut conn = state.db().await?;
    // Once begun, the deletion runs to its end and is announced, whether or not the client still
    // waits.
    let timeout_ms = state.settings.database.erase_statement_timeout_ms;
    let notify = state.notify.clone();
    let checked = checked.cloned();
    crate::service::uncancelled(async move {
        // Marked and signed out first, everywhere: its sessions and API tokens revoked and its
        // sockets closed (told why now, as the deletion begins), so that while its messages lose
        // their sender its devices stop sending: a retry would miss its original, already
        // cleared, by `client_msg_id` and be stored twice. The mark keeps it signed out (no
        // login, renewal or token is accepted for it any more) and makes the deletion one that
        // ends: should it stop half-way, the retention job finishes it. Requests already under
        // way can still send; the trigger clears what they store.
        conn.transaction::<_, ApiError, _>(async move |conn| {
            if let Some(checked) = &checked {
                lock_unrevoked(conn, checked).await?;
            }
            if !users::mark_deleting(conn, id).await? {
                return Err(ApiError::NotFound("No such user.".into()));
            }
            revoke_all(conn, id).await?;
            crate::db::queries::api_tokens::revoke_all_of(conn, id).await?;
            // Nothing more reaches the person meanwhile: no push to a device an API token
            // subscribed (no sign-out ends those), no mail still queued for their address (a
            // digest of what they missed, a reset link). Mails to support visitors are not theirs
            // to drop; the mail queries skip the mark for what would be queued later.
            crate::db::queries::push::delete_all_of(conn, id).await?;
            crate::db::queries::mail_queue::drop_unsent_to_account(conn, id, ACCOUNT_MAIL_KINDS).await?;
            // Recorded as it begins, since a begun deletion ends with the account gone; again when
            // an admin deletes an account whose deletion had stalled, since they acted.
            if let Some((actor, details)) = audit {
                crate::service::audit::record_by(conn, actor, crate::service::audit::Action::UserDeleted, id, details)
                    .await?;
            }
            Ok(())
        })
        .await?;
        notify.close_user(id, CloseReason::AccountDeleted);
        // The messages lose their sender next, a short transaction per batch. The deletion's
        // trigger would clear them all in its own transaction, about 20 µs a message, holding
        // every one of them and the rooms the account created (`rooms.created_by`) to its end:
        // for a prolific account seconds to minutes in which those rooms' sends and the changes
        // to those messages wait and end in 503. The trigger stays the last word: it clears what
        // was sent, or skipped as held, meanwhile. Should the deletion stop after this (an error,
        // the server stopped), the account stays, signed out, and the messages cleared so far
        // stay without their sender (no longer its to edit or delete) until the retention job or
        // a retry finishes the rest.
        let mut after = None;
        loop {
            let (cleared, last) = conn
                .transaction::<_, ApiError, _>(async move |conn| {
                    crate::db::set_local_erase_limits(conn, timeout_ms).await?;
                    Ok(messages::forget_sender_some(conn, id, after, FORGET_SENDER_BATCH).await?)
                })
                .await?;
            if cleared < FORGET_SENDER_BATCH as usize {
                break;
            }
            after = last;
        }
        // The account is signed out by now, so its owner cannot try again: a transaction aborted
        // by a conflicting one (a deadlock's victim; nothing of it was written) is tried again
        // here, and only a conflict that persists is left to the retention job.
        let mut tries = 0;
        let rooms_left = loop {
            let attempt = conn
                .transaction::<_, ApiError, _>(async move |conn| {
                    crate::db::set_local_erase_limits(conn, timeout_ms).await?;
                    rooms::lock_changed_by_deleting(conn, id).await?;
                    let memberships = rooms::lock_memberships_of(conn, id).await?;
                    for (room_id, role) in &memberships {
                        // As when an owner leaves, under the room's lock. Taken again here (no
                        // wait for a room locked above) for a room handed to the account after
                        // that statement's snapshot: out of id order, which can deadlock, and
                        // then this transaction is tried again.
                        if *role == MemberRole::Owner {
                            rooms::lock(conn, *room_id).await?;
                            crate::service::rooms::hand_over(conn, *room_id, id).await?;
                        }
                    }
                    if users::delete(conn, id).await? == 0 {
                        return Err(ApiError::NotFound("No such user.".into()));
                    }
                    Ok(memberships.into_iter().map(|(room_id, _)| room_id).collect::<Vec<_>>())
                })
                .await;
            match attempt {
                Err(ApiError::Contended(e)) if tries < CONTENDED_TRIES => {
                    tries += 1;
                    tracing::warn!(error = ?e, user_id = %id, "account deletion aborted for a conflict; trying again");
                }
                // Not "try again": the deletion has begun and the retention job ends it (the
                // account's owner is signed out by now; an admin need not act again).
                Err(ApiError::Contended(e)) => {
                    break Err(ApiError::internal(e.context("account deletion aborted for a conflict, tries spent")));
                }
                other => break other,
            }
        };
        let rooms_left = match rooms_left {
            Ok(rooms) => rooms,
            // Finished meanwhile by another run of this deletion (the retention job's, or an
            // admin's), which announced it: what the caller asked for is done.
            Err(ApiError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        for room_id in rooms_left {
            notify.member_removed(room_id, id);
        }
        notify.close_user(id, CloseReason::AccountDeleted);
        Ok(())
    })
    .await
}

/// The mails that go to an account's own address because of the account: what its deletion drops
/// from the queue.
const ACCOUNT_MAIL_KINDS: &[&str] = &[
    crate::service::digest::MAIL_KIND,
    crate::service::verification::MAIL_KIND,
    crate::service::recovery::MAIL_KIND,
    crate::service::support_mail::STAFF_MAIL_KIND,
    crate::webhooks::deliver::DISABLED_MAIL_KIND,
];

/// How long a begun deletion is left to the request that began it before the retention job
/// finishes it: far longer than one takes (about 40 s for a million messages), so the job does
/// not run one beside its request (which would be harmless, only the work twice).
pub const UNFINISHED_DELETION_AFTER_MINUTES: i64 = 10;

/// Finishes the deletions that began more than [`UNFINISHED_DELETION_AFTER_MINUTES`] ago and did
/// not end (an error, a restart half-way), `batch` accounts per lookup, each as [`erase_account`]
/// does it. One that fails again is logged and passed over, so it holds up none behind it; the
/// next pass tries it again. Returns how many accounts went and how many failed.
///
/// # Errors
/// Database failures of the lookup.
pub async fn finish_deletions(state: &AppState, conn: &mut AsyncPgConnection, batch: i64) -> ApiResult<(u64, u64)> {
    let cutoff = Utc::now() - Duration::minutes(UNFINISHED_DELETION_AFTER_MINUTES);
    let (mut deleted, mut failed) = (0, 0);
    let mut after = None;
    loop {
        let page = users::deleting_since_before(conn, cutoff, after, batch).await?;
        for &(id, _) in &page {
            match erase_account(state, id, None, None).await {
                Ok(()) => deleted += 1,
                // Finished meanwhile by its own request or another instance.
                Err(ApiError::NotFound(_)) => {}
                Err(e) => {
                    failed += 1;
                    tracing::error!(error = ?e, user_id = %id, "finishing an account's deletion failed");
                }
            }
        }
        match page.last() {
            Some(&(id, since)) if page.len() as i64 == batch => after = Some((since, id)),
            _ => return Ok((deleted, failed)),
        }
    }
}

/// The user's preferences (`GET /users/me/preferences`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preferences {
    /// The language of the mails the user gets: `en` or `de`.
    pub language: crate::db::models::Language,
    /// Whether the user gets the email digest of what they missed while away (on by default;
    /// docs/protocol.md, "Email digest").
    pub email_digest: bool,
}

async fn load_preferences(conn: &mut AsyncPgConnection, user_id: UserId) -> ApiResult<Preferences> {
    Ok(Preferences {
        language: users::language(conn, user_id).await?,
        email_digest: users::email_digest(conn, user_id).await?,
    })
}

/// `GET /users/me/preferences`.
///
/// # Errors
/// Database failures only.
pub async fn preferences(state: &AppState, user_id: UserId) -> ApiResult<Preferences> {
    let mut conn = state.db().await?;
    load_preferences(&mut conn, user_id).await
}

/// `PATCH /users/me/preferences`: each field given is set.
///
/// # Errors
/// Database failures only.
pub async fn set_preferences(
    state: &AppState,
    user_id: UserId,
    language: Option<crate::db::models::Language>,
    email_digest: Option<bool>,
) -> ApiResult<Preferences> {
    let mut conn = state.db().await?;
    if let Some(language) = language {
        users::set_language(&mut conn, user_id, language).await?;
    }
    if let Some(on) = email_digest {
        crate::service::digest::set_preference(&mut conn, user_id, on).await?;
    }
    load_preferences(&mut conn, user_id).await
}
