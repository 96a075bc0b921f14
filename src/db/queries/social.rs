//! Queries on `friend_requests`, `friendships` and `blocks`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::{Block, FriendRequest, User};
use crate::ids::{FriendRequestId, RoomId, UserId};
use crate::schema::{blocks, friend_requests, friendships, users};
use uuid::Uuid;

/// The advisory lock class of a pair of users' relationship ("plfp").
const PAIR_LOCK_CLASS: i32 = 0x706c_6670;

/// Serialises what changes the relationship of `a` and `b` (a request sent or accepted, a block)
/// until the transaction ends: each checks the other's result under it, so a request accepted
/// while a block between the two commits cannot make them friends across it.
pub async fn lock_pair(conn: &mut AsyncPgConnection, a: UserId, b: UserId) -> QueryResult<()> {
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock($1, hashtext(least($2::uuid, $3::uuid)::text || greatest($2::uuid, $3::uuid)::text))",
    )
    .bind::<diesel::sql_types::Integer, _>(PAIR_LOCK_CLASS)
    .bind::<diesel::sql_types::Uuid, _>(a)
    .bind::<diesel::sql_types::Uuid, _>(b)
    .execute(conn)
    .await?;
    Ok(())
}

/// [`lock_pair`] for `a` and each of `others`, taken in the order of the locks' keys, as every
/// request that takes several does, so two such requests never wait on each other. The outer
/// select calls the lock function row by row in the sorted subquery's order (nothing above it
/// joins or sorts again); were PostgreSQL ever to call them otherwise, two such requests could
/// deadlock, which it detects (one of them answered 503 `unavailable`), never a hang.
pub async fn lock_pairs(conn: &mut AsyncPgConnection, a: UserId, others: &[UserId]) -> QueryResult<()> {
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock($1, k) FROM (SELECT DISTINCT \
         hashtext(least($2::uuid, o)::text || greatest($2::uuid, o)::text) AS k \
         FROM unnest($3::uuid[]) AS o ORDER BY k) AS pairs",
    )
    .bind::<diesel::sql_types::Integer, _>(PAIR_LOCK_CLASS)
    .bind::<diesel::sql_types::Uuid, _>(a)
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(others)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn friends(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<Vec<(DateTime<Utc>, User)>> {
    friendships::table
        .inner_join(users::table.on(users::id.eq(friendships::friend_id)))
        .filter(friendships::user_id.eq(user_id))
        .order(users::username)
        .select((friendships::created_at, User::as_select()))
        .load(conn)
        .await
}

pub async fn are_friends(conn: &mut AsyncPgConnection, a: UserId, b: UserId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(friendships::table.find((a, b)))).get_result(conn).await
}

/// Both directions, so either side lists the other with one index scan.
pub async fn befriend(conn: &mut AsyncPgConnection, a: UserId, b: UserId) -> QueryResult<DateTime<Utc>> {
    let since: Vec<DateTime<Utc>> = diesel::insert_into(friendships::table)
        .values(&vec![
            (friendships::user_id.eq(a), friendships::friend_id.eq(b)),
            (friendships::user_id.eq(b), friendships::friend_id.eq(a)),
        ])
        .on_conflict_do_nothing()
        .returning(friendships::created_at)
        .get_results(conn)
        .await?;
    Ok(since.into_iter().next().unwrap_or_else(Utc::now))
}

/// Returns whether they were friends.
pub async fn unfriend(conn: &mut AsyncPgConnection, a: UserId, b: UserId) -> QueryResult<bool> {
    diesel::delete(
        friendships::table.filter(
            (friendships::user_id.eq(a).and(friendships::friend_id.eq(b)))
                .or(friendships::user_id.eq(b).and(friendships::friend_id.eq(a))),
        ),
    )
    .execute(conn)
    .await
    .map(|n| n > 0)
}

pub async fn insert_request(
    conn: &mut AsyncPgConnection,
    id: FriendRequestId,
    from: UserId,
    to: UserId,
) -> QueryResult<FriendRequest> {
    diesel::insert_into(friend_requests::table)
        .values((
            friend_requests::id.eq(id),
            friend_requests::from_user_id.eq(from),
            friend_requests::to_user_id.eq(to),
        ))
        .returning(FriendRequest::as_returning())
        .get_result(conn)
        .await
}

pub async fn find_request(conn: &mut AsyncPgConnection, id: FriendRequestId) -> QueryResult<Option<FriendRequest>> {
    friend_requests::table.find(id).select(FriendRequest::as_select()).first(conn).await.optional()
}

