//! The `room_notification_settings`, `push_subscriptions` and `push_queue` rows: who wants to be
//! notified of what, on which devices, and the pushes waiting to go out.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Int4, Int8, Text, Uuid as SqlUuid};

use crate::ids::{PushSubscriptionId, RoomId, UserId};
use crate::schema::{push_subscriptions, room_notification_settings};

text_enum! {
    /// What of a room's messages reach a user who is not connected: every message (`all`),
    /// those that mention them (`mentions`) or nothing (`none`).
    pub enum NotifyLevel {
        All,
        Mentions,
        None,
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = room_notification_settings, check_for_backend(diesel::pg::Pg))]
#[diesel(treat_none_as_null = true)]
pub struct RoomNotificationSetting {
    pub user_id: UserId,
    pub room_id: RoomId,
    pub level: NotifyLevel,
    pub muted_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = push_subscriptions, check_for_backend(diesel::pg::Pg))]
pub struct PushSubscription {
    pub id: PushSubscriptionId,
    pub user_id: UserId,
    pub session_id: Option<uuid::Uuid>,
    pub endpoint: String,
    pub p256dh: Vec<u8>,
    pub auth: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = push_subscriptions)]
pub struct NewPushSubscription<'a> {
    pub id: PushSubscriptionId,
    pub user_id: UserId,
    pub session_id: Option<uuid::Uuid>,
    pub endpoint: &'a str,
    pub p256dh: &'a [u8],
    pub auth: &'a [u8],
}

/// A queued push as the worker claims it, with its subscription.
#[derive(Debug, QueryableByName)]
pub struct ClaimedPush {
    #[diesel(sql_type = Int8)]
    pub id: i64,
    #[diesel(sql_type = SqlUuid)]
    pub subscription_id: PushSubscriptionId,
    #[diesel(sql_type = SqlUuid)]
    pub user_id: UserId,
    /// `message` or `support`.
    #[diesel(sql_type = Text)]
    pub kind: String,
    /// `normal` or `high` (the `Urgency` header).
    #[diesel(sql_type = Text)]
    pub urgency: String,
    #[diesel(sql_type = Text)]
    pub payload: String,
    /// Tries so far, this one included.
    #[diesel(sql_type = Int4)]
    pub attempts: i32,
    #[diesel(sql_type = Text)]
    pub endpoint: String,
    #[diesel(sql_type = Bytea)]
    pub p256dh: Vec<u8>,
    #[diesel(sql_type = Bytea)]
    pub auth: Vec<u8>,
    /// Whether the subscription still belongs to the push's recipient: one queued while the
    /// endpoint changed hands is dropped, never sent to the new owner's browser.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub owned: bool,
}
