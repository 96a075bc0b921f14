//! The real-time core: WebSocket connections, room actors, the presence tracker and the registry,
//! exchanging typed actix messages, with a broker between the producers of events and the room
//! actors that deliver them. `Realtime` is the handle the rest of the application uses: services
//! reach it as `service::notify::Notify` after they commit, and every event takes the same path
//! whether the change came over REST or WebSocket:
//!
//! ```text
//! service commits → Notify::room_event → broker topic room:{id} → room actor (seq order)
//!                 → the fan-out hub of each worker thread with members (once per worker)
//!                 → each local connection's inbox → socket
//! ```
//!
//! Events to a user (`user:{id}`), to the staff and of presence reach a connection from the broker
//! directly, through the same hub and bounded inbox (see `outbox` and `broker::Subscriber`).
//!
//! Support rooms reach admins and moderators, who are not their members, the same way: every
//! staff connection subscribes the `staff` topic and attaches to the room actor of every open
//! support room (at connect, and when `support_opened` announces a new one), so a visitor's
//! messages reach the inbox through the room actor, in seq order, like any member's.

pub mod broker;
pub mod cluster;
pub mod cluster_limits;
pub mod cluster_stats;
pub mod connection;
mod dispatch;
pub mod events;
pub mod memory;
pub mod outbox;
pub mod presence;
pub mod registry;
pub mod revalidate;
pub mod room;
pub mod sockets;
mod user_rows;
pub mod watch_quota;
mod woken;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix::{Actor, Addr};
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::db::PgPool;
use crate::error::{ApiError, ApiResult};
use crate::ids::{RoomId, Seq, UserId};
use crate::protocol::events::{MemberAdded, MemberRemoved, RoomDeleted, Typing};
use crate::protocol::presence::{Status, Visible};
use crate::protocol::{CloseReason, ServerEvent};
use crate::service::notify::{LiveFigures, Notify};
use crate::views::{RoomView, UserView};
use broker::memory::MemoryBroker;
use broker::redis::RedisBroker;
use broker::{Broker, Control, Envelope, Topic};
use cluster::ClusterPresence;
use cluster_stats::ClusterStats;
use presence::Presence;
use registry::Registry;
use revalidate::LocalSockets;
use watch_quota::WatchQuota;

/// The real-time side of one instance. Services see it as [`Notify`]; the connection actors
/// and the WebSocket route use the rest.
pub struct Realtime {
    broker: Arc<dyn Broker>,
    registry: Addr<Registry>,
    presence: Addr<Presence>,
    /// Set when instances share events through Redis (`redis.url`).
    redis: Option<RedisBroker>,
    cluster: Option<Arc<ClusterPresence>>,
    /// The deployment's live figures (with Redis).
    cluster_stats: Option<Arc<ClusterStats>>,
    shutdown: tokio::sync::watch::Sender<bool>,
    /// Open WebSocket connections on this instance (the admin panel's `connections`).
    connections: Arc<AtomicUsize>,
    /// Returns closed connections' memory to the system after a wave of closes.
    trimmer: Arc<memory::Trimmer>,
    /// The same connections as the database re-check sees them (`revalidate.rs`).
    sockets: Arc<LocalSockets>,
    /// Presence subscriptions per user over their connections here.
    watch_quota: WatchQuota,
}

