//! Prometheus metrics: the process-wide recorder, the help text of every series, the figures
//! sampled when `/metrics` is scraped (process, pool, queues, build), and the middleware that
//! counts and times every request by route pattern (not raw path, which would make one series per
//! user id) and status.
//!
//! Every series is exposed as `plauder_<name>`. Call sites name a metric without the prefix
//! (`metrics::counter!("ws_connections")`); the recorder adds it, so one place decides the
//! namespace and a name already spelled `plauder_…` is left as it is. Each name recorded anywhere
//! is described in [`describe`], and a test checks that every exposed series has its `# HELP`.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit, describe_counter, describe_gauge,
    describe_histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// The namespace of every series this process exposes.
pub const PREFIX: &str = "plauder_";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// How often the histograms' queued samples are drained into their buckets between scrapes.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the recorder once per process; later calls (several apps in one test process) reuse it.
pub fn init() {
    HANDLE.get_or_init(|| {
        let seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
        let batch = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_batch_size".into()), &batch))
            .map(PrometheusBuilder::build_recorder);
        let recorder = match recorder {
            Ok(recorder) => recorder,
            Err(e) => {
                tracing::error!("metrics recorder not built: {e}");
                return None;
            }
        };
        let handle = recorder.handle();
        if let Err(e) = metrics::set_global_recorder(Prefixed(recorder)) {
            tracing::error!("metrics recorder not installed: {e}");
            return None;
        }
        // A recorder built rather than installed by the exporter gets no upkeep of its own: each
        // histogram sample stays queued in memory until something drains it, which only a scrape
        // did. A server nobody scrapes (a laptop's) grew by every request's and every send's
        // samples; drained every few seconds, they cost nothing between scrapes.
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("plauder-metrics-upkeep".into()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
        if let Err(e) = spawned {
            tracing::error!("metrics upkeep thread not started (histogram samples pile up until scraped): {e}");
        }
        describe();
        let process = PROCESS.get_or_init(metrics_process::Collector::default);
        process.describe();
        metrics::gauge!("build_info", "version" => env!("CARGO_PKG_VERSION"), "commit" => commit()).set(1.0);
        Some(handle)
    });
    metrics::describe_counter!(
        "plauder_realtime_baseline_retries_total",
        "Room actors' failed reads of a room's latest seq, each tried again after a back-off"
    );
}

/// The commit this binary was built from: `PLAUDER_GIT_COMMIT` at build time (the scripts and
/// the Dockerfile set it), else "unknown". An environment variable rather than a build script
/// running git: a build must work from a tarball or a Docker context without `.git`.
pub fn commit() -> &'static str {
    option_env!("PLAUDER_GIT_COMMIT").filter(|c| !c.is_empty()).unwrap_or("unknown")
}

/// The exposition text, after sampling the figures that are read rather than counted.
pub fn render(state: &AppState) -> String {
    sample(state);
    HANDLE.get().and_then(Option::as_ref).map(PrometheusHandle::render).unwrap_or_default()
}

/// Gauges whose truth lives elsewhere (the kernel, the pool, the queues), read at scrape time so
/// that nothing on the hot paths pays for them.
fn sample(state: &AppState) {
    if let Some(process) = PROCESS.get() {
        process.collect();
    }
    let pool = state.pool.status();
    metrics::gauge!("db_pool_max_size").set(pool.max_size as f64);
    metrics::gauge!("db_pool_size").set(pool.size as f64);
    metrics::gauge!("db_pool_available").set(pool.available as f64);
    metrics::gauge!("db_pool_waiting").set(pool.waiting as f64);
    metrics::gauge!("db_send_queue_depth").set(state.send_batcher.queued() as f64);
    metrics::gauge!("ws_outbox_queued_events").set(crate::realtime::outbox::queued_total() as f64);
    metrics::gauge!("assistant_tokens_last_hour").set(state.assistant.tokens_last_hour() as f64);
}

