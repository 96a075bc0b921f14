//! The real-time core: WebSocket connections, room actors, the presence tracker and the registry,
//! exchanging typed actix messages, with a broker between the producers of events and the room
//! actors that deliver them. `Realtime` is the handle the rest of the application uses: services
//! call it after they commit, and every event takes the same path whether the change came over
//! REST or WebSocket:
//!
//! ```text
//! service commits → Realtime::publish → broker topic room:{id} → room actor (seq order)
//!                 → each local connection's outbox → socket
//! ```
//!
//! Support rooms reach admins and moderators, who are not their members, the same way: every
//! staff connection subscribes the `staff` topic and attaches to the room actor of every open
//! support room (at connect, and when `support_opened` announces a new one), so a visitor's
//! messages reach the inbox through the room actor, in seq order, like any member's.

pub mod broker;
pub mod cluster;
pub mod connection;
pub mod events;
pub mod outbox;
pub mod presence;
pub mod protocol;
pub mod registry;
pub mod room;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix::{Actor, Addr};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::Settings;
use crate::db::PgPool;
use crate::views::{MessageView, RoomView, UserView};
use broker::memory::MemoryBroker;
use broker::redis::RedisBroker;
use broker::{Broker, Control, Envelope, Topic};
use cluster::ClusterPresence;
use presence::Presence;
use registry::Registry;

pub struct Realtime {
    pub broker: Arc<dyn Broker>,
    pub registry: Addr<Registry>,
    pub presence: Addr<Presence>,
    /// Set when instances share events through Redis (`redis.url`).
    pub redis: Option<RedisBroker>,
    cluster: Option<Arc<ClusterPresence>>,
    shutdown: tokio::sync::watch::Sender<bool>,
    /// Open WebSocket connections on this instance (the admin panel's `connections`).
    connections: AtomicUsize,
}

impl Realtime {
    /// Starts the broker (Redis when `redis.url` is set, else in-process), the registry and the
    /// presence actor on the current actix system.
    ///
    /// # Errors
    /// A malformed Redis URL.
    pub fn start(pool: PgPool, all: &Settings, instance_id: &str) -> anyhow::Result<Self> {
        let settings = &all.realtime;
        let (broker, redis, cluster): (Arc<dyn Broker>, _, _) = if all.redis.enabled() {
            let redis = RedisBroker::start(&all.redis, all.redis.url.expose_secret(), instance_id)?;
            let cluster = ClusterPresence::start(redis.clone(), &all.redis, pool.clone());
            (Arc::new(redis.clone()), Some(redis), Some(cluster))
        } else {
            (Arc::new(MemoryBroker::start()), None, None)
        };
        let registry = Registry::new(
            pool.clone(),
            broker.clone(),
            Duration::from_millis(settings.gap_timeout_ms),
            Duration::from_millis(settings.room_idle_ms),
        )
        .start();
        let presence = Presence::new(
            broker.clone(),
            pool,
            Duration::from_millis(settings.presence_offline_grace_ms),
            Duration::from_millis(settings.presence_flush_ms),
            Duration::from_millis(settings.last_seen_flush_ms),
            cluster.clone(),
        )
        .start();
        if let Some(cluster) = &cluster {
            cluster.run_heartbeat(presence.clone().recipient());
        }
        let (shutdown, _) = tokio::sync::watch::channel(false);
        Ok(Self { broker, registry, presence, redis, cluster, shutdown, connections: AtomicUsize::new(0) })
    }

