//! Web Push: notifications for people with no open connection.
//!
//! After messages commit, [`Pusher::messages_committed`] queues their pushes with one
//! `INSERT … SELECT` per batch of messages (`queries::push::enqueue_messages`), in a task of its
//! own: the send path, group-commit writer included, never waits for it. That statement applies
//! the rules that live in the database (room membership, the recipient's level and mute for the
//! room, blocks, having a subscription at all); a message that reaches nobody adds no row. A new
//! support chat with no staff online queues a push to every staff subscription
//! ([`StaffPush::support_chat`]).
//!
//! Every instance runs a worker ([`spawn_worker`]) that claims due rows as the mail queue does
//! (`FOR UPDATE SKIP LOCKED`, a lease), asks the cluster's presence which recipients are connected
//! (they see the message live: their rows are dropped), encrypts each payload for its subscription
//! (RFC 8291, [`ece`]), signs a VAPID token for the push service's origin (RFC 8292, [`vapid`]),
//! and POSTs it. 2xx: done. 404/410: the subscription is gone and is deleted (its rows with it).
//! Anything else (the push service down, 429, 5xx): retried with exponential back-off, dropped
//! after `push.max_attempts`.
//!
//! While no subscription exists anywhere (`Pusher::subscribed`, read at start, set by a new
//! subscription here and re-read by the worker every round), nothing is queued and the send path
//! runs no statement for push at all.
//!
//! The queueing task runs right after the commit; a process that dies in between loses those
//! messages' pushes (never the messages). Inside the send's transaction the statement would cost
//! the group commit its round trip on every batch.

pub mod ece;
pub mod vapid;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use futures_util::future::join_all;

use crate::config::{PushSettings, Settings};
use crate::db::PgPool;
use crate::db::models::ClaimedPush;
use crate::db::queries::{push as q, users};
use crate::error::ApiResult;
use crate::ids::{MessageId, RoomId, UserId};
use crate::state::AppState;
use crate::webhooks::guard::{Guard, GuardedResolver};

use self::vapid::VapidKeys;

/// The body of a push for a message that carries only files, per recipient language.
pub const ATTACHMENT_PLACEHOLDER_EN: &str = "📎 Attachment";
pub const ATTACHMENT_PLACEHOLDER_DE: &str = "📎 Anhang";

/// Characters of a message body a push carries.
pub const BODY_CHARS: usize = 140;

/// Payloads stay below this (the encrypted record adds 103 bytes; push services take 4,096).
pub const MAX_PAYLOAD_BYTES: usize = 3000;

/// The push side of this instance: the VAPID keys, the HTTP client and the worker's wake-up.
pub struct Pusher {
    keys: VapidKeys,
    client: reqwest::Client,
    guard: Arc<Guard>,
    settings: PushSettings,
    pool: PgPool,
    wake: tokio::sync::Notify,
    /// Whether any subscription exists (in the whole deployment, as last read): without one,
    /// committed messages queue nothing. True until first read, so nothing is missed meanwhile.
    subscribed: AtomicBool,
}

/// What became of one try.
enum Outcome {
    Delivered,
    /// 404 or 410: the browser dropped the subscription.
    Gone,
    /// Worth another try later.
    Failed(String),
    /// Never deliverable (keys the encryption refuses, an endpoint refused, a payload too big).
    Refused(String),
}