/// Help text for every series recorded anywhere in the crate (short names: the recorder adds the
/// prefix). The process figures describe themselves (metrics-process).
fn describe() {
    use Unit::{Count, Seconds};
    // HTTP
    describe_counter!("http_requests_total", Count, "HTTP requests answered, by method, route pattern and status.");
    describe_histogram!(
        "http_request_duration_seconds",
        Seconds,
        "Time to answer an HTTP request, by method, route pattern and status."
    );
    // The assistant
    describe_counter!(
        "assistant_answers_total",
        Count,
        "Answers the assistant posted, by source: model, faq (the best FAQ entry), unknown (it said it does not know)."
    );
    describe_counter!(
        "assistant_failures_total",
        Count,
        "Answers the model did not give (timeout, status, garbage, transport, empty) or that failed inside (internal)."
    );
    describe_counter!(
        "assistant_skipped_total",
        Count,
        "Occasions the assistant let pass, by reason: busy (already answering in the room), rate, budget (no model, FAQ instead), staff_answered."
    );
    describe_counter!("assistant_tokens_total", Count, "Model tokens used, as reported or estimated.");
    describe_gauge!("assistant_tokens_last_hour", Count, "Model tokens used in the last hour (the budget's window).");
    describe_histogram!("assistant_model_duration_seconds", Seconds, "Time from the model request to its last chunk.");
    describe_counter!("slash_commands_total", Count, "Messages routed to a bot as one of its slash commands.");
    // WebSocket
    describe_gauge!("ws_connections", Count, "Open WebSocket connections on this instance.");
    describe_counter!(
        "ws_commands_total",
        Count,
        "WebSocket commands received, by type (unknown types as \"other\") and outcome (ok or error)."
    );
    describe_histogram!(
        "ws_command_duration_seconds",
        Seconds,
        "Time from a WebSocket command's frame to its reply, by type."
    );
    describe_counter!(
        "ws_commands_refused_busy_total",
        Count,
        "WebSocket commands refused because their connection had too many running."
    );
    describe_counter!(
        "ws_slow_consumers_total",
        Count,
        "Connections closed with 4009 for falling realtime.outbox_limit events behind."
    );
    describe_gauge!(
        "ws_outbox_queued_events",
        Count,
        "Events queued for WebSocket connections and not yet written, over all connections."
    );
    // Real time
    describe_gauge!("realtime_rooms_active", Count, "Room actors running on this instance.");
    describe_gauge!("realtime_registry_rooms", Count, "Rooms with local connections in the registry.");
    describe_gauge!("realtime_registry_attachments", Count, "Connection-room attachments in the registry.");
    describe_counter!("realtime_gap_fetches_total", Count, "Room actors that read a missing seq from the database.");
    describe_counter!(
        "realtime_attach_catch_ups_total",
        Count,
        "Connections given what they missed before their attach reached the room actor."
    );
    describe_counter!("realtime_room_restarts_total", Count, "Room actors restarted after a panic.");
    describe_counter!(
        "malloc_trims_total",
        Count,
        "Times free allocator memory was returned to the system: after start-up and after many connections closed."
    );
    describe_counter!(
        "realtime_revalidation_closes_total",
        Count,
        "Sockets closed by revalidation (ban, revoked token, changed role)."
    );
    describe_gauge!("presence_users", Count, "Users with presence held by this instance.");
    describe_counter!("presence_events_total", Count, "Presence changes published.");
    // Between instances
    describe_counter!("broker_published_total", Count, "Events published to Redis, by instance.");
    describe_counter!(
        "broker_publish_errors_total",
        Count,
        "Events not published to Redis (Redis away, slow, or the queue full), by instance."
    );
    describe_counter!("broker_received_total", Count, "Events received from other instances, by instance.");
    describe_counter!(
        "broker_dropped_no_local_total",
        Count,
        "Events received for a topic with no local subscriber left, by instance."
    );
    describe_counter!("broker_decode_errors_total", Count, "Messages from Redis that did not decode, by instance.");
    describe_counter!("broker_reconnects_total", Count, "Reconnections of the Redis subscriber, by instance.");
    describe_gauge!("broker_redis_connected", "1 while the Redis subscriber connection is up, by instance.");
    describe_gauge!("broker_subscribed_channels", Count, "Redis channels this instance subscribes to, by instance.");
    describe_histogram!(
        "broker_transit_seconds",
        Seconds,
        "Time from publish on another instance to decode here (needs synchronised clocks)."
    );
    describe_counter!("cluster_instances_swept_total", Count, "Dead instances whose users this instance took offline.");
    // Mail and two-factor
    describe_counter!("mail_queued_total", Count, "Mails put into the queue, by kind.");
    describe_counter!("digests_scheduled_total", Count, "Email digests scheduled by the scan of new messages.");
    describe_counter!(
        "digests_decided_total",
        Count,
        "Due email digests decided, by outcome (sent, nothing, postponed, failed: tried again next round)."
    );
    describe_counter!("mail_sent_total", Count, "Mails handed to the relay (or to the log without one).");
    describe_counter!("mail_retries_total", Count, "Failed tries at sending a mail that will be tried again.");
    describe_counter!("mail_failed_total", Count, "Mails given up after email.max_attempts tries.");
    // Web Push
    describe_counter!("push_queued_total", Count, "Pushes put into the queue (one per subscription), by kind.");
    describe_counter!("push_sent_total", Count, "Pushes the push service accepted.");
    describe_counter!(
        "push_enqueue_runs_total",
        Count,
        "Queueing statements run for committed messages (each queues zero or more pushes)."
    );
    describe_counter!("push_retries_total", Count, "Failed tries at a push that will be tried again.");
    describe_counter!(
        "push_failed_total",
        Count,
        "Pushes dropped: given up after push.max_attempts, or undeliverable."
    );
    describe_counter!(
        "push_skipped_connected_total",
        Count,
        "Queued pushes dropped because the recipient was connected."
    );
    describe_counter!(
        "push_subscriptions_gone_total",
        Count,
        "Subscriptions deleted because the push service said 404/410."
    );
    describe_counter!(
        "mfa_lockouts_total",
        Count,
        "Accounts whose two-factor codes were locked after too many wrong ones."
    );
    // Database
    describe_counter!("db_queries_total", Count, "SQL statements run, by outcome.");
    describe_histogram!("db_query_duration_seconds", Seconds, "Time a SQL statement took.");
    describe_gauge!(
        "db_pool_max_size",
        Count,
        "Most connections the pool may hold (database.pool_max_size less the send writers' and the account reader's own)."
    );
    describe_gauge!("db_pool_size", Count, "Connections the pool holds, busy or idle.");
    describe_gauge!("db_pool_available", Count, "Idle connections in the pool.");
    describe_gauge!("db_pool_waiting", Count, "Tasks waiting for a pool connection.");
    describe_histogram!(
        "db_pool_wait_seconds",
        Seconds,
        "Time a request waited for a pool connection (including a failed wait)."
    );
    describe_counter!(
        "db_pool_timeouts_total",
        Count,
        "Waits for a pool connection that failed (timeout or PostgreSQL unreachable)."
    );
    describe_histogram!("db_send_batch_size", Count, "Messages per group-commit statement of the send writers.");
    describe_histogram!(
        "db_account_read_batch_size",
        Count,
        "Accounts per statement of the WebSocket upgrades' account reader."
    );
    describe_histogram!(
        "db_send_batch_duration_seconds",
        Seconds,
        "Time a send writer took to insert and commit one batch."
    );
    describe_histogram!(
        "db_send_queue_wait_seconds",
        Seconds,
        "Time a send waited in a send writer's queue (parked included) until its batch's statement began (for a batch tried again one send at a time, the failed statement's start)."
    );
    describe_gauge!("db_send_queue_depth", Count, "Message sends queued for the send writers, parked ones included.");
    describe_counter!("db_send_batch_isolations_total", Count, "Failed batches whose sends were retried one by one.");
    describe_counter!(
        "db_send_handed_back_total",
        Count,
        "Sends the send writers handed back to the checked path (room row held, not a member, a known client_msg_id, ...)."
    );
    describe_gauge!(
        "room_write_waiting",
        Count,
        "Room writes (checked-path sends, edits, deletions, reactions, joins) waiting for one of their room's places, holding no database connection."
    );
    describe_counter!(
        "room_write_gate_timeouts_total",
        Count,
        "Room writes that found no place among their room's writers within database.pool_timeout_ms (answered 503 with Retry-After)."
    );
    describe_counter!(
        "db_send_parked_total",
        Count,
        "Sends a send writer held for a later batch: behind a send of the same sender to the room handed back and not finished, or a retry racing its original."
    );
    // Accounts, support
    describe_counter!(
        "password_hashes_refused_total",
        Count,
        "Password hashes refused because the hashing queue was full."
    );
    describe_counter!("support_sessions_opened_total", Count, "Support sessions opened.");
    describe_counter!(
        "support_reply_mails_total",
        Count,
        "Mails queued with staff answers for a support visitor who was away."
    );
    describe_counter!(
        "support_sessions_resumed_total",
        Count,
        "Support sessions continued from a reply mail's link (POST /support/resume)."
    );
    describe_counter!("contacts_received_total", Count, "Contact form entries received.");
    describe_gauge!("build_info", "Always 1; the labels name this binary's version and commit.");
}

