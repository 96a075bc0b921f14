//! The delivery worker. Three steps, none of which holds a transaction across an HTTP request:
//!
//! 1. **Claim** (one statement, committed at once): due outbox rows are taken with `FOR UPDATE
//!    SKIP LOCKED` (several instances share the work) and leased: their next attempt is pushed out
//!    by the delivery timeout plus a margin, so no worker takes them again while one posts them.
//! 2. **Post** each claimed row, signed, in a task of its own: a receiver that hangs until its
//!    timeout holds only its own delivery (and one of `batch_size` slots), not the others nor a
//!    database connection.
//! 3. **Record** the outcome in a short transaction: the attempt, delivered or the next retry,
//!    and, when the run of failures disables the endpoint, the audit entry and the admins' mails.
//!
//! A crash between claim and record leaves the row pending: it comes due again when its lease
//! runs out and is sent again (at-least-once; the event `id` lets receivers drop repeats).
//!
//! Of each endpoint and room only the oldest pending row is due, so a room's events arrive in
//! order and a failing (or leased) one holds back those behind it. A failure is retried after
//! `retry_base_ms` doubling per attempt up to `retry_max_ms`, plus random jitter; after
//! `max_consecutive_failures` failures in a row the endpoint is disabled, the audit log says so
//! (`webhook.disabled`) and every admin with an address gets a mail, queued in the same
//! transaction. An event that has failed `max_attempts` times is given up (`failed`), so that one
//! event the receiver always refuses, while it takes the others, does not hold back its room for
//! good; with `max_attempts` above `max_consecutive_failures`, and the count of attempts started
//! anew when an endpoint is re-enabled, a receiver that is down is disabled (its events kept)
//! before any event is given up, unless an event had already failed while others went through.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::config::WebhookSettings;
use crate::db::models::{Language, NewAuditEntry};
use crate::db::queries::{audit_log, webhooks as q};
use crate::error::{ApiError, ApiResult};
use crate::ids::AuditEntryId;
use crate::service::{mail, mail_templates};
use crate::state::AppState;
use crate::webhooks::guard::{Guard, GuardedResolver};
use crate::webhooks::sign;

/// The kind of the admins' mail when an endpoint is disabled (`mail_queue.kind`).
pub const DISABLED_MAIL_KIND: &str = "webhook_disabled";
/// What a lease adds to the delivery timeout: time to record the outcome.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// The HTTP client of deliveries: checked resolver, timeouts, no redirects (a redirect could
/// point anywhere), no proxy from the environment, TLS with the system's roots on ring.
///
/// # Errors
/// No CA roots, or the client cannot be built.
pub fn client(settings: &WebhookSettings, guard: Arc<Guard>) -> anyhow::Result<reqwest::Client> {
    let roots = crate::db::tls::system_roots().unwrap_or_else(|e| {
        tracing::warn!("webhooks: {e}; HTTPS endpoints will fail verification");
        rustls::RootCertStore::empty()
    });
    let tls = rustls::ClientConfig::builder_with_provider(crate::db::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver(guard)))
        .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .timeout(Duration::from_millis(settings.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("plauder-webhooks/", env!("CARGO_PKG_VERSION")))
        .tls_backend_preconfigured(tls)
        .build()?)
}

/// Starts the worker on the current runtime.
///
/// # Errors
/// A bad `webhooks.allowed_networks` entry, or the HTTP client cannot be built.
pub fn start(state: Arc<AppState>) -> anyhow::Result<()> {
    metrics::describe_counter!(
        "plauder_webhook_attempts_total",
        "Webhook delivery attempts, by outcome (delivered, failed, gave_up)"
    );
    metrics::describe_counter!(
        "plauder_webhook_endpoints_disabled_total",
        "Webhook endpoints disabled after a run of failures"
    );
    let settings = &state.settings.webhooks;
    let guard = Arc::new(Guard::new(settings)?);
    let client = client(settings, guard.clone())?;
    let slots = Arc::new(Semaphore::new(usize::try_from(settings.batch_size.max(1)).unwrap_or(1)));
    let worker = Worker { state, client, guard, slots };
    actix_web::rt::spawn(async move {
        let settings = &worker.state.settings.webhooks;
        let poll = Duration::from_millis(settings.poll_interval_ms);
        loop {
            match worker.pass().await {
                // A full batch: more may be due at once.
                Ok(n) if i64::try_from(n).unwrap_or(i64::MAX) >= settings.batch_size => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!("webhook delivery pass failed: {e:#}"),
            }
            tokio::time::sleep(poll).await;
        }
    });
    Ok(())
}