    /// The live status of each of these users that is not offline, across the cluster when there
    /// is one (this instance's view while Redis is unreachable).
    pub async fn live_statuses(&self, ids: Vec<Uuid>) -> HashMap<Uuid, &'static str> {
        if let Some(cluster) = &self.cluster {
            match cluster.statuses(&ids).await {
                Ok(statuses) => return statuses,
                Err(e) => tracing::debug!("cluster presence unavailable, answering from this instance: {e}"),
            }
        }
        self.presence.send(presence::Query(ids)).await.unwrap_or_default()
    }

    /// A history change of a message (`message.new`, `message.updated`, `message.deleted`,
    /// `reaction.updated`), to every member's connections in seq order.
    pub fn message_changed(&self, kind: &str, message: &MessageView) {
        self.broker.publish(Topic::Room(message.room_id), events::history(kind, message));
    }

    /// An event without a seq to every member's connections.
    pub fn room_event(&self, room_id: Uuid, kind: &str, data: Value) {
        self.broker.publish(Topic::Room(room_id), events::plain(kind, data));
    }

    /// `typing` to the other members' connections (none of the sender's).
    pub fn typing(&self, room_id: Uuid, user_id: Uuid, active: bool) {
        let text = protocol::event("typing", json!({"room_id": room_id, "user_id": user_id, "active": active}));
        self.broker.publish(
            Topic::Room(room_id),
            Envelope::Event { seq: None, text: text.into(), exclude_user: Some(user_id) },
        );
    }

    /// An event to every connection of one user.
    pub fn user_event(&self, user_id: Uuid, kind: &str, data: Value) {
        self.broker.publish(Topic::User(user_id), events::plain(kind, data));
    }

    /// Users joined a room: the members already there hear `room.member_added`, and each new
    /// member's connections attach to the room and hear it too.
    pub fn members_added(&self, room: &RoomView, users: &[UserView]) {
        for user in users {
            let data = json!({"room_id": room.id, "user": user, "room": room});
            self.room_event(room.id, "room.member_added", data.clone());
            self.broker.publish(
                Topic::User(user.id),
                Envelope::Control(Control::Attach { room_id: room.id, from_seq: Some(room.last_seq) }),
            );
            self.user_event(user.id, "room.member_added", data);
        }
    }

    /// A user left or was removed: everyone, the user included, hears `room.member_removed`,
    /// then that user's connections stop receiving the room.
    pub fn member_removed(&self, room_id: Uuid, user_id: Uuid) {
        self.room_event(room_id, "room.member_removed", json!({"room_id": room_id, "user_id": user_id}));
        self.broker.publish(Topic::Room(room_id), Envelope::Control(Control::Detach { user_id }));
        self.broker.publish(Topic::User(user_id), Envelope::Control(Control::Left { room_id }));
    }

    /// The room is gone: members hear `room.deleted` and their connections drop it.
    pub fn room_deleted(&self, room_id: Uuid, member_ids: &[Uuid]) {
        self.room_event(room_id, "room.deleted", json!({"room_id": room_id}));
        self.broker.publish(Topic::Room(room_id), Envelope::Control(Control::RoomDeleted));
        for user_id in member_ids {
            self.broker.publish(Topic::User(*user_id), Envelope::Control(Control::Left { room_id }));
        }
    }

    /// Closes every connection of the user, on every instance.
    pub fn close_user(&self, user_id: Uuid, code: u16, reason: &'static str) {
        self.broker.publish(Topic::User(user_id), Envelope::Control(Control::Close { code, reason }));
    }

    /// Two users became friends: each starts receiving the other's presence.
    pub fn befriended(&self, a: Uuid, b: Uuid) {
        self.broker.publish(Topic::User(a), Envelope::Control(Control::WatchPresence { user_id: b }));
        self.broker.publish(Topic::User(b), Envelope::Control(Control::WatchPresence { user_id: a }));
    }

    /// A new support session: every online admin and moderator hears `support.session_created`
    /// and their connections attach to the room, so the visitor's messages reach them too.
    pub fn support_opened(&self, data: Value, room_id: Uuid) {
        // A new session's room has no history yet that staff could have seen.
        self.broker.publish(Topic::Staff, Envelope::Control(Control::Attach { room_id, from_seq: Some(0) }));
        self.broker.publish(Topic::Staff, events::plain("support.session_created", data));
    }

    /// A support session was closed: the visitor and the staff attached to the room hear
    /// `support.session_closed`, the visitor's last event of the session.
    pub fn support_closed(&self, room_id: Uuid, data: Value) {
        self.room_event(room_id, "support.session_closed", data);
    }

    /// The user's global role changed: their live connections were set up for the old one (the
    /// staff topic, support rooms), so they are closed with 4001 and reconnect as the new role.
    pub fn role_changed(&self, user_id: Uuid) {
        self.close_user(user_id, protocol::close::TOKEN_REVOKED, "role changed: reconnect");
    }

    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Open WebSocket connections on this instance.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Resolves when shutdown begins.
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Tells every local connection to close with 1001, and hands this instance's users over to
    /// the other instances' presence.
    pub fn begin_shutdown(&self) {
        let _ = self.shutdown.send(true);
        if let Some(cluster) = &self.cluster {
            cluster.leave();
        }
    }
}
