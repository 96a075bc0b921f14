//! Queries on `user_totp`, `mfa_recovery_codes` and `mfa_challenges`.

use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::{NewMfaChallenge, NewRecoveryCode, UserTotp};
use crate::ids::UserId;
use crate::schema::{mfa_challenges, mfa_recovery_codes, user_totp};

/// The user's enrolment (pending or confirmed), row-locked: code checks of one account serialise,
/// so a code cannot be spent twice by two requests at once.
pub async fn find_for_update(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<Option<UserTotp>> {
    user_totp::table.find(user_id).select(UserTotp::as_select()).for_update().first(conn).await.optional()
}

/// Whether the user has confirmed two-factor.
pub async fn is_enabled(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        user_totp::table.filter(user_totp::user_id.eq(user_id)).filter(user_totp::enabled_at.is_not_null()),
    ))
    .get_result(conn)
    .await
}

/// Starts (or restarts) an enrolment with a new secret, not yet enabled. Refused by the caller
/// when two-factor is already on.
pub async fn upsert_pending(conn: &mut AsyncPgConnection, user_id: UserId, secret: &[u8]) -> QueryResult<usize> {
    diesel::insert_into(user_totp::table)
        .values((user_totp::user_id.eq(user_id), user_totp::secret.eq(secret)))
        .on_conflict(user_totp::user_id)
        .do_update()
        .set((
            user_totp::secret.eq(excluded(user_totp::secret)),
            user_totp::enabled_at.eq(None::<DateTime<Utc>>),
            user_totp::last_used_step.eq(-1),
            user_totp::failed_attempts.eq(0),
            user_totp::locked_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await
}

pub async fn enable(conn: &mut AsyncPgConnection, user_id: UserId, step: i64) -> QueryResult<usize> {
    diesel::update(user_totp::table.find(user_id))
        .set((user_totp::enabled_at.eq(now), user_totp::last_used_step.eq(step), user_totp::failed_attempts.eq(0)))
        .execute(conn)
        .await
}

/// A code was accepted: its step is spent and the failure count starts over.
pub async fn accept_step(conn: &mut AsyncPgConnection, user_id: UserId, step: i64) -> QueryResult<usize> {
    diesel::update(user_totp::table.find(user_id))
        .set((
            user_totp::last_used_step.eq(step),
            user_totp::failed_attempts.eq(0),
            user_totp::locked_until.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await
}

/// A recovery code was accepted: the failure count starts over.
pub async fn reset_failures(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<usize> {
    diesel::update(user_totp::table.find(user_id))
        .set((user_totp::failed_attempts.eq(0), user_totp::locked_until.eq(None::<DateTime<Utc>>)))
        .execute(conn)
        .await
}

/// A wrong code: counted, and past the limit the account is locked until `lock_until`.
pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    failed_attempts: i32,
    locked_until: Option<DateTime<Utc>>,
) -> QueryResult<usize> {
    diesel::update(user_totp::table.find(user_id))
        .set((user_totp::failed_attempts.eq(failed_attempts), user_totp::locked_until.eq(locked_until)))
        .execute(conn)
        .await
}

/// Two-factor off: the enrolment, its recovery codes and open challenges go.
pub async fn delete_all(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<usize> {
    diesel::delete(mfa_recovery_codes::table.filter(mfa_recovery_codes::user_id.eq(user_id))).execute(conn).await?;
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(user_id))).execute(conn).await?;
    diesel::delete(user_totp::table.find(user_id)).execute(conn).await
}

/// Replaces the user's recovery codes.
pub async fn replace_recovery_codes(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    codes: &[NewRecoveryCode<'_>],
) -> QueryResult<usize> {
    diesel::delete(mfa_recovery_codes::table.filter(mfa_recovery_codes::user_id.eq(user_id))).execute(conn).await?;
    diesel::insert_into(mfa_recovery_codes::table).values(codes).execute(conn).await
}

/// Spends the unused recovery code with this hash; whether there was one.
pub async fn use_recovery_code(conn: &mut AsyncPgConnection, user_id: UserId, hash: &[u8]) -> QueryResult<bool> {
    let spent = diesel::update(
        mfa_recovery_codes::table
            .filter(mfa_recovery_codes::user_id.eq(user_id))
            .filter(mfa_recovery_codes::code_hash.eq(hash))
            .filter(mfa_recovery_codes::used_at.is_null()),
    )
    .set(mfa_recovery_codes::used_at.eq(now))
    .execute(conn)
    .await?;
    Ok(spent > 0)
}

/// Unused recovery codes of the user.
pub async fn recovery_codes_left(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<i64> {
    mfa_recovery_codes::table
        .filter(mfa_recovery_codes::user_id.eq(user_id))
        .filter(mfa_recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
        .await
}

pub async fn insert_challenge(conn: &mut AsyncPgConnection, new: &NewMfaChallenge<'_>) -> QueryResult<usize> {
    diesel::insert_into(mfa_challenges::table).values(new).execute(conn).await
}

/// The user of an unexpired challenge with this hash.
pub async fn challenge_user(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<Option<(Uuid, UserId)>> {
    mfa_challenges::table
        .filter(mfa_challenges::token_hash.eq(hash))
        .filter(mfa_challenges::expires_at.gt(now))
        .select((mfa_challenges::id, mfa_challenges::user_id))
        .first(conn)
        .await
        .optional()
}

/// A completed challenge is spent, and expired ones of the user go with it. False when it was gone
/// already: spent by a completion that came first, or dropped by [`delete_challenges_of`].
pub async fn spend_challenge(conn: &mut AsyncPgConnection, id: Uuid, user_id: UserId) -> QueryResult<bool> {
    diesel::delete(
        mfa_challenges::table.filter(mfa_challenges::user_id.eq(user_id)).filter(mfa_challenges::expires_at.le(now)),
    )
    .execute(conn)
    .await?;
    let spent = diesel::delete(mfa_challenges::table.filter(mfa_challenges::id.eq(id))).execute(conn).await?;
    Ok(spent == 1)
}

/// Every open login challenge of the user: a revocation of all its tokens ends half-done logins too.
pub async fn delete_challenges_of(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<usize> {
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(user_id))).execute(conn).await
}
