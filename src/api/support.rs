//! The public routes for website visitors: `POST /api/v1/support/sessions` (the chat widget),
//! `POST /api/v1/support/resume` and `/support/unsubscribe` (the links of reply mails) and
//! `POST /api/v1/contact` (the contact form), all limited per client IP.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::extract::ApiJson;
use crate::api::mail_links::{MailLinkQuery, MailUnsubscribeRequest, OneClick, OneClickForm};
use crate::db::models::Language;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::service::contacts::{self, ContactView};
use crate::service::support::{self, OpenedSession, VisitorContext};
use crate::service::{mail_templates, support_mail};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenSessionRequest {
    /// How the visitor wants to be called, 1–64 characters.
    pub name: String,
    /// Where the site owner may answer later; optional.
    pub email: Option<String>,
    /// Where the chat started (page, language, time zone), shown to staff; optional.
    #[serde(default)]
    pub context: VisitorContext,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactRequest {
    /// 1–100 characters.
    pub name: String,
    pub email: String,
    /// 1–5,000 characters.
    pub message: String,
}

/// `POST /api/v1/support/sessions`
#[utoipa::path(tag = "support", request_body = OpenSessionRequest,
    responses((status = 201, body = OpenedSession, description = "A guest account confined to its new support room, with its tokens"),
              (status = 403, body = ErrorBody, description = "The visitor's address or browser is blocked for now"),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[post("/support/sessions")]
pub async fn open_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<OpenSessionRequest>,
) -> ApiResult<HttpResponse> {
    state.support_limiter.check_everywhere(&state.client_limit_key(&req)).await?;
    let b = body.into_inner();
    let user_agent = req.headers().get(actix_web::http::header::USER_AGENT).and_then(|v| v.to_str().ok());
    let address = state.client_ip(&req).to_string();
    let opened = support::open(&state, &b.name, b.email.as_deref(), b.context, user_agent, &address).await?;
    Ok(HttpResponse::Created().json(opened))
}

/// `POST /api/v1/contact`
#[utoipa::path(tag = "support", request_body = ContactRequest,
    responses((status = 201, body = ContactView), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
#[post("/contact")]
pub async fn submit_contact(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<ContactRequest>,
) -> ApiResult<HttpResponse> {
    state.contact_limiter.check_everywhere(&state.client_limit_key(&req)).await?;
    let b = body.into_inner();
    let contact = contacts::submit(&state, &b.name, &b.email, &b.message).await?;
    Ok(HttpResponse::Created().json(contact))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    /// The token of a reply mail's conversation link (after `#plauder-resume=`).
    pub token: String,
}

/// `POST /api/v1/support/resume`
#[utoipa::path(tag = "support", request_body = ResumeRequest,
    responses((status = 200, body = OpenedSession, description = "A new login of the session's guest, as opening a session answers"),
              (status = 422, body = ErrorBody, description = "An unknown, expired or revoked token, or a closed session"),
              (status = 429, body = ErrorBody)))]
#[post("/support/resume")]
pub async fn resume_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<ResumeRequest>,
) -> ApiResult<HttpResponse> {
    state.resume_limiter.check_everywhere(&state.client_limit_key(&req)).await?;
    let user_agent = req.headers().get(actix_web::http::header::USER_AGENT).and_then(|v| v.to_str().ok());
    let opened = support_mail::resume(&state, &body.token, user_agent).await?;
    Ok(HttpResponse::Ok().json(opened))
}

/// `GET /api/v1/support/unsubscribe?token=`: the mail's one-click link, answered with a page.
#[utoipa::path(tag = "support", params(MailLinkQuery),
    responses((status = 200, content_type = "text/html", description = "The session gets no more reply mails; a page says so"),
              (status = 422, content_type = "text/html", description = "An unknown token; a page says so"),
              (status = 429, body = ErrorBody)))]
#[get("/support/unsubscribe")]
pub async fn unsubscribe_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<MailLinkQuery>,
) -> ApiResult<HttpResponse> {
    state.resume_limiter.check_everywhere(&state.client_limit_key(&req)).await?;
    let (status, language, done) = match support_mail::unsubscribe(&state, &query.token).await {
        Ok(language) => (StatusCode::OK, language, true),
        Err(ApiError::Validation { .. }) => {
            let header = req.headers().get(actix_web::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
            (StatusCode::UNPROCESSABLE_ENTITY, Language::from_accept_language(header), false)
        }
        Err(e) => return Err(e),
    };
    let (title, sentence) = mail_templates::unsubscribed_page(language, done);
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(mail_templates::simple_page(language, title, sentence)))
}

/// `POST /api/v1/support/unsubscribe {token}`: the same for programs.
#[utoipa::path(tag = "support", request_body = MailUnsubscribeRequest,
    responses((status = 204, description = "The session gets no more reply mails"),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[post("/support/unsubscribe")]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<MailUnsubscribeRequest>,
) -> ApiResult<HttpResponse> {
    state.resume_limiter.check_everywhere(&state.client_limit_key(&req)).await?;
    support_mail::unsubscribe(&state, &body.token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/support/unsubscribe/one-click?token=`: a mail program's one-click unsubscribe
/// (RFC 8058), the address in a reply mail's `List-Unsubscribe`. POST only, so that a scanner
/// fetching the header's address unsubscribes nobody; and not limited per client address, since a
/// mail provider posts for all its users from a few addresses (the token is 256 random bits).
#[utoipa::path(tag = "support", params(MailLinkQuery),
    request_body(content = OneClickForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 204, description = "The session gets no more reply mails"),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/support/unsubscribe/one-click")]
pub async fn unsubscribe_one_click(state: web::Data<AppState>, click: OneClick) -> ApiResult<HttpResponse> {
    support_mail::unsubscribe(&state, &click.token).await?;
    Ok(HttpResponse::NoContent().finish())
}
