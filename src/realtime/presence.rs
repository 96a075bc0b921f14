//! The presence tracker: one per instance. It knows each local user's connections and the status
//! each one set, adds them up (`protocol::presence`'s rule), and publishes a user's visible status
//! on `presence:{id}` when it changes. Changes are coalesced: a flush every `presence_flush_ms` publishes only each user's latest state, and a
//! user whose last connection closed stays online for `presence_offline_grace_ms`, so a reload
//! or a flapping client does not storm their friends. `last_seen_at` is written in batches, one
//! statement per `last_seen_flush_ms`, never per event.
//!
//! With Redis configured, this actor reports each user's local status to the cluster presence
//! (`cluster.rs`) instead of publishing it: the cluster aggregates all instances and publishes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};

use crate::db::PgPool;
use crate::ids::{ConnId, UserId};
use crate::protocol::ServerEvent;
use crate::protocol::events::Presence as PresenceEvent;
use crate::protocol::presence::{Status, Visible, combined, shown};
use crate::realtime::broker::{Broker, Envelope, Topic};
use crate::realtime::cluster::{ClusterPresence, Resync};
use crate::views::format_time;

#[derive(Default)]
struct UserPresence {
    conns: HashMap<ConnId, Status>,
    /// What was last published for the user.
    published: Option<Visible>,
    /// When the last connection closed.
    empty_since: Option<Instant>,
    last_seen: Option<DateTime<Utc>>,
    /// What was last reported to the cluster (None inside: no connections here).
    reported: Option<Option<Status>>,
}

pub struct Presence {
    users: HashMap<UserId, UserPresence>,
    dirty: HashSet<UserId>,
    unsaved_last_seen: HashMap<UserId, DateTime<Utc>>,
    /// When users whose last connection here closed were last seen, kept a while after the
    /// batched save: `presence.subscribe` and friend lists answer with the same time the
    /// `presence` event carried, not an older saved one.
    recent_last_seen: HashMap<UserId, DateTime<Utc>>,
    broker: Arc<dyn Broker>,
    pool: PgPool,
    grace: Duration,
    flush_every: Duration,
    save_every: Duration,
    cluster: Option<Arc<ClusterPresence>>,
}

impl Presence {
    pub fn new(
        broker: Arc<dyn Broker>,
        pool: PgPool,
        grace: Duration,
        flush_every: Duration,
        save_every: Duration,
        cluster: Option<Arc<ClusterPresence>>,
    ) -> Self {
        Self {
            cluster,
            users: HashMap::new(),
            dirty: HashSet::new(),
            unsaved_last_seen: HashMap::new(),
            recent_last_seen: HashMap::new(),
            broker,
            pool,
            grace,
            flush_every,
            save_every,
        }
    }

    fn visible(&self, user: &UserPresence, now: Instant) -> Visible {
        if user.conns.is_empty() {
            // Within the grace period the user still shows as they were.
            match (user.empty_since, user.published) {
                (Some(since), Some(shown)) if now.duration_since(since) < self.grace => shown,
                _ => Visible::Offline,
            }
        } else {
            shown(combined(user.conns.values()))
        }
    }

    /// Publishes the latest visible state of every user that changed since the last flush.
    fn flush(&mut self) {
        let now = Instant::now();
        let mut still_dirty = HashSet::new();
        for user_id in std::mem::take(&mut self.dirty) {
            let Some(user) = self.users.get(&user_id) else { continue };
            let visible = self.visible(user, now);
            if user.conns.is_empty() && visible != Visible::Offline {
                // Still in grace: look again next flush.
                still_dirty.insert(user_id);
                continue;
            }
            let never_shown = user.published.is_none() && visible == Visible::Offline;
            if let Some(cluster) = &self.cluster {
                let local = combined(user.conns.values());
                if user.reported != Some(local) {
                    cluster.report(user_id, local, user.last_seen);
                }
            } else if user.published != Some(visible) && !never_shown {
                let last_seen = if visible == Visible::Offline { user.last_seen } else { None };
                let event = ServerEvent::Presence(PresenceEvent {
                    user_id,
                    status: visible,
                    last_seen_at: last_seen.as_ref().map(format_time),
                });
                self.broker.publish(Topic::Presence(user_id), Envelope::event(&event));
                metrics::counter!("presence_events_total").increment(1);
            }
            if let Some(user) = self.users.get_mut(&user_id) {
                user.published = Some(visible);
                user.reported = Some(combined(user.conns.values()));
            }
            if visible == Visible::Offline && self.users.get(&user_id).is_some_and(|u| u.conns.is_empty()) {
                self.users.remove(&user_id);
            }
        }
        self.dirty = still_dirty;
        metrics::gauge!("presence_users").set(self.users.len() as f64);
    }

    /// Writes the batch of last-seen times in one statement.
    fn save_last_seen(&mut self, ctx: &mut Context<Self>) {
        // Long after the save that carries them has committed.
        let keep = chrono::Duration::from_std(self.save_every * 3 + Duration::from_secs(10)).unwrap_or_default();
        let cutoff = Utc::now() - keep;
        self.recent_last_seen.retain(|_, seen| *seen > cutoff);
        if self.unsaved_last_seen.is_empty() {
            return;
        }
        let batch: Vec<(UserId, DateTime<Utc>)> = self.unsaved_last_seen.drain().collect();
        let pool = self.pool.clone();
        ctx.spawn(
            async move {
                let Ok(mut conn) = pool.get().await else {
                    tracing::warn!(users = batch.len(), "last_seen_at not saved: database unavailable");
                    return;
                };
                if let Err(e) = crate::db::queries::users::set_last_seen(&mut conn, &batch).await {
                    tracing::warn!("last_seen_at not saved: {e}");
                }
            }
            .into_actor(self),
        );
    }
}

