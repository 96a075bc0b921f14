//! Queries on `attachments`. The blob sweep and uploads coordinate through an advisory lock per
//! blob key ([`lock_blobs_shared`], [`try_lock_blob`]): an upload stores its blobs first, then holds
//! their locks shared while it inserts the row that names them, the sweep one blob's exclusively
//! while it checks that nothing names it and deletes it. So the sweep never deletes a blob a
//! committed row names, an upload waits for the sweep only when it names the very blob being
//! deleted, and before its commit, holding the lock, the upload finds such a blob gone and
//! stores it again (`service::attachments::restore_swept`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::{Attachment, NewAttachment};
use crate::ids::{AttachmentId, MessageId, RoomId, UserId};
use crate::schema::attachments;

/// The first key of the two-key advisory locks on one blob ("pl" "ab"); the second is the blob
/// key's hash. Keys that hash alike merely wait for each other.
pub const BLOB_LOCK_CLASS: i32 = 0x706c_6162;

/// Takes the locks on blobs `keys` shared until the end of the transaction (uploads, avatars):
/// shared with other uploads of the same content, exclusive of the sweep deleting that blob.
pub async fn lock_blobs_shared(conn: &mut AsyncPgConnection, keys: &[&str]) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock_shared($1, hashtext(k)) FROM unnest($2::text[]) k")
        .bind::<diesel::sql_types::Integer, _>(BLOB_LOCK_CLASS)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(keys)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Tries the lock on blob `key` exclusively until the end of the transaction, without waiting
/// (the sweep leaves a blob being named to its next pass rather than stall the upload).
pub async fn try_lock_blob(conn: &mut AsyncPgConnection, key: &str) -> QueryResult<bool> {
    let row: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS locked")
        .bind::<diesel::sql_types::Integer, _>(BLOB_LOCK_CLASS)
        .bind::<diesel::sql_types::Text, _>(key)
        .get_result(conn)
        .await?;
    Ok(row.locked)
}

/// The first key of the two-key advisory locks on one owner's uploads ("pl" "au"); the second is
/// the owner id's hash. Two-key locks are a key space apart from the one-key ones above.
pub const OWNER_LOCK_CLASS: i32 = 0x706c_6175;

/// Takes the lock on `owner`'s uploads until the end of the transaction: uploads of one owner
/// sum their quota and insert one after the other, so two at once cannot both pass it. Owners
/// whose ids hash alike merely wait for each other.
pub async fn lock_owner(conn: &mut AsyncPgConnection, owner: UserId) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
        .bind::<diesel::sql_types::Integer, _>(OWNER_LOCK_CLASS)
        .bind::<diesel::sql_types::Uuid, _>(owner)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewAttachment<'_>) -> QueryResult<Attachment> {
    diesel::insert_into(attachments::table).values(new).returning(Attachment::as_returning()).get_result(conn).await
}

pub async fn find(conn: &mut AsyncPgConnection, id: AttachmentId) -> QueryResult<Option<Attachment>> {
    attachments::table.find(id).select(Attachment::as_select()).first(conn).await.optional()
}

/// Bytes the user holds in attachments, sent or not.
pub async fn bytes_of_owner(conn: &mut AsyncPgConnection, owner: UserId) -> QueryResult<i64> {
    attachments::table
        .filter(attachments::owner_id.eq(owner))
        .select(diesel::dsl::sql::<BigInt>("COALESCE(SUM(size_bytes), 0)::bigint"))
        .first(conn)
        .await
}

/// Links the sender's unused uploads `ids` to the new message: the rows linked, which are fewer
/// than `ids` when one is someone else's, already used or unknown (the caller then rolls back).
pub async fn link_to_message(
    conn: &mut AsyncPgConnection,
    ids: &[AttachmentId],
    owner: UserId,
    message_id: MessageId,
    room_id: RoomId,
) -> QueryResult<Vec<Attachment>> {
    diesel::update(
        attachments::table
            .filter(attachments::id.eq_any(ids))
            .filter(attachments::owner_id.eq(owner))
            .filter(attachments::message_id.is_null()),
    )
    .set((attachments::message_id.eq(message_id), attachments::room_id.eq(room_id)))
    .returning(Attachment::as_returning())
    .get_results(conn)
    .await
}

/// The attachments of these messages, in upload order within each.
pub async fn of_messages(conn: &mut AsyncPgConnection, ids: &[MessageId]) -> QueryResult<Vec<Attachment>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    attachments::table
        .filter(attachments::message_id.eq_any(ids))
        .order((attachments::created_at.asc(), attachments::id.asc()))
        .select(Attachment::as_select())
        .load(conn)
        .await
}

/// Deletes a message's attachments (the message is being deleted); the sweep removes the bytes.
pub async fn delete_of_message(conn: &mut AsyncPgConnection, message_id: MessageId) -> QueryResult<usize> {
    diesel::delete(attachments::table.filter(attachments::message_id.eq(message_id))).execute(conn).await
}

/// Deletes up to `limit` uploads never sent and older than `cutoff`. An upload being attached to
/// a message at this moment is left to it: the rows a send holds are skipped, and the outer
/// condition is checked again on the row as committed (PostgreSQL re-checks only the outer
/// WHERE after waiting for a row, not the sub-select that chose it).
pub async fn delete_unsent_before(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM attachments WHERE message_id IS NULL AND id IN (SELECT id FROM attachments \
         WHERE message_id IS NULL AND created_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
    .bind::<BigInt, _>(limit)
    .execute(conn)
    .await
}

/// Which of these blob keys some row still names, as its file or its thumbnail.
pub async fn referenced(conn: &mut AsyncPgConnection, keys: &[String]) -> QueryResult<Vec<String>> {
    let mut live: Vec<String> = attachments::table
        .filter(attachments::sha256.eq_any(keys))
        .select(attachments::sha256)
        .distinct()
        .load(conn)
        .await?;
    let thumbs: Vec<Option<String>> = attachments::table
        .filter(attachments::thumbnail_sha256.eq_any(keys))
        .select(attachments::thumbnail_sha256)
        .distinct()
        .load(conn)
        .await?;
    live.extend(thumbs.into_iter().flatten());
    // Avatars live in the same store (`service::avatars`).
    live.extend(crate::db::queries::users::avatar_keys_in(conn, keys).await?);
    Ok(live)
}
