//! How malformed requests become PROTOCOL.md errors: JSON syntax errors are `bad_request`, JSON of
//! the wrong shape `validation_failed`, bodies over the limit `payload_too_large`, unparseable
//! path ids `not_found`, and bad query strings `validation_failed`, all with the usual error body.
//! A string anywhere in a JSON body that PostgreSQL cannot store (U+0000) is `validation_failed`
//! naming its field, whatever the route does with it.

use actix_web::dev::Payload;
use actix_web::error::{PathError, PayloadError, QueryPayloadError};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer};

use crate::auth::extractor::AuthPending;
use crate::error::ApiError;

/// A JSON request body, parsed the way PROTOCOL.md classifies errors. actix's own `Json` cannot
/// tell `[1,2` (malformed: `bad_request`) from `[1,2]` (well-formed, wrong shape:
/// `validation_failed`), because serde reports both as type errors; this re-checks the syntax on
/// the error path only. The size limit comes from `PayloadConfig` (`server.max_json_body_bytes`).
/// The Content-Type is not checked, so clients that forget it still get their JSON read.
/// A body error waits for the route's caller to be judged (`auth::extractor::AuthPending`), so a
/// caller who may not use the route learns that (401, 403) rather than what is wrong with the body.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T> ApiJson<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for ApiJson<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let parsed = match body.await {
                Ok(bytes) => parse_json(&bytes).map(ApiJson),
                Err(e) => Err(body_error(&e)),
            };
            // Looked up only now, not when this extractor was made: actix makes every argument's
            // extractor before it polls any, so the authentication has left its marker wherever
            // it stands among the handler's arguments. Once the caller is decided, its error, if
            // any, is the one the request answers with.
            if parsed.is_err() {
                let pending = req.extensions_mut().remove::<AuthPending>();
                if let Some(AuthPending(decided)) = pending {
                    let _ = decided.await;
                }
            }
            parsed
        })
    }
}

/// The contract's error for a body that could not be read: too large (413) or cut short (400).
pub fn body_error(e: &actix_web::Error) -> ApiError {
    match e.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => {
            ApiError::PayloadTooLarge("The request body is larger than the server accepts.".into())
        }
        _ => ApiError::BadRequest(format!("Unreadable request body: {e}")),
    }
}

/// Parses a JSON body, telling malformed JSON (`bad_request`) from the wrong shape (`validation_failed`).
///
/// # Errors
/// As described.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("The request body is empty; JSON was expected.".into()));
    }
    let parsed = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() && serde_json::from_slice::<IgnoredAny>(bytes).is_ok() {
            ApiError::Validation { message: format!("Invalid request body: {e}"), details: None }
        } else {
            ApiError::BadRequest(format!("Malformed JSON: {e}"))
        }
    })?;
    // Bodies that cannot hold U+0000 skip the second parse that finds and names the field.
    if crate::protocol::text::may_hold_nul(bytes)
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes)
    {
        crate::protocol::text::json_text(&value)?;
    }
    Ok(parsed)
}

/// Caps request bodies; `ApiJson` reads through it.
pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|_err: PathError, _req| ApiError::NotFound("No such resource.".into()).into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError::Validation { message: format!("Invalid query string: {err}"), details: None }.into()
    })
}

/// Parses a query string as actix's `web::Query` does (serde_urlencoded), but a value that does
/// not fit its parameter (`?limit=x`) is refused naming it (`details.fields.limit`), as the
/// contract's validation errors do (serde_urlencoded's own error says only "invalid digit found
/// in string"), and so is a parameter `T` does not take where it denies unknown ones. A missing
/// parameter is refused with serde's message, which names it.
///
/// # Errors
/// `validation_failed` for a query string that does not fit `T`.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|err| match err.path().iter().next() {
        Some(serde_path_to_error::Segment::Map { key }) => {
            let message = format!("Invalid query parameter {key}: {}", err.inner());
            ApiError::validation(key, message)
        }
        _ => ApiError::Validation { message: format!("Invalid query string: {}", err.inner()), details: None },
    })
}

/// A query string whose error waits for the handler to ask (`into_inner()?`), so that the route's
/// role check (an extractor such as `AuthUser`, which must read the account) answers first: a
/// guest or a non-admin gets 403 for a route it may not use however malformed its query string.
/// actix's `web::Query` fails at once, before the slower authentication has finished, which made
/// that 422. The error is [`parse_query`]'s.
#[derive(Debug)]
pub struct ApiQuery<T>(Result<T, ApiError>);

