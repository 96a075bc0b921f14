//! The `messages` and `reactions` rows.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::{messages, reactions};

/// A message as stored; the `search` column is the database's business and never read back.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName, Identifiable)]
#[diesel(table_name = messages, check_for_backend(diesel::pg::Pg))]
pub struct Message {
    pub id: Uuid,
    pub room_id: Uuid,
    pub seq: i64,
    pub rev: i64,
    pub sender_id: Option<Uuid>,
    pub body: String,
    pub reply_to: Option<Uuid>,
    pub client_msg_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The column list matching [`Message`], for hand-written SQL (`RETURNING`): a macro, so that it
/// can be `concat!`ed into the static SQL of prepared statements.
#[macro_export]
macro_rules! message_columns {
    () => {
        "id, room_id, seq, rev, sender_id, body, reply_to, client_msg_id, created_at, edited_at, deleted_at"
    };
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reactions, check_for_backend(diesel::pg::Pg))]
pub struct Reaction {
    pub message_id: Uuid,
    pub user_id: Uuid,
    pub emoji: String,
    pub created_at: DateTime<Utc>,
}
