//! The one error type of the API. Each variant maps to a PROTOCOL.md code and HTTP status here and
//! nowhere else; the WebSocket side (later) uses the same codes. Internal causes are logged by the
//! request's root span (see `telemetry`) and never reach the client.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{message}")]
    Validation { message: String, details: Option<Value> },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// `forbidden` with a machine-readable `details.reason` that tells the client what to do
    /// (`email_not_verified`: confirm the address first).
    #[error("{message}")]
    ForbiddenBecause { reason: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Too many requests; retry in {retry_after_ms} ms.")]
    RateLimited { retry_after_ms: u64 },
    /// A count the client holds is at its bound (sockets, attachment bytes): `rate_limited` like a
    /// rate, with a message naming the bound, and a `reason` in the details where a client should
    /// tell it from a rate (a full attachment quota needs files deleted, not a wait).
    #[error("{message}")]
    QuotaExceeded { message: String, retry_after_ms: u64, reason: Option<&'static str> },
    #[error("{0}")]
    PayloadTooLarge(String),
    /// An upload whose content is not an allowed type, or disagrees with its declared type or
    /// its name's extension.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A download's Range lies outside the file of `size` bytes (416 with `Content-Range:
    /// bytes */size`).
    #[error("The requested range is not within the file ({size} bytes).")]
    RangeNotSatisfiable { size: u64 },
    /// A dependency (PostgreSQL, Redis) is down or saturated; the cause is logged.
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The attachment store (an S3 bucket) failed or could not be reached: `unavailable`, with a
    /// message that says only files are affected; the cause is logged.
    #[error("attachment store unavailable")]
    StoreUnavailable(#[source] anyhow::Error),
    /// Unavailable because this instance is at a bound it sets itself (password hashing slots):
    /// nothing is broken, and the client is told when to try again (Retry-After).
    #[error("The server is busy; retry in {retry_after_ms} ms.")]
    Busy { retry_after_ms: u64 },
    /// PostgreSQL cancelled a statement at `database.statement_timeout_ms`: `unavailable` to the
    /// client (the contract's code for "not now"), with a message that says it was this request
    /// that took too long rather than the database being down.
    #[error("statement timeout")]
    TimedOut(#[source] anyhow::Error),
    /// A search cancelled at its own, tighter `database.search_statement_timeout_ms`: the same
    /// `unavailable`, with a message that tells the client how to make the search cheaper.
    #[error("search timeout")]
    SearchTimedOut(#[source] anyhow::Error),
    /// PostgreSQL aborted the request's transaction to break a deadlock with another one, or
    /// because it could not be serialised with one: nothing of it was written, and the same
    /// request tried again can succeed, so `unavailable` (503) rather than `internal`.
    #[error("transaction aborted by a conflicting one")]
    Contended(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The JSON body of every error: `{"error": {"code", "message", "details"?}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorObject {
    /// One of PROTOCOL.md's codes: bad_request, validation_failed, unauthorized, forbidden,
    /// not_found, conflict, rate_limited, payload_too_large, unsupported_media_type,
    /// range_not_satisfiable, unavailable, internal.
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

impl ApiError {
    /// The same failure for another caller of one shared operation (a batch answering each of its
    /// callers): `ApiError` is not `Clone`, since it owns its cause.
    #[must_use]
    pub fn same_for_another(&self) -> ApiError {
        match self {
            ApiError::Unavailable(cause) => ApiError::Unavailable(anyhow::anyhow!("{cause:#}")),
            ApiError::TimedOut(cause) => ApiError::TimedOut(anyhow::anyhow!("{cause:#}")),
            ApiError::Contended(cause) => ApiError::Contended(anyhow::anyhow!("{cause:#}")),
            other => ApiError::Internal(anyhow::anyhow!("{other:#}")),
        }
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let details = serde_json::json!({ "fields": { field: message } });
        ApiError::Validation { message, details: Some(details) }
    }

    /// A statement timeout of a search becomes the search's own error.
    #[must_use]
    pub fn as_search_timeout(self) -> Self {
        match self {
            ApiError::TimedOut(cause) => ApiError::SearchTimedOut(cause),
            other => other,
        }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(e.into())
    }

    /// The protocol's machine code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Validation { .. } => "validation_failed",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) | ApiError::ForbiddenBecause { .. } => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::RateLimited { .. } | ApiError::QuotaExceeded { .. } => "rate_limited",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            ApiError::Unavailable(_)
            | ApiError::StoreUnavailable(_)
            | ApiError::Busy { .. }
            | ApiError::TimedOut(_)
            | ApiError::SearchTimedOut(_)
            | ApiError::Contended(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The client-safe body; internal causes stay out of it.
    pub fn body(&self) -> ErrorBody {
        let (message, details) = match self {
            ApiError::Validation { message, details } => (message.clone(), details.clone()),
            ApiError::ForbiddenBecause { reason, message } => {
                (message.clone(), Some(serde_json::json!({ "reason": reason })))
            }
            ApiError::QuotaExceeded { retry_after_ms, reason: Some(reason), .. } => {
                (self.to_string(), Some(serde_json::json!({ "retry_after_ms": retry_after_ms, "reason": reason })))
            }
            ApiError::RateLimited { retry_after_ms }
            | ApiError::Busy { retry_after_ms }
            | ApiError::QuotaExceeded { retry_after_ms, .. } => {
                (self.to_string(), Some(serde_json::json!({ "retry_after_ms": retry_after_ms })))
            }
            ApiError::Unavailable(_) => ("The service is temporarily unavailable; try again shortly.".to_owned(), None),
            ApiError::StoreUnavailable(_) => (
                "Files cannot be stored or read right now; try again shortly. Messages are not affected.".to_owned(),
                None,
            ),
            ApiError::TimedOut(_) => (
                "The database took too long to answer this request and it was cancelled; \
                 try again shortly, or narrow the request."
                    .to_owned(),
                None,
            ),
            ApiError::SearchTimedOut(_) => (
                "The search took too long and was cancelled; try more specific words, or search \
                 one room."
                    .to_owned(),
                None,
            ),
            ApiError::Contended(_) => (
                "This request met another one changing the same data and was stopped before it \
                 changed anything; try again."
                    .to_owned(),
                None,
            ),
            ApiError::Internal(_) => ("Something went wrong on our side.".to_owned(), None),
            other => (other.to_string(), None),
        };
        ErrorBody { error: ErrorObject { code: self.code(), message, details } }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::ForbiddenBecause { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } | ApiError::QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::Unavailable(_)
            | ApiError::StoreUnavailable(_)
            | ApiError::Busy { .. }
            | ApiError::TimedOut(_)
            | ApiError::SearchTimedOut(_)
            | ApiError::Contended(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code()).json(self.body());
        if let ApiError::RateLimited { retry_after_ms }
        | ApiError::Busy { retry_after_ms }
        | ApiError::QuotaExceeded { retry_after_ms, .. } = self
        {
            // Retry-After is in whole seconds; round up so a client never retries too early.
            let secs = retry_after_ms.div_ceil(1000).max(1);
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
        }
        if let ApiError::RangeNotSatisfiable { size } = self
            && let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}"))
        {
            response.headers_mut().insert(actix_web::http::header::CONTENT_RANGE, value);
        }
        response
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        // diesel-async does not pass the SQLSTATE on (57014 is also a cancel on request), so the
        // server's message is what tells a statement_timeout apart, and the deadlock detector's
        // victim (40P01). It is in the server's lc_messages: English (C) or German, PostgreSQL's
        // own texts, are known; in another language these are `internal`, and the start warns
        // (`db::check_message_language`).
        if let Error::DatabaseError(DatabaseErrorKind::Unknown, info) = &e {
            let message = info.message();
            if message.contains("statement timeout") || message.contains("Zeitüberschreitung der Anfrage") {
                return ApiError::TimedOut(e.into());
            }
            if message == "deadlock detected" || message == "Verklemmung (Deadlock) entdeckt" {
                return ApiError::Contended(e.into());
            }
        }
        match e {
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => ApiError::Contended(e.into()),
            // UnableToSendCommand is what diesel-async reports when the socket to PostgreSQL is
            // gone (server down or restarting, network cut): a pooled connection that broke.
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _)
            | Error::BrokenTransactionManager => ApiError::Unavailable(e.into()),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<crate::db::PoolError> for ApiError {
    fn from(e: crate::db::PoolError) -> Self {
        ApiError::Unavailable(anyhow::anyhow!("database pool: {e}"))
    }
}

/// Turns a unique-constraint violation into `conflict` where the caller knows what clashed
/// (realworld's ResultExt), leaving every other database error as it was.
pub trait ConflictExt<T> {
    fn on_conflict(self, message: &str) -> ApiResult<T>;
}

impl<T> ConflictExt<T> for Result<T, diesel::result::Error> {
    fn on_conflict(self, message: &str) -> ApiResult<T> {
        use diesel::result::{DatabaseErrorKind, Error};
        self.map_err(|e| match e {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => ApiError::Conflict(message.to_owned()),
            other => other.into(),
        })
    }
}

/// Whether `e` is the violation of the foreign key `constraint`: the row a request named (and had
/// found) was deleted by another request meanwhile. Its caller says which row, where a generic
/// mapping could not (and a violation elsewhere stays the error it is).
pub fn violates_foreign_key(e: &diesel::result::Error, constraint: &str) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    matches!(e, Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) if info.constraint_name() == Some(constraint))
}

/// `gone()` for a foreign-key violation, for statements whose every foreign key names a row the
/// request had found (a user deleted by another request meanwhile); any other error as it is.
pub fn gone_meanwhile(e: diesel::result::Error, gone: impl FnOnce() -> ApiError) -> ApiError {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => gone(),
        other => other.into(),
    }
}

/// An error's message with its causes: a library's outermost message ("error performing TLS
/// handshake", "error sending request") alone does not say what went wrong underneath.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    chain_after(e.to_string(), e)
}

/// [`error_chain`] for an HTTP client's error, a time-out named as such.
pub fn http_error_chain(e: &reqwest::Error) -> String {
    chain_after(if e.is_timeout() { "timed out".to_owned() } else { e.to_string() }, e)
}

fn chain_after(mut text: String, e: &dyn std::error::Error) -> String {
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error};

    fn database_error(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn a_deadlock_or_serialization_failure_is_unavailable_and_not_internal() {
        // PostgreSQL's own texts for 40P01 and 40001; diesel-async gives the first no kind.
        for e in [
            database_error(DatabaseErrorKind::Unknown, "deadlock detected"),
            database_error(DatabaseErrorKind::Unknown, "Verklemmung (Deadlock) entdeckt"),
            database_error(
                DatabaseErrorKind::SerializationFailure,
                "could not serialize access due to concurrent update",
            ),
        ] {
            let error = ApiError::from(e);
            assert!(matches!(error, ApiError::Contended(_)), "{error:?}");
            assert_eq!(error.status_code(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(error.code(), "unavailable");
            assert!(matches!(error.same_for_another(), ApiError::Contended(_)));
        }
        let other = ApiError::from(database_error(DatabaseErrorKind::Unknown, "division by zero"));
        assert!(matches!(other, ApiError::Internal(_)), "{other:?}");
    }

    #[test]
    fn a_statement_timeout_is_timed_out_in_english_and_german() {
        // PostgreSQL 15's texts for 57014 from statement_timeout, in C and in its German catalogue.
        for text in
            ["canceling statement due to statement timeout", "storniere Anfrage wegen Zeitüberschreitung der Anfrage"]
        {
            let error = ApiError::from(database_error(DatabaseErrorKind::Unknown, text));
            assert!(matches!(error, ApiError::TimedOut(_)), "{text}: {error:?}");
        }
        // A cancel on request (the same SQLSTATE, another text) is not a timeout.
        let cancel =
            ApiError::from(database_error(DatabaseErrorKind::Unknown, "canceling statement due to user request"));
        assert!(matches!(cancel, ApiError::Internal(_)), "{cancel:?}");
    }
}
