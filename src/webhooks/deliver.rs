//! The delivery worker: takes due outbox rows with `FOR UPDATE SKIP LOCKED` (several instances
//! share the work; a row is sent by one of them at a time), POSTs each, signed, and records the
//! attempt, all in one transaction: a crash mid-delivery leaves the row pending, and it is sent
//! again after the restart (at-least-once; the event `id` lets receivers drop repeats).
//!
//! Of each endpoint and room only the oldest pending row is due, so a room's events arrive in
//! order and a failing one holds back those behind it. A failure is retried after
//! `retry_base_ms` doubling per attempt up to `retry_max_ms`, plus random jitter; after
//! `max_consecutive_failures` failures in a row the endpoint is disabled and the audit log says
//! so (`webhook.disabled`), which the admin panel shows.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel_async::AsyncConnection;
use futures_util::future::join_all;
use serde_json::json;

use crate::config::WebhookSettings;
use crate::db::PgPool;
use crate::db::models::NewAuditEntry;
use crate::db::queries::{audit_log, webhooks as q};
use crate::ids::AuditEntryId;
use crate::webhooks::guard::{Guard, GuardedResolver};
use crate::webhooks::sign;

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
pub fn start(pool: PgPool, settings: WebhookSettings) -> anyhow::Result<()> {
    metrics::describe_counter!(
        "plauder_webhook_attempts_total",
        "Webhook delivery attempts, by outcome (delivered, failed)"
    );
    metrics::describe_counter!(
        "plauder_webhook_endpoints_disabled_total",
        "Webhook endpoints disabled after a run of failures"
    );
    let guard = Arc::new(Guard::new(&settings)?);
    let client = client(&settings, guard.clone())?;
    actix_web::rt::spawn(async move {
        let poll = Duration::from_millis(settings.poll_interval_ms);
        loop {
            match pass(&pool, &client, &guard, &settings).await {
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

/// One pass: claim, send, record, commit. Returns how many rows it took.
async fn pass(
    pool: &PgPool,
    client: &reqwest::Client,
    guard: &Guard,
    settings: &WebhookSettings,
) -> anyhow::Result<usize> {
    let mut conn = pool.get().await.map_err(|e| anyhow::anyhow!("database pool: {e}"))?;
    let taken = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let due = q::claim_due(conn, settings.batch_size).await?;
            if due.is_empty() {
                return Ok(0);
            }
            let outcomes = join_all(due.iter().map(|d| post(client, guard, &d.url, &d.secret, &d.body))).await;
            for (d, outcome) in due.iter().zip(outcomes) {
                let latency = outcome.latency_ms;
                q::record_attempt(conn, d.id, outcome.status, latency, outcome.error.as_deref()).await?;
                if outcome.ok() {
                    metrics::counter!("plauder_webhook_attempts_total", "outcome" => "delivered").increment(1);
                    q::mark_delivered(conn, d.id, d.endpoint_id).await?;
                    continue;
                }
                metrics::counter!("plauder_webhook_attempts_total", "outcome" => "failed").increment(1);
                let next_at = Utc::now() + backoff(settings, d.attempts);
                let reason = format!(
                    "{} failed deliveries in a row; the last: {}",
                    settings.max_consecutive_failures,
                    outcome.error.as_deref().unwrap_or("")
                );
                let disabled =
                    q::mark_failed(conn, d.id, d.endpoint_id, next_at, settings.max_consecutive_failures, &reason)
                        .await?;
                if disabled {
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
                }
            }
            Ok(due.len())
        })
        .await?;
    Ok(taken)
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
