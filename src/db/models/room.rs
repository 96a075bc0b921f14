//! The `rooms` and `room_members` rows, and the room-level role.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::ids::{RoomId, Seq, UserId};
use crate::schema::{room_members, rooms};

text_enum! {
    pub enum RoomKind {
        Group,
        Direct,
        Support,
    }
}

text_enum! {
    /// A member's role within one room (distinct from the global `Role`).
    #[derive(PartialOrd, Ord)]
    pub enum MemberRole {
        Member,
        Moderator,
        Owner,
    }
}

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName, Identifiable)]
#[diesel(table_name = rooms, check_for_backend(diesel::pg::Pg))]
pub struct Room {
    pub id: RoomId,
    pub kind: RoomKind,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub is_public: bool,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub last_seq: Seq,
    pub last_activity_at: DateTime<Utc>,
    pub direct_key: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = rooms)]
pub struct NewRoom<'a> {
    pub id: RoomId,
    pub kind: RoomKind,
    pub name: Option<&'a str>,
    pub topic: Option<&'a str>,
    pub is_public: bool,
    pub created_by: Option<UserId>,
    pub direct_key: Option<&'a str>,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = rooms)]
pub struct RoomChanges {
    pub name: Option<String>,
    pub topic: Option<Option<String>>,
    pub is_public: Option<bool>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = room_members, check_for_backend(diesel::pg::Pg))]
pub struct RoomMember {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub role: MemberRole,
    pub joined_at: DateTime<Utc>,
    pub last_read_seq: Seq,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = room_members)]
pub struct NewRoomMember {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub role: MemberRole,
}
