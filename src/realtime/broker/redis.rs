//! The Redis broker: carries envelopes between the instances of one deployment.
//!
//! Local delivery never depends on Redis: a publish goes at once to this instance's subscribers
//! through the in-process broker, and once to Redis (PUBLISH, with this instance's id in the
//! header) for the others; an instance skips its own messages when Redis echoes them back. So one
//! event is published once and delivered once everywhere, and an instance keeps serving its local
//! clients while Redis is away.
//!
//! An instance hears only what it has local subscribers for: a channel is SUBSCRIBEd when its
//! topic gets its first local subscriber and UNSUBSCRIBEd when its last one leaves. Two tasks talk
//! to Redis, on a thread of their own (`crate::own_thread`: off the room actors' thread, so that a
//! busy instance does not delay what crosses to the others, and Redis's replies are read at once).
//! They reach the rest through channels (the publish queue, the subscription commands) and hand
//! what they receive to the local broker's actor, which is thread-safe to message. The subscriber
//! owns a dedicated pub/sub connection (reconnecting with backoff and resubscribing the wanted
//! channels); the publisher sends queued publishes in pipelined batches
//! over an auto-reconnecting connection. What is published while Redis is unreachable is lost;
//! clients recover it with `sync`, and room actors fill seq gaps from the database.
//!
//! On a Redis Cluster (`redis.cluster`) the same broker runs over sharded pub/sub: see
//! `redis/cluster.rs`.

mod cluster;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink};

pub use self::cluster::RedisConn;
use tokio::sync::{mpsc, oneshot};

use super::memory::MemoryBroker;
use super::{Broker, Envelope, Subscriber, SubscriberId, Topic, wire};
use crate::config::RedisSettings;

/// Channels per SUBSCRIBE when resubscribing after a reconnect.
const SUBSCRIBE_CHUNK: usize = 1000;
/// Publishes per pipelined batch.
const PUBLISH_BATCH: usize = 512;
/// How long a Redis call may take before the connection counts as lost.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the idle subscriber connection is checked with PING (a dead peer sends no FIN).
const SUBSCRIBER_PING: Duration = Duration::from_secs(5);

enum SubCommand {
    Subscribe(String),
    Unsubscribe(String),
    /// Answered once every earlier (un)subscribe is confirmed by Redis, or at once while it is down.
    Barrier(oneshot::Sender<()>),
}

struct Shared {
    instance_id: String,
    prefix: String,
    /// The prefix of presence and instance keys: `{prefix}` on a cluster, so that they share one
    /// hash slot (each script and multi-key command touches one slot); `prefix` on one Redis.
    key_prefix: String,
    local: MemoryBroker,
    /// Local subscribers per topic: the first one subscribes the channel, the last one leaving
    /// unsubscribes it. Kept here, synchronously, so subscribe commands reach the subscriber task
    /// in the order they were made.
    topics: Mutex<HashMap<Topic, HashMap<SubscriberId, Subscriber>>>,
    sub_tx: mpsc::UnboundedSender<SubCommand>,
    pub_tx: mpsc::Sender<(Topic, Vec<u8>)>,
    subscriber_up: AtomicBool,
    /// Signalled when the subscriber reconnects: messages published meanwhile were lost.
    reconnected: tokio::sync::Notify,
}

type Queues = (Arc<Shared>, mpsc::UnboundedReceiver<SubCommand>, mpsc::Receiver<(Topic, Vec<u8>)>);

impl Shared {
    fn new(settings: &RedisSettings, instance_id: &str, key_prefix: String) -> Queues {
        let (sub_tx, sub_rx) = mpsc::unbounded_channel();
        let (pub_tx, pub_rx) = mpsc::channel(settings.publish_queue);
        let shared = Arc::new(Shared {
            instance_id: instance_id.to_owned(),
            prefix: settings.channel_prefix.clone(),
            key_prefix,
            local: MemoryBroker::start(),
            topics: Mutex::new(HashMap::new()),
            sub_tx,
            pub_tx,
            subscriber_up: AtomicBool::new(false),
            reconnected: tokio::sync::Notify::new(),
        });
        (shared, sub_rx, pub_rx)
    }

    fn topics(&self) -> MutexGuard<'_, HashMap<Topic, HashMap<SubscriberId, Subscriber>>> {
        // The map stays consistent even if a holder panicked: every change is a single insert or
        // remove.
        self.topics.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn has_local(&self, topic: &Topic) -> bool {
        self.topics().get(topic).is_some_and(|s| !s.is_empty())
    }
}

/// Cheap to clone; all clones are the same broker.
#[derive(Clone)]
pub struct RedisBroker {
    shared: Arc<Shared>,
    /// Commands other than pub/sub (PUBLISH, PING, the presence keys); reconnects on its own.
    conn: RedisConn,
}

