//! Queries of the retention job (`service::retention`): each deletes at most one batch and says
//! how much it deleted, so the job can loop until a batch comes back short. The ranges they scan
//! have indexes (migration `2026-12-01-000400_retention`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::{RoomId, UserId};
use crate::schema::users;

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Tries the session-level advisory lock `key` without waiting: true when this session now holds
/// it. It is released by [`unlock`] or when the session ends (a process that dies mid-pass).
pub async fn try_lock(conn: &mut AsyncPgConnection, key: i64) -> QueryResult<bool> {
    let row: Locked =
        diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked").bind::<BigInt, _>(key).get_result(conn).await?;
    Ok(row.locked)
}

pub async fn unlock(conn: &mut AsyncPgConnection, key: i64) -> QueryResult<bool> {
    let row: Locked =
        diesel::sql_query("SELECT pg_advisory_unlock($1) AS locked").bind::<BigInt, _>(key).get_result(conn).await?;
    Ok(row.locked)
}

/// Deletes up to `limit` refresh tokens that were spent, revoked or expired (the first of the
/// three, which the `refresh_tokens_dead_idx` expression index orders) before `cutoff`.
pub async fn delete_dead_refresh_tokens(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens \
         WHERE LEAST(expires_at, spent_at, revoked_at) < $1 LIMIT $2)",
    )
    .bind::<Timestamptz, _>(cutoff)
    .bind::<BigInt, _>(limit)
    .execute(conn)
    .await
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = SqlUuid)]
    id: UserId,
}

/// Up to `limit` guests with no sign of life since `cutoff`: created before it, not seen (a
/// connection) since, and no message or other change in any of their support rooms since.
pub async fn inactive_guests(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<UserId>> {
    let rows: Vec<Id> = diesel::sql_query(
        "SELECT u.id FROM users u \
         WHERE u.role = 'guest' AND u.created_at < $1 \
           AND (u.last_seen_at IS NULL OR u.last_seen_at < $1) \
           AND NOT EXISTS (SELECT 1 FROM support_sessions s JOIN rooms r ON r.id = s.room_id \
                           WHERE s.guest_id = u.id AND r.last_activity_at >= $1) \
         ORDER BY u.created_at LIMIT $2",
    )
    .bind::<Timestamptz, _>(cutoff)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// The guests of up to `limit` support sessions closed before `cutoff`.
pub async fn guests_of_closed_sessions(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<UserId>> {
    let rows: Vec<Id> = diesel::sql_query(
        "SELECT guest_id AS id FROM support_sessions \
         WHERE status = 'closed' AND closed_at < $1 ORDER BY closed_at LIMIT $2",
    )
    .bind::<Timestamptz, _>(cutoff)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

#[derive(QueryableByName)]
struct RoomRow {
    #[diesel(sql_type = SqlUuid)]
    id: RoomId,
}

/// Locks the support rooms of these guests as their deletion will (`FOR UPDATE`), returning their
/// ids for [`delete_rooms`]: what goes with them can be recorded first, and nothing is added to
/// them meanwhile.
pub async fn lock_support_rooms_of(conn: &mut AsyncPgConnection, guests: &[UserId]) -> QueryResult<Vec<RoomId>> {
    let rows: Vec<RoomRow> = diesel::sql_query(
        "SELECT id FROM rooms WHERE kind = 'support' \
         AND id IN (SELECT room_id FROM support_sessions WHERE guest_id = ANY($1)) ORDER BY id FOR UPDATE",
    )
    .bind::<Array<SqlUuid>, _>(guests)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Deletes these rooms (their sessions, messages and memberships go with them). Run before
/// [`delete_guests`], which would cut the link from a guest to its support rooms.
pub async fn delete_rooms(conn: &mut AsyncPgConnection, rooms: &[RoomId]) -> QueryResult<usize> {
    diesel::sql_query("DELETE FROM rooms WHERE id = ANY($1)").bind::<Array<SqlUuid>, _>(rooms).execute(conn).await
}

/// Deletes these accounts if they are guests; the rest of their rows follow by foreign key.
pub async fn delete_guests(conn: &mut AsyncPgConnection, guests: &[UserId]) -> QueryResult<usize> {
    diesel::delete(users::table.filter(users::id.eq_any(guests)).filter(users::role.eq("guest"))).execute(conn).await
}
