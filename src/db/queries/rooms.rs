//! Queries on `rooms` and `room_members`.

use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Uuid as SqlUuid};

use crate::db::prepared::{Param, Prepared};
use crate::ids::{MessageId, RoomId, Seq, UserId};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::{MemberRole, NewRoom, NewRoomMember, Room, RoomChanges, RoomMember, SupportStatus, User};
use crate::schema::{room_members, rooms, users};

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewRoom<'_>) -> QueryResult<Room> {
    diesel::insert_into(rooms::table).values(new).returning(Room::as_returning()).get_result(conn).await
}

pub async fn find(conn: &mut AsyncPgConnection, id: RoomId) -> QueryResult<Option<Room>> {
    rooms::table.find(id).select(Room::as_select()).first(conn).await.optional()
}

pub async fn find_direct(conn: &mut AsyncPgConnection, key: &str) -> QueryResult<Option<Room>> {
    // Kept (in a transaction) until it ends: a deletion of the room committing meanwhile is waited
    // for and the room not found, rather than found and then gone when members are added to it.
    rooms::table
        .filter(rooms::direct_key.eq(key))
        .select(Room::as_select())
        .for_key_share()
        .first(conn)
        .await
        .optional()
}

/// Locks the direct room with `key`, if there is one, as [`lock`] does: a block takes it, so that
/// a write to the room checked before the block committed lands before it or is refused
/// (`service::messages`).
pub async fn lock_direct(conn: &mut AsyncPgConnection, key: &str) -> QueryResult<()> {
    rooms::table
        .filter(rooms::direct_key.eq(key))
        .select(rooms::id)
        .for_no_key_update()
        .load::<Uuid>(conn)
        .await
        .map(drop)
}

/// The room and the user's membership in it, in one round trip: what every authorisation needs.
pub async fn find_with_membership(
    conn: &mut AsyncPgConnection,
    room_id: RoomId,
    user_id: UserId,
) -> QueryResult<Option<(Room, Option<RoomMember>)>> {
    rooms::table
        .left_join(room_members::table.on(room_members::room_id.eq(rooms::id).and(room_members::user_id.eq(user_id))))
        .filter(rooms::id.eq(room_id))
        .select((Room::as_select(), Option::<RoomMember>::as_select()))
        .first(conn)
        .await
        .optional()
}

pub async fn update(conn: &mut AsyncPgConnection, id: RoomId, changes: &RoomChanges) -> QueryResult<Room> {
    diesel::update(rooms::table.find(id)).set(changes).returning(Room::as_returning()).get_result(conn).await
}

pub async fn delete(conn: &mut AsyncPgConnection, id: RoomId) -> QueryResult<usize> {
    diesel::delete(rooms::table.find(id)).execute(conn).await
}

/// Locks the room row as its deletion will (`FOR UPDATE`): nothing can be added that points at it
/// (a foreign key's check waits) until the deletion commits.
pub async fn lock_for_delete(conn: &mut AsyncPgConnection, id: RoomId) -> QueryResult<()> {
    rooms::table.find(id).select(rooms::id).for_update().load::<Uuid>(conn).await?;
    Ok(())
}

/// Locks the room row until the transaction ends. Every change to a room's history takes this
/// lock before any other (the send CTE takes it in its first step), so concurrent changes queue
/// on the room instead of deadlocking on each other's message and reaction rows. Returns whether
/// the room exists.
pub async fn lock(conn: &mut AsyncPgConnection, id: RoomId) -> QueryResult<bool> {
    rooms::table
        .find(id)
        .select(rooms::id)
        .for_no_key_update()
        .first::<Uuid>(conn)
        .await
        .optional()
        .map(|r| r.is_some())
}