impl RedisBroker {
    /// Starts the local broker and the Redis tasks. Redis need not be up: the tasks connect when
    /// it is.
    ///
    /// # Errors
    /// A malformed Redis URL.
    pub fn start(settings: &RedisSettings, url: &str, instance_id: &str) -> anyhow::Result<Self> {
        if settings.cluster {
            return Self::start_cluster(settings, url, instance_id);
        }
        // The URL is not repeated: it may hold a password.
        let client = crate::db::tls::redis_client(settings, url)?;
        let min = Duration::from_millis(settings.reconnect_min_ms);
        let max = Duration::from_millis(settings.reconnect_max_ms);
        let config = ConnectionManagerConfig::new()
            .set_min_delay(min)
            .set_max_delay(max)
            .set_number_of_retries(2)
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())?;
        let conn = RedisConn::Single(conn);
        let (shared, sub_rx, pub_rx) = Shared::new(settings, instance_id, settings.channel_prefix.clone());
        let tasks = shared.clone();
        crate::own_thread::spawn("plauder-redis", move || async move {
            // The publisher's own connection, made here so that its I/O runs on this thread.
            match ConnectionManager::new_lazy_with_config(client.clone(), config) {
                Ok(conn) => {
                    tokio::join!(
                        subscriber(client, tasks.clone(), sub_rx, min, max),
                        publisher(RedisConn::Single(conn), tasks, pub_rx)
                    );
                }
                Err(e) => tracing::error!("Redis publisher not started: {e}"),
            }
        })?;
        Ok(Self { shared, conn })
    }

    /// As `start`, on the Redis Cluster whose seed nodes `url` lists (comma-separated).
    fn start_cluster(settings: &RedisSettings, url: &str, instance_id: &str) -> anyhow::Result<Self> {
        let client = cluster::client(url, None)?;
        let conn = cluster::connection(&client);
        let key_prefix = format!("{{{}}}", settings.channel_prefix);
        let (shared, sub_rx, pub_rx) = Shared::new(settings, instance_id, key_prefix);
        let (min, max) =
            (Duration::from_millis(settings.reconnect_min_ms), Duration::from_millis(settings.reconnect_max_ms));
        let (tasks, url) = (shared.clone(), url.to_owned());
        crate::own_thread::spawn("plauder-redis", move || async move {
            let publishing = cluster::connection(&client);
            tokio::join!(
                cluster::subscriber(url, tasks.clone(), sub_rx, min, max),
                cluster::publisher(publishing, tasks, pub_rx)
            );
        })?;
        Ok(Self { shared, conn })
    }

    pub fn instance_id(&self) -> &str {
        &self.shared.instance_id
    }

    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// The prefix of the presence and instance keys (hash-tagged on a cluster).
    pub fn key_prefix(&self) -> &str {
        &self.shared.key_prefix
    }

    /// A connection for other Redis commands (the cluster presence uses it).
    pub fn connection(&self) -> RedisConn {
        self.conn.clone()
    }

    /// Delivers to this instance's subscribers only (presence while Redis is down).
    pub fn publish_local(&self, topic: Topic, envelope: Envelope) {
        self.shared.local.publish(topic, envelope);
    }

    /// Resolves after the subscriber connection came back from an outage (a reconnect before the
    /// call counts once), so revocations lost meanwhile can be re-checked.
    pub async fn reconnected(&self) {
        self.shared.reconnected.notified().await;
    }

    /// Whether the pub/sub connection is up (cheap; no round trip).
    pub fn connected(&self) -> bool {
        self.shared.subscriber_up.load(Ordering::Relaxed)
    }

    /// Whether Redis answers: the subscriber connection is up and a PING returns in time.
    ///
    /// # Errors
    /// Why Redis counts as down, for /health/ready.
    pub async fn check(&self) -> Result<(), String> {
        if !self.shared.subscriber_up.load(Ordering::Relaxed) {
            return Err("subscriber connection lost; reconnecting".to_owned());
        }
        let mut conn = self.conn.clone();
        match tokio::time::timeout(REDIS_TIMEOUT, redis::cmd("PING").query_async::<String>(&mut conn)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("PING failed: {e}")),
            Err(_) => Err("no answer to PING within 2 s".to_owned()),
        }
    }
}

impl Broker for RedisBroker {
    fn publish(&self, topic: Topic, envelope: Envelope) {
        let payload = wire::encode(&self.shared.instance_id, &envelope);
        self.shared.local.publish(topic, envelope);
        if self.shared.pub_tx.try_send((topic, payload)).is_err() {
            // Full (Redis too slow or away) or closed (shutting down): not held, see the module doc.
            metrics::counter!("broker_publish_errors_total", "instance" => self.shared.instance_id.clone())
                .increment(1);
        }
    }

