//! Queries on `support_sessions`: the support inbox.

use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::{NewSupportSession, SupportSession, SupportStatus};
use crate::ids::{MessageId, RoomId, SessionId};
use crate::schema::{rooms, support_sessions};

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewSupportSession<'_>) -> QueryResult<SupportSession> {
    diesel::insert_into(support_sessions::table)
        .values(new)
        .returning(SupportSession::as_returning())
        .get_result(conn)
        .await
}

pub async fn find(conn: &mut AsyncPgConnection, id: SessionId) -> QueryResult<Option<SupportSession>> {
    support_sessions::table.find(id).select(SupportSession::as_select()).first(conn).await.optional()
}

pub async fn find_by_room(conn: &mut AsyncPgConnection, room_id: RoomId) -> QueryResult<Option<SupportSession>> {
    support_sessions::table
        .filter(support_sessions::room_id.eq(room_id))
        .select(SupportSession::as_select())
        .first(conn)
        .await
        .optional()
}

/// Closes an open session; `None` when it was not open (unknown or already closed).
pub async fn close(conn: &mut AsyncPgConnection, id: SessionId) -> QueryResult<Option<SupportSession>> {
    diesel::update(support_sessions::table.find(id).filter(support_sessions::status.eq(SupportStatus::Open)))
        .set((support_sessions::status.eq(SupportStatus::Closed), support_sessions::closed_at.eq(now)))
        .returning(SupportSession::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// The open sessions with their visitors' address and browser id (what a block matches).
pub async fn open_visitors(
    conn: &mut AsyncPgConnection,
) -> QueryResult<Vec<(SessionId, Option<String>, Option<String>)>> {
    support_sessions::table
        .filter(support_sessions::status.eq(SupportStatus::Open))
        .select((support_sessions::id, support_sessions::visitor_address, support_sessions::visitor_browser_id))
        .load(conn)
        .await
}

/// Notes the first answer by staff in the session of this room (later answers change nothing).
pub async fn record_first_response(conn: &mut AsyncPgConnection, room_id: RoomId) -> QueryResult<usize> {
    diesel::update(
        support_sessions::table
            .filter(support_sessions::room_id.eq(room_id))
            .filter(support_sessions::first_response_at.is_null()),
    )
    .set(support_sessions::first_response_at.eq(now))
    .execute(conn)
    .await
}

/// The rooms of open sessions: what a staff connection attaches to.
/// The rooms of the open sessions, most recent activity first, at most `limit`.
pub async fn open_room_ids(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<RoomId>> {
    support_sessions::table
        .inner_join(rooms::table)
        .filter(support_sessions::status.eq(SupportStatus::Open))
        .order((rooms::last_activity_at.desc(), rooms::id))
        .limit(limit)
        .select(support_sessions::room_id)
        .load(conn)
        .await
}

/// Whether `room_id` is the room of an open session.
pub async fn is_open_room(conn: &mut AsyncPgConnection, room_id: RoomId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        support_sessions::table
            .filter(support_sessions::room_id.eq(room_id))
            .filter(support_sessions::status.eq(SupportStatus::Open)),
    ))
    .get_result(conn)
    .await
}

/// Moves staff's read marker of a session forward to `seq` (never back, never past the room's
/// last seq). `None` for an unknown session.
pub async fn mark_staff_read(conn: &mut AsyncPgConnection, id: SessionId, seq: i64) -> QueryResult<Option<StaffRead>> {
    diesel::sql_query(
        "UPDATE support_sessions s SET staff_read_seq = GREATEST(s.staff_read_seq, LEAST($2, r.last_seq)) \
         FROM rooms r WHERE r.id = s.room_id AND s.id = $1 \
         RETURNING s.room_id, s.staff_read_seq, s.status = 'open' AS open",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<BigInt, _>(seq)
    .get_result::<StaffRead>(conn)
    .await
    .optional()
}

/// Staff's read marker of a session as moved, and whether the session is open (as of the update,
/// which a close's update of the same row waits for or is seen by).
#[derive(Debug, QueryableByName)]
pub struct StaffRead {
    #[diesel(sql_type = SqlUuid)]
    pub room_id: RoomId,
    #[diesel(sql_type = BigInt)]
    pub staff_read_seq: i64,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub open: bool,
}

/// One row of the inbox.
#[derive(Debug, QueryableByName)]
pub struct InboxRow {
    #[diesel(embed)]
    pub session: SupportSession,
    /// The visitor's messages since staff last wrote in the room (all of them before the first
    /// answer), deleted ones left out: what is waiting for an answer. A bot's message (the
    /// assistant) is not an answer: the visitor may still need a person.
    #[diesel(sql_type = BigInt)]
    pub unread_count: i64,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub last_message_id: Option<MessageId>,
}

/// Sessions, optionally of one status (or just the session `only`), most recent activity first,
/// with their unanswered counts and the ids of their latest messages; `limit` rows after
/// skipping `offset`.
pub async fn inbox(
    conn: &mut AsyncPgConnection,
    status: Option<&str>,
    only: Option<SessionId>,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<InboxRow>> {
    diesel::sql_query(
        "SELECT s.id, s.room_id, s.guest_id, s.visitor_name, s.visitor_email, s.status, s.created_at, \
                s.first_response_at, s.closed_at, s.staff_read_seq, s.visitor_page_url, \
                s.visitor_user_agent, s.visitor_language, s.visitor_time_zone, \
                s.visitor_address, s.visitor_browser_id, \
                (SELECT count(*) FROM messages u \
                  WHERE u.room_id = s.room_id AND u.sender_id = s.guest_id AND u.deleted_at IS NULL \
                    AND u.seq > GREATEST(s.staff_read_seq, \
                                         COALESCE((SELECT max(a.seq) FROM messages a \
                                                   WHERE a.room_id = s.room_id \
                                                     AND a.sender_id IS DISTINCT FROM s.guest_id \
                                                     AND NOT EXISTS (SELECT 1 FROM users b \
                                                                     WHERE b.id = a.sender_id AND b.is_bot)), 0))) \
                  AS unread_count, \
                (SELECT l.id FROM messages l WHERE l.room_id = s.room_id ORDER BY l.seq DESC LIMIT 1) \
                  AS last_message_id \
         FROM support_sessions s JOIN rooms r ON r.id = s.room_id \
         WHERE ($1::text IS NULL OR s.status = $1) AND ($4::uuid IS NULL OR s.id = $4) \
         ORDER BY r.last_activity_at DESC, s.id \
         LIMIT $2 OFFSET $3",
    )
    .bind::<Nullable<Text>, _>(status)
    .bind::<BigInt, _>(limit)
    .bind::<BigInt, _>(offset)
    .bind::<Nullable<SqlUuid>, _>(only)
    .load(conn)
    .await
}
