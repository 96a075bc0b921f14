//! The Redis broker on a Redis Cluster (`redis.cluster = true`, `redis.url` a comma-separated list
//! of seed nodes). The broker above is the same; what differs is how it reaches Redis:
//!
//! - Room, user and staff channels are *sharded* channels (Redis 7: SPUBLISH / SSUBSCRIBE): each
//!   lives on the shard that owns its name's slot, so pub/sub capacity grows with the shards,
//!   where a classic PUBLISH in a cluster is copied to every node.
//! - Presence channels stay classic (PUBLISH / SUBSCRIBE): the presence script publishes from the
//!   shard that holds the presence keys, and a script may not publish to a sharded channel of
//!   another slot. Presence traffic is one event per visible status change, not per message.
//! - The presence and instance keys share one hash tag (`{prefix}:…`), so every script and every
//!   multi-key command touches one slot (see `RedisBroker::key_prefix`).
//!
//! redis-rs's cluster connection (RESP3, a push channel) keeps one connection per node, follows
//! slot moves and failovers, and subscribes again by itself after it reconnects to a node; this
//! module only turns the pushes into deliveries and tracks whether a node was lost meanwhile
//! (messages may have been dropped then: the re-check of sockets runs, as after a reconnect).
//! Publishes go out per channel as one pipeline each (a pipeline may not cross slots), all
//! channels of a batch at once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::future::join_all;
use redis::aio::ConnectionLike;
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind, RedisFuture};
use tokio::sync::mpsc;

use super::{
    PUBLISH_BATCH, REDIS_TIMEOUT, SUBSCRIBE_CHUNK, SUBSCRIBER_PING, Shared, SubCommand, answer, apply, deliver,
};
use crate::realtime::broker::{Topic, wire};

/// A connection for commands, to one Redis or to a cluster; clones share it.
#[derive(Clone)]
pub enum RedisConn {
    Single(redis::aio::ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, redis::Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<redis::Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

/// The seed nodes of `redis.url` (comma-separated).
///
/// # Errors
/// A malformed URL among them.
pub(super) fn client(url: &str, push: Option<mpsc::UnboundedSender<PushInfo>>) -> anyhow::Result<ClusterClient> {
    let seeds: Vec<&str> = url.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let mut builder =
        ClusterClientBuilder::new(seeds).connection_timeout(REDIS_TIMEOUT).response_timeout(REDIS_TIMEOUT).retries(2);
    if let Some(push) = push {
        builder = builder.use_protocol(redis::ProtocolVersion::RESP3).push_sender(push);
    }
    // The URLs are not repeated: they may hold a password.
    builder.build().map_err(|e| anyhow::anyhow!("redis.url is not a valid list of Redis Cluster node URLs: {e}"))
}

/// A command connection to the cluster that connects in the background (the cluster need not be
/// up when the instance starts).
pub(super) fn connection(client: &ClusterClient) -> RedisConn {
    let config = ClusterConfig::new().set_connection_timeout(REDIS_TIMEOUT).set_response_timeout(REDIS_TIMEOUT);
    RedisConn::Cluster(client.get_pending_async_connection_with_config(config))
}

/// Whether a topic's channel is sharded: everything but presence (see the module doc).
fn sharded(topic: Topic) -> bool {
    !matches!(topic, Topic::Presence(_))
}

/// Takes queued publishes in batches; each channel's share of a batch goes as one pipeline, in
/// order, and the channels' pipelines run concurrently.
pub(super) async fn publisher(conn: RedisConn, shared: Arc<Shared>, mut rx: mpsc::Receiver<(Topic, Vec<u8>)>) {
    let instance = shared.instance_id.clone();
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    let mut failing = false;
    while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        let mut per_channel: HashMap<Topic, redis::Pipeline> = HashMap::new();
        let n = batch.len() as u64;
        for (topic, payload) in batch.drain(..) {
            let command = if sharded(topic) { "SPUBLISH" } else { "PUBLISH" };
            per_channel
                .entry(topic)
                .or_insert_with(redis::pipe)
                .cmd(command)
                .arg(wire::channel(&shared.prefix, topic))
                .arg(payload)
                .ignore();
        }
        let sends = per_channel.into_values().map(|pipe| {
            let mut conn = conn.clone();
            async move { pipe.query_async::<()>(&mut conn).await }
        });
        let errors: Vec<redis::RedisError> = join_all(sends).await.into_iter().filter_map(Result::err).collect();
        if let Some(e) = errors.first() {
            // Counted per batch: which of a failed channel's publishes went out is not known.
            metrics::counter!("broker_publish_errors_total", "instance" => instance.clone()).increment(n);
            if !failing {
                tracing::warn!(
                    "publishing to the Redis Cluster failed, events go to local clients only meanwhile: {e}"
                );
                failing = true;
            }
        } else {
            metrics::counter!("broker_published_total", "instance" => instance.clone()).increment(n);
            if failing {
                tracing::info!("publishing to the Redis Cluster again");
                failing = false;
            }
        }
    }
}

/// Subscribes and unsubscribes as local topics come and go, and delivers what the cluster pushes.
pub(super) async fn subscriber(
    url: String,
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<SubCommand>,
    min: Duration,
    max: Duration,
) {
    let instance = shared.instance_id.clone();
    let (push_tx, mut pushes) = mpsc::unbounded_channel();
    let mut conn = match client(&url, Some(push_tx)) {
        Ok(client) => {
            let config = ClusterConfig::new().set_connection_timeout(REDIS_TIMEOUT).set_response_timeout(REDIS_TIMEOUT);
            client.get_pending_async_connection_with_config(config)
        }
        Err(e) => {
            // `start` validated the URL with the same builder; this cannot happen.
            tracing::error!("Redis Cluster subscriber not started: {e}");
            return;
        }
    };
    let mut wanted: HashSet<String> = HashSet::new();
    let mut subscribed: HashSet<String> = HashSet::new();
    // Until the first confirmed round trip, and after a node's connection was lost.
    let mut down = true;
    let mut connected_before = false;
    let mut backoff = min;
    let mut ping = tokio::time::interval(min);
    loop {
        tokio::select! {
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { return };
                let mut barriers = Vec::new();
                apply(&mut wanted, cmd, &mut barriers);
                while let Ok(cmd) = rx.try_recv() {
                    apply(&mut wanted, cmd, &mut barriers);
                }
                if !sync_subscriptions(&mut conn, &shared, &wanted, &mut subscribed).await && !down {
                    lost(&shared, &instance, &mut down, &mut subscribed);
                }
                answer(barriers);
            }
            push = pushes.recv() => {
                let Some(push) = push else { return };
                match push.kind {
                    PushKind::Message | PushKind::SMessage => {
                        if let Some(msg) = redis::Msg::from_push_info(push) {
                            deliver(&shared, &msg);
                        }
                    }
                    PushKind::Disconnection if !down => lost(&shared, &instance, &mut down, &mut subscribed),
                    _ => {}
                }
            }
            _ = ping.tick() => {
                let answered = matches!(
                    tokio::time::timeout(REDIS_TIMEOUT, redis::cmd("PING").query_async::<redis::Value>(&mut conn)).await,
                    Ok(Ok(_))
                );
                if answered && down {
                    // What failed to subscribe while the cluster was away is subscribed now.
                    if sync_subscriptions(&mut conn, &shared, &wanted, &mut subscribed).await {
                        down = false;
                        backoff = min;
                        shared.subscriber_up.store(true, Ordering::Relaxed);
                        metrics::gauge!("broker_redis_connected", "instance" => instance.clone()).set(1.0);
                        if connected_before {
                            metrics::counter!("broker_reconnects_total", "instance" => instance.clone()).increment(1);
                            tracing::info!(channels = subscribed.len(), "Redis Cluster is back");
                            shared.reconnected.notify_one();
                        }
                        connected_before = true;
                        ping = tokio::time::interval(SUBSCRIBER_PING);
                        ping.tick().await;
                    }
                } else if !answered && !down {
                    lost(&shared, &instance, &mut down, &mut subscribed);
                }
                if down {
                    backoff = (backoff * 2).min(max);
                    ping = tokio::time::interval(backoff);
                    ping.tick().await;
                }
            }
        }
    }
}

