//! Friend and block routes under `/api/v1/friends` and `/api/v1/blocks`.

use actix_web::{HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::extract::ApiJson;
use crate::auth::AuthUser;
use crate::auth::ratelimit::UserAction;
use crate::error::{ApiResult, ErrorBody};
use crate::ids::{FriendRequestId, UserId};
use crate::service::social::{self, FriendRequests};
use crate::state::AppState;
use crate::views::{BlockView, FriendRequestView, FriendView};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIdRequest {
    pub user_id: UserId,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FriendList {
    pub friends: Vec<FriendView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlockList {
    pub blocks: Vec<BlockView>,
}

/// `GET /api/v1/friends`
#[utoipa::path(tag = "friends", security(("bearer" = [])),
    responses((status = 200, body = FriendList)))]
#[get("/friends")]
pub async fn list_friends(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<web::Json<FriendList>> {
    Ok(web::Json(FriendList { friends: social::friends(&state, &caller).await? }))
}

/// `DELETE /api/v1/friends/{user_id}`
#[utoipa::path(tag = "friends", security(("bearer" = [])),
    params(("user_id" = Uuid, Path)), responses((status = 204, description = "No longer friends"), (status = 404, body = ErrorBody)))]
#[delete("/friends/{user_id}")]
pub async fn remove_friend(
    state: web::Data<AppState>,
    caller: AuthUser,
    user_id: web::Path<UserId>,
) -> ApiResult<HttpResponse> {
    social::unfriend(&state, &caller, user_id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/friends/requests`
#[utoipa::path(tag = "friends", security(("bearer" = [])), request_body = UserIdRequest,
    responses((status = 201, body = FriendRequestView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[post("/friends/requests")]
pub async fn send_friend_request(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: ApiJson<UserIdRequest>,
) -> ApiResult<HttpResponse> {
    state.action_limits.check(caller.id, UserAction::FriendRequest)?;
    let request = social::send_request(&state, &caller, body.user_id).await?;
    Ok(HttpResponse::Created().json(request))
}

/// `GET /api/v1/friends/requests`
#[utoipa::path(tag = "friends", security(("bearer" = [])),
    responses((status = 200, body = FriendRequests)))]
#[get("/friends/requests")]
pub async fn list_friend_requests(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> ApiResult<web::Json<FriendRequests>> {
    Ok(web::Json(social::requests(&state, &caller).await?))
}

/// `POST /api/v1/friends/requests/{id}/accept`
#[utoipa::path(tag = "friends", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = FriendView), (status = 404, body = ErrorBody)))]
#[post("/friends/requests/{id}/accept")]
pub async fn accept_friend_request(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<FriendRequestId>,
) -> ApiResult<web::Json<FriendView>> {
    Ok(web::Json(social::accept(&state, &caller, id.into_inner()).await?))
}

/// `POST /api/v1/friends/requests/{id}/decline`
#[utoipa::path(tag = "friends", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 204, description = "Declined or withdrawn"), (status = 404, body = ErrorBody)))]
#[post("/friends/requests/{id}/decline")]
pub async fn decline_friend_request(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<FriendRequestId>,
) -> ApiResult<HttpResponse> {
    social::decline(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/blocks`
#[utoipa::path(tag = "friends", security(("bearer" = [])),
    responses((status = 200, body = BlockList)))]
#[get("/blocks")]
pub async fn list_blocks(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<web::Json<BlockList>> {
    Ok(web::Json(BlockList { blocks: social::blocks(&state, &caller).await? }))
}

/// `POST /api/v1/blocks`
#[utoipa::path(tag = "friends", security(("bearer" = [])), request_body = UserIdRequest,
    responses((status = 201, body = BlockView), (status = 200, body = BlockView, description = "Already blocked"), (status = 404, body = ErrorBody)))]
#[post("/blocks")]
pub async fn block_user(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: ApiJson<UserIdRequest>,
) -> ApiResult<HttpResponse> {
    let (block, created) = social::block(&state, &caller, body.user_id).await?;
    Ok(if created { HttpResponse::Created().json(block) } else { HttpResponse::Ok().json(block) })
}

/// `DELETE /api/v1/blocks/{user_id}`
#[utoipa::path(tag = "friends", security(("bearer" = [])),
    params(("user_id" = Uuid, Path)), responses((status = 204, description = "Unblocked"), (status = 404, body = ErrorBody)))]
#[delete("/blocks/{user_id}")]
pub async fn unblock_user(
    state: web::Data<AppState>,
    caller: AuthUser,
    user_id: web::Path<UserId>,
) -> ApiResult<HttpResponse> {
    social::unblock(&state, &caller, user_id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