impl Realtime {
    /// Starts the broker (Redis when `redis.url` is set, else in-process), the registry and the
    /// presence actor on the current actix system.
    ///
    /// # Errors
    /// A malformed Redis URL.
    pub fn start(pool: PgPool, all: &Settings, instance_id: &str) -> anyhow::Result<Arc<Self>> {
        let settings = &all.realtime;
        let (broker, redis, cluster): (Arc<dyn Broker>, _, _) = if all.redis.enabled() {
            let redis = RedisBroker::start(&all.redis, all.redis.url.expose_secret(), instance_id)?;
            let cluster = ClusterPresence::start(redis.clone(), &all.redis, pool.clone());
            (Arc::new(redis.clone()), Some(redis), Some(cluster))
        } else {
            (Arc::new(MemoryBroker::start()), None, None)
        };
        let broker: Arc<dyn Broker> = Arc::new(broker::Traced(broker));
        let registry = Registry::new(
            pool.clone(),
            broker.clone(),
            Duration::from_millis(settings.gap_timeout_ms),
            Duration::from_millis(settings.room_idle_ms),
            crate::auth::signed_url::UrlSigner::new(
                all.auth.jwt_secret.expose_secret().as_bytes(),
                all.attachments.url_ttl_secs,
            ),
        )
        .start();
        let sockets = Arc::new(LocalSockets::default());
        let interval = Duration::from_millis(settings.revalidate_interval_ms);
        revalidate::start(sockets.clone(), pool.clone(), interval, redis.clone());
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
        let connections = Arc::new(AtomicUsize::new(0));
        let cluster_stats = redis.as_ref().map(|redis| {
            let interval = Duration::from_millis(all.redis.heartbeat_interval_ms);
            let ttl = Duration::from_millis(all.redis.instance_ttl_ms);
            ClusterStats::start(redis.clone(), connections.clone(), interval, ttl)
        });
        let (shutdown, _) = tokio::sync::watch::channel(false);
        Ok(Arc::new(Self {
            broker,
            registry,
            presence,
            redis,
            cluster,
            cluster_stats,
            shutdown,
            connections,
            trimmer: memory::Trimmer::start(),
            sockets,
            watch_quota: WatchQuota::new(all.quota.presence_subscriptions_per_user_max),
        }))
    }

    /// The broker (public for the tests that publish control changes by hand).
    pub fn broker(&self) -> &dyn Broker {
        self.broker.as_ref()
    }

    /// The rate-limit buckets every instance shares (with Redis).
    pub fn shared_buckets(&self) -> Option<Arc<dyn crate::auth::ratelimit::SharedBuckets>> {
        self.redis.as_ref().map(|redis| {
            cluster_limits::RedisBuckets::new(redis.clone()) as Arc<dyn crate::auth::ratelimit::SharedBuckets>
        })
    }

    pub(crate) fn registry(&self) -> &Addr<Registry> {
        &self.registry
    }

    pub(crate) fn presence(&self) -> &Addr<Presence> {
        &self.presence
    }

    /// Redis's state for the readiness check; None without Redis.
    pub async fn check_redis(&self) -> Option<Result<(), String>> {
        match &self.redis {
            Some(redis) => Some(redis.check().await),
            None => None,
        }
    }

    /// `typing` to the other members' connections (none of the sender's).
    pub(crate) fn typing(&self, room_id: RoomId, user_id: UserId, active: bool) {
        let event = ServerEvent::Typing(Typing { room_id, user_id, active });
        self.broker.publish(Topic::Room(room_id), Envelope::event_except(&event, user_id));
    }

    pub(crate) fn sockets(&self) -> &LocalSockets {
        &self.sockets
    }

    pub(crate) fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
        self.trimmer.connection_closed();
    }

    /// The user chose a status (`presence.set`, already stored): every one of their connections,
    /// on every instance, takes it.
    pub(crate) fn status_chosen(&self, user_id: UserId, status: Status) {
        self.broker.publish(Topic::User(user_id), Envelope::Control(Control::ChooseStatus { status }));
    }

    pub(crate) fn watch_quota(&self) -> &WatchQuota {
        &self.watch_quota
    }

    /// Resolves when shutdown begins.
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Whether shutdown has begun: from then on a connection refuses the commands it reads, even
    /// before its hub has told it to drain.
    pub fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Tells every local connection to close with 1001, and hands this instance's users over to
    /// the other instances' presence.
    pub fn begin_shutdown(&self) {
        let _ = self.shutdown.send(true);
        if let Some(cluster) = &self.cluster {
            cluster.leave();
        }
    }

    /// Fault injection for the supervision test: panics the room's actor. Whether it ran.
    ///
    /// # Errors
    /// The registry is gone.
    pub async fn crash_room(&self, room_id: RoomId) -> Result<bool, actix::MailboxError> {
        self.registry.send(registry::CrashRoom(room_id)).await
    }

    /// Room actors and attachments the registry holds (tests, metrics).
    ///
    /// # Errors
    /// The registry is gone.
    pub async fn registry_stats(&self) -> Result<registry::RegistryStats, actix::MailboxError> {
        self.registry.send(registry::Stats).await
    }
}

