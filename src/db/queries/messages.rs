//! Queries on `messages` and `reactions`.
//!
//! Every change to a room's history takes the room's next seq in the same statement that makes
//! the change: a CTE increments `rooms.last_seq` (locking the room row until commit) and the
//! message row takes the returned number. One round trip, and a failed change (a duplicate
//! client_msg_id, say) rolls the increment back with it, so seq stays gapless.
//!
//! Every insert must go through that counter: a message's room is not a foreign key but a trigger
//! on `rooms` (migration `2026-12-05-000100`), and the counter's row lock is what keeps a room
//! deleted during the insert from being left with the message (tests/api/consistency.rs).

use diesel::prelude::*;
use diesel::sql_types::{Float4, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::{Message, Reaction};
use crate::db::prepared::{Param, Prepared};
use crate::ids::{MessageId, RoomId, Seq, UserId};
use crate::schema::{messages, reactions};

pub struct NewMessage<'a> {
    pub id: MessageId,
    pub room_id: RoomId,
    pub sender_id: UserId,
    pub body: &'a str,
    pub reply_to: Option<MessageId>,
    pub client_msg_id: Option<&'a str>,
    /// Who the body mentions (`service::mentions`); `insert_batch` never has any (a body that
    /// mentions someone takes the checked path).
    pub mentions: Option<&'a [Uuid]>,
}

/// Inserts a message with the room's next seq (also its first rev) and marks the room active.
///
/// `messages.sender_id` has no foreign key (migration 2026-12-05-000400): the statement locks the
/// sender's row itself (`FOR KEY SHARE`, what the key's check took), so an account's deletion waits
/// for the send, and a send whose sender was deleted finds no row, moves no counter and inserts
/// nothing (`NotFound`). The room's row is locked first (`r`, which `u` waits for): room, then
/// user, the order of every transaction that takes both (retention deletes a guest's support
/// room, then the guest; an account's deletion locks the rooms it created or owns, then deletes
/// the user: `rooms::lock_changed_by_deleting`), so a send waiting for the room holds nothing such
/// a transaction will want.
pub async fn insert_next(conn: &mut AsyncPgConnection, new: &NewMessage<'_>) -> QueryResult<Message> {
    const SQL: &[&str] = &[
        "WITH r AS (SELECT id FROM rooms WHERE id = ",
        " FOR NO KEY UPDATE), \
         u AS (SELECT 1 FROM users WHERE id = ",
        " AND EXISTS (SELECT 1 FROM r) FOR KEY SHARE), \
         s AS (UPDATE rooms SET last_seq = rooms.last_seq + 1, last_activity_at = now() FROM r \
               WHERE rooms.id = r.id AND EXISTS (SELECT 1 FROM u) RETURNING rooms.last_seq) \
         INSERT INTO messages (id, room_id, seq, rev, sender_id, body, reply_to, client_msg_id, mentions) SELECT ",
        ", ",
        ", s.last_seq, s.last_seq, ",
        ", ",
        ", ",
        ", ",
        ", ",
        concat!(" FROM s RETURNING ", crate::message_columns!()),
    ];
    Prepared::new(SQL, insert_params(new)).get_result(conn).await
}

fn insert_params<'a>(new: &'a NewMessage<'a>) -> Vec<Param<'a>> {
    vec![
        Param::Uuid(new.room_id.into()),
        Param::Uuid(new.sender_id.into()),
        Param::Uuid(new.id.into()),
        Param::Uuid(new.room_id.into()),
        Param::Uuid(new.sender_id.into()),
        Param::Text(new.body),
        Param::OptUuid(new.reply_to.map(Into::into)),
        Param::OptText(new.client_msg_id),
        Param::OptUuidArray(new.mentions),
    ]
}