/// What one attempt came to.
struct Outcome {
    status: Option<i32>,
    latency_ms: i32,
    error: Option<String>,
}

impl Outcome {
    fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// The worker's parts, cheap to clone into each delivery's task.
#[derive(Clone)]
struct Worker {
    state: Arc<AppState>,
    client: reqwest::Client,
    guard: Arc<Guard>,
    /// Deliveries in flight on this instance, at most `batch_size`.
    slots: Arc<Semaphore>,
}

/// How long a claimed row stays away from other workers: the longest a delivery may take, plus a
/// margin for recording its outcome.
pub fn lease(s: &crate::config::WebhookSettings) -> Duration {
    Duration::from_millis(s.timeout_ms.max(s.connect_timeout_ms)) + LEASE_MARGIN
}

impl Worker {
    fn lease(&self) -> Duration {
        lease(&self.state.settings.webhooks)
    }

    /// One pass: claims as many due rows as there are free slots and starts a task for each.
    /// Returns how many it took.
    async fn pass(&self) -> anyhow::Result<usize> {
        let settings = &self.state.settings.webhooks;
        let free = i64::try_from(self.slots.available_permits()).unwrap_or(0).min(settings.batch_size);
        if free == 0 {
            return Ok(0);
        }
        let lease_ms = i64::try_from(self.lease().as_millis()).unwrap_or(i64::MAX);
        let due = {
            let mut conn = self.state.pool.get().await.map_err(|e| anyhow::anyhow!("database pool: {e}"))?;
            q::claim_due(&mut conn, free, lease_ms).await?
        };
        let taken = due.len();
        for d in due {
            // Never fails: no more rows were claimed than slots were free, and only this loop
            // takes slots.
            let Ok(slot) = self.slots.clone().try_acquire_owned() else { break };
            let worker = self.clone();
            actix_web::rt::spawn(async move {
                let outcome = post(&worker.client, &worker.guard, &d.url, &d.secret, &d.body).await;
                if let Err(e) = worker.record(&d, &outcome).await {
                    // The row stays pending and comes due again after its lease.
                    tracing::warn!(endpoint = %d.endpoint_id, "recording a webhook attempt failed: {e:#}");
                }
                drop(slot);
            });
        }
        Ok(taken)
    }

