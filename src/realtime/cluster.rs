//! Presence across instances, kept in Redis next to the broker.
//!
//! Each instance reports each of its users' local status (the aggregate of that user's
//! connections here) into a hash per user, `{prefix}:presence:{user}` (instance → status). A Lua
//! script writes the report, aggregates the hash with the same rule as one instance does
//! (invisible hides everything; otherwise dnd over online over away), and, only when the result
//! differs from what was last shown, stores it and PUBLISHes the `presence` event to the user's
//! presence channel: write, aggregate and publish are one atomic step, so concurrent reports from
//! two instances cannot publish their results out of order. A user online on any instance is
//! therefore online everywhere, and goes offline only when no instance has them.
//!
//! Liveness: each instance renews `{prefix}:instance:{id}` (TTL `redis.instance_ttl_ms`) every
//! `redis.heartbeat_interval_ms` and lists itself in `{prefix}:instances`; the users it reported
//! are in `{prefix}:instance_users:{id}`. Every heartbeat, each instance looks for listed
//! instances whose key has expired, and one of them (a short lock) removes the dead instance's
//! reports through the same script. A dead instance's users are thus offline everywhere within
//! `instance_ttl_ms + heartbeat_interval_ms` of its last heartbeat.
//!
//! The script also keeps the time each offline event carried (`{prefix}:last_seen:{user}`, for
//! ten minutes), so that every instance answers `presence.subscribe` and friend lists with that
//! time before the batched save of `users.last_seen_at` has reached the database.
//!
//! When Redis lost our reports (restarted empty, or a report failed while it was away), the next
//! heartbeat notices (our key was gone, or a failure is pending) and the presence actor reports
//! all its users again, removing the ones that left meanwhile. The first heartbeat does the same,
//! for an instance restarted under its old id before its previous reports were swept.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix::{Message, Recipient};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::config::RedisSettings;
use crate::db::PgPool;
use crate::ids::UserId;
use crate::protocol::ServerEvent;
use crate::protocol::events::Presence;
use crate::protocol::presence::{Status, Visible, shown};
use crate::realtime::broker::redis::{RedisBroker, RedisConn};
use crate::realtime::broker::{Envelope, Topic, wire};
use crate::views::format_time;

/// To the presence actor: Redis lost (or may have lost) this instance's reports; report every
/// local user again, and report as gone the users Redis still lists for this instance that are
/// no longer here.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resync {
    pub known: Vec<UserId>,
}

/// The rule of `protocol::presence::{combined, shown}` applied across instances, in Lua because
/// Redis must add up and publish in one atomic step; keep the two in step.
/// KEYS: the user's presence hash, the user's shown status, the reporting instance's user set,
/// the user's last-seen time.
/// ARGV: instance, status ('' removes the report), user id, channel, then the event's whole text
/// for each status that can be shown (online, away, dnd, offline), then the payload header line,
/// then the last-seen time the offline event carries and how long to keep it (ms).
/// Returns the status now shown when it changed, else false.
const REPORT_SCRIPT: &str = r"
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[3], ARGV[3])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[3])
end
local rank = {away = 1, online = 2, dnd = 3}
local best, best_rank = 'offline', 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
  if v == 'invisible' then best = 'offline'; break end
  local r = rank[v] or 0
  if r > best_rank then best, best_rank = v, r end
end
local shown = redis.call('GET', KEYS[2]) or 'offline'
if best == shown then return false end
local texts = {online = ARGV[5], away = ARGV[6], dnd = ARGV[7], offline = ARGV[8]}
if best == 'offline' then
  redis.call('DEL', KEYS[2])
else
  redis.call('SET', KEYS[2], best)
end
local text = texts[best]
redis.call('PUBLISH', ARGV[4], ARGV[9] .. text)
-- Last seen: the time this offline event carries, for every instance's answers until saved.
if best == 'offline' then
  redis.call('SET', KEYS[4], ARGV[10], 'PX', ARGV[11])
end
return best
";

struct Report {
    user_id: UserId,
    status: Option<Status>,
    last_seen: Option<DateTime<Utc>>,
}

pub struct ClusterPresence {
    broker: RedisBroker,
    reports: mpsc::UnboundedSender<Report>,
    /// Redis may hold statuses of ours that are not true any more: at start, or a report failed
    /// since the last full resync.
    stale: Arc<AtomicBool>,
    /// Shutting down: no more heartbeats, so the survivors take our users over at once.
    leaving: AtomicBool,
    heartbeat: Duration,
    ttl: Duration,
    pool: PgPool,
}

impl ClusterPresence {
    pub fn start(broker: RedisBroker, settings: &RedisSettings, pool: PgPool) -> Arc<Self> {
        let (reports, rx) = mpsc::unbounded_channel();
        // Stale from the start: an instance restarted under the same id within the TTL finds its
        // previous life's reports still there, and must withdraw those of users not back.
        let stale = Arc::new(AtomicBool::new(true));
        tokio::spawn(reporter(broker.clone(), rx, stale.clone()));
        Arc::new(Self {
            broker,
            reports,
            stale,
            leaving: AtomicBool::new(false),
            heartbeat: Duration::from_millis(settings.heartbeat_interval_ms),
            ttl: Duration::from_millis(settings.instance_ttl_ms),
            pool,
        })
    }