/// The fast path of sends, for a whole batch in one statement: each message whose sender is a
/// member of its room, the room a group room, and whose client_msg_id is not taken yet, is inserted
/// under its room's next seqs (consecutive, in the batch's order within each room). Rows left out
/// are "not that simple" and take the checked path one by one, which gives them their proper error
/// or their original message. Left-out rows consume no seq, so seq stays gapless; a client_msg_id
/// committed concurrently by another statement makes the whole statement fail with a unique
/// violation and roll back, and the batch then takes the checked path too.
///
/// The SQL text does not depend on the batch size, so it is prepared once per connection.
///
/// Each check is a subquery with `OFFSET 0`, which keeps PostgreSQL from turning it into a join or
/// a hashed subplan: it stays a probe of the primary key or unique index per row, whatever the
/// statistics were when the plan was made. The send writers run this statement with its generic
/// plan (`db::send_batch`), made once per session; made while `messages` was still empty and never
/// analyzed, the `client_msg_id` check had become a hash of the whole table built for every batch,
/// so a batch's cost grew with the table (13 ms for 25 sends at 30,000 messages; docs/benchmarks.md).
///
/// The room probe also takes the room's row for the counter's update (`FOR NO KEY UPDATE`, the
/// lock that update takes anyway) and skips a row another transaction holds: a room being deleted,
/// or written by the checked path. Its sends are left out, and wait on the checked path for that
/// room alone; the batch does not wait, so one room's long transaction (a deletion that takes its
/// messages with it) cannot hold up the sends of every other room behind a writer.
///
/// A row is taken only if no earlier row of its sender to its room was left out (`rejected`,
/// `taken`): the probes run row by row, and a lock released between two rows of one sender would
/// otherwise leave the first out and let the second in, to commit ahead of it with the lower seq.
///
/// The membership probe locks the row it finds (`FOR KEY SHARE`): `messages.sender_id` has no
/// foreign key (migration 2026-12-05-000400), and this lock is what makes an account's deletion,
/// which deletes its memberships, wait for the batch. It skips a row being deleted (the member
/// leaving, or their account going), so that send takes the checked path, which waits for the
/// sender's row alone ([`insert_next`]). Read receipts and role changes update the row without
/// touching its key and do not conflict with the lock.
pub async fn insert_batch(conn: &mut AsyncPgConnection, batch: &[NewMessage<'_>]) -> QueryResult<Vec<Message>> {
    debug_assert!(batch.iter().all(|m| m.mentions.is_none()), "mentions take the checked path");
    const SQL: &[&str] = &[
        "WITH input AS (\
            SELECT * FROM unnest(",
        "::uuid[], ",
        "::uuid[], ",
        "::uuid[], ",
        "::text[], ",
        concat!(
            "::text[]) WITH ORDINALITY AS i(id, room_id, sender_id, body, client_msg_id, ord)), \
         ok AS (\
            SELECT i.* FROM input i \
            WHERE EXISTS (SELECT 1 FROM rooms r WHERE r.id = i.room_id AND r.kind = 'group' OFFSET 0 \
                   FOR NO KEY UPDATE SKIP LOCKED) \
              AND EXISTS (SELECT 1 FROM room_members m \
                   WHERE m.room_id = i.room_id AND m.user_id = i.sender_id OFFSET 0 FOR KEY SHARE SKIP LOCKED) \
              AND (i.client_msg_id IS NULL OR NOT EXISTS (SELECT 1 FROM messages x \
                   WHERE x.room_id = i.room_id AND x.sender_id = i.sender_id AND x.client_msg_id = i.client_msg_id \
                   OFFSET 0))), \
         rejected AS (\
            SELECT i.room_id, i.sender_id, min(i.ord) AS ord FROM input i \
            WHERE NOT EXISTS (SELECT 1 FROM ok WHERE ok.ord = i.ord) GROUP BY i.room_id, i.sender_id), \
         taken AS (\
            SELECT ok.* FROM ok WHERE NOT EXISTS (SELECT 1 FROM rejected r \
                WHERE r.room_id = ok.room_id AND r.sender_id = ok.sender_id AND r.ord < ok.ord)), \
         counts AS (SELECT room_id, count(*) AS n FROM taken GROUP BY room_id), \
         bumped AS (\
            UPDATE rooms SET last_seq = rooms.last_seq + counts.n, last_activity_at = now() \
            FROM counts WHERE rooms.id = counts.room_id RETURNING rooms.id, rooms.last_seq, counts.n), \
         numbered AS (\
            SELECT t.id, t.room_id, t.sender_id, t.body, t.client_msg_id, \
                   b.last_seq - b.n + row_number() OVER (PARTITION BY t.room_id ORDER BY t.ord) AS seq \
            FROM taken t JOIN bumped b ON b.id = t.room_id) \
         INSERT INTO messages (id, room_id, seq, rev, sender_id, body, reply_to, client_msg_id) \
         SELECT id, room_id, seq, seq, sender_id, body, NULL, client_msg_id FROM numbered \
         RETURNING ",
            crate::message_columns!()
        ),
    ];
    let ids: Vec<Uuid> = batch.iter().map(|m| m.id.into()).collect();
    let rooms: Vec<Uuid> = batch.iter().map(|m| m.room_id.into()).collect();
    let senders: Vec<Uuid> = batch.iter().map(|m| m.sender_id.into()).collect();
    let bodies: Vec<&str> = batch.iter().map(|m| m.body).collect();
    let client_ids: Vec<Option<&str>> = batch.iter().map(|m| m.client_msg_id).collect();
    let params = vec![
        Param::UuidArray(&ids),
        Param::UuidArray(&rooms),
        Param::UuidArray(&senders),
        Param::TextArray(&bodies),
        Param::OptTextArray(&client_ids),
    ];
    Prepared::new(SQL, params).load(conn).await
}

/// What a change does to the message besides taking a new rev.
pub enum Change<'a> {
    /// A new body and who it mentions.
    Edit(&'a str, Option<&'a [Uuid]>),
    Delete,
    /// Reactions changed: only the rev moves.
    Touch,
}

