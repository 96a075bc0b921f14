//! The `attachments` rows: uploaded files, unsent (no message) or sent with a message.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::ids::{AttachmentId, MessageId, RoomId, UserId};
use crate::schema::attachments;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = attachments, check_for_backend(diesel::pg::Pg))]
pub struct Attachment {
    pub id: AttachmentId,
    pub owner_id: Option<UserId>,
    pub message_id: Option<MessageId>,
    pub room_id: Option<RoomId>,
    /// Lowercase hex: the blob's key in the store.
    pub sha256: String,
    pub size_bytes: i64,
    pub content_type: String,
    pub name: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub created_at: DateTime<Utc>,
    /// Images larger than a thumbnail: the thumbnail's blob key and type.
    pub thumbnail_sha256: Option<String>,
    pub thumbnail_content_type: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = attachments)]
pub struct NewAttachment<'a> {
    pub id: AttachmentId,
    pub owner_id: UserId,
    pub sha256: &'a str,
    pub size_bytes: i64,
    pub content_type: &'a str,
    pub name: &'a str,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumbnail_sha256: Option<&'a str>,
    pub thumbnail_content_type: Option<&'a str>,
}
