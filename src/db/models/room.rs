//! The `rooms` and `room_members` rows, and the room-level role.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::schema::{room_members, rooms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    Group,
    Direct,
    Support,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Group => "group",
            RoomKind::Direct => "direct",
            RoomKind::Support => "support",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "group" => Some(RoomKind::Group),
            "direct" => Some(RoomKind::Direct),
            "support" => Some(RoomKind::Support),
            _ => None,
        }
    }
}

/// A member's role within one room (distinct from the global `Role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    Member,
    Moderator,
    Owner,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Owner => "owner",
            MemberRole::Moderator => "moderator",
            MemberRole::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(MemberRole::Owner),
            "moderator" => Some(MemberRole::Moderator),
            "member" => Some(MemberRole::Member),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName, Identifiable)]
#[diesel(table_name = rooms, check_for_backend(diesel::pg::Pg))]
pub struct Room {
    pub id: Uuid,
    pub kind: String,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub is_public: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_seq: i64,
    pub last_activity_at: DateTime<Utc>,
    pub direct_key: Option<String>,
}

impl Room {
    pub fn kind(&self) -> RoomKind {
        RoomKind::parse(&self.kind).unwrap_or(RoomKind::Group)
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = rooms)]
pub struct NewRoom<'a> {
    pub id: Uuid,
    pub kind: &'a str,
    pub name: Option<&'a str>,
    pub topic: Option<&'a str>,
    pub is_public: bool,
    pub created_by: Option<Uuid>,
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
    pub room_id: Uuid,
    pub user_id: Uuid,
    pub role: String,
    pub joined_at: DateTime<Utc>,
    pub last_read_seq: i64,
}

impl RoomMember {
    pub fn role(&self) -> MemberRole {
        MemberRole::parse(&self.role).unwrap_or(MemberRole::Member)
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = room_members)]
pub struct NewRoomMember<'a> {
    pub room_id: Uuid,
    pub user_id: Uuid,
    pub role: &'a str,
}
