//! Rate limiting with governor's keyed GCRA: per client IP for the unauthenticated routes that
//! cost the most or store what anyone sends (register and login, with Argon2; support sessions;
//! the contact form), and per user for message writes, WebSocket commands, password changes, room
//! creations, member additions, friend requests and searches; and the per-account login back-off
//! beside the per-IP login limit.
//!
//! With several instances, a limiter can also draw on a bucket the instances share
//! ([`SharedBuckets`], GCRA in Redis: `realtime::cluster_limits`), so that the per-IP limits and
//! the per-user message limit hold across the deployment instead of multiplying with the number
//! of instances. The local limiter always applies as well: it is the bound while Redis is away
//! (the shared bucket then answers nothing), and it never refuses what the shared bucket would
//! pass, since it sees a part of the same requests under the same quota.

use std::collections::HashMap;
use std::fmt::Display;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;
use crate::ids::UserId;

/// Buckets that every instance draws on (Redis). One request is taken from `name`'s bucket for
/// `key`: `burst` at once, then one per `interval`.
pub trait SharedBuckets: Send + Sync {
    /// `Some(Ok)` taken, `Some(Err(ms))` refused with the wait, `None` when the store cannot
    /// answer now (the caller relies on its local limiter alone).
    fn take(
        &self,
        name: &'static str,
        key: String,
        burst: u32,
        interval: Duration,
    ) -> BoxFuture<'static, Option<Result<(), u64>>>;

    /// Adds `amount` to `name`'s running total of the last hour (kept per minute, by the store's
    /// clock) and returns the new total; `amount` 0 only reads it. `None` when the store cannot
    /// answer now (the caller relies on its own count alone).
    fn add_to_hour(&self, name: &'static str, amount: u64) -> BoxFuture<'static, Option<u64>>;
}

/// A governor keyed limiter that answers with the protocol's `rate_limited` error.
pub struct KeyedLimiter<K: std::hash::Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
    burst: u32,
    replenish: Duration,
    /// The deployment-wide bucket, and the name its keys go under.
    shared: Option<(Arc<dyn SharedBuckets>, &'static str)>,
}

impl<K: std::hash::Hash + Eq + Clone> KeyedLimiter<K> {
    /// `burst` requests at once, then one more every `replenish`.
    ///
    /// # Errors
    /// A zero burst or interval.
    pub fn new(burst: u32, replenish: Duration) -> anyhow::Result<Self> {
        let burst = NonZeroU32::new(burst).ok_or_else(|| anyhow::anyhow!("burst must be positive"))?;
        let quota = Quota::with_period(replenish)
            .ok_or_else(|| anyhow::anyhow!("replenish interval must be positive"))?
            .allow_burst(burst);
        Ok(Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            burst: burst.get(),
            replenish,
            shared: None,
        })
    }

    /// Also draws on the deployment's shared bucket `name` (when there is one).
    #[must_use]
    pub fn shared(mut self, buckets: Option<Arc<dyn SharedBuckets>>, name: &'static str) -> Self {
        self.shared = buckets.map(|b| (b, name));
        self
    }

    /// # Errors
    /// `rate_limited` with the wait until the next request for `key` would pass.
    pub fn check(&self, key: &K) -> Result<(), ApiError> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            let retry_after_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            ApiError::RateLimited { retry_after_ms }
        })
    }

    /// The deployment-wide part of the check, after [`Self::check`] passed: nothing to do
    /// without a shared bucket, or while it cannot answer.
    ///
    /// # Errors
    /// `rate_limited` with the shared bucket's wait.
    pub async fn check_shared(&self, key: &K) -> Result<(), ApiError>
    where
        K: Display,
    {
        let Some((buckets, name)) = &self.shared else { return Ok(()) };
        match buckets.take(name, key.to_string(), self.burst, self.replenish).await {
            Some(Err(wait_ms)) => Err(ApiError::RateLimited { retry_after_ms: wait_ms.max(1) }),
            Some(Ok(())) | None => Ok(()),
        }
    }

    /// This instance's limit, then the deployment's.
    ///
    /// # Errors
    /// `rate_limited` with the wait of whichever refused.
    pub async fn check_everywhere(&self, key: &K) -> Result<(), ApiError>
    where
        K: Display,
    {
        self.check(key)?;
        self.check_shared(key).await
    }

    /// Forgets keys whose allowance is full again, so the map does not grow without bound.
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Per client address: register and login, support sessions, contact form.
pub type IpRateLimiter = KeyedLimiter<IpAddr>;

