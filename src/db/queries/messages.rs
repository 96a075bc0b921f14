//! Queries on `messages` and `reactions`.
//!
//! Every change to a room's history takes the room's next seq in the same statement that makes
//! the change: a CTE increments `rooms.last_seq` (locking the room row until commit) and the
//! message row takes the returned number. One round trip, and a failed change (a duplicate
//! client_msg_id, say) rolls the increment back with it, so seq stays gapless.

use diesel::prelude::*;
use diesel::sql_types::{Float4, Integer, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::{MESSAGE_COLUMNS, Message, Reaction};
use crate::schema::{messages, reactions};

pub struct NewMessage<'a> {
    pub id: Uuid,
    pub room_id: Uuid,
    pub sender_id: Uuid,
    pub body: &'a str,
    pub reply_to: Option<Uuid>,
    pub client_msg_id: Option<&'a str>,
}

/// Inserts a message with the room's next seq (also its first rev) and marks the room active.
pub async fn insert_next(conn: &mut AsyncPgConnection, new: &NewMessage<'_>) -> QueryResult<Message> {
    diesel::sql_query(format!(
        "WITH s AS (UPDATE rooms SET last_seq = last_seq + 1, last_activity_at = now() \
                    WHERE id = $2 RETURNING last_seq) \
         INSERT INTO messages (id, room_id, seq, rev, sender_id, body, reply_to, client_msg_id) \
         SELECT $1, $2, s.last_seq, s.last_seq, $3, $4, $5, $6 FROM s \
         RETURNING {MESSAGE_COLUMNS}"
    ))
    .bind::<SqlUuid, _>(new.id)
    .bind::<SqlUuid, _>(new.room_id)
    .bind::<SqlUuid, _>(new.sender_id)
    .bind::<Text, _>(new.body)
    .bind::<Nullable<SqlUuid>, _>(new.reply_to)
    .bind::<Nullable<Text>, _>(new.client_msg_id)
    .get_result(conn)
    .await
}

/// The fast path of a send: like [`insert_next`], but only when the sender is a member of the room
/// and the room is not a direct one (where blocks need checking), all in one statement. `None`
/// means "not that simple": the caller takes the checked path.
///
/// Written as a query fragment rather than `sql_query`, because diesel never caches the
/// prepared statement of a `sql_query`: PostgreSQL would parse and plan this CTE on every send.
pub async fn insert_next_as_member(conn: &mut AsyncPgConnection, new: &NewMessage<'_>) -> QueryResult<Option<Message>> {
    InsertAsMember { new }.get_result(conn).await.optional()
}

struct InsertAsMember<'a> {
    new: &'a NewMessage<'a>,
}

impl diesel::query_builder::QueryId for InsertAsMember<'_> {
    type QueryId = ();
    // No type-level id: diesel caches the prepared statement by its SQL text instead.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for InsertAsMember<'_> {
    type SqlType = diesel::sql_types::Untyped;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for InsertAsMember<'_> {
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        let n = self.new;
        out.push_sql("WITH s AS (UPDATE rooms SET last_seq = last_seq + 1, last_activity_at = now() WHERE id = ");
        out.push_bind_param::<SqlUuid, _>(&n.room_id)?;
        out.push_sql(" AND kind <> 'direct' AND EXISTS (SELECT 1 FROM room_members WHERE room_id = ");
        out.push_bind_param::<SqlUuid, _>(&n.room_id)?;
        out.push_sql(" AND user_id = ");
        out.push_bind_param::<SqlUuid, _>(&n.sender_id)?;
        out.push_sql(") RETURNING last_seq) INSERT INTO messages (id, room_id, seq, rev, sender_id, body, reply_to, client_msg_id) SELECT ");
        out.push_bind_param::<SqlUuid, _>(&n.id)?;
        out.push_sql(", ");
        out.push_bind_param::<SqlUuid, _>(&n.room_id)?;
        out.push_sql(", s.last_seq, s.last_seq, ");
        out.push_bind_param::<SqlUuid, _>(&n.sender_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&n.body)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<SqlUuid>, _>(&n.reply_to)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&n.client_msg_id)?;
        out.push_sql(" FROM s RETURNING ");
        out.push_sql(MESSAGE_COLUMNS);
        Ok(())
    }
}


/// What a change does to the message besides taking a new rev.
pub enum Change<'a> {
    Edit(&'a str),
    Delete,
    /// Reactions changed: only the rev moves.
    Touch,
}

