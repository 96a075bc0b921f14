//! Rate limiting with governor's keyed GCRA: per client IP for the unauthenticated routes that
//! cost the most or store what anyone sends (register and login, with Argon2; support sessions;
//! the contact form), and per user for message writes, WebSocket commands and password changes.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::HttpRequest;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;
use crate::ids::UserId;

/// A governor keyed limiter that answers with the protocol's `rate_limited` error.
pub struct KeyedLimiter<K: std::hash::Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
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
        Ok(Self { limiter: RateLimiter::keyed(quota), clock: DefaultClock::default() })
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
    pub fn new(settings: &crate::config::RateLimitSettings) -> anyhow::Result<Self> {
        let ms = Duration::from_millis;
        Ok(Self {
            messages: KeyedLimiter::new(settings.message_burst, ms(settings.message_replenish_interval_ms))?,
            commands: KeyedLimiter::new(settings.command_burst, ms(settings.command_replenish_interval_ms))?,
        })
    }

    /// # Errors
    /// `rate_limited` with the wait until the user's next command of this kind would pass.
    pub fn check(&self, user: UserId, message_write: bool) -> Result<(), ApiError> {
        if message_write { self.messages.check(&user) } else { self.commands.check(&user) }
    }

    pub fn sweep(&self) {
        self.messages.sweep();
        self.commands.sweep();
    }
}

/// The client's address: the peer, or the proxy-reported one when the proxy is trusted
/// (`server.trust_forwarded_headers`).
pub fn client_ip(req: &HttpRequest, trust_forwarded: bool) -> IpAddr {
    let unspecified = IpAddr::from([0, 0, 0, 0]);
    if trust_forwarded
        && let Some(ip) = req
            .connection_info()
            .realip_remote_addr()
            .and_then(|s| s.parse::<std::net::SocketAddr>().map(|a| a.ip()).ok().or_else(|| s.parse().ok()))
    {
        return ip;
    }
    req.peer_addr().map_or(unspecified, |a| a.ip())
}
