//! Revocation that does not depend on a message arriving. A ban, a role change, revoked tokens, a
//! logout or a kick reach other instances' sockets as control envelopes over the broker, and the
//! Redis broker drops messages while Redis is away or its publish queue is full. So each instance
//! also re-checks its own sockets against the database: every `realtime.revalidate_interval_ms`,
//! and at once when its Redis subscriber reconnects (what was published meanwhile is lost). One
//! statement reads the standing of all local sockets' accounts, however many sockets there are
//! (`queries::users::standings`): the account, its room memberships, and which of the sockets'
//! login sessions were logged out. Then
//!
//! - a socket whose account is gone, banned, has a newer token version or another role than the
//!   socket was opened with, or whose login session was logged out, is closed with the reason the
//!   lost message would have carried;
//! - a socket attached to a room its user is no longer a member of is told `room.member_removed`
//!   about itself and detached from the room, as the lost kick would have done.
//!
//! A lost revocation therefore takes effect within one interval (plus the query): closes go out at
//! once. A lost kick takes up to one and a half: the memberships go out in slices spread over half
//! the interval ([`MEMBERSHIP_SLICES`]), since handing every socket its memberships at once kept
//! each worker busy for 30–50 ms in a row with 19,500 sockets open, and every delivery on it waited
//! behind that.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::db::PgPool;
use crate::db::models::Role;
use crate::db::queries;
use crate::db::queries::users::Standing;
use crate::ids::{ConnId, RoomId, UserId};
use crate::protocol::CloseReason;
use crate::realtime::broker::redis::RedisBroker;
use crate::realtime::broker::{Control, Envelope, Published, Topic};
use crate::realtime::outbox::ConnHandle;

/// The memberships of a re-check go out in at most this many slices, [`SLICE_MIN`] sockets or
/// more each, the slices spread evenly over half an interval (so one pass ends before the next
/// begins). Fewer than `SLICE_MIN` sockets get theirs at once.
const MEMBERSHIP_SLICES: u32 = 64;
/// The smallest slice: a few hundred sockets are a fraction of a millisecond of a worker's time.
const SLICE_MIN: usize = 256;

/// To a connection: its user's room memberships as read at `as_of`. The connection detaches from
/// the rooms it joined before `as_of` that are not among them; one joined since may be newer than
/// the read.
#[derive(Clone)]
pub struct Memberships {
    pub as_of: Instant,
    pub room_ids: Arc<HashSet<RoomId>>,
}

/// What a socket was authorised with when it opened, and how to reach it.
struct Entry {
    user_id: UserId,
    token_version: i32,
    role: Role,
    /// The login session of the token it was opened or last refreshed with.
    session: Option<Uuid>,
    outbox: ConnHandle,
}

/// How a socket registers with the re-check.
pub struct SocketInfo {
    pub user_id: UserId,
    pub token_version: i32,
    pub role: Role,
    pub session: Option<Uuid>,
    /// Where the verdict goes: the connection's inbox.
    pub outbox: ConnHandle,
}

/// This instance's open sockets, as the re-check sees them. Connections add themselves when they
/// start and remove themselves when they stop.
#[derive(Default)]
pub struct LocalSockets {
    map: Mutex<HashMap<ConnId, Entry>>,
}

impl LocalSockets {
    fn map(&self) -> MutexGuard<'_, HashMap<ConnId, Entry>> {
        // Every change is a single insert, update or remove, so a holder's panic leaves it
        // consistent.
        self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn insert(&self, conn_id: ConnId, info: SocketInfo) {
        let SocketInfo { user_id, token_version, role, session, outbox } = info;
        self.map().insert(conn_id, Entry { user_id, token_version, role, session, outbox });
    }

    /// The socket now lives on a token of this login session (`auth.refresh`).
    pub(crate) fn set_session(&self, conn_id: ConnId, session: Option<Uuid>) {
        if let Some(entry) = self.map().get_mut(&conn_id) {
            entry.session = session;
        }
    }

    pub(crate) fn remove(&self, conn_id: ConnId) {
        self.map().remove(&conn_id);
    }

    /// Which of these users have a socket open here.
    pub(crate) fn users_among(&self, ids: &HashSet<UserId>) -> HashSet<UserId> {
        self.map().values().filter(|e| ids.contains(&e.user_id)).map(|e| e.user_id).collect()
    }

