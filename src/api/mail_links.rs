//! What the links in mails hand to their routes: the query string of the pages they open, and the
//! token of an unsubscribe POST, sent by a program as JSON or by a mail program's own
//! "unsubscribe" button as a form (RFC 8058 one-click, to the mail's `List-Unsubscribe` address).

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::extract::ApiJson;
use crate::error::ApiError;

/// A mail link's query string (`?token=`), for the pages its links open. Unlike request bodies it
/// takes parameters it does not know: mail services and link scanners append their own
/// (`utm_source` and the like), and the link must still work.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct MailLinkQuery {
    /// The link's token.
    pub token: String,
}

/// `POST …/unsubscribe` as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailUnsubscribeRequest {
    /// The token of the mail's unsubscribe link.
    pub token: String,
}

/// The token of an unsubscribe POST: `{token}` as JSON, or, from a mail program, the token in the
/// query string (the `List-Unsubscribe` address is the mail's link) with the form field
/// `List-Unsubscribe=One-Click` as `application/x-www-form-urlencoded` or `multipart/form-data`.
/// The field is what tells a mail program's deliberate POST from anything else (RFC 8058 §3.2).
#[derive(Debug)]
pub struct UnsubscribeToken(pub String);

/// The one-click form's field and value (RFC 8058), sent as the mail's `List-Unsubscribe-Post`.
const FIELD: &str = "List-Unsubscribe";
const ONE_CLICK: &str = "One-Click";

impl FromRequest for UnsubscribeToken {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let boundary = match req.mime_type() {
            Ok(Some(m)) if m.essence_str() == "application/x-www-form-urlencoded" => None,
            Ok(Some(m)) if m.essence_str() == "multipart/form-data" => {
                Some(m.get_param(actix_web::mime::BOUNDARY).map(|b| b.as_str().to_owned()))
            }
            _ => {
                let json = ApiJson::<MailUnsubscribeRequest>::from_request(req, payload);
                return Box::pin(async move { Ok(Self(json.await?.into_inner().token)) });
            }
        };
        let body = web::Bytes::from_request(req, payload);
        let query = req.query_string().to_owned();
        Box::pin(async move {
            let body = body.await.map_err(|e| ApiError::BadRequest(format!("Unreadable request body: {e}")))?;
            let one_click = match boundary {
                None => form_urlencoded::parse(&body).any(|(k, v)| k == FIELD && v == ONE_CLICK),
                Some(None) => return Err(ApiError::BadRequest("multipart/form-data without a boundary.".into())),
                Some(Some(boundary)) => multipart_one_click(body, boundary).await?,
            };
            if !one_click {
                return Err(ApiError::validation(FIELD, "A form here must carry List-Unsubscribe=One-Click."));
            }
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "token")
                .map(|(_, v)| Self(v.into_owned()))
                .filter(|t| !t.0.is_empty())
                .ok_or_else(|| {
                    ApiError::validation("token", "The address has no token: post to the mail's link as it is.")
                })
        })
    }
}

/// Whether a multipart/form-data body has the one-click field.
async fn multipart_one_click(body: web::Bytes, boundary: String) -> Result<bool, ApiError> {
    let bad = |e: multer::Error| ApiError::BadRequest(format!("Malformed multipart/form-data: {e}"));
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    while let Some(field) = form.next_field().await.map_err(bad)? {
        if field.name() == Some(FIELD) {
            return Ok(field.text().await.map_err(bad)?.trim() == ONE_CLICK);
        }
    }
    Ok(false)
}
