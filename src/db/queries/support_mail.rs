//! Queries for the mails around support chats (`service::support_mail`): the pending reply mail
//! of a session, the "new chat" mail to staff, and the links those mails carry
//! (`support_mail_tokens`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Bytea, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::SupportSession;
use crate::ids::{RoomId, SessionId, UserId};

/// Staff answered in the session of `room_id`: its reply mail comes due `delay_secs` from now,
/// unless one is due already (a burst of answers makes one mail). Only for an open session whose
/// visitor gave an address and did not unsubscribe.
pub async fn schedule_reply(conn: &mut AsyncPgConnection, room_id: RoomId, delay_secs: u64) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE support_sessions SET reply_mail_due_at = now() + make_interval(secs => $2) \
         WHERE room_id = $1 AND status = 'open' AND visitor_email IS NOT NULL AND NOT reply_mail_opt_out \
           AND reply_mail_due_at IS NULL",
    )
    .bind::<SqlUuid, _>(room_id)
    .bind::<diesel::sql_types::Double, _>(delay_secs as f64)
    .execute(conn)
    .await
}

#[derive(Debug, QueryableByName)]
struct Id {
    #[diesel(sql_type = SqlUuid)]
    id: SessionId,
}

/// Sessions whose reply mail is due, oldest first.
pub async fn due_replies(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<SessionId>> {
    let rows: Vec<Id> = diesel::sql_query(
        "SELECT id FROM support_sessions WHERE reply_mail_due_at <= now() ORDER BY reply_mail_due_at LIMIT $1",
    )
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// A session whose reply mail is due, row-locked; `None` when another worker has it or it is no
/// longer due.
#[derive(Debug, QueryableByName)]
pub struct DueReply {
    #[diesel(embed)]
    pub session: SupportSession,
    #[diesel(sql_type = BigInt)]
    pub reply_mailed_seq: i64,
    #[diesel(sql_type = Bool)]
    pub reply_mail_opt_out: bool,
    /// The visitor's read marker in the room.
    #[diesel(sql_type = BigInt)]
    pub visitor_read_seq: i64,
}

pub async fn claim_due_reply(conn: &mut AsyncPgConnection, id: SessionId) -> QueryResult<Option<DueReply>> {
    diesel::sql_query(
        "SELECT s.*, COALESCE((SELECT m.last_read_seq FROM room_members m \
                               WHERE m.room_id = s.room_id AND m.user_id = s.guest_id), 0) AS visitor_read_seq \
         FROM support_sessions s WHERE s.id = $1 AND s.reply_mail_due_at <= now() \
         FOR UPDATE OF s SKIP LOCKED",
    )
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
    .optional()
}

/// Ends the pending reply mail of a session (sent, or nothing to send); `mailed_seq` moves the
/// mark of what was mailed forward.
pub async fn reply_done(conn: &mut AsyncPgConnection, id: SessionId, mailed_seq: Option<i64>) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE support_sessions SET reply_mail_due_at = NULL, \
                reply_mailed_seq = GREATEST(reply_mailed_seq, COALESCE($2, 0)) WHERE id = $1",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Nullable<BigInt>, _>(mailed_seq)
    .execute(conn)
    .await
}

/// A staff answer for the reply mail.
#[derive(Debug, QueryableByName)]
pub struct StaffAnswer {
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub body: String,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub sender_name: String,
    #[diesel(sql_type = Array<Text>)]
    pub files: Vec<String>,
}

/// Staff's answers in the room after `after_seq` (not deleted), oldest first, at most `limit`.
pub async fn staff_answers_after(
    conn: &mut AsyncPgConnection,
    room_id: RoomId,
    after_seq: i64,
    limit: i64,
) -> QueryResult<Vec<StaffAnswer>> {
    diesel::sql_query(
        "SELECT m.seq, m.body, m.created_at, u.display_name AS sender_name, \
                ARRAY(SELECT a.name FROM attachments a WHERE a.message_id = m.id ORDER BY a.created_at) AS files \
         FROM messages m JOIN users u ON u.id = m.sender_id \
         WHERE m.room_id = $1 AND m.seq > $2 AND m.deleted_at IS NULL AND u.role IN ('admin', 'moderator') \
         ORDER BY m.seq LIMIT $3",
    )
    .bind::<SqlUuid, _>(room_id)
    .bind::<BigInt, _>(after_seq)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// Stores one link token of a session.
pub async fn insert_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    session_id: SessionId,
    purpose: &str,
    expires_at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO support_mail_tokens (token_hash, session_id, purpose, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind::<Bytea, _>(hash)
    .bind::<SqlUuid, _>(session_id)
    .bind::<Text, _>(purpose)
    .bind::<Timestamptz, _>(expires_at)
    .execute(conn)
    .await
}

/// The session a live token (not expired, not revoked) of `purpose` belongs to.
pub async fn session_of_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    purpose: &str,
) -> QueryResult<Option<SupportSession>> {
    find_session_of_token(conn, hash, purpose, "").await
}

/// [`session_of_token`], holding the token's row `FOR SHARE` until the transaction ends: a
/// revocation of the link (`revoke_resume_tokens`, as the session closes) waits for the caller's
/// commit, and one committed first makes this find nothing.
pub async fn lock_session_of_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    purpose: &str,
) -> QueryResult<Option<SupportSession>> {
    find_session_of_token(conn, hash, purpose, " FOR SHARE OF t").await
}

