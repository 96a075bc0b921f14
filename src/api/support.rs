//! The public routes for website visitors: `POST /api/v1/support/sessions` (the chat widget) and
//! `POST /api/v1/contact` (the contact form), both limited per client IP.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::extract::ApiJson;
use crate::error::{ApiResult, ErrorBody};
use crate::service::contacts::{self, ContactView};
use crate::service::support::{self, OpenedSession, VisitorContext};
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
    state.support_limiter.check_everywhere(&state.client_ip(&req)).await?;
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
    state.contact_limiter.check_everywhere(&state.client_ip(&req)).await?;
    let b = body.into_inner();
    let contact = contacts::submit(&state, &b.name, &b.email, &b.message).await?;
    Ok(HttpResponse::Created().json(contact))
}