    fn subscribe(&self, topic: Topic, id: SubscriberId, subscriber: Subscriber) {
        self.shared.local.subscribe(topic, id, subscriber.clone());
        let mut topics = self.shared.topics();
        let ids = topics.entry(topic).or_default();
        if ids.is_empty() {
            let _ = self.shared.sub_tx.send(SubCommand::Subscribe(wire::channel(&self.shared.prefix, topic)));
        }
        ids.insert(id, subscriber);
    }

    fn unsubscribe(&self, topic: Topic, id: SubscriberId) {
        self.shared.local.unsubscribe(topic, id);
        let mut topics = self.shared.topics();
        if let Some(ids) = topics.get_mut(&topic) {
            // An actor that died without unsubscribing (a panic) must not keep the channel.
            if ids.remove(&id).is_some() && {
                ids.retain(|_, r| r.connected());
                ids.is_empty()
            } {
                topics.remove(&topic);
                let _ = self.shared.sub_tx.send(SubCommand::Unsubscribe(wire::channel(&self.shared.prefix, topic)));
            }
        }
    }

    fn ready(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let (tx, rx) = oneshot::channel();
        let sent = self.shared.sub_tx.send(SubCommand::Barrier(tx)).is_ok();
        Box::pin(async move {
            if sent {
                // Bounded: a stuck Redis must not hold up a new connection's hello.
                let _ = tokio::time::timeout(REDIS_TIMEOUT, rx).await;
            }
        })
    }
}

/// Takes queued publishes in batches and sends each batch as one pipeline.
async fn publisher(mut conn: RedisConn, shared: Arc<Shared>, mut rx: mpsc::Receiver<(Topic, Vec<u8>)>) {
    let instance = shared.instance_id.clone();
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    let mut failing = false;
    while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for (topic, payload) in &batch {
            pipe.cmd("PUBLISH").arg(wire::channel(&shared.prefix, *topic)).arg(payload.as_slice()).ignore();
        }
        let n = batch.len() as u64;
        batch.clear();
        match pipe.query_async::<()>(&mut conn).await {
            Ok(()) => {
                metrics::counter!("broker_published_total", "instance" => instance.clone()).increment(n);
                if failing {
                    tracing::info!("publishing to Redis again");
                    failing = false;
                }
            }
            Err(e) => {
                metrics::counter!("broker_publish_errors_total", "instance" => instance.clone()).increment(n);
                if !failing {
                    tracing::warn!("publishing to Redis failed, events go to local clients only until it returns: {e}");
                    failing = true;
                }
            }
        }
    }
}

