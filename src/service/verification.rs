//! Email verification: a single-use, expiring link (its token stored only as SHA-256, bound to
//! the address it was sent to) that confirms an account's address (`users.email_verified_at`;
//! the profile's `email_verified`). With `accounts.require_email_verification` on, registration
//! mails it and answers without tokens, and a password login of an unconfirmed account is refused
//! (403 `forbidden`, `details.reason = "email_not_verified"`) until the link is followed; with it
//! off, nothing is restricted and a user may still confirm through
//! `POST /auth/verify-email/resend`. An address that changes is unconfirmed again (a trigger on
//! `users`, whatever changes it).

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::auth::refresh;
use crate::db::models::{Role, User};
use crate::db::queries::users;
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;
use crate::schema::{email_verification_tokens as evt, users as u};
use crate::service::{mail, mail_templates};
use crate::state::AppState;

/// The `kind` of verification mails in the queue.
pub const MAIL_KIND: &str = "email_verification";

/// The link a verification mail carries; the token is in the fragment, so it reaches neither the
/// server's access logs nor a `Referer`.
pub fn verify_link(state: &AppState, token: &str) -> String {
    crate::service::mail::link(state, &format!("/#verify-email={token}"))
}

/// The refusal of a login that needs a confirmed address first.
pub fn not_verified() -> ApiError {
    ApiError::ForbiddenBecause {
        reason: "email_not_verified",
        message: "Confirm your email address first: follow the link in the mail we sent (or ask for a new one).".into(),
    }
}

/// Whether this account may not log in yet: the setting is on, and its address is unconfirmed.
pub fn blocks_login(state: &AppState, user: &User) -> bool {
    state.settings.accounts.require_email_verification && user.email.is_some() && user.email_verified_at.is_none()
}

/// Stores a new link for the user's current address (spending their earlier ones) and queues its
/// mail, in the caller's transaction. Call [`mail::Mailer::wake`] after the commit.
///
/// # Errors
/// Database failures only.
pub async fn issue(state: &AppState, conn: &mut AsyncPgConnection, user: &User) -> ApiResult<()> {
    let Some(email) = user.email.as_deref() else { return Ok(()) };
    let token = refresh::generate().map_err(ApiError::Internal)?;
    let ttl = state.settings.accounts.verification_token_ttl_secs;
    diesel::update(evt::table.filter(evt::user_id.eq(user.id)).filter(evt::used_at.is_null()))
        .set(evt::used_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    diesel::insert_into(evt::table)
        .values((
            evt::id.eq(Uuid::new_v4()),
            evt::user_id.eq(user.id),
            evt::email.eq(email),
            evt::token_hash.eq(refresh::hash(&token)),
            evt::expires_at.eq(Utc::now() + Duration::seconds(i64::try_from(ttl).unwrap_or(i64::MAX))),
        ))
        .execute(conn)
        .await?;
    let language = users::language(conn, user.id).await?;
    let rendered =
        mail_templates::email_verification(language, &user.username, &verify_link(state, &token), ttl.div_ceil(3600));
    mail::enqueue(conn, MAIL_KIND, email, language, &rendered).await?;
    Ok(())
}

/// `POST /auth/verify-email/resend`, after the answer went out: a new link for the account with
/// this address, if it has one to confirm (not a guest or bot, not banned, not confirmed yet).
/// Does nothing otherwise, and the client never learns which.
///
/// # Errors
/// Database failures (logged by the caller; the client already has its 202).
pub async fn resend(state: &AppState, email: &str) -> ApiResult<()> {
    let mut conn = state.db().await?;
    let Some(user) = users::find_by_email(&mut conn, email.trim()).await? else {
        tracing::info!("verification mail asked for an address without an account");
        return Ok(());
    };
    if user.role == Role::Guest
        || user.is_bot
        || user.is_banned()
        || user.is_being_deleted()
        || user.email_verified_at.is_some()
    {
        tracing::info!(user_id = %user.id, "verification mail asked for an account that needs none");
        return Ok(());
    }
    conn.transaction::<_, ApiError, _>(async |conn| issue(state, conn, &user).await).await?;
    state.mailer.wake();
    Ok(())
}

/// A stored link: id, account, address, expiry, use.
type TokenRow = (Uuid, UserId, String, chrono::DateTime<Utc>, Option<chrono::DateTime<Utc>>);

fn invalid_token() -> ApiError {
    ApiError::validation("token", "This confirmation link is invalid, used or expired. Ask for a new one.")
}

/// `POST /auth/verify-email {token}`: confirms the address the link was sent to, if the account
/// still has it; the link is spent.
///
/// # Errors
/// `validation_failed` on `token` for an unknown, used or expired token, or one for an address
/// the account no longer has.
pub async fn confirm(state: &AppState, token: &str) -> ApiResult<()> {
    let hash = refresh::hash(token.trim());
    let mut conn = state.db().await?;
    conn.transaction::<_, ApiError, _>(async |conn| {
        let row: Option<TokenRow> = evt::table
            .filter(evt::token_hash.eq(&hash))
            .select((evt::id, evt::user_id, evt::email, evt::expires_at, evt::used_at))
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some((id, user_id, email, expires_at, None)) = row else { return Err(invalid_token()) };
        if expires_at <= Utc::now() {
            return Err(invalid_token());
        }
        diesel::update(evt::table.find(id)).set(evt::used_at.eq(diesel::dsl::now)).execute(conn).await?;
        let confirmed = diesel::update(u::table.find(user_id).filter(u::email.eq(&email)))
            .set(u::email_verified_at.eq(diesel::dsl::now))
            .execute(conn)
            .await?;
        if confirmed == 0 {
            return Err(invalid_token());
        }
        Ok(())
    })
    .await
}

/// The operator vouches for the accounts made on the command line: they count as confirmed.
///
/// # Errors
/// Database failures only.
pub async fn mark_verified(conn: &mut AsyncPgConnection, user_id: UserId) -> ApiResult<()> {
    diesel::update(u::table.find(user_id)).set(u::email_verified_at.eq(diesel::dsl::now)).execute(conn).await?;
    Ok(())
}