impl<T> ApiQuery<T> {
    /// # Errors
    /// `validation_failed` for a query string that does not fit `T`.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T: DeserializeOwned> FromRequest for ApiQuery<T> {
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(ApiQuery(parse_query(req.query_string()))))
    }
}

/// For PATCH bodies: tells an absent field (`None`) from an explicit `null` (`Some(None)`).
/// Use with `#[serde(default, deserialize_with = "double_option")]`.
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The fallback for unknown routes: the usual error body rather than an empty 404.
pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound("No such route.".into()))
}

/// The request's User-Agent header, when it is text: kept with a login session so the sessions
/// list can name the device.
pub fn user_agent(req: &HttpRequest) -> Option<&str> {
    req.headers().get(actix_web::http::header::USER_AGENT).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use actix_web::{App, HttpResponse, test};

    use super::*;

    /// Stands in for an authentication extractor: leaves its marker in the request and decides a
    /// poll later (after the body's error is known), letting the caller through or not.
    struct Judged<const ALLOWED: bool>;

    impl<const ALLOWED: bool> FromRequest for Judged<ALLOWED> {
        type Error = ApiError;
        type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

        fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
            let (decided, pending) = tokio::sync::oneshot::channel();
            req.extensions_mut().insert(AuthPending(pending));
            Box::pin(async move {
                let _decided = decided;
                tokio::task::yield_now().await;
                if ALLOWED { Ok(Self) } else { Err(ApiError::Unauthorized("Missing access token.".into())) }
            })
        }
    }

    async fn caller_first(_: Judged<false>, _: ApiJson<serde_json::Value>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    async fn body_first(_: ApiJson<serde_json::Value>, _: Judged<false>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    async fn body_first_allowed(_: ApiJson<serde_json::Value>, _: Judged<true>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    #[actix_web::test]
    async fn a_body_error_waits_for_the_caller_wherever_the_authentication_stands() {
        let app = test::init_service(
            App::new()
                .route("/caller-first", web::post().to(caller_first))
                .route("/body-first", web::post().to(body_first))
                .route("/body-first-allowed", web::post().to(body_first_allowed)),
        )
        .await;
        for (path, status) in [("/caller-first", 401), ("/body-first", 401), ("/body-first-allowed", 400)] {
            let req = test::TestRequest::post().uri(path).set_payload("[1,").to_request();
            let resp = test::call_service(&app, req).await;
            assert_eq!(resp.status().as_u16(), status, "{path}");
        }
    }
}

#[cfg(test)]
mod query_tests {
    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Page {
        q: String,
        limit: Option<u32>,
        #[serde(default)]
        archived: bool,
    }

    fn fields(err: &ApiError) -> Option<&serde_json::Value> {
        match err {
            ApiError::Validation { details, .. } => details.as_ref().map(|d| &d["fields"]),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn a_query_string_parses_as_actix_parses_it() {
        for query in ["q=a%20b&limit=5", "q=%C3%BC&archived=true", "limit=7&q=x", "q="] {
            let ours: Page = parse_query(query).expect(query);
            let actix = web::Query::<Page>::from_query(query).expect(query).into_inner();
            assert_eq!(ours, actix, "{query}");
        }
    }

    #[test]
    fn a_value_that_does_not_parse_names_its_parameter() {
        for (query, field) in
            [("q=a&limit=x", "limit"), ("limit=-1&q=a", "limit"), ("q=a&archived=perhaps", "archived")]
        {
            let err = parse_query::<Page>(query).expect_err(query);
            let fields = fields(&err).unwrap_or_else(|| panic!("{query}: no fields in {err:?}"));
            assert!(fields[field].as_str().is_some_and(|m| m.contains(field)), "{query}: {fields}");
        }
    }

    #[test]
    fn an_unknown_parameter_is_named_and_a_missing_one_in_the_message() {
        let err = parse_query::<Page>("q=a&colour=red").expect_err("unknown");
        assert!(fields(&err).is_some_and(|f| f["colour"].is_string()), "{err:?}");
        let err = parse_query::<Page>("limit=5").expect_err("missing");
        assert!(fields(&err).is_none(), "{err:?}");
        assert!(err.to_string().contains("missing field `q`"), "{err}");
    }
}