/// A pending request from `from` to `to`.
pub async fn request_from(
    conn: &mut AsyncPgConnection,
    from: UserId,
    to: UserId,
) -> QueryResult<Option<FriendRequest>> {
    friend_requests::table
        .filter(friend_requests::from_user_id.eq(from).and(friend_requests::to_user_id.eq(to)))
        .select(FriendRequest::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn delete_request(conn: &mut AsyncPgConnection, id: FriendRequestId) -> QueryResult<usize> {
    diesel::delete(friend_requests::table.find(id)).execute(conn).await
}

pub async fn delete_requests_between(conn: &mut AsyncPgConnection, a: UserId, b: UserId) -> QueryResult<usize> {
    diesel::delete(
        friend_requests::table.filter(
            (friend_requests::from_user_id.eq(a).and(friend_requests::to_user_id.eq(b)))
                .or(friend_requests::from_user_id.eq(b).and(friend_requests::to_user_id.eq(a))),
        ),
    )
    .execute(conn)
    .await
}

/// Requests addressed to `user_id`, with their senders, newest first.
pub async fn incoming(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<Vec<(FriendRequest, User)>> {
    friend_requests::table
        .inner_join(users::table.on(users::id.eq(friend_requests::from_user_id)))
        .filter(friend_requests::to_user_id.eq(user_id))
        .order(friend_requests::created_at.desc())
        .select((FriendRequest::as_select(), User::as_select()))
        .load(conn)
        .await
}

/// Requests `user_id` sent, with their recipients, newest first.
pub async fn outgoing(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<Vec<(FriendRequest, User)>> {
    friend_requests::table
        .inner_join(users::table.on(users::id.eq(friend_requests::to_user_id)))
        .filter(friend_requests::from_user_id.eq(user_id))
        .order(friend_requests::created_at.desc())
        .select((FriendRequest::as_select(), User::as_select()))
        .load(conn)
        .await
}

/// Returns the block, new or existing.
pub async fn block(conn: &mut AsyncPgConnection, blocker: UserId, blocked: UserId) -> QueryResult<Block> {
    diesel::insert_into(blocks::table)
        .values((blocks::blocker_id.eq(blocker), blocks::blocked_id.eq(blocked)))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    blocks::table.find((blocker, blocked)).select(Block::as_select()).first(conn).await
}

/// Returns whether there was such a block.
pub async fn unblock(conn: &mut AsyncPgConnection, blocker: UserId, blocked: UserId) -> QueryResult<bool> {
    diesel::delete(blocks::table.find((blocker, blocked))).execute(conn).await.map(|n| n > 0)
}

/// Whether either user blocks the other.
pub async fn blocked_either_way(conn: &mut AsyncPgConnection, a: UserId, b: UserId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        blocks::table.filter(
            (blocks::blocker_id.eq(a).and(blocks::blocked_id.eq(b)))
                .or(blocks::blocker_id.eq(b).and(blocks::blocked_id.eq(a))),
        ),
    ))
    .get_result(conn)
    .await
}

pub async fn blocks_of(conn: &mut AsyncPgConnection, blocker: UserId) -> QueryResult<Vec<(Block, User)>> {
    blocks::table
        .inner_join(users::table.on(users::id.eq(blocks::blocked_id)))
        .filter(blocks::blocker_id.eq(blocker))
        .order(blocks::created_at.desc())
        .select((Block::as_select(), User::as_select()))
        .load(conn)
        .await
}

/// Whether `blocker` blocks `blocked` (one direction).
pub async fn is_blocking(conn: &mut AsyncPgConnection, blocker: UserId, blocked: UserId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(blocks::table.find((blocker, blocked)))).get_result(conn).await
}

#[derive(Clone, QueryableByName)]
pub struct RoomsAndFriends {
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Uuid>)]
    pub rooms: Vec<RoomId>,
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Uuid>)]
    pub friends: Vec<UserId>,
}

/// An account with its room ids and friend ids.
#[derive(Clone, QueryableByName)]
pub struct UserWithRooms {
    #[diesel(embed)]
    pub user: User,
    #[diesel(embed)]
    pub both: RoomsAndFriends,
}

/// The accounts of `user_ids` that exist, each with its room ids and friend ids, in one statement:
/// what WebSocket upgrades read (`db::account_reads` reads the accounts of
/// concurrent upgrades together).
pub async fn users_with_rooms(conn: &mut AsyncPgConnection, user_ids: &[Uuid]) -> QueryResult<Vec<UserWithRooms>> {
    const SQL: &[&str] = &[
        "SELECT u.*, \
                COALESCE((SELECT array_agg(room_id) FROM room_members WHERE user_id = u.id), '{}') AS rooms, \
                COALESCE((SELECT array_agg(friend_id) FROM friendships WHERE user_id = u.id), '{}') AS friends \
         FROM users u WHERE u.id = ANY(",
        ")",
    ];
    crate::db::prepared::Prepared::new(SQL, vec![crate::db::prepared::Param::UuidArray(user_ids)]).load(conn).await
}

/// Those of `among` who block `blocked`: the users `blocked` may not put in a group.
pub async fn blockers_among(
    conn: &mut AsyncPgConnection,
    blocked: UserId,
    among: &[UserId],
) -> QueryResult<Vec<UserId>> {
    blocks::table
        .filter(blocks::blocked_id.eq(blocked).and(blocks::blocker_id.eq_any(among)))
        .select(blocks::blocker_id)
        .load(conn)
        .await
}

#[derive(QueryableByName)]
struct VisibleId {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: UserId,
}

/// Those of `ids` whose presence `viewer` may see: existing non-guests with no block between
/// the two either way, who are the viewer, or let everyone see it, or are the viewer's friends
/// or share a room with them; every one of them when `staff` (blocks still apply).
pub async fn presence_visible_to(
    conn: &mut AsyncPgConnection,
    viewer: UserId,
    staff: bool,
    ids: &[UserId],
) -> QueryResult<Vec<UserId>> {
    use diesel::sql_types::{Array, Bool, Uuid};
    let rows: Vec<VisibleId> = diesel::sql_query(
        "SELECT u.id FROM users u \
         WHERE u.id = ANY($1) AND u.role <> 'guest' \
           AND NOT EXISTS (SELECT 1 FROM blocks b \
                 WHERE (b.blocker_id = u.id AND b.blocked_id = $2) OR (b.blocker_id = $2 AND b.blocked_id = u.id)) \
           AND ($3 OR u.id = $2 OR u.presence_visibility = 'everyone' \
                OR EXISTS (SELECT 1 FROM friendships f WHERE f.user_id = $2 AND f.friend_id = u.id) \
                OR EXISTS (SELECT 1 FROM room_members mine JOIN room_members theirs ON theirs.room_id = mine.room_id \
                           WHERE mine.user_id = $2 AND theirs.user_id = u.id))",
    )
    .bind::<Array<Uuid>, _>(ids)
    .bind::<Uuid, _>(viewer)
    .bind::<Bool, _>(staff)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}