/// Applies `change` to message `id` of room `room_id` under the room's next seq, as its new rev.
pub async fn change(
    conn: &mut AsyncPgConnection,
    room_id: RoomId,
    id: MessageId,
    change: Change<'_>,
) -> QueryResult<Message> {
    const HEAD: &str = "WITH s AS (UPDATE rooms SET last_seq = last_seq + 1 WHERE id = ";
    // `s` has only last_seq, so the message columns need no qualifying.
    const TAIL: &str = concat!(" RETURNING ", crate::message_columns!());
    const EDIT: &[&str] = &[
        HEAD,
        " RETURNING last_seq) UPDATE messages SET rev = s.last_seq, body = ",
        ", mentions = ",
        ", edited_at = now() FROM s WHERE messages.id = ",
        " AND messages.room_id = ",
        TAIL,
    ];
    const DELETE: &[&str] = &[
        HEAD,
        " RETURNING last_seq) UPDATE messages SET rev = s.last_seq, body = '', mentions = NULL, deleted_at = now() FROM s WHERE messages.id = ",
        " AND messages.room_id = ",
        TAIL,
    ];
    const TOUCH: &[&str] = &[
        HEAD,
        " RETURNING last_seq) UPDATE messages SET rev = s.last_seq FROM s WHERE messages.id = ",
        " AND messages.room_id = ",
        TAIL,
    ];
    let query = match change {
        Change::Edit(body, mentions) => Prepared::new(
            EDIT,
            vec![
                Param::Uuid(room_id.into()),
                Param::Text(body),
                Param::OptUuidArray(mentions),
                Param::Uuid(id.into()),
                Param::Uuid(room_id.into()),
            ],
        ),
        Change::Delete => Prepared::new(
            DELETE,
            vec![Param::Uuid(room_id.into()), Param::Uuid(id.into()), Param::Uuid(room_id.into())],
        ),
        Change::Touch => {
            Prepared::new(TOUCH, vec![Param::Uuid(room_id.into()), Param::Uuid(id.into()), Param::Uuid(room_id.into())])
        }
    };
    query.get_result(conn).await
}

