//! Logging: a tracing subscriber (JSON in production, readable otherwise), a root span per request
//! carrying its request id, and the one place where 5xx causes are logged, inside that span, so
//! each logged failure names the request it broke. The id is echoed as `x-request-id`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

use crate::error::ApiError;

/// Installs the global subscriber; a second call in the same process is a no-op.
pub fn init(level: &str, json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ =
        if json { builder.json().with_current_span(true).with_span_list(false).try_init() } else { builder.try_init() };
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
                        | ApiError::TimedOut(c)
                        | ApiError::SearchTimedOut(c),
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