impl Actor for Presence {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.flush_every, |act, _| act.flush());
        ctx.run_interval(self.save_every, |act, ctx| act.save_last_seen(ctx));
    }

    fn stopping(&mut self, ctx: &mut Context<Self>) -> Running {
        self.save_last_seen(ctx);
        Running::Stop
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect {
    pub user_id: UserId,
    pub conn_id: ConnId,
    /// The status the user chose last (stored with the account): a new connection starts with
    /// it.
    pub status: Status,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    pub user_id: UserId,
    pub conn_id: ConnId,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct SetStatus {
    pub user_id: UserId,
    pub conn_id: ConnId,
    pub status: Status,
}

/// When these users were last seen, as far as this instance knows it live (absent: it does not,
/// and the saved `users.last_seen_at` stands).
#[derive(Message)]
#[rtype(result = "HashMap<UserId, DateTime<Utc>>")]
pub struct LastSeen(pub Vec<UserId>);

impl Handler<LastSeen> for Presence {
    type Result = MessageResult<LastSeen>;
    fn handle(&mut self, LastSeen(ids): LastSeen, _: &mut Context<Self>) -> Self::Result {
        let out = ids
            .into_iter()
            .filter_map(|id| {
                let live = self.users.get(&id).filter(|u| u.conns.is_empty()).and_then(|u| u.last_seen);
                Some((id, live.or_else(|| self.recent_last_seen.get(&id).copied())?))
            })
            .collect();
        MessageResult(out)
    }
}

/// The visible status of each of these users on this instance (absent: offline here).
#[derive(Message)]
#[rtype(result = "HashMap<UserId, Visible>")]
pub struct Query(pub Vec<UserId>);

/// Which of these users have a connection on this instance, whatever its status (invisible
/// included) or within the offline grace period.
#[derive(Message)]
#[rtype(result = "HashSet<UserId>")]
pub struct Connected(pub Vec<UserId>);

impl Handler<Connected> for Presence {
    type Result = MessageResult<Connected>;
    fn handle(&mut self, Connected(ids): Connected, _: &mut Context<Self>) -> Self::Result {
        let now = Instant::now();
        let here = |u: &UserPresence| {
            !u.conns.is_empty() || u.empty_since.is_some_and(|since| now.duration_since(since) < self.grace)
        };
        MessageResult(ids.into_iter().filter(|id| self.users.get(id).is_some_and(here)).collect())
    }
}

impl Handler<Resync> for Presence {
    type Result = ();
    fn handle(&mut self, Resync { known }: Resync, _: &mut Context<Self>) {
        let Some(cluster) = &self.cluster else { return };
        for user_id in known {
            if !self.users.contains_key(&user_id) {
                cluster.report(user_id, None, Some(Utc::now()));
            }
        }
        for (user_id, user) in &mut self.users {
            // A user in their grace period is reported as they were shown.
            let status = if user.conns.is_empty() { user.reported.flatten() } else { combined(user.conns.values()) };
            cluster.report(*user_id, status, user.last_seen);
            user.reported = Some(status);
        }
    }
}

/// How many users have at least one open connection on this instance, whatever status they
/// chose (invisible ones included: this is for the admin panel, not for other users).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct OnlineCount;

impl Handler<OnlineCount> for Presence {
    type Result = usize;
    fn handle(&mut self, _: OnlineCount, _: &mut Context<Self>) -> usize {
        self.users.values().filter(|u| !u.conns.is_empty()).count()
    }
}

impl Handler<Connect> for Presence {
    type Result = ();
    fn handle(&mut self, m: Connect, _: &mut Context<Self>) {
        let user = self.users.entry(m.user_id).or_default();
        user.conns.insert(m.conn_id, m.status);
        user.empty_since = None;
        self.dirty.insert(m.user_id);
    }
}

impl Handler<Disconnect> for Presence {
    type Result = ();
    fn handle(&mut self, m: Disconnect, _: &mut Context<Self>) {
        if let Some(user) = self.users.get_mut(&m.user_id) {
            user.conns.remove(&m.conn_id);
            if user.conns.is_empty() {
                let now = Utc::now();
                user.empty_since = Some(Instant::now());
                user.last_seen = Some(now);
                self.unsaved_last_seen.insert(m.user_id, now);
                self.recent_last_seen.insert(m.user_id, now);
            }
            self.dirty.insert(m.user_id);
        }
    }
}

impl Handler<SetStatus> for Presence {
    type Result = ();
    fn handle(&mut self, m: SetStatus, _: &mut Context<Self>) {
        if let Some(user) = self.users.get_mut(&m.user_id)
            && let Some(status) = user.conns.get_mut(&m.conn_id)
        {
            *status = m.status;
            self.dirty.insert(m.user_id);
        }
    }
}

impl Handler<Query> for Presence {
    type Result = MessageResult<Query>;
    fn handle(&mut self, Query(ids): Query, _: &mut Context<Self>) -> Self::Result {
        let now = Instant::now();
        let mut out = HashMap::new();
        for id in ids {
            if let Some(user) = self.users.get(&id) {
                let v = self.visible(user, now);
                if v != Visible::Offline {
                    out.insert(id, v);
                }
            }
        }
        MessageResult(out)
    }
}
