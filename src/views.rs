//! PROTOCOL.md's objects as they go on the wire, shared by REST responses and (later) WebSocket
//! events so both halves of the contract serialise a user or a message identically.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

use crate::auth::signed_url::{UrlSigner, Variant};
use crate::db::models::{
    Attachment, ChosenStatus, MemberRole, Message, PresenceVisibility, Reaction, Role, Room, RoomKind, RoomMember,
    SupportStatus, User,
};
use crate::ids::{AttachmentId, FriendRequestId, MessageId, RoomId, Seq, UserId};
use crate::protocol::presence::Visible;

/// The protocol's time format: RFC 3339, UTC, milliseconds.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn ser_time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(t))
}

/// The `user` object.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    /// The uploaded avatar (`/api/v1/avatars/{key}`, public, cacheable for good), or an external
    /// http(s) URL the user set; `null` for none.
    pub avatar_url: Option<String>,
    pub bio: Option<String>,
    pub role: Role,
    /// An account for a program (clients show a "bot" badge).
    pub is_bot: bool,
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// Only in the caller's own profile (`GET /users/me` and auth responses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Own profile only: whether `email` was confirmed through the link of a verification mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Own profile only: the status chosen last with `presence.set` (what a new connection
    /// starts with).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_status: Option<ChosenStatus>,
    /// Own profile only: who sees the user's presence besides staff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_visibility: Option<PresenceVisibility>,
}

impl UserView {
    /// The user as anyone may see them.
    pub fn public(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            avatar_url: avatar_url(u),
            bio: u.bio.clone(),
            role: u.role,
            is_bot: u.is_bot,
            created_at: u.created_at,
            email: None,
            email_verified: None,
            presence_status: None,
            presence_visibility: None,
        }
    }

    /// The user as they see themselves.
    pub fn own(u: &User) -> Self {
        Self {
            email: u.email.clone(),
            email_verified: u.email.as_ref().map(|_| u.email_verified_at.is_some()),
            presence_status: Some(u.presence_status),
            presence_visibility: Some(u.presence_visibility),
            ..Self::public(u)
        }
    }
}

/// Where the user's avatar is: the uploaded picture's public address, named by its key, so it
/// changes when the picture does and may be cached for good; else the external URL set with
/// `PATCH /users/me`; else none (clients show initials).
pub fn avatar_url(u: &User) -> Option<String> {
    match &u.avatar_sha256 {
        Some(key) => Some(format!("/api/v1/avatars/{key}")),
        None => u.avatar_url.clone(),
    }
}

fn ser_opt_time<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_time(t)),
        None => s.serialize_none(),
    }
}

/// A user's presence as others may see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PresenceView {
    /// Invisible users show as offline.
    pub status: Visible,
    #[serde(serialize_with = "ser_opt_time")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// A user object with `presence` embedded (friend lists).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserWithPresence {
    #[serde(flatten)]
    pub user: UserView,
    pub presence: PresenceView,
}

/// The `room` object.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoomView {
    pub id: RoomId,
    pub kind: RoomKind,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub is_public: bool,
    pub created_by: Option<UserId>,
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    pub last_seq: Seq,
}

impl RoomView {
    pub fn new(r: &Room) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            name: r.name.clone(),
            topic: r.topic.clone(),
            is_public: r.is_public,
            created_by: r.created_by,
            created_at: r.created_at,
            last_seq: r.last_seq,
        }
    }
}

/// A room as its member sees it in listings: the room plus their standing in it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoomListing {
    #[serde(flatten)]
    pub room: RoomView,
    pub my_role: MemberRole,
    /// The caller's read marker.
    pub last_read_seq: Seq,
    pub unread_count: i64,
    pub last_message: Option<MessageView>,
    /// Support rooms only: whether their session is `open` or `closed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_status: Option<SupportStatus>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub user: UserView,
    pub role: MemberRole,
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: DateTime<Utc>,
    /// The member's read marker, so clients can show read receipts from the start (live changes
    /// come as `read` events); null for the other member of a direct room across a block.
    pub last_read_seq: Option<Seq>,
}