    /// This instance's status for the user (None: no connections here any more), reported in
    /// the order of the calls.
    pub fn report(&self, user_id: UserId, status: Option<Status>, last_seen: Option<DateTime<Utc>>) {
        let _ = self.reports.send(Report { user_id, status, last_seen });
    }

    /// Starts the heartbeat, the sweep of dead instances and the resync of `presence`.
    pub fn run_heartbeat(self: &Arc<Self>, presence: Recipient<Resync>) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.heartbeat);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if this.leaving.load(Ordering::Relaxed) {
                    return;
                }
                if let Err(e) = this.beat(&presence).await {
                    tracing::debug!("presence heartbeat failed: {e}");
                }
            }
        });
    }

    /// On shutdown: stop heartbeating and drop our liveness key, so the survivors sweep our users
    /// at their next heartbeat instead of after the key's TTL.
    pub fn leave(&self) {
        self.leaving.store(true, Ordering::Relaxed);
        let key = self.key(&format!("instance:{}", self.broker.instance_id()));
        let mut conn = self.broker.connection();
        tokio::spawn(async move {
            let _ = redis::cmd("DEL").arg(key).query_async::<()>(&mut conn).await;
        });
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.broker.key_prefix())
    }

    async fn beat(&self, presence: &Recipient<Resync>) -> redis::RedisResult<()> {
        let me = self.broker.instance_id();
        let mut conn = self.broker.connection();
        let (previous,): (Option<String>,) = redis::pipe()
            .cmd("SET")
            .arg(self.key(&format!("instance:{me}")))
            .arg(1)
            .arg("PX")
            .arg(self.ttl.as_millis() as u64)
            .arg("GET")
            .cmd("SADD")
            .arg(self.key("instances"))
            .arg(me)
            .ignore()
            .query_async(&mut conn)
            .await?;
        if previous.is_none() || self.stale.swap(false, Ordering::Relaxed) {
            let known: Vec<String> =
                redis::cmd("SMEMBERS").arg(self.key(&format!("instance_users:{me}"))).query_async(&mut conn).await?;
            let known = known.iter().filter_map(|u| u.parse().ok()).collect();
            tracing::info!("reporting every local presence to Redis again");
            presence.do_send(Resync { known });
        }
        self.sweep(&mut conn).await
    }

    /// Removes the reports of instances whose liveness key expired.
    async fn sweep(&self, conn: &mut RedisConn) -> redis::RedisResult<()> {
        let me = self.broker.instance_id();
        let instances: Vec<String> = redis::cmd("SMEMBERS").arg(self.key("instances")).query_async(conn).await?;
        for dead in instances.iter().filter(|i| i.as_str() != me) {
            let alive: bool = redis::cmd("EXISTS").arg(self.key(&format!("instance:{dead}"))).query_async(conn).await?;
            if alive {
                continue;
            }
            let locked: Option<String> = redis::cmd("SET")
                .arg(self.key(&format!("sweep:{dead}")))
                .arg(me)
                .arg("NX")
                .arg("PX")
                .arg(self.ttl.as_millis() as u64)
                .query_async(conn)
                .await?;
            if locked.is_none() {
                continue;
            }
            let users_key = self.key(&format!("instance_users:{dead}"));
            let users: Vec<String> = redis::cmd("SMEMBERS").arg(&users_key).query_async(conn).await?;
            let now = Utc::now();
            let mut seen = Vec::new();
            for user_id in users.iter().filter_map(|u| u.parse::<UserId>().ok()) {
                run_report(conn, &self.broker, dead, &Report { user_id, status: None, last_seen: Some(now) }).await?;
                seen.push((user_id, now));
            }
            redis::pipe()
                .cmd("DEL")
                .arg(&users_key)
                .ignore()
                .cmd("SREM")
                .arg(self.key("instances"))
                .arg(dead)
                .ignore()
                .query_async::<()>(conn)
                .await?;
            metrics::counter!("cluster_instances_swept_total", "instance" => me.to_owned()).increment(1);
            tracing::warn!(instance = %dead, users = seen.len(), "instance stopped heartbeating; its users are offline now");
            self.save_last_seen(seen).await;
        }
        Ok(())
    }

    async fn save_last_seen(&self, batch: Vec<(UserId, DateTime<Utc>)>) {
        if batch.is_empty() {
            return;
        }
        match self.pool.get().await {
            Ok(mut db) => {
                if let Err(e) = crate::db::queries::users::set_last_seen(&mut db, &batch).await {
                    tracing::warn!("last_seen_at of a dead instance's users not saved: {e}");
                }
            }
            Err(e) => tracing::warn!("last_seen_at of a dead instance's users not saved: {e}"),
        }
    }

    /// When each of these users was last seen by any instance, while Redis keeps it (absent:
    /// not known there).
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn last_seen(&self, ids: &[UserId]) -> redis::RedisResult<HashMap<UserId, DateTime<Utc>>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        if !self.broker.connected() {
            return Err((redis::ErrorKind::Io, "Redis is unreachable").into());
        }
        // One GET per user in a pipeline rather than an MGET (on a Redis Cluster the keys share
        // the deployment's hash tag, so the pipeline goes to one node either way).
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("GET").arg(last_seen_key(self.broker.key_prefix(), *id));
        }
        let mut conn = self.broker.connection();
        let seen: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
        let parse = |s: Option<String>| DateTime::parse_from_rfc3339(&s?).ok().map(|t| t.with_timezone(&Utc));
        Ok(ids.iter().zip(seen).filter_map(|(id, s)| Some((*id, parse(s)?))).collect())
    }

    /// Which of these users have a connection on some instance, whatever status it shows
    /// (invisible included): a report of theirs is in their presence hash.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn connected(&self, ids: &[UserId]) -> redis::RedisResult<HashSet<UserId>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        if !self.broker.connected() {
            return Err((redis::ErrorKind::Io, "Redis is unreachable").into());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("EXISTS").arg(self.key(&format!("presence:{id}")));
        }
        let mut conn = self.broker.connection();
        let found: Vec<bool> = pipe.query_async(&mut conn).await?;
        Ok(ids.iter().zip(found).filter(|(_, here)| *here).map(|(id, _)| *id).collect())
    }

    /// The status the cluster shows for each of these users (absent: offline).
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn statuses(&self, ids: &[UserId]) -> redis::RedisResult<HashMap<UserId, Visible>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        if !self.broker.connected() {
            // Do not wait out reconnection attempts: the caller answers from this instance.
            return Err((redis::ErrorKind::Io, "Redis is unreachable").into());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key(&format!("presence_shown:{id}"))).collect();
        let mut conn = self.broker.connection();
        let shown: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
        // Only visible statuses are stored; anything else reads as offline (left out).
        let visible = |s: Option<String>| s?.parse::<Visible>().ok().filter(|v| *v != Visible::Offline);
        Ok(ids.iter().zip(shown).filter_map(|(id, s)| Some((*id, visible(s)?))).collect())
    }
}

