//! Logging and tracing: a tracing subscriber (JSON in production, readable otherwise), a root span
//! per request carrying its request id, and the one place where 5xx causes are logged, inside that
//! span, so each logged failure names the request it broke. The id is echoed as `x-request-id`.
//!
//! With `telemetry.otlp_endpoint` set, spans are also exported as OpenTelemetry traces over
//! OTLP/HTTP (protobuf): the request spans (with `request_id`), and the spans of WebSocket
//! commands, the group-commit writer and the broker. Those last ones are TRACE-level spans of
//! plauder's own targets, which only the exporting layer asks for: with export off (the default)
//! they are disabled at their call sites and cost nothing on the hot paths.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::TelemetrySettings;
use crate::error::ApiError;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Installs the global subscriber, logging only; a second call in the same process is a no-op.
pub fn init(level: &str, json: bool) {
    init_with(level, json, None);
}

/// As [`init`], and with `telemetry.otlp_endpoint` set, exports spans to that OTLP collector. An
/// exporter that cannot be built is logged and left out: tracing is not worth refusing to serve.
pub fn init_with(level: &str, json: bool, telemetry: Option<&TelemetrySettings>) {
    // reqwest (the OTLP exporter's client, the webhook deliveries') is built with rustls and no
    // provider of its own: ring, installed as the process default, is the one plauder uses.
    crate::db::tls::provider();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json { fmt.json().with_current_span(true).with_span_list(false).boxed() } else { fmt.boxed() };
    let endpoint = telemetry.and_then(|t| Some(t.otlp_endpoint.trim()).filter(|e| !e.is_empty()));
    let (otel, problem) = match (endpoint, telemetry) {
        (Some(endpoint), Some(t)) => match tracer_provider(endpoint, &t.service_name) {
            Ok(provider) => {
                let tracer = provider.tracer("plauder");
                let _ = PROVIDER.set(provider);
                // Spans only (log events stay in the log), and only plauder's own.
                let spans = tracing_subscriber::filter::filter_fn(|m| m.is_span() && m.target().starts_with("plauder"));
                (Some(tracing_opentelemetry::layer().with_tracer(tracer).with_filter(spans)), None)
            }
            Err(e) => (None, Some(e)),
        },
        _ => (None, None),
    };
    let installed = tracing_subscriber::registry().with(fmt.with_filter(filter)).with(otel).try_init().is_ok();
    if let Some(e) = problem {
        tracing::error!("telemetry.otlp_endpoint: traces are not exported: {e:#}");
    } else if installed && let Some(endpoint) = endpoint {
        tracing::info!(endpoint, "exporting traces over OTLP/HTTP");
    }
}

/// The OTLP/HTTP (protobuf) exporter behind a batching processor, which exports from a thread of
/// its own, so a slow collector never holds a request.
fn tracer_provider(endpoint: &str, service_name: &str) -> anyhow::Result<SdkTracerProvider> {
    // The setting is the collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is.
    let endpoint = endpoint.trim_end_matches('/');
    let url = if endpoint.ends_with("/v1/traces") { endpoint.to_owned() } else { format!("{endpoint}/v1/traces") };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service_name.to_owned()).build();
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// Exports the spans that have ended and are still queued (tests; shutdown).
pub fn flush() {
    if let Some(provider) = PROVIDER.get()
        && let Err(e) = provider.force_flush()
    {
        tracing::warn!("flushing traces: {e}");
    }
}

/// Exports what is queued and stops the exporter; call once, as the process ends.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get()
        && let Err(e) = provider.shutdown()
    {
        tracing::warn!("stopping the trace exporter: {e}");
    }
}

pub struct PlauderRootSpan;

impl RootSpanBuilder for PlauderRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        tracing_actix_web::root_span!(request)
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        if let Ok(response) = outcome
            && response.status().is_server_error()
        {
            let cause = response.response().error().map_or_else(
                || "no error attached".to_owned(),
                |e| match e.as_error::<ApiError>() {
                    Some(
                        ApiError::Internal(c)
                        | ApiError::Unavailable(c)
                        | ApiError::StoreUnavailable(c)
                        | ApiError::TimedOut(c)
                        | ApiError::SearchTimedOut(c)
                        | ApiError::Contended(c),
                    ) => format!("{c:#}"),
                    _ => e.to_string(),
                },
            );
            span.in_scope(|| tracing::error!(status = response.status().as_u16(), cause, "request failed"));
        }
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// Echoes the request id that tracing-actix-web assigned, so a client's report can be matched to
/// the server's log lines.
pub async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req.extensions().get::<RequestId>().map(ToString::to_string);
    let mut res = next.call(req).await?;
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        res.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}
