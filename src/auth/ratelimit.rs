//! Per-client-IP rate limiting (governor's keyed GCRA) for the unauthenticated routes that cost
//! the most: register and login (Argon2), later support sessions and the contact form.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::HttpRequest;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

pub struct IpRateLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl IpRateLimiter {
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
    /// `rate_limited` with the wait until the next request from `ip` would pass.
    pub fn check(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            let retry_after_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            ApiError::RateLimited { retry_after_ms }
        })
    }

    /// Forgets addresses whose allowance is full again, so the map does not grow without bound.
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Per-user budgets shared by every connection and by REST: one for message writes, one for the
/// other WebSocket commands.
pub struct UserRateLimits {
    messages: DefaultKeyedRateLimiter<uuid::Uuid>,
    commands: DefaultKeyedRateLimiter<uuid::Uuid>,
    clock: DefaultClock,
}

impl UserRateLimits {
    /// # Errors
    /// A zero burst or interval.
    pub fn new(settings: &crate::config::RateLimitSettings) -> anyhow::Result<Self> {
        let quota = |burst: u32, ms: u64| -> anyhow::Result<Quota> {
            let burst = NonZeroU32::new(burst).ok_or_else(|| anyhow::anyhow!("burst must be positive"))?;
            Ok(Quota::with_period(Duration::from_millis(ms))
                .ok_or_else(|| anyhow::anyhow!("interval must be positive"))?
                .allow_burst(burst))
        };
        Ok(Self {
            messages: RateLimiter::keyed(quota(settings.message_burst, settings.message_replenish_interval_ms)?),
            commands: RateLimiter::keyed(quota(settings.command_burst, settings.command_replenish_interval_ms)?),
            clock: DefaultClock::default(),
        })
    }

    /// # Errors
    /// `rate_limited` with the wait until the user's next command of this kind would pass.
    pub fn check(&self, user: uuid::Uuid, message_write: bool) -> Result<(), ApiError> {
        let limiter = if message_write { &self.messages } else { &self.commands };
        limiter.check_key(&user).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::RateLimited { retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1) }
        })
    }

    pub fn sweep(&self) {
        self.messages.retain_recent();
        self.commands.retain_recent();
        self.messages.shrink_to_fit();
        self.commands.shrink_to_fit();
    }
}

/// The client's address: the peer, or the proxy-reported one when the proxy is trusted
/// (`server.trust_forwarded_headers`).
pub fn client_ip(req: &HttpRequest, trust_forwarded: bool) -> IpAddr {
    let unspecified = IpAddr::from([0, 0, 0, 0]);
    if trust_forwarded {
        if let Some(ip) = req
            .connection_info()
            .realip_remote_addr()
            .and_then(|s| s.parse::<std::net::SocketAddr>().map(|a| a.ip()).ok().or_else(|| s.parse().ok()))
        {
            return ip;
        }
    }
    req.peer_addr().map_or(unspecified, |a| a.ip())
}