pub async fn find(conn: &mut AsyncPgConnection, id: MessageId) -> QueryResult<Option<Message>> {
    messages::table.find(id).select(Message::as_select()).first(conn).await.optional()
}

/// Whether `sender_id` wrote in `room_id` before `seq` (deleted messages count).
pub async fn sent_before(
    conn: &mut AsyncPgConnection,
    room_id: RoomId,
    sender_id: UserId,
    seq: Seq,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        messages::table
            .filter(messages::room_id.eq(room_id))
            .filter(messages::sender_id.eq(sender_id))
            .filter(messages::seq.lt(seq)),
    ))
    .get_result(conn)
    .await
}

pub async fn find_by_client_id(
    conn: &mut AsyncPgConnection,
    room_id: RoomId,
    sender_id: UserId,
    client_msg_id: &str,
) -> QueryResult<Option<Message>> {
    messages::table
        .filter(messages::room_id.eq(room_id))
        .filter(messages::sender_id.eq(sender_id))
        .filter(messages::client_msg_id.eq(client_msg_id))
        .select(Message::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[MessageId]) -> QueryResult<Vec<Message>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    messages::table.filter(messages::id.eq_any(ids)).select(Message::as_select()).load(conn).await
}

/// The first `limit` messages of the room that are not deleted, oldest first (a transcript).
pub async fn kept_from_start(conn: &mut AsyncPgConnection, room_id: RoomId, limit: i64) -> QueryResult<Vec<Message>> {
    messages::table
        .filter(messages::room_id.eq(room_id))
        .filter(messages::deleted_at.is_null())
        .order(messages::seq.asc())
        .limit(limit)
        .select(Message::as_select())
        .load(conn)
        .await
}

/// A history page: newest first below `before` when `after` is absent, oldest first above
/// `after` otherwise (and below `before` when both are given). Fetches `limit` rows; the caller
/// asks for one more than it shows to learn `has_more`.
pub async fn page(
    conn: &mut AsyncPgConnection,
    room_id: RoomId,
    before: Option<Seq>,
    after: Option<Seq>,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    let mut q = messages::table.filter(messages::room_id.eq(room_id)).select(Message::as_select()).into_boxed();
    if let Some(before) = before {
        q = q.filter(messages::seq.lt(before));
    }
    q = match after {
        Some(after) => q.filter(messages::seq.gt(after)).order(messages::seq.asc()),
        None => q.order(messages::seq.desc()),
    };
    q.limit(limit).load(conn).await
}

/// Messages whose latest change is after `since`, in rev order: what `sync` returns.
pub async fn changed_since(
    conn: &mut AsyncPgConnection,
    room_id: RoomId,
    since: Seq,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    messages::table
        .filter(messages::room_id.eq(room_id))
        .filter(messages::rev.gt(since))
        .order(messages::rev.asc())
        .limit(limit)
        .select(Message::as_select())
        .load(conn)
        .await
}

pub async fn reactions_for(conn: &mut AsyncPgConnection, ids: &[MessageId]) -> QueryResult<Vec<Reaction>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    reactions::table
        .filter(reactions::message_id.eq_any(ids))
        .order((reactions::message_id, reactions::created_at, reactions::user_id))
        .select(Reaction::as_select())
        .load(conn)
        .await
}

/// Returns whether the reaction is new.
pub async fn add_reaction(
    conn: &mut AsyncPgConnection,
    message_id: MessageId,
    user_id: UserId,
    emoji: &str,
) -> QueryResult<bool> {
    diesel::insert_into(reactions::table)
        .values((reactions::message_id.eq(message_id), reactions::user_id.eq(user_id), reactions::emoji.eq(emoji)))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(|n| n > 0)
}

