//! A user's data export (`GET /users/me/export`): what the server holds about them, as JSON.
//! It holds the caller's own data only: their profile (with email), the people they befriended
//! or blocked (id and names, which is what the relationship is), their rooms and role in each,
//! and every message they sent. Other people's messages, reactions and emails are not theirs
//! and are left out.
//!
//! Messages are read in pages ([`messages_page`]) so the route can stream an export of any size
//! without holding it in memory or a connection for its whole length.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::auth::Caller;
use crate::db::models::{MemberRole, RoomKind};
use crate::db::queries::{messages, rooms, social};
use crate::error::ApiResult;
use crate::ids::{MessageId, RoomId, Seq, UserId};
use crate::state::AppState;
use crate::views::{UserView, format_time};

/// Messages per page of the export.
pub const PAGE: i64 = 500;

/// Everything but the messages, which follow it in the document under `messages`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportHead {
    #[schema(value_type = String, format = DateTime)]
    pub exported_at: String,
    /// The caller's own user object (with email).
    pub user: UserView,
    pub friends: Vec<ExportedContact>,
    pub blocks: Vec<ExportedContact>,
    pub rooms: Vec<ExportedRoom>,
}

/// Someone the caller befriended or blocked, and since when.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportedContact {
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    #[schema(value_type = String, format = DateTime)]
    pub since: String,
}

/// A room the caller is a member of.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportedRoom {
    pub id: RoomId,
    pub kind: RoomKind,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub role: MemberRole,
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: String,
    #[schema(value_type = i64)]
    pub last_read_seq: Seq,
}

/// A message the caller sent (deleted ones as their tombstones: empty body, `deleted: true`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportedMessage {
    pub id: MessageId,
    pub room_id: RoomId,
    #[schema(value_type = i64)]
    pub seq: Seq,
    pub body: String,
    pub reply_to: Option<MessageId>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub edited_at: Option<String>,
    pub deleted: bool,
}

/// Where the next page of messages starts.
pub type Cursor = (DateTime<Utc>, MessageId);

/// The export without its messages.
///
/// # Errors
/// Database failures only.
pub async fn head(state: &AppState, caller: &Caller) -> ApiResult<ExportHead> {
    let mut conn = state.db().await?;
    let friends = social::friends(&mut conn, caller.id).await?;
    let blocks = social::blocks_of(&mut conn, caller.id).await?;
    let memberships = rooms::rooms_of(&mut conn, caller.id).await?;
    Ok(ExportHead {
        exported_at: format_time(&Utc::now()),
        user: UserView::own(&caller.user),
        friends: friends
            .into_iter()
            .map(|(since, u)| ExportedContact {
                user_id: u.id,
                username: u.username,
                display_name: u.display_name,
                since: format_time(&since),
            })
            .collect(),
        blocks: blocks
            .into_iter()
            .map(|(b, u)| ExportedContact {
                user_id: u.id,
                username: u.username,
                display_name: u.display_name,
                since: format_time(&b.created_at),
            })
            .collect(),
        rooms: memberships
            .into_iter()
            .map(|(m, r)| ExportedRoom {
                id: r.id,
                kind: r.kind,
                name: r.name,
                topic: r.topic,
                role: m.role,
                joined_at: format_time(&m.joined_at),
                last_read_seq: m.last_read_seq,
            })
            .collect(),
    })
}

/// One page of the messages `user_id` sent, oldest first, after `after`; with the cursor of the
/// next page, or None after the last.
///
/// # Errors
/// Database failures only.
pub async fn messages_page(
    state: &AppState,
    user_id: UserId,
    after: Option<Cursor>,
) -> ApiResult<(Vec<ExportedMessage>, Option<Cursor>)> {
    let mut conn = state.db().await?;
    let rows = messages::by_sender_after(&mut conn, user_id, after, PAGE).await?;
    let next = (rows.len() as i64 == PAGE).then(|| rows.last().map(|m| (m.created_at, m.id))).flatten();
    let page = rows
        .into_iter()
        .map(|m| ExportedMessage {
            id: m.id,
            room_id: m.room_id,
            seq: m.seq,
            deleted: m.deleted_at.is_some(),
            body: m.body,
            reply_to: m.reply_to,
            created_at: format_time(&m.created_at),
            edited_at: m.edited_at.as_ref().map(format_time),
        })
        .collect();
    Ok((page, next))
}
