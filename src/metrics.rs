//! Prometheus metrics: the process-wide recorder, its text rendering for `GET /metrics`, and the
//! middleware that counts and times every request by route pattern (not raw path, which would
//! make one series per user id) and status.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder once per process; later calls (several apps in one test process) reuse it.
pub fn init() {
    HANDLE.get_or_init(|| {
        let buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
            .and_then(PrometheusBuilder::install_recorder)
            .map_err(|e| tracing::error!("metrics recorder not installed: {e}"))
            .ok()
    });
    metrics::describe_counter!(
        "plauder_realtime_baseline_retries_total",
        "Room actors' failed reads of a room's latest seq, each tried again after a back-off"
    );
}

pub fn render() -> String {
    if let Some(rss) = resident_memory_bytes() {
        metrics::gauge!("process_resident_memory_bytes").set(rss as f64);
    }
    if let Some(cpu) = cpu_seconds(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default()) {
        metrics::gauge!("process_cpu_seconds_total").set(cpu);
    }
    HANDLE.get().and_then(Option::as_ref).map(PrometheusHandle::render).unwrap_or_default()
}

/// The process's resident set size (Linux), so benchmarks can read memory per connection from
/// /metrics.
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// User plus system CPU time from a `/proc/<pid>/stat` line (Linux; clock ticks are 1/100 s on
/// every Linux ABI). Benchmarks divide it by the work done: CPU per delivery stays comparable on a
/// machine whose other load changes the throughput.
pub fn cpu_seconds(stat: &str) -> Option<f64> {
    // The command name may contain spaces and parentheses; the fields after it are fixed.
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
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
