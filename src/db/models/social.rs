//! Friend requests, friendships and blocks.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::ids::{FriendRequestId, UserId};
use crate::schema::{blocks, friend_requests};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = friend_requests, check_for_backend(diesel::pg::Pg))]
pub struct FriendRequest {
    pub id: FriendRequestId,
    pub from_user_id: UserId,
    pub to_user_id: UserId,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = blocks, check_for_backend(diesel::pg::Pg))]
pub struct Block {
    pub blocker_id: UserId,
    pub blocked_id: UserId,
    pub created_at: DateTime<Utc>,
}
