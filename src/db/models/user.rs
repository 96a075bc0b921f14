//! The `users` row and the global role it carries.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::ids::UserId;
use crate::protocol::presence::Status;
use crate::schema::users;

text_enum! {
    /// Global role. Stored as text (`users.role`, with a CHECK constraint).
    pub enum Role {
        Admin,
        Moderator,
        User,
        Guest,
    }
}

text_enum! {
    /// The presence status a user chose last (`presence.set`), kept so that it outlives the
    /// connection it was set on (`users.presence_status`). `protocol::presence::Status` is its
    /// wire twin; the two convert both ways.
    pub enum ChosenStatus {
        Online,
        Away,
        Dnd,
        Invisible,
    }
}

text_enum! {
    /// Who sees a user's presence besides staff (`users.presence_visibility`): `contacts`
    /// (friends and people sharing a room with them) or `everyone`. A block hides it either way.
    pub enum PresenceVisibility {
        Contacts,
        Everyone,
    }
}

impl From<ChosenStatus> for Status {
    fn from(s: ChosenStatus) -> Self {
        match s {
            ChosenStatus::Online => Status::Online,
            ChosenStatus::Away => Status::Away,
            ChosenStatus::Dnd => Status::Dnd,
            ChosenStatus::Invisible => Status::Invisible,
        }
    }
}

impl From<Status> for ChosenStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Online => ChosenStatus::Online,
            Status::Away => ChosenStatus::Away,
            Status::Dnd => ChosenStatus::Dnd,
            Status::Invisible => ChosenStatus::Invisible,
        }
    }
}

impl Role {
    /// Admins and moderators: the staff who moderate rooms and answer support chats.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Moderator)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub email: Option<String>,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub bio: Option<String>,
    pub role: Role,
    pub password_hash: Option<String>,
    pub token_version: i32,
    pub banned_at: Option<DateTime<Utc>>,
    pub ban_reason: Option<String>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub presence_status: ChosenStatus,
    pub presence_visibility: PresenceVisibility,
    /// An account for a program, made by an admin; shown with a "bot" badge.
    pub is_bot: bool,
    /// The uploaded avatar's key in the attachment store (`PUT /users/me/avatar`), served at
    /// `/api/v1/avatars/{key}`; `None` without one.
    pub avatar_sha256: Option<String>,
    /// The uploaded avatar's media type (`image/jpeg`, or `image/png` where it has transparency).
    pub avatar_content_type: Option<String>,
    /// When the current address was confirmed through a mailed link (`service::verification`).
    pub email_verified_at: Option<DateTime<Utc>>,
    /// When the account's deletion began (`service::accounts::erase_account`); it is signed out
    /// and no longer signs in while the deletion runs, and the retention job finishes a deletion
    /// that stopped half-way.
    pub deleting_since: Option<DateTime<Utc>>,
}

impl User {
    pub fn is_banned(&self) -> bool {
        self.banned_at.is_some()
    }

    /// Whether the account's deletion has begun: for signing in, it is gone already.
    pub fn is_being_deleted(&self) -> bool {
        self.deleting_since.is_some()
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: UserId,
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub display_name: &'a str,
    pub role: Role,
    pub password_hash: Option<&'a str>,
    pub is_bot: bool,
}

/// A profile update: an outer `None` leaves the column alone, `Some(None)` clears it.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub bio: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    pub presence_visibility: Option<PresenceVisibility>,
    /// Cleared (`Some(None)`) together with `avatar_content_type` when an external `avatar_url`
    /// is set or removed: a user has one avatar.
    pub avatar_sha256: Option<Option<String>>,
    pub avatar_content_type: Option<Option<String>>,
}
