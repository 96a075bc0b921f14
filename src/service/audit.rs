//! The moderation trail: every action an admin or moderator takes through their global role
//! (not as a room's owner or moderator) is recorded here, in the same transaction as the action,
//! so an action and its record commit together.
//! The log is append-only; reading it is `GET /admin/audit-log` (admins).

use diesel_async::AsyncPgConnection;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::db::models::{AuditEntry, NewAuditEntry};
use crate::db::queries::audit_log;
use crate::error::ApiResult;
use crate::ids::{AuditEntryId, UserId};
use crate::state::AppState;

/// Largest page of `GET /admin/audit-log`.
pub const MAX_PAGE: i64 = 500;

/// What was done; the names are the `action` values clients see.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    UserRoleChanged,
    UserBanned,
    UserUnbanned,
    UserPasswordReset,
    UserTokensRevoked,
    UserDeleted,
    MessageDeleted,
    RoomUpdated,
    RoomMembersAdded,
    RoomMemberRemoved,
    RoomMemberRoleChanged,
    RoomDeleted,
    SupportClosed,
    SupportVisitorBlocked,
    SupportVisitorUnblocked,
    SupportTranscriptSent,
    ContactDeleted,
    BotCreated,
    WebhookCreated,
    WebhookUpdated,
    WebhookDeleted,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::UserRoleChanged => "user.role_changed",
            Action::UserBanned => "user.banned",
            Action::UserUnbanned => "user.unbanned",
            Action::UserPasswordReset => "user.password_reset",
            Action::UserTokensRevoked => "user.tokens_revoked",
            Action::UserDeleted => "user.deleted",
            Action::MessageDeleted => "message.deleted",
            Action::RoomUpdated => "room.updated",
            Action::RoomMembersAdded => "room.members_added",
            Action::RoomMemberRemoved => "room.member_removed",
            Action::RoomMemberRoleChanged => "room.member_role_changed",
            Action::RoomDeleted => "room.deleted",
            Action::SupportClosed => "support.session_closed",
            Action::SupportVisitorBlocked => "support.visitor_blocked",
            Action::SupportVisitorUnblocked => "support.visitor_unblocked",
            Action::SupportTranscriptSent => "support.transcript_sent",
            Action::ContactDeleted => "contact.deleted",
            Action::BotCreated => "bot.created",
            Action::WebhookCreated => "webhook.created",
            Action::WebhookUpdated => "webhook.updated",
            Action::WebhookDeleted => "webhook.deleted",
        }
    }

    fn target_type(self) -> &'static str {
        match self {
            Action::UserRoleChanged
            | Action::UserBanned
            | Action::UserUnbanned
            | Action::UserPasswordReset
            | Action::UserTokensRevoked
            | Action::UserDeleted
            | Action::BotCreated => "user",
            Action::MessageDeleted => "message",
            Action::RoomUpdated
            | Action::RoomMembersAdded
            | Action::RoomMemberRemoved
            | Action::RoomMemberRoleChanged
            | Action::RoomDeleted => "room",
            Action::SupportClosed | Action::SupportTranscriptSent => "support_session",
            Action::SupportVisitorBlocked | Action::SupportVisitorUnblocked => "support_block",
            Action::ContactDeleted => "contact",
            Action::WebhookCreated | Action::WebhookUpdated | Action::WebhookDeleted => "webhook",
        }
    }
}

/// Appends one entry.
///
/// # Errors
/// Database failures only.
pub async fn record(
    conn: &mut AsyncPgConnection,
    actor: UserId,
    action: Action,
    target: impl Into<Uuid>,
    details: Value,
) -> ApiResult<()> {
    record_by(conn, Some(actor), action, target, details).await
}

/// Appends one entry whose actor may be no account: the operator on the command line (whose
/// entries say `"via": "cli"` in their details, see `admin::Actor`).
///
/// # Errors
/// Database failures only.
pub async fn record_by(
    conn: &mut AsyncPgConnection,
    actor: Option<UserId>,
    action: Action,
    target: impl Into<Uuid>,
    details: Value,
) -> ApiResult<()> {
    let target_id = target.into().to_string();
    let new = NewAuditEntry {
        id: AuditEntryId::new(),
        actor_id: actor,
        action: action.as_str(),
        target_type: action.target_type(),
        target_id: &target_id,
        details,
    };
    audit_log::insert(conn, &new).await?;
    Ok(())
}

/// An entry as `GET /admin/audit-log` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntryView {
    pub id: AuditEntryId,
    /// Who acted; null once that account is deleted, and for the operator on the command line
    /// (then `details` has `"via": "cli"`).
    pub actor_id: Option<UserId>,
    /// `user.role_changed`, `user.banned`, `user.unbanned`, `user.password_reset`,
    /// `user.tokens_revoked`, `user.deleted`, `message.deleted`, `room.updated`,
    /// `room.members_added`, `room.member_removed`, `room.member_role_changed`, `room.deleted`,
    /// `support.session_closed`, `contact.deleted`, `bot.created`, `webhook.created`,
    /// `webhook.updated`, `webhook.deleted` or `webhook.disabled` (by the delivery worker, after a
    /// run of failures; no actor).
    pub action: String,
    /// `user`, `message`, `room`, `support_session` or `contact`.
    pub target_type: String,
    pub target_id: String,
    /// What the action changed (e.g. `{from, to}` for a role, `reason` for a ban).
    #[schema(value_type = Object)]
    pub details: Value,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
}

impl AuditEntryView {
    fn new(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            actor_id: e.actor_id,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            details: e.details,
            created_at: crate::views::format_time(&e.created_at),
        }
    }
}

/// `GET /admin/audit-log?limit=&before_id=`: newest first, `limit` 1–500 (default 100).
///
/// # Errors
/// `validation_failed` for a bad limit or cursor.
pub async fn list(
    state: &AppState,
    limit: Option<i64>,
    before_id: Option<AuditEntryId>,
) -> ApiResult<Vec<AuditEntryView>> {
    let (limit, _) = crate::service::validate::page(limit, None, 100, MAX_PAGE)?;
    let mut conn = state.db().await?;
    let rows = audit_log::list(&mut conn, limit, before_id).await?;
    Ok(rows.into_iter().map(AuditEntryView::new).collect())
}