/// The method as a metrics label, from a closed set: a client may send any token as its method,
/// and each distinct label value is a new series the exporter keeps for ever. (The route label is
/// already closed: a registered pattern or "unmatched".)
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Records `http_requests_total` and `http_request_duration_seconds` by method, route and status.
pub async fn track_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status().as_u16().to_string(),
        Err(e) => e.as_response_error().status_code().as_u16().to_string(),
    };
    let labels = [("method", method.to_owned()), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    res
}

/// A WebSocket command on its way to a reply: counts and times it by type when it is answered,
/// and holds its trace span (`ws.command`) open until then.
pub struct CommandTimer {
    kind: &'static str,
    started: Instant,
    span: tracing::Span,
}

impl CommandTimer {
    /// `kind` must come from a closed set (the protocol's command types, or "other").
    pub fn start(kind: &'static str, span: tracing::Span) -> Self {
        Self { kind, started: Instant::now(), span }
    }

    /// The command's span, for the work it runs off the connection's mailbox.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    pub fn finish(self, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        metrics::counter!("ws_commands_total", "command" => self.kind, "outcome" => outcome).increment(1);
        metrics::histogram!("ws_command_duration_seconds", "command" => self.kind)
            .record(self.started.elapsed().as_secs_f64());
    }
}

/// User plus system CPU time from a `/proc/<pid>/stat` line (Linux; clock ticks are 1/100 s on
/// every Linux ABI). The load generator reads PostgreSQL's CPU with it.
pub fn cpu_seconds(stat: &str) -> Option<f64> {
    // The command name may contain spaces and parentheses; the fields after it are fixed.
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// The Prometheus recorder behind the `plauder_` namespace. Hand-written rather than
/// metrics-util's `PrefixLayer`: that one joins with a dot and prefixes every name, so a name
/// already spelled in full would come out twice prefixed.
struct Prefixed<R>(R);

fn prefixed_name(name: &str) -> Option<String> {
    (!name.starts_with(PREFIX)).then(|| format!("{PREFIX}{name}"))
}

fn prefixed_key_name(name: KeyName) -> KeyName {
    prefixed_name(name.as_str()).map_or(name, KeyName::from)
}

impl<R: Recorder> Prefixed<R> {
    fn key<T>(&self, key: &Key, register: impl FnOnce(&Key) -> T) -> T {
        match prefixed_name(key.name()) {
            Some(name) => register(&Key::from_parts(name, key.labels().cloned().collect::<Vec<_>>())),
            None => register(key),
        }
    }
}

impl<R: Recorder> Recorder for Prefixed<R> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_counter(prefixed_key_name(key), unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_gauge(prefixed_key_name(key), unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_histogram(prefixed_key_name(key), unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.key(key, |k| self.0.register_counter(k, metadata))
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.key(key, |k| self.0.register_gauge(k, metadata))
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.key(key, |k| self.0.register_histogram(k, metadata))
    }
}
