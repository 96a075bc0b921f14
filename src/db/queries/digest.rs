//! Queries for the email digest (`service::digest`): the scan that schedules digests
//! (`email_digest_scan`), each user's pending digest (`email_digests`), what one digest carries,
//! and its unsubscribe links (`email_digest_tokens`).
//!
//! The rules of who hears of which message are those of the push enqueue
//! (`queries::push::enqueue_messages`): a member other than the sender, whose level for the room
//! lets the message through (`all`; `mentions` when it names them; the room kind's default without
//! a row) and who has not muted the room or blocked the sender. Support rooms are left out: they
//! have mails of their own (`service::support_mail`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Bytea, Double, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::ids::{RoomId, UserId};

/// The SQL condition "the recipient `rm.user_id`'s settings let message `m` of room `r` through",
/// with `ns` their notification setting for the room (LEFT JOINed).
const LEVEL_ALLOWS: &str = "(ns.muted_until IS NULL OR ns.muted_until <= now()) \
     AND CASE coalesce(ns.level, CASE WHEN r.kind = 'direct' THEN 'all' ELSE 'mentions' END) \
           WHEN 'all' THEN true \
           WHEN 'mentions' THEN rm.user_id = ANY(coalesce(m.mentions, '{}')) \
           ELSE false END \
     AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = rm.user_id AND b.blocked_id = m.sender_id)";

/// The SQL condition "user `u` (with preferences `up`, LEFT JOINed) can get a digest": an address
/// (verified when `$verified` is true), a person (no guest, no bot), not banned, not being deleted,
/// not opted out.
const RECIPIENT: &str = "u.email IS NOT NULL AND (NOT $verified OR u.email_verified_at IS NOT NULL) \
     AND u.role <> 'guest' AND NOT u.is_bot AND u.banned_at IS NULL AND u.deleting_since IS NULL \
     AND coalesce(up.email_digest, true)";

#[derive(Debug, QueryableByName)]
struct ScannedUntil {
    #[diesel(sql_type = Timestamptz)]
    scanned_until: DateTime<Utc>,
}

/// Claims the scan's row for this transaction; `None` when another instance is scanning.
pub async fn claim_scan(conn: &mut AsyncPgConnection) -> QueryResult<Option<DateTime<Utc>>> {
    let row: Option<ScannedUntil> =
        diesel::sql_query("SELECT scanned_until FROM email_digest_scan FOR UPDATE SKIP LOCKED")
            .get_result(conn)
            .await
            .optional()?;
    Ok(row.map(|r| r.scanned_until))
}

/// Schedules the digests that messages created after `since` call for: each recipient who can
/// get a digest, whom the message is for (see the module's doc), who has not read it and had it
/// in no digest yet, gets a digest due `delay_secs` after the first such message, unless one is
/// due already (a burst makes one digest). Then the scan's mark moves to now. How many digests
/// were scheduled.
pub async fn schedule(
    conn: &mut AsyncPgConnection,
    since: DateTime<Utc>,
    delay_secs: u64,
    require_verified: bool,
) -> QueryResult<usize> {
    // The (message, reached member) pairs are formed first and materialised, so PostgreSQL cannot
    // start from `room_members`: the new messages (found through the BRIN index on `created_at`)
    // reach those they mention, every member of a direct room, and those whose level for the room
    // is `all` (LEVEL_ALLOWS lets nobody else through). Joining members first made the scan cost
    // every member's unread messages: 9.2 million buffer hits per round in the 10 x 100
    // benchmark, most of PostgreSQL's work there for no digest (docs/benchmarks.md). Its cost now
    // follows the pairs: none for messages that mention nobody in rooms nobody follows at `all`.
    let sql = format!(
        "INSERT INTO email_digests (user_id, due_at) \
         WITH m AS MATERIALIZED (\
             SELECT m.room_id, m.seq, m.sender_id, m.mentions, m.created_at, r.kind \
             FROM messages m JOIN rooms r ON r.id = m.room_id AND r.kind <> 'support' \
             WHERE m.created_at > $1 AND m.deleted_at IS NULL\
         ), pairs AS MATERIALIZED (\
             SELECT m.*, unnest(m.mentions) AS user_id FROM m \
             UNION ALL SELECT m.*, dm.user_id FROM m JOIN room_members dm ON dm.room_id = m.room_id WHERE m.kind = 'direct' \
             UNION ALL SELECT m.*, na.user_id FROM m \
                 JOIN room_notification_settings na ON na.room_id = m.room_id AND na.level = 'all'\
         ) \
         SELECT rm.user_id, min(m.created_at) + make_interval(secs => $2) \
         FROM pairs m \
         JOIN room_members rm ON rm.room_id = m.room_id AND rm.user_id = m.user_id AND m.seq > rm.last_read_seq \
         JOIN users u ON u.id = rm.user_id \
         LEFT JOIN user_preferences up ON up.user_id = u.id \
         LEFT JOIN room_notification_settings ns ON ns.user_id = rm.user_id AND ns.room_id = m.room_id \
         LEFT JOIN email_digests d ON d.user_id = rm.user_id \
         WHERE m.sender_id IS DISTINCT FROM rm.user_id \
           AND d.due_at IS NULL AND m.created_at > coalesce(d.mailed_until, '-infinity') \
           AND {recipient} AND {level} \
         GROUP BY rm.user_id \
         ON CONFLICT (user_id) DO UPDATE SET due_at = excluded.due_at WHERE email_digests.due_at IS NULL",
        recipient = RECIPIENT.replace("$verified", "$3"),
        // LEVEL_ALLOWS reads the room's kind as `r.kind`; here it travels with the message.
        level = LEVEL_ALLOWS.replace("r.kind", "m.kind"),
    );
    let n = diesel::sql_query(sql)
        .bind::<Timestamptz, _>(since)
        .bind::<Double, _>(delay_secs as f64)
        .bind::<Bool, _>(require_verified)
        .execute(conn)
        .await?;
    diesel::sql_query("UPDATE email_digest_scan SET scanned_until = now()").execute(conn).await?;
    Ok(n)
}

