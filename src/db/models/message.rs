//! The `messages` and `reactions` rows.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::ids::{MessageId, RoomId, Seq, UserId};
use crate::schema::{messages, reactions};

/// A message as stored; the `search` column is the database's business and never read back.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName, Identifiable)]
#[diesel(table_name = messages, check_for_backend(diesel::pg::Pg))]
pub struct Message {
    pub id: MessageId,
    pub room_id: RoomId,
    pub seq: Seq,
    pub rev: Seq,
    pub sender_id: Option<UserId>,
    pub body: String,
    pub reply_to: Option<MessageId>,
    pub client_msg_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// The members an `@username` in the body names (`service::mentions`); None: nobody.
    pub mentions: Option<Vec<UserId>>,
}

/// The column list matching [`Message`], for hand-written SQL (`RETURNING`): a macro, so that it
/// can be `concat!`ed into the static SQL of prepared statements.
#[macro_export]
macro_rules! message_columns {
    () => {
        "id, room_id, seq, rev, sender_id, body, reply_to, client_msg_id, created_at, edited_at, deleted_at, mentions"
    };
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reactions, check_for_backend(diesel::pg::Pg))]
pub struct Reaction {
    pub message_id: MessageId,
    pub user_id: UserId,
    pub emoji: String,
    pub created_at: DateTime<Utc>,
}
