//! What every handler shares: the pool, the token keys, the password hasher, the rate limiters and
//! this instance's identity. Built once in `startup` and handed to actix as `web::Data`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;

use crate::auth::client_ip::TrustedProxies;
use crate::auth::jwt::JwtKeys;
use crate::auth::password::PasswordHasher;
use crate::auth::ratelimit::{IpRateLimiter, KeyedLimiter, LoginThrottle, UserActionLimits, UserRateLimits};
use crate::config::Settings;
use crate::db::account_reads::AccountReader;
use crate::db::send_batch::SendBatcher;
use crate::db::{PgConn, PgPool};
use crate::error::ApiError;
use crate::ids::{RoomId, UserId};
use crate::realtime::Realtime;
use crate::realtime::sockets::SocketCounts;
use crate::service::notify::Notify;
use crate::service::room_gate::{RoomGate, RoomGates};

pub struct AppState {
    pub pool: PgPool,
    pub jwt: JwtKeys,
    pub passwords: PasswordHasher,
    pub auth_limiter: IpRateLimiter,
    /// Per login name, from any address: back-off after repeated attempts.
    pub login_throttle: LoginThrottle,
    /// Whose `X-Forwarded-For` names the client; `client_ip` applies it.
    pub trusted_proxies: TrustedProxies,
    /// Per client IP: opening support sessions.
    pub support_limiter: IpRateLimiter,
    /// Per client IP: contact form entries.
    pub contact_limiter: IpRateLimiter,
    pub user_limits: UserRateLimits,
    /// Per user: password changes (two Argon2 runs each).
    pub password_limiter: KeyedLimiter<UserId>,
    /// Per user: room creations, member additions, friend requests, searches.
    pub action_limits: UserActionLimits,
    /// Open WebSockets per user and per client address on this instance.
    pub sockets: Arc<SocketCounts>,
    /// The WebSocket side: connection actors, rooms, presence. The WebSocket route uses it.
    pub realtime: Arc<Realtime>,
    /// The same, as services see it: where they publish what they changed.
    pub notify: Arc<dyn Notify>,
    pub send_batcher: SendBatcher,
    /// How many pool connections may wait for one room's row (`service::room_gate`).
    pub room_gates: Arc<RoomGates>,
    /// The accounts of WebSocket upgrades, read many per statement.
    pub account_reads: AccountReader,
    /// The mail queue's sending side (`service::mail`).
    pub mailer: crate::service::mail::Mailer,
    /// Web Push: the VAPID keys, the queueing after commits and the worker's client.
    pub push: Arc<crate::push::Pusher>,
    /// `POST /auth/password-reset`: per client IP (429), and per address asked for (no mail).
    pub reset_ip_limiter: IpRateLimiter,
    pub reset_address_limiter: KeyedLimiter<String>,
    /// `POST /support/resume` and the mails' unsubscribe links (support replies, digests): per
    /// client IP (429).
    pub resume_limiter: IpRateLimiter,
    /// `POST /auth/verify-email/resend`: per address asked for (no mail past it).
    pub verify_address_limiter: KeyedLimiter<String>,
    /// Which webhook events some endpoint wants (the send path asks it per batch).
    pub webhooks: Arc<crate::webhooks::Wanted>,
    /// Where webhook endpoints may point (checked at registration; deliveries check again).
    pub webhook_guard: Arc<crate::webhooks::guard::Guard>,
    /// Uploaded files: their store, link signer and upload limiter.
    pub attachments: crate::service::attachments::Attachments,
    /// The built-in assistant (inert unless `assistant.enabled`).
    pub assistant: crate::service::assistant::Assistant,
    pub settings: Settings,
    pub instance_id: String,
}