/// What the reaction quotas look at before `emoji` by `user_id` is added to a message: the
/// distinct reaction strings on it, whether `emoji` is one of them, and the user's reactions on
/// it (0 when the user already has this one: adding it again changes nothing).
pub async fn reaction_counts(
    conn: &mut AsyncPgConnection,
    message_id: MessageId,
    user_id: UserId,
    emoji: &str,
) -> QueryResult<(i64, bool, i64)> {
    use diesel::dsl::{count, exists};
    use diesel::expression_methods::AggregateExpressionMethods;
    let on_message = || reactions::table.filter(reactions::message_id.eq(message_id));
    let distinct = on_message().select(count(reactions::emoji).aggregate_distinct()).get_result(conn).await?;
    let present = diesel::select(exists(on_message().filter(reactions::emoji.eq(emoji)))).get_result(conn).await?;
    let mine = on_message().filter(reactions::user_id.eq(user_id));
    let already: bool = diesel::select(exists(mine.filter(reactions::emoji.eq(emoji)))).get_result(conn).await?;
    let by_user = if already { 0 } else { mine.count().get_result(conn).await? };
    Ok((distinct, present, by_user))
}

/// Returns whether there was such a reaction.
pub async fn remove_reaction(
    conn: &mut AsyncPgConnection,
    message_id: MessageId,
    user_id: UserId,
    emoji: &str,
) -> QueryResult<bool> {
    diesel::delete(reactions::table.find((message_id, user_id, emoji))).execute(conn).await.map(|n| n > 0)
}

pub async fn clear_reactions(conn: &mut AsyncPgConnection, message_id: MessageId) -> QueryResult<usize> {
    diesel::delete(reactions::table.filter(reactions::message_id.eq(message_id))).execute(conn).await
}

#[derive(Debug, QueryableByName)]
pub struct SearchRow {
    #[diesel(embed)]
    pub message: Message,
    #[diesel(sql_type = Text)]
    pub snippet: String,
    #[diesel(sql_type = Float4)]
    pub rank: f32,
}

/// Full-text search over the rooms `user_id` belongs to (optionally one of them), best first.
/// The snippet is HTML-escaped text with `<mark>` around matches, so it is safe to render as HTML.
///
/// The index has words as written (`simple`: no stemming, so any language works). Each word of
/// the query of three letters or more matches as a prefix (`nachricht` finds `Nachrichten`,
/// `haus` finds `Haustür`): German inflects and compounds, and a stemmer of one language would
/// fail the others. Shorter words match only themselves, so `a` does not match half the words
/// (and the index's prefix scan stays short). Exact words rank above longer ones. The rewrite
/// works on the query's text form, where a lexeme is quoted and follows the start or a space,
/// with a `!` between for an exclusion. A lexeme holds no space (a URL's may end in `(` or `!`),
/// so a closing quote never follows one and no match spans two lexemes.
pub async fn search(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    q: &str,
    room_id: Option<RoomId>,
    limit: i32,
) -> QueryResult<Vec<SearchRow>> {
    const SQL: &[&str] = &[
        "SELECT m.id, m.room_id, m.seq, m.rev, m.sender_id, m.body, m.reply_to, m.client_msg_id, \
                m.created_at, m.edited_at, m.deleted_at, m.mentions, \
                ts_rank(m.search, q.query) + ts_rank(m.search, e.exact) AS rank, \
                ts_headline('simple', \
                    replace(replace(replace(replace(m.body, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '\"', '&quot;'), \
                    q.query, 'StartSel=<mark>, StopSel=</mark>, MaxWords=24, MinWords=8, MaxFragments=2') AS snippet \
         FROM websearch_to_tsquery('simple', ",
        ") AS e(exact) \
         CROSS JOIN LATERAL (SELECT regexp_replace(e.exact::text, \
             '(^|[ ])(!?)''((?:[^'']|''''){3,})''', '\\1\\2''\\3'':*', 'g')::tsquery) AS q(query), \
         room_members rm \
         JOIN messages m ON m.room_id = rm.room_id \
         WHERE rm.user_id = ",
        " AND (",
        "::uuid IS NULL OR rm.room_id = ",
        ") AND m.search @@ q.query AND m.deleted_at IS NULL \
         ORDER BY rank DESC, m.created_at DESC, m.id \
         LIMIT ",
        "",
    ];
    Prepared::new(
        SQL,
        vec![
            Param::Text(q),
            Param::Uuid(user_id.into()),
            Param::OptUuid(room_id.map(Into::into)),
            Param::OptUuid(room_id.map(Into::into)),
            Param::Int(limit),
        ],
    )
    .load(conn)
    .await
}