impl MemberView {
    pub fn new(m: &RoomMember, u: &User) -> Self {
        Self { user: UserView::public(u), role: m.role, joined_at: m.joined_at, last_read_seq: Some(m.last_read_seq) }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReactionView {
    pub emoji: String,
    /// In the order the reactions were made.
    pub user_ids: Vec<UserId>,
}

/// The `message` object. A deleted message keeps id, seq and rev, with an empty body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: MessageId,
    pub room_id: RoomId,
    pub seq: Seq,
    pub rev: Seq,
    pub sender_id: Option<UserId>,
    pub body: String,
    /// The room members an `@username` in the body names (resolved when it was sent or last
    /// edited); empty for most messages.
    pub mentions: Vec<UserId>,
    pub reply_to: Option<MessageId>,
    pub client_msg_id: Option<String>,
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "ser_opt_time")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    pub reactions: Vec<ReactionView>,
    /// Files sent with the message, in upload order; empty once it is deleted.
    pub attachments: Vec<AttachmentView>,
}

/// The `attachment` object: a file as a message carries it (and as an upload answers).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttachmentView {
    pub id: AttachmentId,
    /// The uploader's file name, for display only.
    pub name: String,
    /// Bytes.
    pub size: i64,
    /// Decided from the content at upload.
    pub content_type: String,
    /// Images only.
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// A signed download link (relative to the server), valid for `attachments.url_ttl_secs` to
    /// twice that; history, sync and events carry fresh ones.
    pub url: String,
    /// A smaller image (at most `attachments.thumbnail_max_px` a side) for inline display: its
    /// own link for an image already that small, null for other files.
    pub thumbnail_url: Option<String>,
}

impl AttachmentView {
    pub fn new(a: &Attachment, signer: &UrlSigner, now: i64) -> Self {
        Self {
            id: a.id,
            name: a.name.clone(),
            size: a.size_bytes,
            content_type: a.content_type.clone(),
            width: a.width,
            height: a.height,
            url: signer.url(a.id, Variant::Content, now),
            thumbnail_url: if a.thumbnail_sha256.is_some() {
                Some(signer.url(a.id, Variant::Thumbnail, now))
            } else if a.width.is_some() {
                Some(signer.url(a.id, Variant::Content, now))
            } else {
                None
            },
        }
    }
}

impl MessageView {
    /// The view of `m` with its reactions taken from `reactions` (which may hold other messages').
    pub fn new(m: Message, reactions: &[Reaction]) -> Self {
        let mut grouped: Vec<ReactionView> = Vec::new();
        for r in reactions.iter().filter(|r| r.message_id == m.id) {
            match grouped.iter_mut().find(|g| g.emoji == r.emoji) {
                Some(g) => g.user_ids.push(r.user_id),
                None => grouped.push(ReactionView { emoji: r.emoji.clone(), user_ids: vec![r.user_id] }),
            }
        }
        Self {
            id: m.id,
            room_id: m.room_id,
            seq: m.seq,
            rev: m.rev,
            sender_id: m.sender_id,
            body: m.body,
            mentions: m.mentions.unwrap_or_default(),
            reply_to: m.reply_to,
            client_msg_id: m.client_msg_id,
            created_at: m.created_at,
            edited_at: m.edited_at,
            deleted: m.deleted_at.is_some(),
            reactions: grouped,
            attachments: Vec::new(),
        }
    }

    /// Sets `attachments` of each view from `rows` (which may hold other messages').
    pub fn fill_attachments(views: &mut [MessageView], rows: &[Attachment], signer: &UrlSigner) {
        if rows.is_empty() {
            return;
        }
        let now = chrono::Utc::now().timestamp();
        for view in views.iter_mut().filter(|v| !v.deleted) {
            view.attachments = rows
                .iter()
                .filter(|a| a.message_id == Some(view.id))
                .map(|a| AttachmentView::new(a, signer, now))
                .collect();
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FriendView {
    pub user: UserWithPresence,
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = String, format = DateTime)]
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FriendRequestView {
    pub id: FriendRequestId,
    pub from: UserView,
    pub to: UserView,
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BlockView {
    pub user: UserView,
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}