impl Pusher {
    /// Loads or makes the VAPID key (`push.vapid_key_file`) and builds the HTTP client.
    ///
    /// # Errors
    /// An unreadable or invalid key file, or an HTTP client that cannot be built.
    pub fn new(settings: &Settings, pool: PgPool) -> anyhow::Result<Self> {
        let keys = VapidKeys::load_or_create(&vapid::key_path(settings), &settings.push.subject)?;
        let push = settings.push.clone();
        // Endpoints must be public addresses (no request forgery into our own network), except the
        // loopback stand-in `allow_insecure_endpoints` admits.
        let loopback =
            if push.allow_insecure_endpoints { vec!["127.0.0.0/8".parse()?, "::1/128".parse()?] } else { Vec::new() };
        let guard = Arc::new(Guard::with(false, loopback));
        let roots = crate::db::tls::system_roots().unwrap_or_else(|e| {
            tracing::warn!("push: {e}; HTTPS push services will fail verification");
            rustls::RootCertStore::empty()
        });
        let tls = rustls::ClientConfig::builder_with_provider(crate::db::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver(guard.clone())))
            .timeout(Duration::from_millis(push.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("plauder-push/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(tls)
            .build()?;
        Ok(Self {
            keys,
            client,
            guard,
            settings: push,
            pool,
            wake: tokio::sync::Notify::new(),
            subscribed: AtomicBool::new(true),
        })
    }

    /// The VAPID public key, base64url: what browsers subscribe with.
    pub fn public_key(&self) -> &str {
        self.keys.public_key()
    }

    pub fn settings(&self) -> &PushSettings {
        &self.settings
    }

    /// Whether a push may connect to `ip` (an endpoint whose host is an address).
    pub fn permits(&self, ip: std::net::IpAddr) -> bool {
        self.guard.permits(ip)
    }

    /// Reads whether any subscription exists (at start, and every worker round: another instance
    /// may have taken the first one or deleted the last).
    ///
    /// # Errors
    /// Database failures (the last answer stands).
    pub async fn refresh(&self, conn: &mut diesel_async::AsyncPgConnection) -> ApiResult<()> {
        self.subscribed.store(q::any_subscription(conn).await?, Ordering::Relaxed);
        Ok(())
    }

    /// A subscription was stored here.
    pub fn note_subscribed(&self) {
        self.subscribed.store(true, Ordering::Relaxed);
    }

    /// Whether pushes can have anyone to go to.
    pub fn anyone_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }

    /// Tells this instance's worker that pushes are waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Queues the pushes of messages that have just committed, in a task of its own (see the
    /// module's doc); returns at once.
    pub fn messages_committed(self: &Arc<Self>, ids: Vec<MessageId>) {
        if ids.is_empty() || !self.anyone_subscribed() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let queued = async {
                let mut conn = this.pool.get().await.map_err(crate::error::ApiError::from)?;
                let n =
                    q::enqueue_messages(&mut conn, &ids, ATTACHMENT_PLACEHOLDER_EN, ATTACHMENT_PLACEHOLDER_DE).await?;
                ApiResult::Ok(n)
            };
            let queued = queued.await;
            metrics::counter!("push_enqueue_runs_total").increment(1);
            match queued {
                Ok(0) => {}
                Ok(n) => {
                    metrics::counter!("push_queued_total", "kind" => "message").increment(n as u64);
                    this.wake();
                }
                Err(e) => tracing::error!(messages = ids.len(), "pushes of committed messages not queued: {e:#}"),
            }
        });
    }

    /// One try at delivering `push`.
    async fn deliver(&self, push: &ClaimedPush) -> Outcome {
        let url = match reqwest::Url::parse(&push.endpoint) {
            Ok(url) => url,
            Err(e) => return Outcome::Refused(format!("bad endpoint: {e}")),
        };
        // A host given as an address never reaches the guarded resolver.
        if let Some(ip) = url
            .host_str()
            .and_then(|h| h.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().ok())
            && !self.guard.permits(ip)
        {
            return Outcome::Refused(format!("refused: {ip} is an internal address"));
        }
        if push.payload.len() > MAX_PAYLOAD_BYTES {
            return Outcome::Refused(format!("payload of {} bytes", push.payload.len()));
        }
        let body = match ece::encrypt(push.payload.as_bytes(), &push.p256dh, &push.auth) {
            Ok(body) => body,
            Err(e @ ece::EceError::Random(_)) => return Outcome::Failed(e.to_string()),
            Err(e) => return Outcome::Refused(e.to_string()),
        };
        let origin = url.origin().ascii_serialization();
        let authorization = match self.keys.authorization(&origin, Utc::now().timestamp()) {
            Ok(header) => header,
            Err(e) => return Outcome::Failed(format!("signing the VAPID token: {e}")),
        };
        let result = self
            .client
            .post(url)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header(reqwest::header::CONTENT_ENCODING, "aes128gcm")
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header("TTL", self.settings.ttl_secs.to_string())
            .header("Urgency", push.urgency.as_str())
            .body(body)
            .send()
            .await;
        match result {
            Ok(res) if res.status().is_success() => Outcome::Delivered,
            Ok(res) if matches!(res.status().as_u16(), 404 | 410) => Outcome::Gone,
            Ok(res) if res.status().as_u16() == 413 => Outcome::Refused("the push service answered 413".into()),
            Ok(res) => Outcome::Failed(format!("the push service answered {}", res.status())),
            Err(e) => Outcome::Failed(crate::error::http_error_chain(&e)),
        }
    }

    /// The wait before try `attempts + 1`, after `attempts` failed.
    fn backoff(&self, attempts: i32) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(30);
        let ms = self.settings.retry_initial_ms.saturating_mul(1 << doublings).min(self.settings.retry_max_ms);
        Duration::from_millis(ms)
    }
}

