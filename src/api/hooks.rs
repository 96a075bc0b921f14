//! Incoming webhooks: managed by a room's owner under `/rooms/{id}/hooks`, used by programs at
//! the public `POST /hooks/{token}` (the token is the credential).

use actix_web::{HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::extract::ApiJson;
use crate::auth::AuthUser;
use crate::auth::ratelimit::UserAction;
use crate::error::{ApiResult, ErrorBody};
use crate::ids::RoomId;
use crate::service::incoming_hooks::{self, CreatedHook, HookView};
use crate::state::AppState;
use crate::views::MessageView;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateHookRequest {
    /// 1 to 64 characters: the bot's display name in the room.
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HookList {
    pub hooks: Vec<HookView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HookPost {
    /// The message body, as for `POST /rooms/{id}/messages`.
    pub text: String,
}

/// `POST /api/v1/rooms/{id}/hooks`
#[utoipa::path(tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = CreateHookRequest,
    responses((status = 201, body = CreatedHook, description = "`path` holds the secret token, shown once"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[post("/rooms/{id}/hooks")]
pub async fn create_hook(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<RoomId>,
    body: ApiJson<CreateHookRequest>,
) -> ApiResult<HttpResponse> {
    // Each hook makes an account and a membership, as a room makes rows: the same budget.
    state.action_limits.check(caller.id, UserAction::CreateRoom)?;
    let created = incoming_hooks::create(&state, &caller, id.into_inner(), &body.into_inner().name).await?;
    Ok(HttpResponse::Created().json(created))
}

/// `GET /api/v1/rooms/{id}/hooks`
#[utoipa::path(tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = HookList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
#[get("/rooms/{id}/hooks")]
pub async fn list_hooks(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<RoomId>,
) -> ApiResult<web::Json<HookList>> {
    Ok(web::Json(HookList { hooks: incoming_hooks::list(&state, &caller, id.into_inner()).await? }))
}

/// `DELETE /api/v1/rooms/{id}/hooks/{hook_id}`
#[utoipa::path(tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path), ("hook_id" = Uuid, Path)),
    responses((status = 204, description = "The URL stops working"), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/rooms/{id}/hooks/{hook_id}")]
pub async fn delete_hook(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<(RoomId, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (room, hook) = path.into_inner();
    incoming_hooks::delete(&state, &caller, room, hook).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /hooks/{token}` (public: the token is the credential)
#[utoipa::path(tag = "rooms", params(("token" = String, Path)), request_body = HookPost,
    responses((status = 201, body = MessageView), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "No such webhook"), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[post("/hooks/{token}")]
pub async fn post_hook(
    state: web::Data<AppState>,
    token: web::Path<String>,
    body: ApiJson<HookPost>,
) -> ApiResult<HttpResponse> {
    let message = incoming_hooks::post(&state, &token.into_inner(), body.into_inner().text).await?;
    Ok(HttpResponse::Created().json(message))
}
