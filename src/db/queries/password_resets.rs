//! Queries on `password_reset_tokens`.

use diesel::dsl::now;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::{NewPasswordResetToken, PasswordResetToken};
use crate::ids::UserId;
use crate::schema::password_reset_tokens;

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewPasswordResetToken<'_>) -> QueryResult<usize> {
    diesel::insert_into(password_reset_tokens::table).values(new).execute(conn).await
}

/// The token with this hash, row-locked so two confirmations of one link serialise and the second
/// sees it used.
pub async fn find_by_hash_for_update(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
) -> QueryResult<Option<PasswordResetToken>> {
    password_reset_tokens::table
        .filter(password_reset_tokens::token_hash.eq(hash))
        .select(PasswordResetToken::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Spends every unused token of the user: a completed reset, or a newer link, ends the older ones.
pub async fn spend_all_for_user(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<usize> {
    diesel::update(
        password_reset_tokens::table
            .filter(password_reset_tokens::user_id.eq(user_id))
            .filter(password_reset_tokens::used_at.is_null()),
    )
    .set(password_reset_tokens::used_at.eq(now))
    .execute(conn)
    .await
}
