//! Room routes under `/api/v1/rooms`.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::extract::{ApiJson, ApiQuery, double_option};
use crate::auth::ratelimit::UserAction;
use crate::auth::{AnyUser, AuthUser};
use crate::error::{ApiResult, ErrorBody};
use crate::ids::{RoomId, Seq, UserId};
use crate::service::rooms::{self, CreateRoom, Directory, ReadMarker, RoomDetail, UpdateRoom};
use crate::state::AppState;
use crate::views::{MemberView, RoomListing, RoomView};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoomRequest {
    /// `group` or `direct` (support rooms come from `POST /support/sessions`).
    pub kind: String,
    /// Required for groups, 1–100 characters.
    pub name: Option<String>,
    pub topic: Option<String>,
    pub is_public: Option<bool>,
    /// For `direct`: exactly one other user.
    #[serde(default)]
    pub member_ids: Vec<UserId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoomRequest {
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    pub topic: Option<Option<String>>,
    pub is_public: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMembersRequest {
    pub user_ids: Vec<UserId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRoleRequest {
    /// `owner` (hands the room over), `moderator` or `member`.
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    pub seq: Seq,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomList {
    pub rooms: Vec<RoomListing>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<MemberView>,
}

/// `POST /api/v1/rooms`
#[utoipa::path(tag = "rooms", security(("bearer" = [])), request_body = CreateRoomRequest,
    responses((status = 201, body = RoomView), (status = 200, body = RoomView, description = "The pair's existing direct room"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[post("/rooms")]
pub async fn create_room(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: ApiJson<CreateRoomRequest>,
) -> ApiResult<HttpResponse> {
    state.action_limits.check(caller.id, UserAction::CreateRoom)?;
    let b = body.into_inner();
    let req =
        CreateRoom { kind: b.kind, name: b.name, topic: b.topic, is_public: b.is_public, member_ids: b.member_ids };
    let (room, created) = rooms::create(&state, &caller, req).await?;
    Ok(if created { HttpResponse::Created().json(room) } else { HttpResponse::Ok().json(room) })
}

/// `GET /api/v1/rooms`
#[utoipa::path(tag = "rooms", security(("bearer" = [])),
    responses((status = 200, body = RoomList, description = "The caller's rooms, most recent activity first")))]
#[get("/rooms")]
pub async fn list_rooms(state: web::Data<AppState>, caller: AnyUser) -> ApiResult<web::Json<RoomList>> {
    Ok(web::Json(RoomList { rooms: rooms::list(&state, &caller).await? }))
}

/// `GET /api/v1/rooms/{id}`
#[utoipa::path(tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = RoomDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/rooms/{id}")]
pub async fn get_room(
    state: web::Data<AppState>,
    caller: AnyUser,
    id: web::Path<RoomId>,
) -> ApiResult<web::Json<RoomDetail>> {
    Ok(web::Json(rooms::get(&state, &caller, id.into_inner()).await?))
}

/// `PATCH /api/v1/rooms/{id}`
#[utoipa::path(tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = UpdateRoomRequest,
    responses((status = 200, body = RoomView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[patch("/rooms/{id}")]
pub async fn update_room(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<RoomId>,
    body: ApiJson<UpdateRoomRequest>,
) -> ApiResult<web::Json<RoomView>> {
    let b = body.into_inner();
    let req = UpdateRoom { name: b.name, topic: b.topic, is_public: b.is_public };
    Ok(web::Json(rooms::update(&state, &caller, id.into_inner(), req).await?))
}

/// `DELETE /api/v1/rooms/{id}`
#[utoipa::path(tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted with its history"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/rooms/{id}")]
pub async fn delete_room(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<RoomId>,
) -> ApiResult<HttpResponse> {
    rooms::delete(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/rooms/{id}/members`
#[utoipa::path(tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = MemberList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/rooms/{id}/members")]
pub async fn list_members(
    state: web::Data<AppState>,
    caller: AnyUser,
    id: web::Path<RoomId>,
) -> ApiResult<web::Json<MemberList>> {
    Ok(web::Json(MemberList { members: rooms::members(&state, &caller, id.into_inner()).await? }))
}

/// `POST /api/v1/rooms/{id}/members`
#[utoipa::path(tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = AddMembersRequest,
    responses((status = 201, body = MemberList, description = "The members added (those already in are skipped)"),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[post("/rooms/{id}/members")]
pub async fn add_members(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<RoomId>,
    body: ApiJson<AddMembersRequest>,
) -> ApiResult<HttpResponse> {
    state.action_limits.check(caller.id, UserAction::AddMembers)?;
    let added = rooms::add_members(&state, &caller, id.into_inner(), &body.user_ids).await?;
    Ok(HttpResponse::Created().json(MemberList { members: added }))
}

/// `DELETE /api/v1/rooms/{id}/members/{user_id}`
#[utoipa::path(tag = "rooms", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204, description = "Left or removed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/rooms/{id}/members/{user_id}")]
pub async fn remove_member(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<(RoomId, UserId)>,
) -> ApiResult<HttpResponse> {
    let (room_id, user_id) = path.into_inner();
    rooms::remove_member(&state, &caller, room_id, user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `PATCH /api/v1/rooms/{id}/members/{user_id}`
#[utoipa::path(tag = "rooms", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)), request_body = MemberRoleRequest,
    responses((status = 200, body = MemberView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[patch("/rooms/{id}/members/{user_id}")]
pub async fn set_member_role(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<(RoomId, UserId)>,
    body: ApiJson<MemberRoleRequest>,
) -> ApiResult<web::Json<MemberView>> {
    let (room_id, user_id) = path.into_inner();
    Ok(web::Json(rooms::set_member_role(&state, &caller, room_id, user_id, &body.role).await?))
}

/// `POST /api/v1/rooms/{id}/join`
#[utoipa::path(tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = RoomView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[post("/rooms/{id}/join")]
pub async fn join_room(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<RoomId>,
) -> ApiResult<web::Json<RoomView>> {
    Ok(web::Json(rooms::join(&state, &caller, id.into_inner()).await?))
}

/// `POST /api/v1/rooms/{id}/read`
#[utoipa::path(tag = "rooms", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = ReadRequest,
    responses((status = 200, body = ReadMarker), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[post("/rooms/{id}/read")]
pub async fn mark_read(
    state: web::Data<AppState>,
    caller: AnyUser,
    id: web::Path<RoomId>,
    body: ApiJson<ReadRequest>,
) -> ApiResult<web::Json<ReadMarker>> {
    Ok(web::Json(rooms::mark_read(&state, &caller, id.into_inner(), body.seq).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DirectoryQuery {
    /// Matches any part of a room's name or topic, ignoring case; at most 100 characters.
    pub q: Option<String>,
    /// 1 to 100, default 30.
    pub limit: Option<i64>,
    /// Rooms to skip, default 0.
    pub offset: Option<i64>,
}

/// `GET /api/v1/directory/rooms?q=&limit=&offset=`
#[utoipa::path(tag = "rooms", security(("bearer" = [])), params(DirectoryQuery),
    responses((status = 200, body = Directory, description = "Public group rooms, biggest first; join one with POST /rooms/{id}/join"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
#[get("/directory/rooms")]
pub async fn list_directory(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: ApiQuery<DirectoryQuery>,
) -> ApiResult<web::Json<Directory>> {
    state.action_limits.check(caller.id, UserAction::Search)?;
    let query = query.into_inner()?;
    Ok(web::Json(rooms::directory(&state, &caller, query.q.as_deref(), query.limit, query.offset).await?))
}