impl AppState {
    /// Must run inside an actix system: it starts the real-time actors.
    ///
    /// # Errors
    /// A setting the pool, hasher or limiter rejects.
    pub fn new(settings: Settings, instance_id: String) -> anyhow::Result<Self> {
        let pool = crate::db::build_pool(&settings.database, settings.database.url.expose_secret())?;
        let realtime = Realtime::start(pool.clone(), &settings, &instance_id)?;
        let webhooks = Arc::new(crate::webhooks::Wanted::default());
        let push = Arc::new(crate::push::Pusher::new(&settings, pool.clone())?);
        let webhook_guard = Arc::new(crate::webhooks::guard::Guard::new(&settings.webhooks)?);
        let notify: Arc<dyn Notify> = realtime.clone();
        let announcer = notify.clone();
        let send_batcher = SendBatcher::start(
            pool.clone(),
            settings.database.send_writers,
            settings.database.send_batch_max,
            webhooks.clone(),
            push.clone(),
            Arc::new(move |messages| crate::service::messages::announce_committed(announcer.as_ref(), messages)),
        );
        let account_reads = AccountReader::start(pool.clone(), crate::db::account_reads::MAX_BATCH)
            .context("starting the account reader")?;
        // Per-IP limits, the per-user message limit and the assistant's rate and budget hold
        // across instances (with Redis).
        let shared = realtime.shared_buckets();
        let assistant = crate::service::assistant::Assistant::new(
            &settings.assistant,
            pool.clone(),
            notify.clone(),
            webhooks.clone(),
            shared.clone(),
            settings.mfa.require_for_staff,
        )?;
        let rl = &settings.rate_limit;
        Ok(Self {
            pool,
            jwt: JwtKeys::new(&settings.auth),
            passwords: PasswordHasher::new(&settings.auth)?,
            auth_limiter: IpRateLimiter::new(rl.auth_burst, Duration::from_millis(rl.auth_replenish_interval_ms))?
                .shared(shared.clone(), "auth"),
            login_throttle: LoginThrottle::new(rl),
            trusted_proxies: TrustedProxies::parse(&settings.server.trusted_proxies)
                .map_err(|why| anyhow::anyhow!("server.trusted_proxies: {why}"))?,
            support_limiter: IpRateLimiter::new(
                rl.support_burst,
                Duration::from_millis(rl.support_replenish_interval_ms),
            )?
            .shared(shared.clone(), "support"),
            contact_limiter: IpRateLimiter::new(
                rl.contact_burst,
                Duration::from_millis(rl.contact_replenish_interval_ms),
            )?
            .shared(shared.clone(), "contact"),
            user_limits: UserRateLimits::new(rl, shared.clone())?,
            password_limiter: KeyedLimiter::new(
                rl.password_change_burst,
                Duration::from_millis(rl.password_change_replenish_interval_ms),
            )?,
            action_limits: UserActionLimits::new(rl)?,
            mailer: crate::service::mail::Mailer::new(&settings.email)?,
            reset_ip_limiter: IpRateLimiter::new(
                settings.password_reset.ip_burst,
                Duration::from_millis(settings.password_reset.ip_replenish_interval_ms),
            )?
            .shared(shared.clone(), "password_reset"),
            reset_address_limiter: KeyedLimiter::new(
                settings.password_reset.address_burst,
                Duration::from_millis(settings.password_reset.address_replenish_interval_ms),
            )?
            .shared(shared.clone(), "password_reset_address"),
            resume_limiter: IpRateLimiter::new(
                settings.support.resume_burst,
                Duration::from_millis(settings.support.resume_replenish_interval_ms),
            )?
            .shared(shared.clone(), "support_resume"),
            verify_address_limiter: KeyedLimiter::new(
                settings.accounts.resend_address_burst,
                Duration::from_millis(settings.accounts.resend_address_replenish_interval_ms),
            )?
            .shared(shared.clone(), "verify_email_address"),
            sockets: SocketCounts::new(settings.quota.sockets_per_user_max, settings.quota.sockets_per_address_max),
            notify,
            push,
            realtime,
            assistant,
            send_batcher,
            room_gates: RoomGates::new(Duration::from_millis(settings.database.pool_timeout_ms)),
            account_reads,
            webhooks,
            webhook_guard,
            attachments: crate::service::attachments::Attachments::new(
                &settings.attachments,
                settings.auth.jwt_secret.expose_secret().as_bytes(),
            )?,
            instance_id,
            settings,
        })
    }

    /// The client's address (the peer, or what a trusted proxy reports), as stored and shown.
    pub fn client_ip(&self, req: &actix_web::HttpRequest) -> std::net::IpAddr {
        self.trusted_proxies.client_ip(req)
    }

    /// What per-address limits and quotas key on: the client's address, an IPv6 one as its /64
    /// network (`auth::client_ip::limit_key`).
    pub fn client_limit_key(&self, req: &actix_web::HttpRequest) -> std::net::IpAddr {
        crate::auth::client_ip::limit_key(self.client_ip(req))
    }

    /// A pooled connection.
    ///
    /// # Errors
    /// `unavailable` when PostgreSQL is down or every connection stays busy past the pool timeout.
    pub async fn db(&self) -> Result<PgConn, ApiError> {
        let started = std::time::Instant::now();
        let conn = self.pool.get().await;
        metrics::histogram!("db_pool_wait_seconds").record(started.elapsed().as_secs_f64());
        if conn.is_err() {
            metrics::counter!("db_pool_timeouts_total").increment(1);
        }
        Ok(conn?)
    }

    /// A place among `room`'s writers (`service::room_gate`) for a write that will take the room's
    /// row and has made its checks on `conn`: `conn` is kept if a place is free now; otherwise it
    /// goes back to the pool while the write waits, and a connection is taken again after.
    ///
    /// # Errors
    /// Busy when no place comes within `database.pool_timeout_ms`; `unavailable` when then no
    /// connection does.
    pub async fn room_write(&self, room: RoomId, conn: PgConn) -> Result<(RoomGate, PgConn), ApiError> {
        if let Some(gate) = self.room_gates.try_enter(room) {
            return Ok((gate, conn));
        }
        drop(conn);
        let gate = self.room_gates.enter(room).await?;
        Ok((gate, self.db().await?))
    }
}
