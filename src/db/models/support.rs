//! The `support_sessions`, `support_blocks`, `canned_replies`, `contacts` and `audit_log` rows:
//! the support inbox and its tools, the contact form and the moderation trail.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::ids::{AuditEntryId, CannedReplyId, ContactId, RoomId, SessionId, SupportBlockId, UserId};
use crate::schema::{audit_log, canned_replies, contacts, support_blocks, support_sessions};

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
    /// The client address the session was opened from (for blocking, see the migration).
    pub visitor_address: Option<String>,
    /// The random id the widget keeps in the visitor's browser, if it sent one.
    pub visitor_browser_id: Option<String>,
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
    pub visitor_address: Option<&'a str>,
    pub visitor_browser_id: Option<&'a str>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = canned_replies, check_for_backend(diesel::pg::Pg))]
pub struct CannedReply {
    pub id: CannedReplyId,
    pub title: String,
    pub body: String,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = canned_replies)]
pub struct NewCannedReply<'a> {
    pub id: CannedReplyId,
    pub title: &'a str,
    pub body: &'a str,
    pub created_by: Option<UserId>,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = canned_replies)]
pub struct CannedReplyChanges {
    pub title: Option<String>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = support_blocks, check_for_backend(diesel::pg::Pg))]
pub struct SupportBlock {
    pub id: SupportBlockId,
    pub address: Option<String>,
    pub browser_id: Option<String>,
    pub reason: Option<String>,
    pub session_id: Option<SessionId>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub lifted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = support_blocks)]
pub struct NewSupportBlock<'a> {
    pub id: SupportBlockId,
    pub address: Option<&'a str>,
    /// What a later session's address is matched by (`auth::client_ip::address_key`).
    pub address_key: Option<&'a str>,
    pub browser_id: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub session_id: Option<SessionId>,
    pub created_by: Option<UserId>,
    pub expires_at: DateTime<Utc>,
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
