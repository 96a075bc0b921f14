//! What the links in mails hand to their routes: the query string of the pages they open, the
//! token of an unsubscribe POST from a program, and a mail program's one-click unsubscribe
//! (RFC 8058): the form its own "unsubscribe" button posts to the mail's `List-Unsubscribe`
//! address.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::extract::body_error;
use crate::error::ApiError;

/// A mail link's query string (`?token=`), for the pages its links open. Unlike request bodies it
/// takes parameters it does not know: mail services and link scanners append their own
/// (`utm_source` and the like), and the link must still work.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct MailLinkQuery {
    /// The link's token.
    pub token: String,
}

/// `POST …/unsubscribe {token}`, from a program.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailUnsubscribeRequest {
    /// The token of the mail's unsubscribe link.
    pub token: String,
}

/// The form of a one-click unsubscribe (RFC 8058 §3.2), as `application/x-www-form-urlencoded`
/// or `multipart/form-data`; the token is in the address's query string. Read by [`OneClick`];
/// this type describes it in the OpenAPI document.
#[derive(Debug, ToSchema)]
pub struct OneClickForm {
    /// `One-Click`.
    #[schema(rename = "List-Unsubscribe")]
    pub list_unsubscribe: String,
}

/// A one-click unsubscribe: the token of the address posted to, once the form says
/// `List-Unsubscribe=One-Click` (the one thing that tells a mail program's deliberate POST from
/// anything else that reaches the address).
#[derive(Debug)]
pub struct OneClick {
    pub token: String,
}

/// The one-click form's field and value, as the mail's `List-Unsubscribe-Post` names them.
const FIELD: &str = "List-Unsubscribe";
const ONE_CLICK: &str = "One-Click";

impl FromRequest for OneClick {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // None: urlencoded; Some(boundary): multipart.
        let form = match req.mime_type() {
            Ok(Some(m)) if m.essence_str() == "application/x-www-form-urlencoded" => Ok(None),
            Ok(Some(m)) if m.essence_str() == "multipart/form-data" => match m.get_param(actix_web::mime::BOUNDARY) {
                Some(b) => Ok(Some(b.as_str().to_owned())),
                None => Err(ApiError::BadRequest("multipart/form-data without a boundary.".into())),
            },
            _ => Err(ApiError::UnsupportedMediaType(
                "A one-click unsubscribe is a form: application/x-www-form-urlencoded or multipart/form-data.".into(),
            )),
        };
        let body = web::Bytes::from_request(req, payload);
        let query = req.query_string().to_owned();
        Box::pin(async move {
            let form = form?;
            let body = body.await.map_err(|e| body_error(&e))?;
            let values = match form {
                None => {
                    form_urlencoded::parse(&body).filter(|(k, _)| k == FIELD).map(|(_, v)| v.into_owned()).collect()
                }
                Some(boundary) => multipart_values(body, boundary).await?,
            };
            if !values.iter().any(|v| v.trim() == ONE_CLICK) {
                return Err(ApiError::validation(FIELD, "The form must say List-Unsubscribe=One-Click."));
            }
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned())
                .filter(|t| !t.is_empty())
                .map(|token| Self { token })
                .ok_or_else(|| {
                    ApiError::validation("token", "The address has no token: post to the mail's address as it is.")
                })
        })
    }
}

/// The values of the one-click field in a multipart/form-data body.
async fn multipart_values(body: web::Bytes, boundary: String) -> Result<Vec<String>, ApiError> {
    let bad = |e: multer::Error| ApiError::BadRequest(format!("Malformed multipart/form-data: {e}"));
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut values = Vec::new();
    while let Some(field) = form.next_field().await.map_err(bad)? {
        if field.name() == Some(FIELD) {
            values.push(field.text().await.map_err(bad)?);
        }
    }
    Ok(values)
}