/// Per-user budgets shared by every connection and by REST: one for message writes, one for the
/// other WebSocket commands.
pub struct UserRateLimits {
    messages: KeyedLimiter<UserId>,
    commands: KeyedLimiter<UserId>,
}

impl UserRateLimits {
    /// # Errors
    /// A zero burst or interval.
    pub fn new(
        settings: &crate::config::RateLimitSettings,
        shared: Option<Arc<dyn SharedBuckets>>,
    ) -> anyhow::Result<Self> {
        let ms = Duration::from_millis;
        Ok(Self {
            // Message writes are limited across the deployment; the other commands (typing,
            // presence, reads) stay per instance, where the check costs no round trip.
            messages: KeyedLimiter::new(settings.message_burst, ms(settings.message_replenish_interval_ms))?
                .shared(shared, "msg"),
            commands: KeyedLimiter::new(settings.command_burst, ms(settings.command_replenish_interval_ms))?,
        })
    }

    /// # Errors
    /// `rate_limited` with the wait until the user's next command of this kind would pass.
    pub fn check(&self, user: UserId, message_write: bool) -> Result<(), ApiError> {
        if message_write { self.messages.check(&user) } else { self.commands.check(&user) }
    }

    /// The message-write limit across the deployment, after [`Self::check`] passed.
    ///
    /// # Errors
    /// `rate_limited` with the wait.
    pub async fn check_message_shared(&self, user: UserId) -> Result<(), ApiError> {
        self.messages.check_shared(&user).await
    }

    /// A message write from REST: this instance's limit, then the deployment's.
    ///
    /// # Errors
    /// `rate_limited` with the wait.
    pub async fn check_message(&self, user: UserId) -> Result<(), ApiError> {
        self.messages.check_everywhere(&user).await
    }

    pub fn sweep(&self) {
        self.messages.sweep();
        self.commands.sweep();
    }
}

/// What a user does that costs others or the database more than a read, each with its own
/// per-user budget (`rate_limit.<action>_burst` and `_replenish_interval_ms`).
#[derive(Debug, Clone, Copy)]
pub enum UserAction {
    CreateRoom,
    AddMembers,
    FriendRequest,
    Search,
}

/// The per-user budgets of [`UserAction`]s: rooms, members and friend requests each make rows
/// and events for other users (a script could fill anyone's room list or request inbox), and a
/// search is the one request whose database cost the client's text decides.
pub struct UserActionLimits {
    rooms: KeyedLimiter<UserId>,
    members: KeyedLimiter<UserId>,
    friend_requests: KeyedLimiter<UserId>,
    searches: KeyedLimiter<UserId>,
}

impl UserActionLimits {
    /// # Errors
    /// A zero burst or interval.
    pub fn new(s: &crate::config::RateLimitSettings) -> anyhow::Result<Self> {
        let ms = Duration::from_millis;
        Ok(Self {
            rooms: KeyedLimiter::new(s.room_create_burst, ms(s.room_create_replenish_interval_ms))?,
            members: KeyedLimiter::new(s.member_add_burst, ms(s.member_add_replenish_interval_ms))?,
            friend_requests: KeyedLimiter::new(s.friend_request_burst, ms(s.friend_request_replenish_interval_ms))?,
            searches: KeyedLimiter::new(s.search_burst, ms(s.search_replenish_interval_ms))?,
        })
    }

    /// # Errors
    /// `rate_limited` with the wait until the user's next action of this kind would pass.
    pub fn check(&self, user: UserId, action: UserAction) -> Result<(), ApiError> {
        match action {
            UserAction::CreateRoom => self.rooms.check(&user),
            UserAction::AddMembers => self.members.check(&user),
            UserAction::FriendRequest => self.friend_requests.check(&user),
            UserAction::Search => self.searches.check(&user),
        }
    }

    pub fn sweep(&self) {
        self.rooms.sweep();
        self.members.sweep();
        self.friend_requests.sweep();
        self.searches.sweep();
    }
}

