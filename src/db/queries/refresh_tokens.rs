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
