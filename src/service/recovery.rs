//! Password reset by mail: a single-use, short-lived link (its token stored only as SHA-256)
//! that sets a new password, ends every session and closes the account's sockets. Asked for by
//! the user (`POST /auth/password-reset`, answered the same whether or not the address has an
//! account), by an admin (audited) or on the command line. A reset leaves two-factor as it is:
//! the mailbox alone must not be enough to take over a protected account.

use chrono::{Duration, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use crate::auth::refresh;
use crate::db::models::{NewPasswordResetToken, Role, User};
use crate::db::queries::{password_resets, users};
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;
use crate::protocol::CloseReason;
use crate::service::admin::Actor;
use crate::service::{accounts, audit, mail, mail_templates, validate};
use crate::state::AppState;

/// The `kind` of reset mails in the queue.
pub const MAIL_KIND: &str = "password_reset";

/// The link a reset mail carries. The token is in the fragment, so it reaches neither the
/// server's access logs nor a `Referer`.
pub fn reset_link(state: &AppState, token: &str) -> String {
    crate::service::mail::link(state, &format!("/#reset-password={token}"))
}

/// Stores a new reset token for `user` (spending their earlier ones) and queues its mail, in the
/// caller's transaction; the link, for the command line's `--print-link`.
async fn issue(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    user: &User,
    by_admin: bool,
    send_mail: bool,
) -> ApiResult<String> {
    let token = refresh::generate().map_err(ApiError::Internal)?;
    let hash = refresh::hash(&token);
    let ttl = state.settings.password_reset.token_ttl_secs;
    password_resets::spend_all_for_user(conn, user.id).await?;
    let new = NewPasswordResetToken {
        id: Uuid::new_v4(),
        user_id: user.id,
        token_hash: &hash,
        expires_at: Utc::now() + Duration::seconds(i64::try_from(ttl).unwrap_or(i64::MAX)),
    };
    password_resets::insert(conn, &new).await?;
    let link = reset_link(state, &token);
    if send_mail {
        let Some(email) = user.email.as_deref() else {
            return Err(ApiError::validation("email", "This account has no email address."));
        };
        let language = users::language(conn, user.id).await?;
        let rendered = mail_templates::password_reset(language, &user.username, &link, ttl.div_ceil(60), by_admin);
        mail::enqueue(conn, MAIL_KIND, email, language, &rendered).await?;
    }
    Ok(link)
}

/// `POST /auth/password-reset`, after the answer went out: queues a reset mail when `email`
/// belongs to an account that may have one (not a guest, not banned). Does nothing otherwise,
/// and the client never learns which.
///
/// # Errors
/// Database failures (logged by the caller; the client already has its 202).
pub async fn request_reset(state: &AppState, email: &str) -> ApiResult<()> {
    let mut conn = state.db().await?;
    let Some(user) = users::find_by_email(&mut conn, email.trim()).await? else {
        tracing::info!("password reset asked for an address without an account");
        return Ok(());
    };
    if user.role == Role::Guest || user.is_bot || user.is_banned() || user.is_being_deleted() {
        tracing::info!(user_id = %user.id, "password reset asked for an account that cannot have one");
        return Ok(());
    }
    conn.transaction::<_, ApiError, _>(async |conn| issue(state, conn, &user, false, true).await.map(drop)).await?;
    state.mailer.wake();
    Ok(())
}

/// An admin's (`POST /admin/users/{id}/password-reset`) or the operator's reset: mails the user
/// a link (or, on the command line with `send_mail` false, only returns it), audited as
/// `user.password_reset` with `"method": "link"`. The current password keeps working until the
/// link is used.
///
/// # Errors
/// `not_found` for an unknown user; `validation_failed` for a guest or an account without email
/// (when mailing).
pub async fn admin_reset(state: &AppState, by: Actor<'_>, id: UserId, send_mail: bool) -> ApiResult<String> {
    let mut conn = state.db().await?;
    let user = users::find(&mut conn, id).await?.ok_or_else(|| ApiError::NotFound("No such user.".into()))?;
    if user.role == Role::Guest {
        return Err(ApiError::validation("id", "Guests are support visitors and have no password."));
    }
    // A bot acts through API tokens; a password would let whoever set it sign in as the bot.
    if user.is_bot {
        return Err(ApiError::validation("id", "Bots act through API tokens and have no password."));
    }
    let details = by.details(json!({ "method": if send_mail { "mail" } else { "link" } }));
    let actor = by.id();
    let link = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let link = issue(state, conn, &user, true, send_mail).await?;
            audit::record_by(conn, actor, audit::Action::UserPasswordReset, id, details).await?;
            Ok(link)
        })
        .await?;
    if send_mail {
        state.mailer.wake();
    }
    Ok(link)
}

fn invalid_token() -> ApiError {
    ApiError::validation("token", "This reset link is invalid, used or expired. Ask for a new one.")
}

/// `POST /auth/password-reset/confirm`: sets the new password (registration's rules), spends the
/// token and every other of the user's, revokes every session and closes the sockets (4001).
///
/// # Errors
/// `validation_failed` on `token` for an unknown, used or expired token, on `password` for a weak
/// one.
pub async fn confirm_reset(state: &AppState, token: &str, password: String) -> ApiResult<()> {
    let hash = refresh::hash(token.trim());
    let user = {
        let mut conn = state.db().await?;
        let found = conn
            .transaction::<_, ApiError, _>(
                async |conn| Ok(password_resets::find_by_hash_for_update(conn, &hash).await?),
            )
            .await?;
        let row = found.filter(|r| r.used_at.is_none() && r.expires_at > Utc::now()).ok_or_else(invalid_token)?;
        // A link mailed before the account's deletion began leads nowhere now.
        users::find(&mut conn, row.user_id)
            .await?
            .filter(|u| !u.is_being_deleted() && !u.is_bot)
            .ok_or_else(invalid_token)?
    };
    validate::password(&password, &user.username)?;
    // Hashing takes a while by design; no pooled connection is held meanwhile.
    let password_hash = state.passwords.hash(password).await?;
    let mut conn = state.db().await?;
    let user_id = user.id;
    conn.transaction::<_, ApiError, _>(async |conn| {
        // Again, under the row lock: two confirmations of one link race, one wins.
        let row = password_resets::find_by_hash_for_update(conn, &hash).await?;
        if !row.is_some_and(|r| r.used_at.is_none() && r.expires_at > Utc::now()) {
            return Err(invalid_token());
        }
        password_resets::spend_all_for_user(conn, user_id).await?;
        users::set_password_hash(conn, user_id, &password_hash).await?;
        // An address never confirmed may have been registered by someone else before its owner
        // came (`accounts.require_email_verification` off): the owner takes the account back by
        // this reset, and what that someone made for themselves must not outlast it. Sessions go
        // below as at every reset; API tokens go too, but only here, so that a reset does not
        // break the integrations of an account whose address was proven.
        if user.email_verified_at.is_none() {
            crate::db::queries::api_tokens::revoke_all_of(conn, user_id).await?;
            // With the pushes its tokens subscribed (a session's go with the session below).
            crate::db::queries::push::delete_all_of(conn, user_id).await?;
        }
        accounts::revoke_all(conn, user_id).await
    })
    .await?;
    state.notify.close_user(user_id, CloseReason::PasswordChanged);
    Ok(())
}