/// Per-account login back-off: after `free` attempts on one login name without a success, each
/// further attempt must wait `initial`, doubling per attempt up to `max`, whatever address it
/// comes from (the per-IP limit alone lets a botnet try one password per address).
///
/// Keyed on the login as typed, case-folded, not on the account: an unknown name backs off
/// exactly as a known one does, so the throttle does not tell which accounts exist. Attempts are
/// counted when they start, not when they fail, so concurrent guesses cannot all slip through
/// before the first failure is recorded; a success forgets the name.
pub struct LoginThrottle {
    names: Mutex<HashMap<String, Attempts>>,
    free: u32,
    initial: Duration,
    max: Duration,
}

struct Attempts {
    count: u32,
    blocked_until: Instant,
    last: Instant,
}

impl LoginThrottle {
    pub fn new(settings: &crate::config::RateLimitSettings) -> Self {
        Self {
            names: Mutex::new(HashMap::new()),
            free: settings.login_attempts_before_backoff,
            initial: Duration::from_millis(settings.login_backoff_initial_ms),
            max: Duration::from_millis(settings.login_backoff_max_ms),
        }
    }

    fn key(login: &str) -> String {
        login.trim().to_lowercase()
    }

    fn names(&self) -> std::sync::MutexGuard<'_, HashMap<String, Attempts>> {
        // Nothing panics while holding the lock; if something ever did, the map is still usable.
        self.names.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts an attempt on `login`.
    ///
    /// # Errors
    /// `rate_limited` with the wait, when the name is backing off (the attempt is not counted).
    pub fn attempt(&self, login: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut names = self.names();
        let entry = names.entry(Self::key(login)).or_insert(Attempts { count: 0, blocked_until: now, last: now });
        if entry.blocked_until > now {
            let wait = entry.blocked_until - now;
            let retry_after_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            return Err(ApiError::RateLimited { retry_after_ms });
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        if entry.count >= self.free {
            let doublings = (entry.count - self.free).min(31);
            let delay = self.initial.saturating_mul(1 << doublings).min(self.max);
            entry.blocked_until = now + delay;
        }
        Ok(())
    }

    /// The right password: the name starts afresh.
    pub fn succeeded(&self, login: &str) {
        self.names().remove(&Self::key(login));
    }

    /// Forgets names not tried for `max` that never reached the back-off (keeping every name ever
    /// typed would let a script grow the map without bound), and names that did once they have
    /// rested for [`BACKED_OFF_REMEMBERED`]. Forgetting those after `max` too gave a guesser the
    /// free attempts and the short waits again every quarter of an hour: tens of guesses an hour
    /// where the doubling allows a few.
    pub fn sweep(&self) {
        let now = Instant::now();
        let (free, max) = (self.free, self.max);
        self.names().retain(|_, a| {
            let rest = if a.count >= free { BACKED_OFF_REMEMBERED.max(max) } else { max };
            a.blocked_until > now || now.duration_since(a.last) < rest
        });
    }
}

/// How long a login name that reached the back-off keeps its count after its last attempt.
const BACKED_OFF_REMEMBERED: Duration = Duration::from_secs(24 * 60 * 60);

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle {
            names: Mutex::new(HashMap::new()),
            free: 2,
            initial: Duration::from_millis(10),
            max: Duration::from_millis(40),
        }
    }

    #[test]
    fn a_name_that_backed_off_keeps_its_count_past_the_sweep() {
        let limit = throttle();
        for _ in 0..3 {
            limit.attempt("Ada").expect("before and at the back-off's first wait");
            std::thread::sleep(Duration::from_millis(45));
        }
        limit.sweep();
        // The wait is over, so this attempt passes; it is the fourth, so the next one waits.
        limit.attempt("ada").expect("the wait is over");
        assert!(matches!(limit.attempt("ada"), Err(ApiError::RateLimited { .. })), "the count was forgotten");
    }

    #[test]
    fn a_name_tried_below_the_back_off_is_forgotten_after_the_longest_wait() {
        let limit = throttle();
        limit.attempt("someone").expect("free");
        std::thread::sleep(Duration::from_millis(45));
        limit.sweep();
        assert!(limit.names().is_empty());
    }
}
