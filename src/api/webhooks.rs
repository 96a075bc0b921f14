//! Outgoing webhook endpoints and their delivery log, for admins (`/admin/webhooks`).

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::extract::{ApiJson, ApiQuery};
use crate::auth::AdminUser;
use crate::error::{ApiResult, ErrorBody};
use crate::ids::RoomId;
use crate::service::webhooks::{self, CreatedEndpoint, DeliveryView, EndpointRequest, EndpointView};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// `http://` or `https://`; must not resolve to an internal address unless the config allows it.
    pub url: String,
    /// Any of `message.created`, `message.edited`, `message.deleted`.
    pub event_types: Vec<String>,
    /// Only this room's events; absent: every room's.
    pub room_id: Option<RoomId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    /// `true` re-enables (ending the failure run; queued events go out), `false` disables.
    pub enabled: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<EndpointView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryLog {
    pub deliveries: Vec<DeliveryView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Redelivered {
    /// The new delivery's id.
    pub id: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LogQuery {
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
}

/// `GET /api/v1/admin/webhooks`
#[utoipa::path(tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = WebhookList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/admin/webhooks")]
pub async fn list_webhooks(state: web::Data<AppState>, _caller: AdminUser) -> ApiResult<web::Json<WebhookList>> {
    Ok(web::Json(WebhookList { webhooks: webhooks::list(&state).await? }))
}

/// `POST /api/v1/admin/webhooks`
#[utoipa::path(tag = "admin", security(("bearer" = [])), request_body = CreateWebhookRequest,
    responses((status = 201, body = CreatedEndpoint, description = "The signing secret is in `secret`, this once"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "A bad or internal URL, unknown event types, an unknown room")))]
#[post("/admin/webhooks")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    caller: AdminUser,
    body: ApiJson<CreateWebhookRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let req = EndpointRequest { url: b.url, event_types: b.event_types, room_id: b.room_id };
    Ok(HttpResponse::Created().json(webhooks::create(&state, &caller, req).await?))
}

/// `PATCH /api/v1/admin/webhooks/{id}`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = UpdateWebhookRequest,
    responses((status = 200, body = EndpointView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
#[patch("/admin/webhooks/{id}")]
pub async fn update_webhook(
    state: web::Data<AppState>,
    caller: AdminUser,
    id: web::Path<Uuid>,
    body: ApiJson<UpdateWebhookRequest>,
) -> ApiResult<web::Json<EndpointView>> {
    Ok(web::Json(webhooks::set_enabled(&state, &caller, id.into_inner(), body.into_inner().enabled).await?))
}

/// `DELETE /api/v1/admin/webhooks/{id}`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted with its queue and log"), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/admin/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    caller: AdminUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    webhooks::delete(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/admin/webhooks/{id}/deliveries`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path), LogQuery),
    responses((status = 200, body = DeliveryLog), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[get("/admin/webhooks/{id}/deliveries")]
pub async fn list_deliveries(
    state: web::Data<AppState>,
    _caller: AdminUser,
    id: web::Path<Uuid>,
    query: ApiQuery<LogQuery>,
) -> ApiResult<web::Json<DeliveryLog>> {
    let q = query.into_inner()?;
    Ok(web::Json(DeliveryLog { deliveries: webhooks::deliveries(&state, id.into_inner(), q.limit).await? }))
}

/// `POST /api/v1/admin/webhooks/deliveries/{id}/redeliver`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 202, body = Redelivered, description = "Queued again"), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[post("/admin/webhooks/deliveries/{id}/redeliver")]
pub async fn redeliver(state: web::Data<AppState>, caller: AdminUser, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let new_id = webhooks::redeliver(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(Redelivered { id: new_id }))
}
