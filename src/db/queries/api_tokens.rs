//! Queries on `api_tokens`.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::{ApiToken, NewApiToken, User};
use crate::ids::{ApiTokenId, UserId};
use crate::schema::{api_tokens, users};

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewApiToken<'_>) -> QueryResult<ApiToken> {
    diesel::insert_into(api_tokens::table).values(new).returning(ApiToken::as_returning()).get_result(conn).await
}

/// The token with this hash and its account, in one statement (every request with a token
/// runs it); revoked and expired tokens are found too, the caller judges them.
pub async fn find_by_hash(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<Option<(ApiToken, User)>> {
    api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_hash.eq(hash))
        .select((ApiToken::as_select(), User::as_select()))
        .first(conn)
        .await
        .optional()
}

/// Records a use, unless one was recorded in the last minute: most requests write nothing.
pub async fn touch(conn: &mut AsyncPgConnection, id: ApiTokenId) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE api_tokens SET last_used_at = now() WHERE id = $1 \
         AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .execute(conn)
    .await
}

/// Whether `user_id`'s token `id` has not been revoked, holding its row `FOR SHARE` until the
/// transaction ends: a revocation (`revoke`, `revoke_all_of`) then waits for the caller's commit,
/// so what the caller made with the token is there for whatever follows the revocation in its
/// transaction (a reset deletes what the tokens subscribed), and a revocation committed first
/// makes this return false.
pub async fn lock_unrevoked(conn: &mut AsyncPgConnection, user_id: UserId, id: ApiTokenId) -> QueryResult<bool> {
    let row: Option<ApiTokenId> = api_tokens::table
        .filter(api_tokens::id.eq(id))
        .filter(api_tokens::user_id.eq(user_id))
        .filter(api_tokens::revoked_at.is_null())
        .select(api_tokens::id)
        .for_share()
        .first(conn)
        .await
        .optional()?;
    Ok(row.is_some())
}

/// The user's tokens, newest first, revoked ones included (they show as revoked).
pub async fn list_for_user(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<Vec<ApiToken>> {
    api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .order((api_tokens::created_at.desc(), api_tokens::id))
        .select(ApiToken::as_select())
        .load(conn)
        .await
}

/// Revokes the user's token (keeping a revocation already made); `None` when the user has no
/// such token.
pub async fn revoke(conn: &mut AsyncPgConnection, user_id: UserId, id: ApiTokenId) -> QueryResult<Option<ApiToken>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Nullable, Timestamptz};
    diesel::update(api_tokens::table.filter(api_tokens::id.eq(id)).filter(api_tokens::user_id.eq(user_id)))
        .set(api_tokens::revoked_at.eq(sql::<Nullable<Timestamptz>>("COALESCE(revoked_at, now())")))
        .returning(ApiToken::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Revokes every token of the user not yet revoked (an account's deletion, before it clears the
/// account's messages); answers how many.
pub async fn revoke_all_of(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<usize> {
    diesel::update(api_tokens::table.filter(api_tokens::user_id.eq(user_id)).filter(api_tokens::revoked_at.is_null()))
        .set(
            api_tokens::revoked_at
                .eq(diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>>("now()")),
        )
        .execute(conn)
        .await
}
