//! Revocation that does not depend on a message arriving. A ban, a role change or revoked tokens
//! reach other instances' sockets as `Control::Close` over the broker, and the Redis broker drops
//! messages while Redis is away or its publish queue is full. So each instance also re-checks its
//! own sockets against the database: every `realtime.revalidate_interval_ms`, and at once when
//! its Redis subscriber reconnects (what was published meanwhile is lost). One query reads the
//! accounts of all local sockets, however many there are; each socket whose account is gone,
//! banned, has a newer token version or another role than the socket was opened with is closed
//! with the reason the lost message would have carried. A lost revocation therefore takes effect
//! within one interval (plus the query).
//!
//! Room memberships are not re-checked here: a kick whose `Left` control is lost leaves the
//! connection attached to the room until it reconnects.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix::Recipient;

use crate::db::PgPool;
use crate::db::models::{Role, User};
use crate::db::queries;
use crate::ids::{ConnId, UserId};
use crate::protocol::CloseReason;
use crate::realtime::broker::redis::RedisBroker;
use crate::realtime::broker::{Control, Envelope, Published, Topic};

/// What a socket was authorised with when it opened, and how to close it.
struct Entry {
    user_id: UserId,
    token_version: i32,
    role: Role,
    control: Recipient<Published>,
}

/// This instance's open sockets, as the re-check sees them. Connections add themselves when they
/// start and remove themselves when they stop.
#[derive(Default)]
pub struct LocalSockets {
    map: Mutex<HashMap<ConnId, Entry>>,
}

impl LocalSockets {
    fn map(&self) -> MutexGuard<'_, HashMap<ConnId, Entry>> {
        // Every change is a single insert or remove, so a holder's panic leaves it consistent.
        self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn insert(
        &self,
        conn_id: ConnId,
        user_id: UserId,
        token_version: i32,
        role: Role,
        control: Recipient<Published>,
    ) {
        self.map().insert(conn_id, Entry { user_id, token_version, role, control });
    }

    pub(crate) fn remove(&self, conn_id: ConnId) {
        self.map().remove(&conn_id);
    }

    /// The sockets open now and their users (sorted, each once).
    fn snapshot(&self) -> (HashSet<ConnId>, Vec<UserId>) {
        let map = self.map();
        let mut ids: Vec<UserId> = map.values().map(|e| e.user_id).collect();
        ids.sort_unstable();
        ids.dedup();
        (map.keys().copied().collect(), ids)
    }
}

/// Why a socket opened with `token_version` and `role` may no longer stay open, given its account
/// as it is now (`None`: deleted). The ban first, as the upgrade reports it first.
fn verdict(user: Option<&User>, token_version: i32, role: Role) -> Option<CloseReason> {
    match user {
        None => Some(CloseReason::TokensRevoked),
        Some(u) if u.is_banned() => Some(CloseReason::Banned),
        Some(u) if u.token_version != token_version => Some(CloseReason::TokensRevoked),
        Some(u) if u.role != role => Some(CloseReason::RoleChanged),
        Some(_) => None,
    }
}

/// Starts the re-check task: every `interval`, and when `redis` reconnects.
pub(crate) fn start(sockets: Arc<LocalSockets>, pool: PgPool, interval: Duration, redis: Option<RedisBroker>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let reconnected = async {
                match &redis {
                    Some(redis) => redis.reconnected().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tick.tick() => {}
                () = reconnected => tick.reset(),
            }
            if let Err(e) = check(&sockets, &pool).await {
                // Next interval tries again; the broker's messages still arrive meanwhile.
                tracing::warn!("re-checking local sockets against the database failed: {e}");
            }
        }
    });
}

async fn check(sockets: &LocalSockets, pool: &PgPool) -> anyhow::Result<()> {
    let (conns, ids) = sockets.snapshot();
    if ids.is_empty() {
        return Ok(());
    }
    let users = {
        let mut conn = pool.get().await?;
        queries::users::find_many(&mut conn, &ids).await?
    };
    let users: HashMap<UserId, User> = users.into_iter().map(|u| (u.id, u)).collect();
    // Only the sockets of the snapshot: they were authorised before the read, so the read is
    // the newer word. One opened since may hold a newer state than the read (a role changed
    // just now); it is checked next time.
    for (conn_id, entry) in sockets.map().iter() {
        if !conns.contains(conn_id) {
            continue;
        }
        if let Some(reason) = verdict(users.get(&entry.user_id), entry.token_version, entry.role) {
            metrics::counter!("realtime_revalidation_closes_total").increment(1);
            let envelope = Arc::new(Envelope::Control(Control::Close(reason)));
            entry.control.do_send(Published { topic: Topic::User(entry.user_id), envelope });
        }
    }
    Ok(())
}