/// Up to `limit` messages sent by `sender`, oldest first, after the (created_at, id) cursor:
/// a data export's pages (index `messages_sender_idx`).
pub async fn by_sender_after(
    conn: &mut AsyncPgConnection,
    sender: UserId,
    after: Option<(chrono::DateTime<chrono::Utc>, MessageId)>,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    let mut query = messages::table.filter(messages::sender_id.eq(sender)).into_boxed();
    if let Some((at, id)) = after {
        query = query.filter(messages::created_at.gt(at).or(messages::created_at.eq(at).and(messages::id.gt(id))));
    }
    query.order((messages::created_at, messages::id)).limit(limit).select(Message::as_select()).load(conn).await
}

/// Where [`forget_sender_some`] stopped: the last message it cleared, in the sender index's order.
pub type SenderCursor = (chrono::DateTime<chrono::Utc>, MessageId);

/// Clears the sender of up to `limit` of `sender`'s messages after `after`, in the order of
/// `messages_sender_idx`, in one statement (a transaction of its own outside one), skipping rows
/// another transaction holds. Answers how many it cleared and the last one, the next call's
/// `after` (`None` for the start; a cursor, so that no call walks past the index entries the
/// earlier ones left dead). An account's deletion calls it until a call clears fewer than
/// `limit`, so that its own transaction, whose trigger clears what is left (skipped rows,
/// messages sent meanwhile), holds the account's messages and the rooms it created for moments
/// rather than for as long as clearing them all takes (`service::accounts::erase_account`).
/// `sql_query`, planned per call: a few calls per thousand messages, each planned for its sender.
pub async fn forget_sender_some(
    conn: &mut AsyncPgConnection,
    sender: UserId,
    after: Option<SenderCursor>,
    limit: i64,
) -> QueryResult<(usize, Option<SenderCursor>)> {
    use diesel::sql_types::{BigInt, Timestamptz, Uuid as SqlUuid};
    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = Timestamptz)]
        created_at: chrono::DateTime<chrono::Utc>,
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let (at, last) = after.map_or((None, Uuid::nil()), |(at, id)| (Some(at), id.into()));
    let row: Option<Last> = diesel::sql_query(
        "WITH b AS (SELECT id, created_at FROM messages WHERE sender_id = $1 AND ($2 IS NULL OR (created_at, id) > ($2, $3)) \
                    ORDER BY created_at, id LIMIT $4 FOR NO KEY UPDATE SKIP LOCKED), \
              u AS (UPDATE messages SET sender_id = NULL WHERE id = ANY (ARRAY(SELECT id FROM b)) AND sender_id = $1) \
         SELECT l.created_at, l.id, (SELECT count(*) FROM b) AS n \
         FROM (SELECT created_at, id FROM b ORDER BY created_at DESC, id DESC LIMIT 1) l",
    )
    .bind::<SqlUuid, _>(Uuid::from(sender))
    .bind::<diesel::sql_types::Nullable<Timestamptz>, _>(at)
    .bind::<SqlUuid, _>(last)
    .bind::<BigInt, _>(limit)
    .get_result(conn)
    .await
    .optional()?;
    Ok(row.map_or((0, None), |r| (usize::try_from(r.n).unwrap_or(0), Some((r.created_at, MessageId(r.id))))))
}