    /// Records one attempt's outcome, in one short transaction.
    async fn record(&self, d: &q::Due, outcome: &Outcome) -> anyhow::Result<()> {
        let settings = &self.state.settings.webhooks;
        let mut conn = self.state.pool.get().await.map_err(|e| anyhow::anyhow!("database pool: {e}"))?;
        let mails = conn
            .transaction::<_, ApiError, _>(async |conn| {
                // The endpoint first, as its deletion takes it before cascading to the outbox:
                // recording the attempt locks the outbox row, and the other order deadlocked with
                // a deletion. Gone meanwhile: its rows went with it, nothing to record.
                if !q::lock_endpoint(conn, d.endpoint_id).await? {
                    return Ok(0);
                }
                q::record_attempt(conn, d.id, outcome.status, outcome.latency_ms, outcome.error.as_deref()).await?;
                if outcome.ok() {
                    metrics::counter!("plauder_webhook_attempts_total", "outcome" => "delivered").increment(1);
                    q::mark_delivered(conn, d.id, d.endpoint_id).await?;
                    return Ok(0);
                }
                // A receiver that refuses one event for good but takes the others keeps resetting
                // the endpoint's failure run; giving the event up is what lets its room move on.
                let give_up = d.attempts.saturating_add(1) >= settings.max_attempts;
                let retry_at = (!give_up).then(|| Utc::now() + backoff(settings, d.attempts));
                let reason = format!(
                    "{} failed deliveries in a row; the last: {}",
                    settings.max_consecutive_failures,
                    outcome.error.as_deref().unwrap_or("")
                );
                let marked = q::mark_failed(conn, d, retry_at, settings.max_consecutive_failures, &reason).await?;
                // Given up only if this claim was still the row's: a stale one changed nothing.
                let gave_up = give_up && marked.is_some();
                let outcome_label = if gave_up { "gave_up" } else { "failed" };
                metrics::counter!("plauder_webhook_attempts_total", "outcome" => outcome_label).increment(1);
                if gave_up {
                    tracing::warn!(endpoint = %d.endpoint_id, outbox = d.id, attempts = d.attempts + 1,
                        "webhook event given up: {}", outcome.error.as_deref().unwrap_or(""));
                }
                if marked != Some(true) {
                    return Ok(0);
                }
                metrics::counter!("plauder_webhook_endpoints_disabled_total").increment(1);
                tracing::warn!(endpoint = %d.endpoint_id, "webhook endpoint disabled: {reason}");
                let new = NewAuditEntry {
                    id: AuditEntryId::new(),
                    actor_id: None,
                    action: "webhook.disabled",
                    target_type: "webhook",
                    target_id: &d.endpoint_id.to_string(),
                    details: json!({ "reason": reason, "url": d.url }),
                };
                audit_log::insert(conn, &new).await?;
                tell_admins(conn, &self.state, &d.url, &reason).await
            })
            .await?;
        if mails > 0 {
            self.state.mailer.wake();
        }
        Ok(())
    }
}

/// Queues the "endpoint disabled" mail to every admin with an address, each in their language,
/// on `conn` (the disabling transaction). How many it queued.
async fn tell_admins(conn: &mut AsyncPgConnection, state: &AppState, url: &str, reason: &str) -> ApiResult<usize> {
    let link = crate::service::mail::link(state, "/admin#webhooks");
    let admins = q::admin_recipients(conn).await?;
    for admin in &admins {
        let language = admin.language.parse().unwrap_or(Language::En);
        let rendered = mail_templates::webhook_disabled(language, &admin.username, url, reason, &link);
        mail::enqueue(conn, DISABLED_MAIL_KIND, &admin.email, language, &rendered).await?;
    }
    Ok(admins.len())
}

/// The delay before retry number `attempts + 1`: doubling from `retry_base_ms`, capped at
/// `retry_max_ms`, plus up to half of it at random.
fn backoff(settings: &WebhookSettings, attempts: i32) -> chrono::Duration {
    let shift = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
    let base = settings.retry_base_ms.saturating_mul(1u64 << shift).min(settings.retry_max_ms);
    let mut bytes = [0u8; 8];
    // Without randomness the retry just has no jitter.
    let _ = getrandom::fill(&mut bytes);
    let jitter = u64::from_le_bytes(bytes) % (base / 2).max(1);
    chrono::Duration::milliseconds(i64::try_from(base + jitter).unwrap_or(i64::MAX))
}

/// POSTs one signed body. A host given as an address never reaches the resolver, so it is
/// checked here.
async fn post(client: &reqwest::Client, guard: &Guard, url: &str, secret: &str, body: &str) -> Outcome {
    let started = Instant::now();
    let elapsed = |started: Instant| i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    let fail = |error: String| Outcome { status: None, latency_ms: elapsed(started), error: Some(error) };
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) => u,
        Err(e) => return fail(format!("bad URL: {e}")),
    };
    if let Some(ip) =
        parsed.host_str().and_then(|h| h.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok())
        && !guard.permits(ip)
    {
        return fail(format!("refused: {ip} is an internal address"));
    }
    let timestamp = Utc::now().timestamp();
    let result = client
        .post(parsed)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(sign::HEADER, sign::header(secret, timestamp, body.as_bytes()))
        .body(body.to_owned())
        .send()
        .await;
    match result {
        Ok(res) if res.status().is_success() => {
            Outcome { status: Some(i32::from(res.status().as_u16())), latency_ms: elapsed(started), error: None }
        }
        Ok(res) => {
            let status = res.status();
            Outcome {
                status: Some(i32::from(status.as_u16())),
                latency_ms: elapsed(started),
                error: Some(format!("the receiver answered {status}")),
            }
        }
        Err(e) => fail(crate::error::http_error_chain(&e)),
    }
}