impl Notify for Realtime {
    fn room_event(&self, room_id: RoomId, event: &ServerEvent<'_>) {
        self.broker.publish(Topic::Room(room_id), Envelope::event(event));
    }

    fn room_event_again(&self, room_id: RoomId, event: &ServerEvent<'_>) {
        self.broker.publish(Topic::Room(room_id), Envelope::event_again(event));
    }

    fn user_event(&self, user_id: UserId, event: &ServerEvent<'_>) {
        self.broker.publish(Topic::User(user_id), Envelope::event(event));
    }

    fn members_added(&self, room: &RoomView, users: &[UserView]) {
        for user in users {
            let added = Envelope::event(&ServerEvent::MemberAdded(MemberAdded { room_id: room.id, user, room }));
            self.broker.publish(Topic::Room(room.id), added.clone());
            let attach = Control::Attach { room_id: room.id, from_seq: Some(room.last_seq) };
            self.broker.publish(Topic::User(user.id), Envelope::Control(attach));
            self.broker.publish(Topic::User(user.id), added);
        }
    }

    fn member_removed(&self, room_id: RoomId, user_id: UserId) {
        self.room_event(room_id, &ServerEvent::MemberRemoved(MemberRemoved { room_id, user_id }));
        self.broker.publish(Topic::Room(room_id), Envelope::Control(Control::Detach { user_id }));
        self.broker.publish(Topic::User(user_id), Envelope::Control(Control::Left { room_id }));
    }

    fn room_deleted(&self, room_id: RoomId, member_ids: &[UserId]) {
        self.room_event(room_id, &ServerEvent::RoomDeleted(RoomDeleted { room_id }));
        self.broker.publish(Topic::Room(room_id), Envelope::Control(Control::RoomDeleted));
        for user_id in member_ids {
            self.broker.publish(Topic::User(*user_id), Envelope::Control(Control::Left { room_id }));
        }
    }

    fn befriended(&self, a: UserId, b: UserId) {
        self.broker.publish(Topic::User(a), Envelope::Control(Control::WatchPresence { user_id: b }));
        self.broker.publish(Topic::User(b), Envelope::Control(Control::WatchPresence { user_id: a }));
    }

    fn blocked(&self, a: UserId, b: UserId) {
        self.stop_watching(a, b);
        self.stop_watching(b, a);
    }

    fn stop_watching(&self, watcher: UserId, watched: UserId) {
        let unwatch = Control::UnwatchPresence { user_id: watched };
        self.broker.publish(Topic::User(watcher), Envelope::Control(unwatch));
    }

    fn support_opened(&self, room_id: RoomId, event: &ServerEvent<'_>) {
        // A new session's room has no history yet that staff could have seen.
        self.broker.publish(Topic::Staff, Envelope::Control(Control::Attach { room_id, from_seq: Some(Seq::ZERO) }));
        self.broker.publish(Topic::Staff, Envelope::event(event));
    }

    fn close_user(&self, user_id: UserId, reason: CloseReason) {
        self.broker.publish(Topic::User(user_id), Envelope::Control(Control::Close(reason)));
    }

    fn close_session(&self, user_id: UserId, session: uuid::Uuid) {
        self.broker.publish(Topic::User(user_id), Envelope::Control(Control::CloseSession { session }));
    }