/// Locks, in id order, the rooms an account's deletion changes: those it created (the foreign key
/// clears their `created_by`) and those it owns (handed on). Taken before the account's row, so
/// the deletion keeps the order every other transaction takes a room and an account in, room
/// first (a send, a hook's creation, a room's deletion): one of those holding such a room and
/// waiting for the account's row would otherwise wait for a deletion waiting for it.
pub async fn lock_changed_by_deleting(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<()> {
    diesel::sql_query(
        "SELECT id FROM rooms WHERE id IN (SELECT id FROM rooms WHERE created_by = $1 \
           UNION SELECT room_id FROM room_members WHERE user_id = $1 AND role = 'owner') \
         ORDER BY id FOR NO KEY UPDATE",
    )
    .bind::<SqlUuid, _>(user_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks activity (a join): GET /rooms sorts by it.
pub async fn touch(conn: &mut AsyncPgConnection, id: RoomId) -> QueryResult<usize> {
    diesel::update(rooms::table.find(id)).set(rooms::last_activity_at.eq(now)).execute(conn).await
}

/// Adds members, skipping those already in; returns the user ids actually added.
pub async fn add_members(conn: &mut AsyncPgConnection, new: &[NewRoomMember]) -> QueryResult<Vec<UserId>> {
    diesel::insert_into(room_members::table)
        .values(new)
        .on_conflict_do_nothing()
        .returning(room_members::user_id)
        .get_results(conn)
        .await
}

pub async fn remove_member(conn: &mut AsyncPgConnection, room_id: RoomId, user_id: UserId) -> QueryResult<usize> {
    diesel::delete(room_members::table.find((room_id, user_id))).execute(conn).await
}

pub async fn set_member_role(
    conn: &mut AsyncPgConnection,
    room_id: RoomId,
    user_id: UserId,
    role: MemberRole,
) -> QueryResult<usize> {
    diesel::update(room_members::table.find((room_id, user_id))).set(room_members::role.eq(role)).execute(conn).await
}

/// Members with their accounts, longest-standing first.
pub async fn members(conn: &mut AsyncPgConnection, room_id: RoomId) -> QueryResult<Vec<(RoomMember, User)>> {
    room_members::table
        .inner_join(users::table)
        .filter(room_members::room_id.eq(room_id))
        // Within one joining moment (a room's creation), owner before moderators before members:
        // the role names happen to sort that way descending.
        .order((room_members::joined_at, room_members::role.desc(), users::username))
        .select((RoomMember::as_select(), User::as_select()))
        .load(conn)
        .await
}

/// The rooms `user_id` is a member of, with the role held in each, the memberships locked until
/// the transaction ends. For an account's deletion: a locking read waits for a change under way
/// (a hand-over of a room to the account) and returns the role as committed, where a plain read
/// would see the account as a member still and leave the room it is handed to without an owner.
pub async fn lock_memberships_of(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
) -> QueryResult<Vec<(RoomId, MemberRole)>> {
    room_members::table
        .filter(room_members::user_id.eq(user_id))
        .select((room_members::room_id, room_members::role))
        .for_no_key_update()
        .load(conn)
        .await
}

/// The rooms `user_id` is a member of with the membership, oldest membership first.
pub async fn rooms_of(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<Vec<(RoomMember, Room)>> {
    room_members::table
        .inner_join(rooms::table)
        .filter(room_members::user_id.eq(user_id))
        .order((room_members::joined_at, room_members::room_id))
        .select((RoomMember::as_select(), Room::as_select()))
        .load(conn)
        .await
}

pub async fn member_ids(conn: &mut AsyncPgConnection, room_id: RoomId) -> QueryResult<Vec<UserId>> {
    room_members::table.filter(room_members::room_id.eq(room_id)).select(room_members::user_id).load(conn).await
}

/// Moves the read marker forward only (a late, lower `read` must not mark messages unread
/// again), never past the room's history; returns the marker as it now stands.
pub async fn advance_read_marker(
    conn: &mut AsyncPgConnection,
    room_id: RoomId,
    user_id: UserId,
    seq: Seq,
) -> QueryResult<Option<Seq>> {
    #[derive(QueryableByName)]
    struct Marker {
        #[diesel(sql_type = BigInt)]
        last_read_seq: Seq,
    }
    const SQL: &[&str] = &[
        "UPDATE room_members m SET last_read_seq = GREATEST(m.last_read_seq, LEAST(",
        ", r.last_seq)) FROM rooms r WHERE r.id = m.room_id AND m.room_id = ",
        " AND m.user_id = ",
        " RETURNING m.last_read_seq",
    ];
    Prepared::new(SQL, vec![Param::BigInt(seq.0), Param::Uuid(room_id.into()), Param::Uuid(user_id.into())])
        .get_result::<Marker>(conn)
        .await
        .optional()
        .map(|m| m.map(|m| m.last_read_seq))
}

/// Messages after the marker that others sent and that still stand.
pub async fn unread_count(
    conn: &mut AsyncPgConnection,
    room_id: RoomId,
    user_id: UserId,
    after_seq: Seq,
) -> QueryResult<i64> {
    use crate::schema::messages;
    messages::table
        .filter(messages::room_id.eq(room_id))
        .filter(messages::seq.gt(after_seq))
        .filter(messages::deleted_at.is_null())
        .filter(messages::sender_id.is_distinct_from(user_id))
        .count()
        .get_result(conn)
        .await
}

/// One row of the caller's room list.
#[derive(Debug, QueryableByName)]
pub struct RoomListRow {
    #[diesel(embed)]
    pub room: Room,
    #[diesel(sql_type = Text)]
    pub my_role: MemberRole,
    #[diesel(sql_type = BigInt)]
    pub last_read_seq: Seq,
    #[diesel(sql_type = BigInt)]
    pub unread_count: i64,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub last_message_id: Option<MessageId>,
    /// For a support room, its session's status, `closed` without one, as `RoomAccess` reads it
    /// (`None` for other rooms).
    #[diesel(sql_type = Nullable<Text>)]
    pub support_status: Option<SupportStatus>,
}

/// The user's rooms, most recent activity first, each with role, unread count and the id of its
/// latest message: one statement whatever the number of rooms (the last messages themselves are
/// fetched by id in one more).
pub async fn list_for_user(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<Vec<RoomListRow>> {
    const SQL: &[&str] = &[
        "SELECT r.id, r.kind, r.name, r.topic, r.is_public, r.created_by, r.created_at, r.last_seq, \
                r.last_activity_at, r.direct_key, \
                m.role AS my_role, m.last_read_seq, \
                (SELECT count(*) FROM messages u \
                  WHERE u.room_id = r.id AND u.seq > m.last_read_seq \
                    AND u.deleted_at IS NULL AND u.sender_id IS DISTINCT FROM m.user_id) AS unread_count, \
                (SELECT l.id FROM messages l WHERE l.room_id = r.id ORDER BY l.seq DESC LIMIT 1) \
                  AS last_message_id, \
                CASE WHEN r.kind = 'support' \
                  THEN coalesce((SELECT s.status FROM support_sessions s WHERE s.room_id = r.id), 'closed') \
                  END AS support_status \
         FROM room_members m JOIN rooms r ON r.id = m.room_id \
         WHERE m.user_id = ",
        " ORDER BY r.last_activity_at DESC, r.id",
    ];
    Prepared::new(SQL, vec![Param::Uuid(user_id.into())]).load(conn).await
}

pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[RoomId]) -> QueryResult<Vec<Room>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    rooms::table.filter(rooms::id.eq_any(ids)).select(Room::as_select()).load(conn).await
}

/// One public room of the directory, with its size and whether the caller is in it.
#[derive(Debug, QueryableByName)]
pub struct DirectoryRow {
    #[diesel(embed)]
    pub room: Room,
    #[diesel(sql_type = BigInt)]
    pub member_count: i64,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub joined: bool,
}

/// The public group rooms whose name or topic contains `pattern` (a LIKE pattern, already
/// escaped; `None`: all), biggest first, then most recently active: one page, and how many match
/// in all (two statements, over the partial index `rooms_public_idx`).
pub async fn directory(
    conn: &mut AsyncPgConnection,
    caller: UserId,
    pattern: Option<&str>,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<DirectoryRow>, i64)> {
    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = BigInt)]
        total: i64,
    }
    const MATCHES: &str =
        "r.kind = 'group' AND r.is_public AND ($1::text IS NULL OR r.name ILIKE $1 OR r.topic ILIKE $1)";
    let total = diesel::sql_query(format!("SELECT count(*) AS total FROM rooms r WHERE {MATCHES}"))
        .bind::<Nullable<Text>, _>(pattern)
        .get_result::<Total>(conn)
        .await?
        .total;
    let rows = diesel::sql_query(format!(
        "SELECT r.id, r.kind, r.name, r.topic, r.is_public, r.created_by, r.created_at, r.last_seq, \
                r.last_activity_at, r.direct_key, \
                (SELECT count(*) FROM room_members m WHERE m.room_id = r.id) AS member_count, \
                EXISTS (SELECT 1 FROM room_members m WHERE m.room_id = r.id AND m.user_id = $2) AS joined \
         FROM rooms r WHERE {MATCHES} \
         ORDER BY member_count DESC, r.last_activity_at DESC, r.id LIMIT $3 OFFSET $4"
    ))
    .bind::<Nullable<Text>, _>(pattern)
    .bind::<SqlUuid, _>(caller)
    .bind::<BigInt, _>(limit)
    .bind::<BigInt, _>(offset)
    .load(conn)
    .await?;
    Ok((rows, total))
}