/// A node's connection was lost (or a command failed): what it published meanwhile is lost.
/// Every channel is subscribed again once the cluster answers: the client resubscribes by itself
/// only when it reconnects to the node, which it may not try again until a command is routed
/// there, and a repeated SSUBSCRIBE is harmless.
fn lost(shared: &Shared, instance: &str, down: &mut bool, subscribed: &mut HashSet<String>) {
    *down = true;
    subscribed.clear();
    shared.subscriber_up.store(false, Ordering::Relaxed);
    metrics::gauge!("broker_redis_connected", "instance" => instance.to_owned()).set(0.0);
    tracing::warn!("lost a Redis Cluster connection; local delivery continues, reconnecting");
}

/// Brings the cluster's subscriptions to `wanted`; whether every command went through.
async fn sync_subscriptions(
    conn: &mut ClusterConnection,
    shared: &Shared,
    wanted: &HashSet<String>,
    subscribed: &mut HashSet<String>,
) -> bool {
    let add: Vec<String> = wanted.difference(subscribed).cloned().collect();
    let remove: Vec<String> = subscribed.difference(wanted).cloned().collect();
    let is_sharded = |ch: &String| wire::topic(&shared.prefix, ch).is_some_and(sharded);
    let mut ok = true;
    for (channels, subscribe) in [(add, true), (remove, false)] {
        let (shard, classic): (Vec<String>, Vec<String>) = channels.into_iter().partition(is_sharded);
        // A sharded subscription may not name channels of several slots at once: one command
        // each, a chunk of them at a time.
        for chunk in shard.chunks(SUBSCRIBE_CHUNK) {
            let commands = chunk.iter().map(|ch| {
                let mut conn = conn.clone();
                async move {
                    let done = if subscribe {
                        tokio::time::timeout(REDIS_TIMEOUT, conn.ssubscribe(ch)).await
                    } else {
                        tokio::time::timeout(REDIS_TIMEOUT, conn.sunsubscribe(ch)).await
                    };
                    (ch, matches!(done, Ok(Ok(()))))
                }
            });
            for (ch, done) in join_all(commands).await {
                ok &= done;
                match (done, subscribe) {
                    (true, true) => {
                        subscribed.insert(ch.clone());
                    }
                    (true, false) => {
                        subscribed.remove(ch);
                    }
                    (false, _) => {}
                }
            }
        }
        for chunk in classic.chunks(SUBSCRIBE_CHUNK) {
            let done = if subscribe {
                tokio::time::timeout(REDIS_TIMEOUT, conn.subscribe(chunk)).await
            } else {
                tokio::time::timeout(REDIS_TIMEOUT, conn.unsubscribe(chunk)).await
            };
            if matches!(done, Ok(Ok(()))) {
                for ch in chunk {
                    if subscribe {
                        subscribed.insert(ch.clone());
                    } else {
                        subscribed.remove(ch);
                    }
                }
            } else {
                ok = false;
            }
        }
    }
    metrics::gauge!("broker_subscribed_channels", "instance" => shared.instance_id.clone())
        .set(subscribed.len() as f64);
    ok
}
