//! Account routes under `/api/v1/auth`.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::extract::ApiJson;
use crate::auth::AuthUser;
use crate::error::{ApiResult, ErrorBody};
use crate::service::accounts::{self, AuthResponse, Registration};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub username: String,
    pub email: String,
    pub password: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username or email, either case.
    pub login: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

async fn limit_by_ip(state: &AppState, req: &HttpRequest) -> ApiResult<()> {
    state.auth_limiter.check_everywhere(&state.client_ip(req)).await
}

/// `POST /api/v1/auth/register`
#[utoipa::path(tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = AuthResponse), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[post("/auth/register")]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<RegisterRequest>,
) -> ApiResult<HttpResponse> {
    limit_by_ip(&state, &req).await?;
    let b = body.into_inner();
    let reg = Registration { username: b.username, email: b.email, password: b.password, display_name: b.display_name };
    let response = accounts::register(&state, reg).await?;
    Ok(HttpResponse::Created().json(response))
}

/// `POST /api/v1/auth/login`
#[utoipa::path(tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<LoginRequest>,
) -> ApiResult<web::Json<AuthResponse>> {
    limit_by_ip(&state, &req).await?;
    let b = body.into_inner();
    // Beside the per-IP budget: one login name gets a few attempts, then backs off, from anywhere.
    state.login_throttle.attempt(&b.login)?;
    let response = accounts::login(&state, &b.login, b.password).await?;
    state.login_throttle.succeeded(&b.login);
    Ok(web::Json(response))
}

/// `POST /api/v1/auth/refresh`
#[utoipa::path(tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[post("/auth/refresh")]
pub async fn refresh(state: web::Data<AppState>, body: ApiJson<RefreshRequest>) -> ApiResult<web::Json<AuthResponse>> {
    Ok(web::Json(accounts::refresh(&state, &body.refresh_token).await?))
}

/// `POST /api/v1/auth/logout`
#[utoipa::path(tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "The refresh token's session is ended (also when it was unknown).")))]
#[post("/auth/logout")]
pub async fn logout(state: web::Data<AppState>, body: ApiJson<RefreshRequest>) -> ApiResult<HttpResponse> {
    accounts::logout(&state, &body.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/auth/logout-all`
#[utoipa::path(tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Every token of the caller is revoked."), (status = 401, body = ErrorBody)))]
#[post("/auth/logout-all")]
pub async fn logout_all(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<HttpResponse> {
    accounts::logout_all(&state, caller.id).await?;
    Ok(HttpResponse::NoContent().finish())
}