/// What staff's push for a new support chat needs, borrowed from the shared state's parts: it is
/// queued from a send's own task (`service::messages`), which holds those parts and not the state.
pub struct StaffPush<'a> {
    pub pool: &'a PgPool,
    pub push: &'a Pusher,
    pub notify: &'a dyn crate::service::notify::Notify,
    /// `mfa.require_for_staff`: only staff with two-factor count, and are pushed.
    pub need_mfa: bool,
}

impl StaffPush<'_> {
    /// A new support chat's first message: when no admin or moderator has a connection
    /// anywhere, every staff subscription gets a `support` push. Failures are logged: the message
    /// is committed.
    pub async fn support_chat(&self, room_id: RoomId, visitor_name: &str, first_message: &str) {
        if let Err(e) = self.try_support_chat(room_id, visitor_name, first_message).await {
            tracing::warn!(room = %room_id, "staff push for a new support chat not queued: {e:#}");
        }
    }

    async fn try_support_chat(&self, room_id: RoomId, visitor_name: &str, first_message: &str) -> ApiResult<()> {
        if !self.push.anyone_subscribed() {
            return Ok(());
        }
        let staff = {
            let mut conn = self.pool.get().await?;
            users::staff_ids(&mut conn, self.need_mfa).await?
        };
        if staff.is_empty() || !self.notify.connected_users(staff).await.is_empty() {
            return Ok(());
        }
        let payload = support_payload(room_id, visitor_name, first_message);
        let mut conn = self.pool.get().await?;
        let n = q::enqueue_staff(&mut conn, &payload, self.need_mfa).await?;
        if n > 0 {
            metrics::counter!("push_queued_total", "kind" => "support").increment(n as u64);
            self.push.wake();
        }
        Ok(())
    }
}

/// The `support` payload (docs/protocol.md): the names cut so that it stays small whatever they are.
pub fn support_payload(room_id: RoomId, visitor_name: &str, first_message: &str) -> String {
    let name: String = visitor_name.chars().take(64).collect();
    serde_json::json!({
        "kind": "support",
        "room_id": room_id,
        "room_name": name,
        "sender": name,
        "body": first_message.chars().take(BODY_CHARS).collect::<String>(),
        "url": format!("/admin#support={room_id}"),
    })
    .to_string()
}

