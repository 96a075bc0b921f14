//! Personal API tokens (`/users/me/tokens`) and the admin's bot accounts (`/admin/bots`).

use actix_web::{HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::extract::ApiJson;
use crate::auth::{AdminUser, AuthUser};
use crate::error::{ApiResult, ErrorBody};
use crate::ids::{ApiTokenId, UserId};
use crate::service::admin::Actor;
use crate::service::tokens::{self, BotView, CreatedBot, CreatedToken, TokenRequest, TokenView};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// 1 to 100 characters: what the token is for.
    pub name: String,
    /// Any of `read`, `write`, `admin` (admin only for admins and moderators).
    pub scopes: Vec<String>,
    /// 1 to 3650; absent: the token does not expire.
    pub expires_in_days: Option<u32>,
}

impl From<CreateTokenRequest> for TokenRequest {
    fn from(b: CreateTokenRequest) -> Self {
        TokenRequest { name: b.name, scopes: b.scopes, expires_in_days: b.expires_in_days }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBotRequest {
    /// As a user's: 3 to 32 letters, digits, `_`, `.`, `-`.
    pub username: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BotList {
    pub bots: Vec<BotView>,
}

/// `GET /api/v1/users/me/tokens`
#[utoipa::path(tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = TokenList), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "Called with an API token")))]
#[get("/users/me/tokens")]
pub async fn list_tokens(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<web::Json<TokenList>> {
    Ok(web::Json(TokenList { tokens: tokens::list(&state, &caller).await? }))
}

/// `POST /api/v1/users/me/tokens`
#[utoipa::path(tag = "tokens", security(("bearer" = [])), request_body = CreateTokenRequest,
    responses((status = 201, body = CreatedToken, description = "The token's value is in `token`, this once"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/users/me/tokens")]
pub async fn create_token(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: ApiJson<CreateTokenRequest>,
) -> ApiResult<HttpResponse> {
    let created = tokens::create(&state, &caller, body.into_inner().into()).await?;
    Ok(HttpResponse::Created().json(created))
}

/// `DELETE /api/v1/users/me/tokens/{id}`
#[utoipa::path(tag = "tokens", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Revoked; its WebSockets are closed with 4001"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/users/me/tokens/{id}")]
pub async fn revoke_token(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<ApiTokenId>,
) -> ApiResult<HttpResponse> {
    tokens::revoke(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/admin/bots`
#[utoipa::path(tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = BotList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/admin/bots")]
pub async fn list_bots(state: web::Data<AppState>, _caller: AdminUser) -> ApiResult<web::Json<BotList>> {
    Ok(web::Json(BotList { bots: tokens::list_bots(&state).await? }))
}

/// `POST /api/v1/admin/bots`
#[utoipa::path(tag = "admin", security(("bearer" = [])), request_body = CreateBotRequest,
    responses((status = 201, body = CreatedBot, description = "The bot and its first token (read, write), shown once"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[post("/admin/bots")]
pub async fn create_bot(
    state: web::Data<AppState>,
    caller: AdminUser,
    body: ApiJson<CreateBotRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let created = tokens::create_bot(&state, Actor::Admin(&caller), &b.username, b.display_name.as_deref()).await?;
    Ok(HttpResponse::Created().json(created))
}

/// `POST /api/v1/admin/bots/{id}/tokens`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = CreateTokenRequest,
    responses((status = 201, body = CreatedToken), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/admin/bots/{id}/tokens")]
pub async fn create_bot_token(
    state: web::Data<AppState>,
    caller: AdminUser,
    id: web::Path<UserId>,
    body: ApiJson<CreateTokenRequest>,
) -> ApiResult<HttpResponse> {
    let created =
        tokens::create_bot_token(&state, Actor::Admin(&caller), id.into_inner(), body.into_inner().into()).await?;
    Ok(HttpResponse::Created().json(created))
}

/// `DELETE /api/v1/admin/bots/{id}/tokens/{token_id}`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path), ("token_id" = Uuid, Path)),
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
#[delete("/admin/bots/{id}/tokens/{token_id}")]
pub async fn revoke_bot_token(
    state: web::Data<AppState>,
    _caller: AdminUser,
    path: web::Path<(UserId, ApiTokenId)>,
) -> ApiResult<HttpResponse> {
    let (bot, token) = path.into_inner();
    tokens::revoke_bot_token(&state, bot, token).await?;
    Ok(HttpResponse::NoContent().finish())
}
