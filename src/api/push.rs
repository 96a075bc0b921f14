//! Notifications for the offline: Web Push subscriptions under `/api/v1/push`, the caller's
//! notification setting of a room under `/api/v1/rooms/{id}/notifications`, and the email
//! digest's one-click unsubscribe link under `/api/v1/digest/unsubscribe`.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::extract::ApiJson;
use crate::api::mail_links::{MailLinkQuery, MailUnsubscribeRequest, OneClick, OneClickForm};
use crate::auth::AuthUser;
use crate::db::models::Language;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ids::RoomId;
use crate::service::notifications::{self, NotificationSettingView, SubscriptionView};
use crate::service::{digest, mail_templates};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct VapidKey {
    /// The VAPID public key (base64url, 65-byte uncompressed P-256 point): the browser's
    /// `applicationServerKey`.
    pub public_key: String,
}

/// `GET /api/v1/push/vapid-public-key`
#[utoipa::path(tag = "push", responses((status = 200, body = VapidKey)))]
#[get("/push/vapid-public-key")]
pub async fn vapid_public_key(state: web::Data<AppState>) -> web::Json<VapidKey> {
    web::Json(VapidKey { public_key: state.push.public_key().to_owned() })
}

/// The keys of a `PushSubscription` (its `toJSON()`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionKeys {
    /// base64url of the browser's 65-byte uncompressed P-256 public key.
    pub p256dh: String,
    /// base64url of the 16-byte auth secret.
    pub auth: String,
}

/// A browser's `PushSubscription.toJSON()`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeRequest {
    pub endpoint: String,
    pub keys: SubscriptionKeys,
    /// Sent by browsers (usually null); not used.
    #[serde(default, rename = "expirationTime")]
    #[schema(value_type = Option<i64>)]
    pub expiration_time: Option<serde_json::Value>,
}

/// `POST /api/v1/push/subscriptions`
#[utoipa::path(tag = "push", security(("bearer" = [])), request_body = SubscribeRequest,
    responses((status = 201, body = SubscriptionView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/push/subscriptions")]
pub async fn subscribe(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: ApiJson<SubscribeRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let view = notifications::subscribe(&state, &caller, &b.endpoint, &b.keys.p256dh, &b.keys.auth).await?;
    Ok(HttpResponse::Created().json(view))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionList {
    pub subscriptions: Vec<SubscriptionView>,
}

/// `GET /api/v1/push/subscriptions`
#[utoipa::path(tag = "push", security(("bearer" = [])),
    responses((status = 200, body = SubscriptionList), (status = 401, body = ErrorBody)))]
#[get("/push/subscriptions")]
pub async fn list_subscriptions(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> ApiResult<web::Json<SubscriptionList>> {
    Ok(web::Json(SubscriptionList { subscriptions: notifications::subscriptions(&state, &caller).await? }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeRequest {
    pub endpoint: String,
}

/// `DELETE /api/v1/push/subscriptions`
#[utoipa::path(tag = "push", security(("bearer" = [])), request_body = UnsubscribeRequest,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/push/subscriptions")]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: ApiJson<UnsubscribeRequest>,
) -> ApiResult<HttpResponse> {
    notifications::unsubscribe(&state, &caller, &body.endpoint).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/rooms/{id}/notifications`
#[utoipa::path(tag = "push", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = NotificationSettingView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/rooms/{id}/notifications")]
pub async fn get_notifications(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<RoomId>,
) -> ApiResult<web::Json<NotificationSettingView>> {
    Ok(web::Json(notifications::get_setting(&state, &caller, id.into_inner()).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettingRequest {
    /// `all`, `mentions` or `none`.
    pub level: String,
    /// RFC 3339, in the future; null or absent: not muted.
    #[serde(default)]
    pub muted_until: Option<String>,
}

/// `PUT /api/v1/rooms/{id}/notifications`
#[utoipa::path(tag = "push", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = NotificationSettingRequest,
    responses((status = 200, body = NotificationSettingView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[put("/rooms/{id}/notifications")]
pub async fn put_notifications(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<RoomId>,
    body: ApiJson<NotificationSettingRequest>,
) -> ApiResult<web::Json<NotificationSettingView>> {
    let b = body.into_inner();
    Ok(web::Json(
        notifications::put_setting(&state, &caller, id.into_inner(), &b.level, b.muted_until.as_deref()).await?,
    ))
}

/// `DELETE /api/v1/rooms/{id}/notifications`
#[utoipa::path(tag = "push", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = NotificationSettingView, description = "The room's default again."),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/rooms/{id}/notifications")]
pub async fn reset_notifications(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<RoomId>,
) -> ApiResult<web::Json<NotificationSettingView>> {
    Ok(web::Json(notifications::reset_setting(&state, &caller, id.into_inner()).await?))
}

/// `GET /api/v1/digest/unsubscribe?token=`: the digest's one-click link, answered with a page.
#[utoipa::path(tag = "push", params(MailLinkQuery),
    responses((status = 200, content_type = "text/html", description = "The user gets no more digests; a page says so"),
              (status = 422, content_type = "text/html", description = "An unknown or expired token; a page says so"),
              (status = 429, body = ErrorBody)))]
#[get("/digest/unsubscribe")]
pub async fn digest_unsubscribe_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<MailLinkQuery>,
) -> ApiResult<HttpResponse> {
    state.resume_limiter.check_everywhere(&state.client_limit_key(&req)).await?;
    let (status, language, done) = match digest::unsubscribe(&state, &query.token).await {
        Ok(language) => (actix_web::http::StatusCode::OK, language, true),
        Err(ApiError::Validation { .. }) => {
            let header = req.headers().get(actix_web::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
            (actix_web::http::StatusCode::UNPROCESSABLE_ENTITY, Language::from_accept_language(header), false)
        }
        Err(e) => return Err(e),
    };
    let (title, sentence) = mail_templates::digest_unsubscribed_page(language, done);
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(mail_templates::simple_page(language, title, sentence)))
}

/// `POST /api/v1/digest/unsubscribe {token}`: the same for programs.
#[utoipa::path(tag = "push", request_body = MailUnsubscribeRequest,
    responses((status = 204, description = "The user gets no more digests"),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[post("/digest/unsubscribe")]
pub async fn digest_unsubscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<MailUnsubscribeRequest>,
) -> ApiResult<HttpResponse> {
    state.resume_limiter.check_everywhere(&state.client_limit_key(&req)).await?;
    digest::unsubscribe(&state, &body.token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/digest/unsubscribe/one-click?token=`: a mail program's one-click unsubscribe
/// (RFC 8058), the address in a digest's `List-Unsubscribe`; POST only and not limited per client
/// address, as the support mails' (`support::unsubscribe_one_click`).
#[utoipa::path(tag = "push", params(MailLinkQuery),
    request_body(content = OneClickForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 204, description = "The user gets no more digests"),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/digest/unsubscribe/one-click")]
pub async fn digest_unsubscribe_one_click(state: web::Data<AppState>, click: OneClick) -> ApiResult<HttpResponse> {
    digest::unsubscribe(&state, &click.token).await?;
    Ok(HttpResponse::NoContent().finish())
}