#[derive(Debug, QueryableByName)]
struct Id {
    #[diesel(sql_type = SqlUuid)]
    user_id: UserId,
}

/// Users whose digest is due, oldest first.
pub async fn due(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<UserId>> {
    let rows: Vec<Id> =
        diesel::sql_query("SELECT user_id FROM email_digests WHERE due_at <= now() ORDER BY due_at LIMIT $1")
            .bind::<BigInt, _>(limit)
            .load(conn)
            .await?;
    Ok(rows.into_iter().map(|r| r.user_id).collect())
}

/// A due digest, row-locked, with what deciding it needs of its user.
#[derive(Debug, QueryableByName)]
pub struct DueDigest {
    #[diesel(sql_type = Timestamptz)]
    pub mailed_until: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub sent_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Text)]
    pub username: String,
    /// The address, when the user can get a digest at all (see `RECIPIENT`).
    #[diesel(sql_type = Nullable<Text>)]
    pub email: Option<String>,
    #[diesel(sql_type = Text)]
    pub language: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_seen_at: Option<DateTime<Utc>>,
    /// The database's clock, which every time here is compared with.
    #[diesel(sql_type = Timestamptz)]
    pub now: DateTime<Utc>,
}

/// Claims the digest of `user_id` if it is due; `None` when another worker has it or it is not
/// due any more.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    require_verified: bool,
) -> QueryResult<Option<DueDigest>> {
    let sql = format!(
        "SELECT d.mailed_until, d.sent_at, u.username, \
                CASE WHEN {recipient} THEN u.email END AS email, \
                coalesce(up.language, 'en') AS language, u.last_seen_at, now() AS now \
         FROM email_digests d JOIN users u ON u.id = d.user_id \
         LEFT JOIN user_preferences up ON up.user_id = u.id \
         WHERE d.user_id = $1 AND d.due_at <= now() \
         FOR UPDATE OF d SKIP LOCKED",
        recipient = RECIPIENT.replace("$verified", "$2"),
    );
    diesel::sql_query(sql)
        .bind::<SqlUuid, _>(user_id)
        .bind::<Bool, _>(require_verified)
        .get_result(conn)
        .await
        .optional()
}

/// Moves a digest that cannot go yet to `at`.
pub async fn postpone(conn: &mut AsyncPgConnection, user_id: UserId, at: DateTime<Utc>) -> QueryResult<usize> {
    diesel::sql_query("UPDATE email_digests SET due_at = $2 WHERE user_id = $1")
        .bind::<SqlUuid, _>(user_id)
        .bind::<Timestamptz, _>(at)
        .execute(conn)
        .await
}

/// Ends the pending digest. `covered`: the messages created up to then are done with (the newest
/// one a mail carried, or the database's now for a user who was connected and saw them live);
/// `sent`: a mail went out now.
///
/// A mail's mark is its newest message, not the time it was made: a message created before that
/// time whose send commits after the digest was read would otherwise be in no mail, and one created
/// after it but committed before the read would be in two.
pub async fn done(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    covered: Option<DateTime<Utc>>,
    sent: bool,
) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE email_digests SET due_at = NULL, \
                mailed_until = coalesce($2, mailed_until), \
                sent_at = CASE WHEN $3 THEN now() ELSE sent_at END \
         WHERE user_id = $1",
    )
    .bind::<SqlUuid, _>(user_id)
    .bind::<Nullable<Timestamptz>, _>(covered)
    .bind::<Bool, _>(sent)
    .execute(conn)
    .await
}