/// Runs reports one at a time, in order. A report Redis cannot take is shown to this instance's
/// watchers as this instance sees it, and leaves a resync pending.
async fn reporter(broker: RedisBroker, mut rx: mpsc::UnboundedReceiver<Report>, stale: Arc<AtomicBool>) {
    let mut conn = broker.connection();
    let me = broker.instance_id().to_owned();
    while let Some(report) = rx.recv().await {
        if let Err(e) = run_report(&mut conn, &broker, &me, &report).await {
            if !stale.swap(true, Ordering::Relaxed) {
                tracing::warn!("presence not reported to Redis, shown locally only until it returns: {e}");
            }
            let status = shown(report.status);
            let last_seen = if status == Visible::Offline { report.last_seen } else { None };
            let event = ServerEvent::Presence(Presence {
                user_id: report.user_id,
                status,
                last_seen_at: last_seen.as_ref().map(format_time),
            });
            broker.publish_local(Topic::Presence(report.user_id), Envelope::event(&event));
        }
    }
}

async fn run_report(conn: &mut RedisConn, broker: &RedisBroker, instance: &str, r: &Report) -> redis::RedisResult<()> {
    let (prefix, keys) = (broker.prefix(), broker.key_prefix());
    let last_seen = r.last_seen.unwrap_or_else(Utc::now);
    let text = |status: Visible| {
        let last_seen_at = (status == Visible::Offline).then(|| format_time(&last_seen));
        ServerEvent::Presence(Presence { user_id: r.user_id, status, last_seen_at }).to_text().to_string()
    };
    let shown: Option<String> = redis::cmd("EVAL")
        .arg(REPORT_SCRIPT)
        .arg(4)
        .arg(format!("{keys}:presence:{}", r.user_id))
        .arg(format!("{keys}:presence_shown:{}", r.user_id))
        .arg(format!("{keys}:instance_users:{instance}"))
        .arg(last_seen_key(keys, r.user_id))
        .arg(instance)
        .arg(r.status.map_or("", Status::as_str))
        .arg(r.user_id.to_string())
        .arg(wire::channel(prefix, Topic::Presence(r.user_id)))
        .arg(text(Visible::Online))
        .arg(text(Visible::Away))
        .arg(text(Visible::Dnd))
        .arg(text(Visible::Offline))
        .arg(wire::cluster_header())
        .arg(last_seen.to_rfc3339())
        .arg(LAST_SEEN_TTL_MS)
        .query_async(conn)
        .await?;
    if shown.is_some() {
        metrics::counter!("presence_events_total").increment(1);
    }
    Ok(())
}

/// How long Redis keeps a user's last-seen time (the one their offline event carried, set by the
/// report script): far longer than any instance takes to save it (`realtime.last_seen_flush_ms`),
/// after which `users.last_seen_at` holds it.
const LAST_SEEN_TTL_MS: u64 = 600_000;

fn last_seen_key(prefix: &str, user_id: UserId) -> String {
    format!("{prefix}:last_seen:{user_id}")
}
