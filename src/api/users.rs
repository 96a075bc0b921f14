//! Profile routes under `/api/v1/users`.

use actix_web::{HttpResponse, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::extract::{ApiJson, ApiQuery, double_option};
use crate::auth::ratelimit::UserAction;
use crate::auth::{AnyUser, AuthUser};
use crate::error::{ApiResult, ErrorBody};
use crate::ids::UserId;
use crate::service::{accounts, users};
use crate::state::AppState;
use crate::views::UserView;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    pub display_name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    pub bio: Option<Option<String>>,
    /// An http(s) URL; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    pub avatar_url: Option<Option<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Matches the start of a username or any part of a display name, ignoring case.
    pub q: String,
    /// 1 to 100, default 20.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
}

/// `GET /api/v1/users/me`
#[utoipa::path(tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
#[get("/users/me")]
pub async fn get_me(caller: AnyUser) -> web::Json<UserView> {
    web::Json(UserView::own(&caller.user))
}

/// `PATCH /api/v1/users/me`
#[utoipa::path(tag = "users", security(("bearer" = [])), request_body = UpdateMeRequest,
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[patch("/users/me")]
pub async fn update_me(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: ApiJson<UpdateMeRequest>,
) -> ApiResult<web::Json<UserView>> {
    let b = body.into_inner();
    let update = users::ProfileUpdate { display_name: b.display_name, bio: b.bio, avatar_url: b.avatar_url };
    Ok(web::Json(users::update_profile(&state, caller.id, update).await?))
}

/// `POST /api/v1/users/me/password`
#[utoipa::path(tag = "users", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses((status = 204, description = "Changed; every earlier token is revoked."),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
#[post("/users/me/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: ApiJson<ChangePasswordRequest>,
) -> ApiResult<HttpResponse> {
    // Before the current password is checked: a wrong guess costs an Argon2 run too.
    state.password_limiter.check(&caller.id)?;
    let b = body.into_inner();
    accounts::change_password(&state, &caller.user, b.current_password, b.new_password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/users?q=&limit=`
#[utoipa::path(tag = "users", security(("bearer" = [])), params(SearchQuery),
    responses((status = 200, body = UserList), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[get("/users")]
pub async fn search_users(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: ApiQuery<SearchQuery>,
) -> ApiResult<web::Json<UserList>> {
    state.action_limits.check(caller.id, UserAction::Search)?;
    let query = query.into_inner()?;
    let users = users::search(&state, &query.q, query.limit).await?;
    Ok(web::Json(UserList { users }))
}

/// `GET /api/v1/users/{id}`
#[utoipa::path(tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    _caller: AuthUser,
    id: web::Path<UserId>,
) -> ApiResult<web::Json<UserView>> {
    Ok(web::Json(users::get(&state, id.into_inner()).await?))
}
