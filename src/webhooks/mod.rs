//! Outgoing webhooks: what happened in plauder, POSTed as signed JSON to the endpoints admins
//! registered (`service::webhooks` manages them).
//!
//! - Events go to the `webhook_outbox` table in the same transaction as the change they report
//!   ([`enqueue`]), one row per endpoint that wants them: a change that rolls back leaves no event,
//!   a crash after the commit loses none.
//! - Whether any endpoint wants an event type is kept in memory ([`Wanted`]), refreshed when
//!   endpoints change here and every `webhooks.refresh_interval_ms` (changes made elsewhere), so
//!   the message send path pays one atomic load and no statement while nobody listens.
//! - [`deliver`] is the worker that sends them (retries, ordering, disabling), [`guard`] keeps
//!   deliveries out of internal networks, [`sign`] makes and checks the signature header.

pub mod deliver;
pub mod guard;
pub mod sign;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use chrono::Utc;
use diesel_async::AsyncPgConnection;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db::PgPool;
use crate::db::queries::webhooks as q;
use crate::ids::RoomId;
use crate::views::{MessageView, format_time};

/// The events an endpoint can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub enum EventType {
    #[serde(rename = "message.created")]
    MessageCreated,
    #[serde(rename = "message.edited")]
    MessageEdited,
    #[serde(rename = "message.deleted")]
    MessageDeleted,
}

impl EventType {
    pub const ALL: [EventType; 3] = [EventType::MessageCreated, EventType::MessageEdited, EventType::MessageDeleted];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::MessageCreated => "message.created",
            EventType::MessageEdited => "message.edited",
            EventType::MessageDeleted => "message.deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    fn bit(self) -> u8 {
        match self {
            EventType::MessageCreated => 1,
            EventType::MessageEdited => 2,
            EventType::MessageDeleted => 4,
        }
    }
}

/// Which event types some enabled endpoint wants, as this instance last read it.
#[derive(Debug, Default)]
pub struct Wanted {
    bits: AtomicU8,
}

impl Wanted {
    /// One relaxed load: the send path asks this for every batch.
    pub fn wants(&self, kind: EventType) -> bool {
        self.bits.load(Ordering::Relaxed) & kind.bit() != 0
    }

    /// Every event type: what the send path assumes until the endpoints have been read once. The
    /// outbox insert joins the endpoints, so this costs a join that finds none, never a lost event.
    pub fn want_all(&self) {
        self.bits.store(u8::MAX, Ordering::Relaxed);
    }

    fn set(&self, names: &[String]) {
        let bits = names.iter().filter_map(|n| EventType::parse(n)).fold(0, |acc, t| acc | t.bit());
        self.bits.store(bits, Ordering::Relaxed);
    }

    /// Re-reads the wanted event types.
    ///
    /// # Errors
    /// Database failures.
    pub async fn refresh(&self, conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
        let names = q::wanted_event_types(conn).await?;
        self.set(&names);
        Ok(())
    }
}

/// Re-reads [`Wanted`] every `interval`, for endpoint changes made on other instances.
pub fn start_refresh(pool: PgPool, wanted: Arc<Wanted>, interval: Duration) {
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let result = match pool.get().await {
                Ok(mut conn) => wanted.refresh(&mut conn).await.map_err(anyhow::Error::from),
                Err(e) => Err(anyhow::anyhow!("database pool: {e}")),
            };
            if let Err(e) = result {
                tracing::warn!("re-reading the wanted webhook events failed: {e:#}");
            }
        }
    });
}

/// One event for the outbox.
pub struct Event {
    pub kind: EventType,
    pub room_id: Option<RoomId>,
    /// The JSON body receivers get: `{"id", "type", "created_at", "room_id", "data"}`.
    pub payload: Value,
}

impl Event {
    pub fn new(kind: EventType, room_id: Option<RoomId>, data: Value) -> Self {
        let payload = json!({
            "id": Uuid::new_v4(),
            "type": kind.as_str(),
            "created_at": format_time(&Utc::now()),
            "room_id": room_id,
            "data": data,
        });
        Self { kind, room_id, payload }
    }

    /// A `message.*` event with the message as the API shows it.
    pub fn message(kind: EventType, view: &MessageView) -> Self {
        Self::new(kind, Some(view.room_id), json!({ "message": view }))
    }
}

/// Writes the events some endpoint wants to the outbox, on `conn` (inside the caller's
/// transaction); does nothing, not even a statement, for events nobody wants.
///
/// # Errors
/// Database failures (which roll the caller's transaction back).
pub async fn enqueue(conn: &mut AsyncPgConnection, wanted: &Wanted, events: Vec<Event>) -> diesel::QueryResult<()> {
    let events: Vec<Event> = events.into_iter().filter(|e| wanted.wants(e.kind)).collect();
    if events.is_empty() {
        return Ok(());
    }
    q::enqueue(conn, &events).await.map(|_| ())
}

/// `message.created` events for messages just inserted, as the API shows them (`views`, with
/// their files and signed links; a batch of plain sends has none).
///
/// # Errors
/// As [`enqueue`].
pub async fn enqueue_created(
    conn: &mut AsyncPgConnection,
    wanted: &Wanted,
    views: &[MessageView],
) -> diesel::QueryResult<()> {
    if !wanted.wants(EventType::MessageCreated) {
        return Ok(());
    }
    let events = views.iter().map(|v| Event::message(EventType::MessageCreated, v)).collect();
    enqueue(conn, wanted, events).await
}
