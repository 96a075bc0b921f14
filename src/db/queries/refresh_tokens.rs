//! Queries on `refresh_tokens`.

use diesel::dsl::now;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::{NewRefreshToken, RefreshToken};
use crate::ids::UserId;
use crate::schema::refresh_tokens;

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewRefreshToken<'_>) -> QueryResult<usize> {
    diesel::insert_into(refresh_tokens::table).values(new).execute(conn).await
}

/// The account the token with this hash belongs to, read without a lock: what a refresh locks
/// before the token (`service::accounts::refresh`).
pub async fn user_of_hash(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<Option<UserId>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash))
        .select(refresh_tokens::user_id)
        .first(conn)
        .await
        .optional()
}

/// The token with this hash, row-locked so two concurrent refreshes of one token serialise and the
/// second sees it spent.
pub async fn find_by_hash_for_update(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<Option<RefreshToken>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash))
        .select(RefreshToken::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Whether `user_id`'s session `family_id` has not been revoked, holding one of its unrevoked rows
/// `FOR SHARE` until the transaction ends: a revocation (which updates every unrevoked row of the
/// family) then waits for the caller's commit, so what the caller ties to the session is seen by
/// the revocation's clean-up, and a revocation committed first makes this return false. A spent
/// row counts: a refresh rotating the session meanwhile does not end it.
pub async fn lock_unrevoked_family(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    family_id: Uuid,
) -> QueryResult<bool> {
    let row: Option<Uuid> = refresh_tokens::table
        .filter(refresh_tokens::family_id.eq(family_id))
        .filter(refresh_tokens::user_id.eq(user_id))
        .filter(refresh_tokens::revoked_at.is_null())
        .select(refresh_tokens::id)
        .limit(1)
        .for_share()
        .first(conn)
        .await
        .optional()?;
    Ok(row.is_some())
}

pub async fn mark_spent(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
    diesel::update(refresh_tokens::table.find(id)).set(refresh_tokens::spent_at.eq(now)).execute(conn).await
}

pub async fn revoke_family(conn: &mut AsyncPgConnection, family_id: Uuid) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
    .await
}

pub async fn revoke_all_for_user(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table.filter(refresh_tokens::user_id.eq(user_id)).filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
    .await
}

/// One live login session of a user: a refresh-token family that still has a usable token.
#[derive(Debug, QueryableByName)]
pub struct LiveSession {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub family_id: Uuid,
    /// When the login happened (the family's first token).
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// When the session last refreshed its tokens (its live token's issue).
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub refreshed_at: chrono::DateTime<chrono::Utc>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub expires_at: chrono::DateTime<chrono::Utc>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub user_agent: Option<String>,
}

/// The user's sessions that can still refresh (an unspent, unrevoked, unexpired token), most
/// recently active first: one statement over the user's rows (`refresh_tokens_user_idx`).
pub async fn live_sessions(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<Vec<LiveSession>> {
    diesel::sql_query(
        "SELECT t.family_id, f.started_at, t.created_at AS refreshed_at, t.expires_at, t.user_agent \
         FROM refresh_tokens t \
         JOIN (SELECT family_id, min(created_at) AS started_at FROM refresh_tokens \
                WHERE user_id = $1 GROUP BY family_id) f ON f.family_id = t.family_id \
         WHERE t.user_id = $1 AND t.spent_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > now() \
         ORDER BY t.created_at DESC, t.family_id",
    )
    .bind::<diesel::sql_types::Uuid, _>(user_id)
    .load(conn)
    .await
}

/// Revokes the family if it is one of the user's sessions that can still refresh; returns how
/// many tokens that revoked (0: no such live session of this user).
pub async fn revoke_live_family_of(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    family_id: Uuid,
) -> QueryResult<usize> {
    let live = refresh_tokens::table
        .filter(refresh_tokens::user_id.eq(user_id))
        .filter(refresh_tokens::family_id.eq(family_id))
        .filter(refresh_tokens::spent_at.is_null())
        .filter(refresh_tokens::revoked_at.is_null())
        .filter(refresh_tokens::expires_at.gt(now))
        .count()
        .get_result::<i64>(conn)
        .await?;
    if live == 0 {
        return Ok(0);
    }
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
    .await
}
