//! The `support_sessions`, `contacts` and `audit_log` rows: the support inbox, the contact form
//! and the moderation trail.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::ids::{AuditEntryId, ContactId, RoomId, SessionId, UserId};
use crate::schema::{audit_log, contacts, support_sessions};

text_enum! {
    /// A support session's state. Stored as text (`support_sessions.status`, with a CHECK constraint).
    pub enum SupportStatus {
        Open,
        Closed,
    }
}

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName, Identifiable)]
#[diesel(table_name = support_sessions, check_for_backend(diesel::pg::Pg))]
pub struct SupportSession {
    pub id: SessionId,
    pub room_id: RoomId,
    pub guest_id: UserId,
    pub visitor_name: String,
    pub visitor_email: Option<String>,
    pub status: SupportStatus,
    pub created_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The highest seq staff have marked read (they are not room members, see the migration).
    pub staff_read_seq: i64,
    pub visitor_page_url: Option<String>,
    pub visitor_user_agent: Option<String>,
    pub visitor_language: Option<String>,
    pub visitor_time_zone: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = support_sessions)]
pub struct NewSupportSession<'a> {
    pub id: SessionId,
    pub room_id: RoomId,
    pub guest_id: UserId,
    pub visitor_name: &'a str,
    pub visitor_email: Option<&'a str>,
    pub visitor_page_url: Option<&'a str>,
    pub visitor_user_agent: Option<&'a str>,
    pub visitor_language: Option<&'a str>,
    pub visitor_time_zone: Option<&'a str>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contacts, check_for_backend(diesel::pg::Pg))]
pub struct Contact {
    pub id: ContactId,
    pub name: String,
    pub email: String,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = contacts)]
pub struct NewContact<'a> {
    pub id: ContactId,
    pub name: &'a str,
    pub email: &'a str,
    pub message: &'a str,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg))]
pub struct AuditEntry {
    pub id: AuditEntryId,
    pub actor_id: Option<UserId>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewAuditEntry<'a> {
    pub id: AuditEntryId,
    pub actor_id: Option<UserId>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub details: serde_json::Value,
}