/// Owns the pub/sub connection: connects (with backoff), subscribes the wanted channels, applies
/// subscription changes as they come, and hands received envelopes to the local broker.
async fn subscriber(
    client: redis::Client,
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<SubCommand>,
    min: Duration,
    max: Duration,
) {
    let instance = shared.instance_id.clone();
    let mut wanted: HashSet<String> = HashSet::new();
    let mut backoff = min;
    let mut connected_before = false;
    loop {
        match tokio::time::timeout(REDIS_TIMEOUT, client.get_async_pubsub()).await {
            Ok(Ok(pubsub)) => {
                let (mut sink, mut stream) = pubsub.split();
                // Changes made while down are applied to `wanted` first; barriers waiting in the
                // queue are answered once everything is subscribed.
                let mut barriers = Vec::new();
                while let Ok(cmd) = rx.try_recv() {
                    apply(&mut wanted, cmd, &mut barriers);
                }
                let all: Vec<String> = wanted.iter().cloned().collect();
                let mut ok = true;
                for chunk in all.chunks(SUBSCRIBE_CHUNK) {
                    if !matches!(tokio::time::timeout(REDIS_TIMEOUT, sink.subscribe(chunk)).await, Ok(Ok(()))) {
                        ok = false;
                        break;
                    }
                }
                answer(barriers);
                if ok {
                    shared.subscriber_up.store(true, Ordering::Relaxed);
                    metrics::gauge!("broker_redis_connected", "instance" => instance.clone()).set(1.0);
                    if connected_before {
                        metrics::counter!("broker_reconnects_total", "instance" => instance.clone()).increment(1);
                        tracing::info!(channels = wanted.len(), "Redis is back; resubscribed");
                        shared.reconnected.notify_one();
                    }
                    connected_before = true;
                    backoff = min;
                    let mut subscribed = wanted.clone();
                    let done = serve(&shared, &mut sink, &mut stream, &mut rx, &mut wanted, &mut subscribed).await;
                    shared.subscriber_up.store(false, Ordering::Relaxed);
                    metrics::gauge!("broker_redis_connected", "instance" => instance.clone()).set(0.0);
                    if done {
                        return;
                    }
                    tracing::warn!("lost the Redis subscriber connection; local delivery continues, reconnecting");
                }
            }
            Ok(Err(e)) => tracing::debug!("Redis subscriber connect failed: {e}"),
            Err(_) => tracing::debug!("Redis subscriber connect timed out"),
        }
        // While waiting, keep taking subscription changes (and let barriers through), so that
        // nobody waits on a Redis that is not there.
        let sleep = tokio::time::sleep(backoff);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                cmd = rx.recv() => match cmd {
                    Some(cmd) => {
                        let mut barriers = Vec::new();
                        apply(&mut wanted, cmd, &mut barriers);
                        answer(barriers);
                    }
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(max);
    }
}

/// Serves one pub/sub connection until it fails (false) or the broker is gone (true).
async fn serve(
    shared: &Shared,
    sink: &mut PubSubSink,
    stream: &mut (impl futures_util::Stream<Item = redis::Msg> + Unpin),
    rx: &mut mpsc::UnboundedReceiver<SubCommand>,
    wanted: &mut HashSet<String>,
    subscribed: &mut HashSet<String>,
) -> bool {
    let mut ping = tokio::time::interval(SUBSCRIBER_PING);
    ping.tick().await;
    loop {
        tokio::select! {
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { return true };
                let mut barriers = Vec::new();
                apply(wanted, cmd, &mut barriers);
                while let Ok(cmd) = rx.try_recv() {
                    apply(wanted, cmd, &mut barriers);
                }
                let add: Vec<String> = wanted.difference(subscribed).cloned().collect();
                let remove: Vec<String> = subscribed.difference(wanted).cloned().collect();
                let mut ok = true;
                if !add.is_empty() {
                    ok &= matches!(tokio::time::timeout(REDIS_TIMEOUT, sink.subscribe(&add)).await, Ok(Ok(())));
                }
                if ok && !remove.is_empty() {
                    ok &= matches!(tokio::time::timeout(REDIS_TIMEOUT, sink.unsubscribe(&remove)).await, Ok(Ok(())));
                }
                answer(barriers);
                if !ok {
                    return false;
                }
                subscribed.clone_from(wanted);
                metrics::gauge!("broker_subscribed_channels", "instance" => shared.instance_id.clone()).set(subscribed.len() as f64);
            }
            msg = stream.next() => {
                let Some(msg) = msg else { return false };
                deliver(shared, &msg);
            }
            _ = ping.tick() => {
                // In subscribed mode Redis answers PING with ["pong", ""], not +PONG: any answer
                // will do.
                if !matches!(tokio::time::timeout(REDIS_TIMEOUT, sink.ping::<redis::Value>()).await, Ok(Ok(_))) {
                    return false;
                }
            }
        }
    }
}

fn apply(wanted: &mut HashSet<String>, cmd: SubCommand, barriers: &mut Vec<oneshot::Sender<()>>) {
    match cmd {
        SubCommand::Subscribe(ch) => {
            wanted.insert(ch);
        }
        SubCommand::Unsubscribe(ch) => {
            wanted.remove(&ch);
        }
        SubCommand::Barrier(tx) => barriers.push(tx),
    }
}

fn answer(barriers: Vec<oneshot::Sender<()>>) {
    for tx in barriers {
        let _ = tx.send(());
    }
}

/// One message from Redis to the local subscribers of its topic, decoded once.
fn deliver(shared: &Shared, msg: &redis::Msg) {
    let instance = &shared.instance_id;
    let Some(topic) = wire::topic(&shared.prefix, msg.get_channel_name()) else {
        return;
    };
    let decoded = match wire::decode(msg.get_payload_bytes()) {
        Ok(d) => d,
        Err(e) => {
            metrics::counter!("broker_decode_errors_total", "instance" => instance.clone()).increment(1);
            tracing::warn!(channel = msg.get_channel_name(), "undecodable broker message: {e}");
            return;
        }
    };
    if decoded.origin == *instance {
        // Already delivered locally when it was published.
        return;
    }
    metrics::counter!("broker_received_total", "instance" => instance.clone()).increment(1);
    if let Some(sent) = decoded.published_us {
        // Publish on one instance to decode on this one: what crossing instances costs (clocks
        // of one machine, or NTP-synchronised ones).
        let secs = wire::now_us().saturating_sub(sent) as f64 / 1e6;
        metrics::histogram!("broker_transit_seconds", "instance" => instance.clone()).record(secs);
    }
    if !shared.has_local(&topic) {
        // Unsubscribed while it was on its way.
        metrics::counter!("broker_dropped_no_local_total", "instance" => instance.clone()).increment(1);
        return;
    }
    shared.local.publish(topic, decoded.envelope);
}