async fn find_session_of_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    purpose: &str,
    locking: &str,
) -> QueryResult<Option<SupportSession>> {
    diesel::sql_query(format!(
        "SELECT s.* FROM support_mail_tokens t JOIN support_sessions s ON s.id = t.session_id \
         WHERE t.token_hash = $1 AND t.purpose = $2 AND t.revoked_at IS NULL AND t.expires_at > now(){locking}"
    ))
    .bind::<Bytea, _>(hash)
    .bind::<Text, _>(purpose)
    .get_result(conn)
    .await
    .optional()
}

/// Revokes the session's live resume links (the session closed).
pub async fn revoke_resume_tokens(conn: &mut AsyncPgConnection, session_id: SessionId) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE support_mail_tokens SET revoked_at = now() \
         WHERE session_id = $1 AND purpose = 'resume' AND revoked_at IS NULL",
    )
    .bind::<SqlUuid, _>(session_id)
    .execute(conn)
    .await
}

/// The visitor wants no more reply mails: any pending one is dropped too.
pub async fn opt_out(conn: &mut AsyncPgConnection, session_id: SessionId) -> QueryResult<usize> {
    diesel::sql_query("UPDATE support_sessions SET reply_mail_opt_out = true, reply_mail_due_at = NULL WHERE id = $1")
        .bind::<SqlUuid, _>(session_id)
        .execute(conn)
        .await
}

/// Marks a new session as wanting its "new chat" mail to staff.
pub async fn want_staff_mail(conn: &mut AsyncPgConnection, session_id: SessionId) -> QueryResult<usize> {
    diesel::sql_query("UPDATE support_sessions SET staff_mail_pending = true WHERE id = $1")
        .bind::<SqlUuid, _>(session_id)
        .execute(conn)
        .await
}

/// Drops the staff mails of sessions that never got a first message in a day, or closed.
pub async fn drop_stale_staff_mails(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE support_sessions SET staff_mail_pending = false \
         WHERE staff_mail_pending AND (status <> 'open' OR created_at < now() - interval '1 day')",
    )
    .execute(conn)
    .await
}

/// A new chat whose staff mail can go: its visitor has written.
#[derive(Debug, QueryableByName)]
pub struct NewChat {
    #[diesel(sql_type = SqlUuid)]
    pub id: SessionId,
    #[diesel(sql_type = SqlUuid)]
    pub room_id: RoomId,
    #[diesel(sql_type = Text)]
    pub visitor_name: String,
    #[diesel(sql_type = Text)]
    pub first_message: String,
}

/// The next pending staff mail whose visitor has written, row-locked (one worker sends it).
pub async fn claim_new_chat(conn: &mut AsyncPgConnection) -> QueryResult<Option<NewChat>> {
    diesel::sql_query(
        "SELECT s.id, s.room_id, s.visitor_name, first.body AS first_message \
         FROM support_sessions s \
         JOIN LATERAL (SELECT m.body FROM messages m WHERE m.room_id = s.room_id AND m.sender_id = s.guest_id \
                       AND m.deleted_at IS NULL ORDER BY m.seq LIMIT 1) first ON true \
         WHERE s.staff_mail_pending AND s.status = 'open' \
         ORDER BY s.created_at LIMIT 1 FOR UPDATE OF s SKIP LOCKED",
    )
    .get_result(conn)
    .await
    .optional()
}

pub async fn staff_mail_done(conn: &mut AsyncPgConnection, session_id: SessionId) -> QueryResult<usize> {
    diesel::sql_query("UPDATE support_sessions SET staff_mail_pending = false WHERE id = $1")
        .bind::<SqlUuid, _>(session_id)
        .execute(conn)
        .await
}

/// A staff member who can get mail.
#[derive(Debug, QueryableByName)]
pub struct StaffRecipient {
    #[diesel(sql_type = SqlUuid)]
    pub id: UserId,
    #[diesel(sql_type = Text)]
    pub username: String,
    #[diesel(sql_type = Text)]
    pub email: String,
    #[diesel(sql_type = Text)]
    pub language: String,
}

/// The staff who can answer support chats (`staff_who_can_answer!`; `two_factor` is
/// `mfa.require_for_staff`) with an address, not bots and not being deleted, with the language of
/// their mails.
pub async fn staff_recipients(conn: &mut AsyncPgConnection, two_factor: bool) -> QueryResult<Vec<StaffRecipient>> {
    diesel::sql_query(concat!(
        "SELECT u.id, u.username, u.email, COALESCE(p.language, 'en') AS language \
         FROM users u LEFT JOIN user_preferences p ON p.user_id = u.id \
         WHERE u.deleting_since IS NULL AND u.email IS NOT NULL AND NOT u.is_bot AND ",
        crate::staff_who_can_answer!("$1"),
        " ORDER BY u.username LIMIT 1000"
    ))
    .bind::<diesel::sql_types::Bool, _>(two_factor)
    .load(conn)
    .await
}