/// One message of a digest, with its room and how many the room has for the digest in all.
#[derive(Debug, QueryableByName)]
pub struct DigestMessage {
    #[diesel(sql_type = SqlUuid)]
    pub room_id: RoomId,
    /// The room's name; for a direct room, the other member's.
    #[diesel(sql_type = Text)]
    pub room_name: String,
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub body: String,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    /// Empty for a deleted account.
    #[diesel(sql_type = Text)]
    pub sender_name: String,
    #[diesel(sql_type = Array<Text>)]
    pub files: Vec<String>,
    /// The room's messages for this digest, these included.
    #[diesel(sql_type = BigInt)]
    pub room_total: i64,
}

/// What a digest of `user_id` carries: per room, its newest `per_room` messages created after
/// `since` that the user has not read and that are for them (see the module's doc), oldest
/// first, each with the room's count of such messages.
pub async fn messages_for(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    since: DateTime<Utc>,
    per_room: i64,
) -> QueryResult<Vec<DigestMessage>> {
    let sql = format!(
        "SELECT x.room_id, \
                CASE WHEN r.kind = 'direct' THEN coalesce(( \
                    SELECT coalesce(nullif(o.display_name, ''), o.username) FROM room_members om \
                    JOIN users o ON o.id = om.user_id WHERE om.room_id = r.id AND om.user_id <> $1 LIMIT 1), '') \
                ELSE coalesce(r.name, '') END AS room_name, \
                m.seq, m.body, m.created_at, \
                coalesce(nullif(su.display_name, ''), su.username, '') AS sender_name, \
                ARRAY(SELECT a.name FROM attachments a WHERE a.message_id = m.id ORDER BY a.created_at) AS files, \
                x.room_total \
         FROM ( \
             SELECT m.id, m.room_id, \
                    row_number() OVER (PARTITION BY m.room_id ORDER BY m.seq DESC) AS rank, \
                    count(*) OVER (PARTITION BY m.room_id) AS room_total \
             FROM room_members rm \
             JOIN rooms r ON r.id = rm.room_id AND r.kind <> 'support' AND r.last_activity_at > $2 \
             LEFT JOIN room_notification_settings ns ON ns.user_id = rm.user_id AND ns.room_id = rm.room_id \
             JOIN messages m ON m.room_id = rm.room_id AND m.seq > rm.last_read_seq \
             WHERE rm.user_id = $1 AND m.created_at > $2 AND m.deleted_at IS NULL \
               AND m.sender_id IS DISTINCT FROM rm.user_id AND {level} \
         ) x \
         JOIN messages m ON m.id = x.id \
         JOIN rooms r ON r.id = x.room_id \
         LEFT JOIN users su ON su.id = m.sender_id \
         WHERE x.rank <= $3 \
         ORDER BY x.room_id, m.seq",
        level = LEVEL_ALLOWS,
    );
    diesel::sql_query(sql)
        .bind::<SqlUuid, _>(user_id)
        .bind::<Timestamptz, _>(since)
        .bind::<BigInt, _>(per_room)
        .load(conn)
        .await
}

/// Stores one unsubscribe link's token hash.
pub async fn insert_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    user_id: UserId,
    expires_at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::sql_query("INSERT INTO email_digest_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
        .bind::<Bytea, _>(hash)
        .bind::<SqlUuid, _>(user_id)
        .bind::<Timestamptz, _>(expires_at)
        .execute(conn)
        .await
}

#[derive(Debug, QueryableByName)]
pub struct TokenOwner {
    #[diesel(sql_type = SqlUuid)]
    pub user_id: UserId,
    #[diesel(sql_type = Text)]
    pub language: String,
}

/// The user a live unsubscribe token belongs to, with their language.
pub async fn owner_of_token(conn: &mut AsyncPgConnection, hash: &[u8]) -> QueryResult<Option<TokenOwner>> {
    diesel::sql_query(
        "SELECT t.user_id, coalesce(up.language, 'en') AS language FROM email_digest_tokens t \
         LEFT JOIN user_preferences up ON up.user_id = t.user_id \
         WHERE t.token_hash = $1 AND t.expires_at > now()",
    )
    .bind::<Bytea, _>(hash)
    .get_result(conn)
    .await
    .optional()
}

/// Turns the user's digest off (and drops a pending one).
pub async fn opt_out(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO user_preferences (user_id, email_digest) VALUES ($1, false) \
         ON CONFLICT (user_id) DO UPDATE SET email_digest = false",
    )
    .bind::<SqlUuid, _>(user_id)
    .execute(conn)
    .await?;
    diesel::sql_query("UPDATE email_digests SET due_at = NULL WHERE user_id = $1")
        .bind::<SqlUuid, _>(user_id)
        .execute(conn)
        .await
}

/// Deletes up to `limit` expired unsubscribe tokens.
pub async fn delete_expired_tokens(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM email_digest_tokens WHERE token_hash IN ( \
             SELECT token_hash FROM email_digest_tokens WHERE expires_at <= now() LIMIT $1)",
    )
    .bind::<BigInt, _>(limit)
    .execute(conn)
    .await
}