    /// The sockets open now, their users (sorted, each once) and their login sessions.
    fn snapshot(&self) -> (HashSet<ConnId>, Vec<UserId>, Vec<Uuid>) {
        let map = self.map();
        let mut ids: Vec<UserId> = map.values().map(|e| e.user_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut sessions: Vec<Uuid> = map.values().filter_map(|e| e.session).collect();
        sessions.sort_unstable();
        sessions.dedup();
        (map.keys().copied().collect(), ids, sessions)
    }
}

/// Why a socket opened with `token_version` and `role` on login `session` may no longer stay
/// open, given its account as it is now (`None`: deleted). The ban first, as the upgrade reports
/// it first.
fn verdict(standing: Option<&Standing>, token_version: i32, role: Role, session: Option<Uuid>) -> Option<CloseReason> {
    match standing {
        None => Some(CloseReason::TokensRevoked),
        Some(s) if s.banned => Some(CloseReason::Banned),
        Some(s) if s.token_version != token_version => Some(CloseReason::TokensRevoked),
        Some(s) if s.role != role => Some(CloseReason::RoleChanged),
        Some(s) if session.is_some_and(|id| s.ended_sessions.contains(&id)) => Some(CloseReason::LoggedOut),
        Some(_) => None,
    }
}

/// Starts the re-check task: every `interval`, and when `redis` reconnects.
pub(crate) fn start(sockets: Arc<LocalSockets>, pool: PgPool, interval: Duration, redis: Option<RedisBroker>) {
    metrics::describe_counter!(
        "plauder_realtime_revalidation_detaches_total",
        "Rooms a socket was detached from by the periodic re-check: the user's membership ended and the \
         message that says so did not reach this instance"
    );
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
            if let Err(e) = check(&sockets, &pool, interval).await {
                // Next interval tries again; the broker's messages still arrive meanwhile.
                tracing::warn!("re-checking local sockets against the database failed: {e}");
            }
        }
    });
}

async fn check(sockets: &LocalSockets, pool: &PgPool, interval: Duration) -> anyhow::Result<()> {
    let (conns, ids, sessions) = sockets.snapshot();
    if ids.is_empty() {
        return Ok(());
    }
    // Before the read: a membership a socket gained before this instant is in the read.
    let as_of = Instant::now();
    let standings = {
        let mut conn = pool.get().await?;
        queries::users::standings(&mut conn, &ids, &sessions).await?
    };
    let standings: HashMap<UserId, (Standing, Arc<HashSet<RoomId>>)> = standings
        .into_iter()
        .map(|s| {
            let rooms = Arc::new(s.room_ids.iter().copied().collect());
            (s.id, (s, rooms))
        })
        .collect();
    // Only the sockets of the snapshot: they were authorised before the read, so the read is
    // the newer word. One opened since may hold a newer state than the read (a role changed
    // just now); it is checked next time.
    let mut memberships = Vec::new();
    for (conn_id, entry) in sockets.map().iter() {
        if !conns.contains(conn_id) {
            continue;
        }
        let standing = standings.get(&entry.user_id);
        if let Some(reason) = verdict(standing.map(|(s, _)| s), entry.token_version, entry.role, entry.session) {
            metrics::counter!("realtime_revalidation_closes_total").increment(1);
            let envelope = Arc::new(Envelope::Control(Control::Close(reason)));
            entry.outbox.control(Published { topic: Topic::User(entry.user_id), envelope });
        } else if let Some((_, rooms)) = standing {
            memberships.push((entry.outbox.clone(), rooms.clone()));
        }
    }
    // A socket that closes meanwhile is not harmed: its handle's hub drops what it cannot
    // deliver. `as_of` stays the read's instant however late a slice goes out.
    let gap = interval / (2 * MEMBERSHIP_SLICES);
    in_slices(memberships, gap, |(outbox, room_ids)| outbox.memberships(Memberships { as_of, room_ids })).await;
    Ok(())
}

/// Hands `items` to `each` in at most [`MEMBERSHIP_SLICES`] slices of at least [`SLICE_MIN`],
/// `gap` apart.
async fn in_slices<T>(items: Vec<T>, gap: Duration, mut each: impl FnMut(T)) {
    let per_slice = items.len().div_ceil(MEMBERSHIP_SLICES as usize).max(SLICE_MIN);
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        items.by_ref().take(per_slice).for_each(&mut each);
        if items.peek().is_some() {
            tokio::time::sleep(gap).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When each item was handed over, in order.
    async fn handed(n: usize, gap: Duration) -> Vec<(usize, tokio::time::Instant)> {
        let mut seen = Vec::with_capacity(n);
        in_slices((0..n).collect(), gap, |i| seen.push((i, tokio::time::Instant::now()))).await;
        seen
    }

    #[tokio::test]
    async fn many_sockets_get_their_memberships_in_slices_gap_apart() {
        let gap = Duration::from_millis(3);
        let per_slice = 2 * SLICE_MIN;
        let seen = handed(MEMBERSHIP_SLICES as usize * per_slice, gap).await;
        assert!(seen.iter().enumerate().all(|(k, (i, _))| k == *i), "every item once, in order");
        for boundary in (per_slice..seen.len()).step_by(per_slice) {
            let waited = seen[boundary].1 - seen[boundary - 1].1;
            assert!(waited >= gap, "slice starting at {boundary} came {waited:?} after the one before");
        }
        let span = seen[seen.len() - 1].1 - seen[0].1;
        assert!(span >= gap * (MEMBERSHIP_SLICES - 1), "64 slices spread over {span:?}");
    }

    #[tokio::test]
    async fn a_few_sockets_get_theirs_at_once() {
        let started = tokio::time::Instant::now();
        let seen = handed(SLICE_MIN, Duration::from_secs(10)).await;
        assert_eq!(seen.len(), SLICE_MIN);
        assert!(started.elapsed() < Duration::from_secs(10), "no slice waited");
    }
}
