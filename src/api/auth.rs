//! Account routes under `/api/v1/auth`.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::extract::{ApiJson, user_agent};
use crate::auth::AuthUser;
use crate::db::models::Language;
use crate::error::{ApiResult, ErrorBody};
use crate::service::accounts::{self, AuthResponse, LoginResponse, Registered, Registration};
use crate::service::{mfa, recovery, validate, verification};
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
    state.auth_limiter.check_everywhere(&state.client_limit_key(req)).await
}

/// `POST /api/v1/auth/register`
#[utoipa::path(tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = AuthResponse),
              (status = 202, body = accounts::VerificationRequired, description = "With accounts.require_email_verification on: the account, no tokens; a confirmation mail is on its way"),
              (status = 409, body = ErrorBody),
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
    // The language of the account's mails, until the user picks another.
    let accept = req.headers().get(actix_web::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let response = accounts::register(&state, reg, Language::from_accept_language(accept), user_agent(&req)).await?;
    Ok(match response {
        Registered::Session(session) => HttpResponse::Created().json(session),
        Registered::VerificationRequired(pending) => HttpResponse::Accepted().json(pending),
    })
}

/// `POST /api/v1/auth/login`
#[utoipa::path(tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse, description = "A session, or for an account with two-factor on, an MFA challenge (`mfa_required: true`, no tokens)."),
              (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<LoginRequest>,
) -> ApiResult<web::Json<LoginResponse>> {
    limit_by_ip(&state, &req).await?;
    let b = body.into_inner();
    // Beside the per-IP budget: one login name gets a few attempts, then backs off, from anywhere.
    state.login_throttle.attempt(&b.login)?;
    let response = accounts::login(&state, &b.login, b.password, user_agent(&req)).await?;
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
    responses((status = 204, description = "Every token of the caller is revoked."), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "Called with an API token")))]
#[post("/auth/logout-all")]
pub async fn logout_all(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<HttpResponse> {
    crate::api::security::session_caller(&caller, crate::api::security::SESSIONS)?;
    accounts::logout_all(&state, caller.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginMfaRequest {
    /// The `mfa_token` of the login's challenge.
    pub mfa_token: String,
    /// The six digits of the authenticator app, or an unused recovery code.
    pub code: String,
}

/// `POST /api/v1/auth/login/mfa`
#[utoipa::path(tag = "auth", request_body = LoginMfaRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[post("/auth/login/mfa")]
pub async fn login_mfa(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<LoginMfaRequest>,
) -> ApiResult<web::Json<AuthResponse>> {
    limit_by_ip(&state, &req).await?;
    Ok(web::Json(mfa::complete_login(&state, &body.mfa_token, &body.code, user_agent(&req)).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Accepted {
    pub message: &'static str,
}

/// `POST /api/v1/auth/password-reset`
#[utoipa::path(tag = "auth", request_body = PasswordResetRequest,
    responses((status = 202, body = Accepted, description = "The same for every address: a reset mail is on its way if the address has an account."),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[post("/auth/password-reset")]
pub async fn request_password_reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<PasswordResetRequest>,
) -> ApiResult<HttpResponse> {
    state.reset_ip_limiter.check_everywhere(&state.client_limit_key(&req)).await?;
    let email = body.into_inner().email;
    validate::email(email.trim())?;
    // Past the address's budget the answer is the same, but no mail goes out.
    let within_budget = state.reset_address_limiter.check_everywhere(&email.trim().to_lowercase()).await.is_ok();
    if within_budget {
        // After the answer: looking the address up and queueing the mail happen only for known
        // addresses, and their time must not tell known from unknown.
        let state = state.into_inner();
        tokio::spawn(async move {
            if let Err(e) = recovery::request_reset(&state, &email).await {
                tracing::error!("password reset not queued: {e:#}");
            }
        });
    } else {
        tracing::info!("password reset mails for one address over budget; none sent");
    }
    Ok(HttpResponse::Accepted()
        .json(Accepted { message: "If an account has this address, a mail with a reset link is on its way." }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// The token from the mail's link (after `#reset-password=`).
    pub token: String,
    pub password: String,
}

/// `POST /api/v1/auth/password-reset/confirm`
#[utoipa::path(tag = "auth", request_body = PasswordResetConfirm,
    responses((status = 204, description = "The password is set; every session of the account is ended."),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[post("/auth/password-reset/confirm")]
pub async fn confirm_password_reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<PasswordResetConfirm>,
) -> ApiResult<HttpResponse> {
    state.reset_ip_limiter.check_everywhere(&state.client_limit_key(&req)).await?;
    let b = body.into_inner();
    recovery::confirm_reset(&state, &b.token, b.password).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The token from the mail's link (after `#verify-email=`).
    pub token: String,
}

/// `POST /api/v1/auth/verify-email`
#[utoipa::path(tag = "auth", request_body = VerifyEmailRequest,
    responses((status = 204, description = "The account's address is confirmed."),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[post("/auth/verify-email")]
pub async fn verify_email(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<VerifyEmailRequest>,
) -> ApiResult<HttpResponse> {
    limit_by_ip(&state, &req).await?;
    verification::confirm(&state, &body.token).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendVerificationRequest {
    pub email: String,
}

/// `POST /api/v1/auth/verify-email/resend`
#[utoipa::path(tag = "auth", request_body = ResendVerificationRequest,
    responses((status = 202, body = Accepted, description = "The same for every address: a new link is on its way if an account has this address unconfirmed."),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[post("/auth/verify-email/resend")]
pub async fn resend_verification(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<ResendVerificationRequest>,
) -> ApiResult<HttpResponse> {
    limit_by_ip(&state, &req).await?;
    let email = body.into_inner().email;
    validate::email(email.trim())?;
    // Past the address's budget the answer is the same, but no mail goes out.
    let within_budget = state.verify_address_limiter.check_everywhere(&email.trim().to_lowercase()).await.is_ok();
    if within_budget {
        // After the answer, as for password resets: the time must not tell known from unknown.
        let state = state.into_inner();
        tokio::spawn(async move {
            if let Err(e) = verification::resend(&state, &email).await {
                tracing::error!("verification mail not queued: {e:#}");
            }
        });
    } else {
        tracing::info!("verification mails for one address over budget; none sent");
    }
    Ok(HttpResponse::Accepted().json(Accepted {
        message: "If an account has this address unconfirmed, a mail with a new link is on its way.",
    }))
}
