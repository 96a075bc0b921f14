//! Who may do what in a room: the one place these rules live. Every room and message service
//! loads a [`RoomAccess`] (one query: the room and the caller's membership) and asks it.
//!
//! The rules:
//! - members read and write their rooms; anyone but a guest may read a public group room;
//! - a room's owner and moderators (and global admins and moderators) moderate it: rename,
//!   kick, delete others' messages; only the owner (or a global admin) deletes the room;
//! - global admins and moderators read and answer every support room without joining it;
//! - a guest (support visitor) is a member of its own support room only, and reaches nothing
//!   else: public rooms are not readable by guests either;
//! - nobody writes to the room of a closed support session (its history stays readable);
//! - non-members get 403 on a private room; an unknown room is 404.

use crate::auth::Caller;
use crate::db::models::SupportStatus;
use crate::db::models::{MemberRole, Role, Room, RoomKind, RoomMember};
use crate::db::queries::{rooms, support};
use crate::error::{ApiError, ApiResult};
use crate::ids::{RoomId, UserId};

pub struct RoomAccess {
    pub room: Room,
    pub member: Option<RoomMember>,
    pub caller_id: UserId,
    pub caller_role: Role,
    /// For support rooms, whether the session is closed (false for other rooms).
    pub support_closed: bool,
}

pub fn no_such_room() -> ApiError {
    ApiError::NotFound("No such room.".into())
}

fn not_a_member() -> ApiError {
    ApiError::Forbidden("You are not a member of this room.".into())
}

impl RoomAccess {
    /// # Errors
    /// `not_found` for an unknown room.
    pub async fn load(conn: &mut diesel_async::AsyncPgConnection, room_id: RoomId, caller: &Caller) -> ApiResult<Self> {
        let (room, member) = rooms::find_with_membership(conn, room_id, caller.id).await?.ok_or_else(no_such_room)?;
        // Only support rooms pay for the second query.
        let support_closed = if room.kind == RoomKind::Support {
            support::find_by_room(conn, room_id).await?.is_none_or(|s| s.status == SupportStatus::Closed)
        } else {
            false
        };
        Ok(Self { room, member, caller_id: caller.id, caller_role: caller.role, support_closed })
    }

    /// For a support room, whether its session is open (`None` for other rooms).
    pub fn support_status(&self) -> Option<SupportStatus> {
        (self.room.kind == RoomKind::Support).then_some(if self.support_closed {
            SupportStatus::Closed
        } else {
            SupportStatus::Open
        })
    }

    pub fn my_role(&self) -> Option<MemberRole> {
        self.member.as_ref().map(|m| m.role)
    }

    fn staff_support(&self) -> bool {
        self.room.kind == RoomKind::Support && self.caller_role.is_staff()
    }

    /// May see the room, its members and its history.
    ///
    /// # Errors
    /// `forbidden` otherwise.
    pub fn require_read(&self) -> ApiResult<()> {
        let public = self.room.is_public && self.room.kind == RoomKind::Group && self.caller_role != Role::Guest;
        if self.member.is_some() || public || self.staff_support() { Ok(()) } else { Err(not_a_member()) }
    }

    /// May post messages, edit them and react.
    ///
    /// # Errors
    /// `forbidden` otherwise, and for everyone once a support session is closed.
    pub fn require_write(&self) -> ApiResult<()> {
        if !(self.member.is_some() || self.staff_support()) {
            return Err(not_a_member());
        }
        if self.support_closed {
            return Err(support_session_closed());
        }
        Ok(())
    }

    /// Must be a member (read markers, leaving).
    ///
    /// # Errors
    /// `forbidden` otherwise.
    pub fn require_member(&self) -> ApiResult<&RoomMember> {
        self.member.as_ref().ok_or_else(not_a_member)
    }

    /// Moderating by global role alone (not the room's owner or a room moderator): such actions
    /// go on the audit log.
    pub fn moderates_by_global_role(&self) -> bool {
        !matches!(self.my_role(), Some(MemberRole::Owner | MemberRole::Moderator)) && self.caller_role.is_staff()
    }

    /// Acting as owner by global role alone (an admin who does not own the room).
    pub fn owns_by_global_role(&self) -> bool {
        self.my_role() != Some(MemberRole::Owner) && self.caller_role == Role::Admin
    }

    /// Room owner or moderator, or global admin or moderator.
    pub fn can_moderate(&self) -> bool {
        matches!(self.my_role(), Some(MemberRole::Owner | MemberRole::Moderator)) || self.caller_role.is_staff()
    }

    /// # Errors
    /// `forbidden` unless [`RoomAccess::can_moderate`]; `forbidden` for non-members of a private
    /// room first, so the room's existence is all they learn.
    pub fn require_moderate(&self) -> ApiResult<()> {
        if self.can_moderate() {
            Ok(())
        } else {
            self.require_read()?;
            Err(ApiError::Forbidden("Only the room's owner or moderators may do that.".into()))
        }
    }

    /// # Errors
    /// `forbidden` unless owner or global admin.
    pub fn require_owner(&self) -> ApiResult<()> {
        if self.my_role() == Some(MemberRole::Owner) || self.caller_role == Role::Admin {
            Ok(())
        } else {
            self.require_read()?;
            Err(ApiError::Forbidden("Only the room's owner may do that.".into()))
        }
    }
}

/// A write to the room of a closed support session (also when the close came while the write
/// waited for the room: `service::messages`).
pub fn support_session_closed() -> ApiError {
    ApiError::Forbidden("This support session is closed.".into())
}
