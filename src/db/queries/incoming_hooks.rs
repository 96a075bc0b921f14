//! Queries on `incoming_webhooks`.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::{IncomingHook, NewIncomingHook, User};
use crate::ids::RoomId;
use crate::schema::{incoming_webhooks, users};

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewIncomingHook<'_>) -> QueryResult<IncomingHook> {
    diesel::insert_into(incoming_webhooks::table)
        .values(new)
        .returning(IncomingHook::as_returning())
        .get_result(conn)
        .await
}

/// The hook with this token hash and its bot account, in one read.
pub async fn find_by_hash(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<Option<(IncomingHook, User)>> {
    incoming_webhooks::table
        .inner_join(users::table.on(users::id.eq(incoming_webhooks::bot_id)))
        .filter(incoming_webhooks::token_hash.eq(hash))
        .select((IncomingHook::as_select(), User::as_select()))
        .first(conn)
        .await
        .optional()
}

/// A room's hooks with their bots, oldest first.
pub async fn list_for_room(conn: &mut AsyncPgConnection, room_id: RoomId) -> QueryResult<Vec<(IncomingHook, User)>> {
    incoming_webhooks::table
        .inner_join(users::table.on(users::id.eq(incoming_webhooks::bot_id)))
        .filter(incoming_webhooks::room_id.eq(room_id))
        .order((incoming_webhooks::created_at, incoming_webhooks::id))
        .select((IncomingHook::as_select(), User::as_select()))
        .load(conn)
        .await
}

/// How many incoming webhooks `room_id` has.
pub async fn count_for_room(conn: &mut AsyncPgConnection, room_id: RoomId) -> QueryResult<i64> {
    incoming_webhooks::table.filter(incoming_webhooks::room_id.eq(room_id)).count().get_result(conn).await
}

pub async fn delete(conn: &mut AsyncPgConnection, room_id: RoomId, id: Uuid) -> QueryResult<usize> {
    diesel::delete(
        incoming_webhooks::table.filter(incoming_webhooks::id.eq(id)).filter(incoming_webhooks::room_id.eq(room_id)),
    )
    .execute(conn)
    .await
}
