//! The `webhook_endpoints`, `webhook_outbox`, `webhook_attempts` and `incoming_webhooks` rows.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::ids::{RoomId, UserId};
use crate::schema::{incoming_webhooks, webhook_attempts, webhook_endpoints, webhook_outbox};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = webhook_endpoints, check_for_backend(diesel::pg::Pg))]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub room_id: Option<RoomId>,
    pub secret: String,
    pub enabled: bool,
    pub consecutive_failures: i32,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhook_endpoints)]
pub struct NewWebhookEndpoint<'a> {
    pub id: Uuid,
    pub url: &'a str,
    pub event_types: Vec<String>,
    pub room_id: Option<RoomId>,
    pub secret: &'a str,
    pub created_by: Option<UserId>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = webhook_outbox, check_for_backend(diesel::pg::Pg))]
pub struct OutboxRow {
    pub id: i64,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub room_id: Option<Uuid>,
    pub payload: serde_json::Value,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = webhook_attempts, check_for_backend(diesel::pg::Pg))]
pub struct Attempt {
    pub id: i64,
    pub outbox_id: i64,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
}

/// An incoming webhook: a room's secret URL that posts as its bot.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = incoming_webhooks, check_for_backend(diesel::pg::Pg))]
pub struct IncomingHook {
    pub id: Uuid,
    pub room_id: RoomId,
    pub bot_id: UserId,
    pub name: String,
    pub token_hash: Vec<u8>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = incoming_webhooks)]
pub struct NewIncomingHook<'a> {
    pub id: Uuid,
    pub room_id: RoomId,
    pub bot_id: UserId,
    pub name: &'a str,
    pub token_hash: &'a [u8],
    pub created_by: Option<UserId>,
}