    fn live_statuses(&self, ids: Vec<UserId>) -> BoxFuture<'_, HashMap<UserId, Visible>> {
        Box::pin(async move {
            if let Some(cluster) = &self.cluster {
                match cluster.statuses(&ids).await {
                    Ok(statuses) => return statuses,
                    Err(e) => tracing::debug!("cluster presence unavailable, answering from this instance: {e}"),
                }
            }
            self.presence.send(presence::Query(ids)).await.unwrap_or_default()
        })
    }

    fn connected(&self, ids: Vec<UserId>) -> BoxFuture<'_, HashSet<UserId>> {
        Box::pin(async move {
            let wanted: HashSet<UserId> = ids.into_iter().collect();
            if wanted.is_empty() {
                return HashSet::new();
            }
            if let Some(redis) = &self.redis {
                match subscribed_users(redis, &wanted).await {
                    Ok(found) => return found,
                    Err(e) => tracing::debug!("connections from Redis unavailable, answering for this instance: {e}"),
                }
            }
            self.sockets.users_among(&wanted)
        })
    }

    fn connected_users(&self, ids: Vec<UserId>) -> BoxFuture<'_, HashSet<UserId>> {
        Box::pin(async move {
            if let Some(cluster) = &self.cluster {
                match cluster.connected(&ids).await {
                    // This instance's own count too: its reports reach Redis at the next flush.
                    Ok(mut found) => {
                        found.extend(self.presence.send(presence::Connected(ids)).await.unwrap_or_default());
                        return found;
                    }
                    Err(e) => tracing::debug!("cluster presence unavailable, answering from this instance: {e}"),
                }
            }
            self.presence.send(presence::Connected(ids)).await.unwrap_or_default()
        })
    }

    fn recent_last_seen(&self, ids: Vec<UserId>) -> BoxFuture<'_, HashMap<UserId, DateTime<Utc>>> {
        Box::pin(async move {
            // With Redis, the time the cluster's offline event carried; this instance's own for
            // the rest (Redis away, or the user never reported there).
            let mut seen = HashMap::new();
            if let Some(cluster) = &self.cluster {
                match cluster.last_seen(&ids).await {
                    Ok(found) => seen = found,
                    Err(e) => tracing::debug!("last seen times from Redis unavailable: {e}"),
                }
            }
            let rest: Vec<UserId> = ids.into_iter().filter(|id| !seen.contains_key(id)).collect();
            if !rest.is_empty() {
                seen.extend(self.presence.send(presence::LastSeen(rest)).await.unwrap_or_default());
            }
            seen
        })
    }

    fn live_figures(&self) -> BoxFuture<'_, ApiResult<LiveFigures>> {
        Box::pin(async move {
            if let Some(stats) = &self.cluster_stats {
                match stats.figures().await {
                    Ok((connections, users_online)) => {
                        return Ok(LiveFigures { users_online, connections });
                    }
                    Err(e) => tracing::debug!("cluster figures unavailable, answering for this instance: {e}"),
                }
            }
            let users_online = self
                .presence
                .send(presence::OnlineCount)
                .await
                .map_err(|e| ApiError::internal(anyhow::anyhow!("presence: {e}")))?;
            Ok(LiveFigures { users_online, connections: self.connections.load(Ordering::Relaxed) })
        })
    }
}

/// The users among `ids` whose user channel some instance listens on: every connection of a user
/// subscribes it, and an instance subscribes a channel while it has local subscribers. On a Redis
/// Cluster the user channels are sharded (`SHARDNUMSUB`, which the client asks every node and
/// adds up).
async fn subscribed_users(redis: &RedisBroker, ids: &HashSet<UserId>) -> redis::RedisResult<HashSet<UserId>> {
    if !redis.connected() {
        // Do not wait out reconnection attempts: the caller answers from this instance.
        return Err((redis::ErrorKind::Io, "Redis is unreachable").into());
    }
    let mut conn = redis.connection();
    let sub = match conn {
        broker::redis::RedisConn::Cluster(_) => "SHARDNUMSUB",
        broker::redis::RedisConn::Single(_) => "NUMSUB",
    };
    let channels: HashMap<String, UserId> =
        ids.iter().map(|id| (broker::wire::channel(redis.prefix(), Topic::User(*id)), *id)).collect();
    let mut cmd = redis::cmd("PUBSUB");
    cmd.arg(sub);
    for channel in channels.keys() {
        cmd.arg(channel);
    }
    let counts: HashMap<String, i64> = cmd.query_async(&mut conn).await?;
    Ok(counts.into_iter().filter(|(_, n)| *n > 0).filter_map(|(channel, _)| channels.get(&channel).copied()).collect())
}