/// Applies `change` to message `id` of room `room_id` under the room's next seq, as its new rev.
pub async fn change(conn: &mut AsyncPgConnection, room_id: Uuid, id: Uuid, change: Change<'_>) -> QueryResult<Message> {
    let set = match change {
        Change::Edit(_) => ", body = $3, edited_at = now()",
        Change::Delete => ", body = '', deleted_at = now()",
        Change::Touch => "",
    };
    let query = diesel::sql_query(format!(
        "WITH s AS (UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq) \
         UPDATE messages SET rev = s.last_seq{set} FROM s WHERE messages.id = $2 AND messages.room_id = $1 \
         RETURNING {MESSAGE_COLUMNS}"
    ))
    .bind::<SqlUuid, _>(room_id)
    .bind::<SqlUuid, _>(id);
    match change {
        Change::Edit(body) => query.bind::<Text, _>(body).get_result(conn).await,
        Change::Delete | Change::Touch => query.get_result(conn).await,
    }
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Message>> {
    messages::table.find(id).select(Message::as_select()).first(conn).await.optional()
}

pub async fn find_by_client_id(
    conn: &mut AsyncPgConnection,
    room_id: Uuid,
    sender_id: Uuid,
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

pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<Message>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    messages::table.filter(messages::id.eq_any(ids)).select(Message::as_select()).load(conn).await
}

/// A history page: newest first below `before` when `after` is absent, oldest first above
/// `after` otherwise (and below `before` when both are given). Fetches `limit` rows; the caller
/// asks for one more than it shows to learn `has_more`.
pub async fn page(
    conn: &mut AsyncPgConnection,
    room_id: Uuid,
    before: Option<i64>,
    after: Option<i64>,
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
pub async fn changed_since(conn: &mut AsyncPgConnection, room_id: Uuid, since: i64, limit: i64) -> QueryResult<Vec<Message>> {
    messages::table
        .filter(messages::room_id.eq(room_id))
        .filter(messages::rev.gt(since))
        .order(messages::rev.asc())
        .limit(limit)
        .select(Message::as_select())
        .load(conn)
        .await
}

pub async fn reactions_for(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<Reaction>> {
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
pub async fn add_reaction(conn: &mut AsyncPgConnection, message_id: Uuid, user_id: Uuid, emoji: &str) -> QueryResult<bool> {
    diesel::insert_into(reactions::table)
        .values((reactions::message_id.eq(message_id), reactions::user_id.eq(user_id), reactions::emoji.eq(emoji)))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(|n| n > 0)
}

/// Returns whether there was such a reaction.
pub async fn remove_reaction(conn: &mut AsyncPgConnection, message_id: Uuid, user_id: Uuid, emoji: &str) -> QueryResult<bool> {
    diesel::delete(reactions::table.find((message_id, user_id, emoji)))
        .execute(conn)
        .await
        .map(|n| n > 0)
}

pub async fn clear_reactions(conn: &mut AsyncPgConnection, message_id: Uuid) -> QueryResult<usize> {
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
pub async fn search(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    q: &str,
    room_id: Option<Uuid>,
    limit: i32,
) -> QueryResult<Vec<SearchRow>> {
    diesel::sql_query(
        "SELECT m.id, m.room_id, m.seq, m.rev, m.sender_id, m.body, m.reply_to, m.client_msg_id, \
                m.created_at, m.edited_at, m.deleted_at, \
                ts_rank(m.search, q.query) AS rank, \
                ts_headline('simple', \
                    replace(replace(replace(replace(m.body, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '\"', '&quot;'), \
                    q.query, 'StartSel=<mark>, StopSel=</mark>, MaxWords=24, MinWords=8, MaxFragments=2') AS snippet \
         FROM websearch_to_tsquery('simple', $2) AS q(query), room_members rm \
         JOIN messages m ON m.room_id = rm.room_id \
         WHERE rm.user_id = $1 AND ($3::uuid IS NULL OR rm.room_id = $3) \
           AND m.search @@ q.query AND m.deleted_at IS NULL \
         ORDER BY rank DESC, m.created_at DESC, m.id \
         LIMIT $4",
    )
    .bind::<SqlUuid, _>(user_id)
    .bind::<Text, _>(q)
    .bind::<Nullable<SqlUuid>, _>(room_id)
    .bind::<Integer, _>(limit)
    .load(conn)
    .await
}