/// Claims the due pushes and tries each once (concurrently); how many it claimed.
///
/// # Errors
/// Database failures (claimed rows come due again when their lease runs out).
pub async fn run_once(state: &AppState) -> ApiResult<usize> {
    let pusher = &state.push;
    let lease = Duration::from_millis(pusher.settings.timeout_ms.saturating_mul(2));
    let claimed = {
        let mut conn = state.db().await?;
        pusher.refresh(&mut conn).await?;
        q::claim_due(&mut conn, pusher.settings.batch_size, lease).await?
    };
    if claimed.is_empty() {
        return Ok(0);
    }
    // Queued for an endpoint's previous owner: dropped, not shown to the new one.
    let (owned, stray): (Vec<&ClaimedPush>, Vec<&ClaimedPush>) = claimed.iter().partition(|p| p.owned);
    let recipients: Vec<UserId> =
        owned.iter().filter(|p| p.kind == "message").map(|p| p.user_id).collect::<HashSet<_>>().into_iter().collect();
    let connected = state.notify.connected_users(recipients).await;
    let (live, to_send): (Vec<&ClaimedPush>, Vec<&ClaimedPush>) =
        owned.into_iter().partition(|p| p.kind == "message" && connected.contains(&p.user_id));
    let mut finished: Vec<i64> = live.iter().chain(&stray).map(|p| p.id).collect();
    metrics::counter!("push_skipped_connected_total").increment(live.len() as u64);
    let outcomes = join_all(to_send.iter().map(|p| pusher.deliver(p))).await;
    // What was delivered is recorded first, and the rest does not stop on an error: a push
    // delivered but left in the queue would come due again and be shown twice.
    let (mut gone, mut retries) = (Vec::new(), Vec::new());
    for (push, outcome) in to_send.into_iter().zip(outcomes) {
        match outcome {
            Outcome::Delivered => {
                metrics::counter!("push_sent_total").increment(1);
                finished.push(push.id);
            }
            Outcome::Gone => {
                tracing::info!(subscription = %push.subscription_id, "push subscription gone; deleted");
                metrics::counter!("push_subscriptions_gone_total").increment(1);
                gone.push(push.subscription_id);
            }
            Outcome::Refused(error) => {
                tracing::warn!(push_id = push.id, subscription = %push.subscription_id, %error, "push dropped");
                metrics::counter!("push_failed_total").increment(1);
                finished.push(push.id);
            }
            Outcome::Failed(error) if push.attempts >= pusher.settings.max_attempts => {
                tracing::error!(push_id = push.id, attempts = push.attempts, %error, "push given up");
                metrics::counter!("push_failed_total").increment(1);
                finished.push(push.id);
            }
            Outcome::Failed(error) => {
                let wait = pusher.backoff(push.attempts);
                tracing::warn!(push_id = push.id, attempts = push.attempts, %error, retry_in_ms = wait.as_millis() as u64, "push not delivered; will retry");
                let retry_at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                retries.push((push.id, error, retry_at));
                metrics::counter!("push_retries_total").increment(1);
            }
        }
    }
    let mut conn = state.db().await?;
    q::done(&mut conn, &finished).await?;
    // A failure below leaves those pushes to come due again when their lease runs out, which is
    // what they wait for anyway.
    for subscription in gone {
        if let Err(e) = q::delete_subscription(&mut conn, subscription).await {
            tracing::warn!(%subscription, "a gone push subscription was not deleted: {e}");
        }
    }
    for (id, error, retry_at) in retries {
        if let Err(e) = q::retry(&mut conn, id, &error, retry_at).await {
            tracing::warn!(push_id = id, "a push's retry was not recorded: {e}");
        }
    }
    Ok(claimed.len())
}

/// The worker of this instance: a round whenever pushes are queued here, and every
/// `push.poll_interval_ms` for ones queued elsewhere or due for a retry.
pub fn spawn_worker(state: Arc<AppState>) {
    tokio::spawn(async move {
        let poll = Duration::from_millis(state.push.settings.poll_interval_ms);
        let full = usize::try_from(state.push.settings.batch_size).unwrap_or(usize::MAX);
        loop {
            match run_once(&state).await {
                Ok(n) if n >= full => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!("push queue: {e:#}"),
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = state.push.wake.notified() => {}
            }
        }
    });
}
