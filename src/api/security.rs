//! The caller's account protection under `/api/v1/users/me`: two-factor (TOTP), the login
//! sessions (list, sign one device out) and the preferences mails follow (their language).

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::extract::ApiJson;
use crate::auth::AuthUser;
use crate::db::models::Language;
use crate::error::{ApiResult, ErrorBody};
use crate::service::accounts::{self, Preferences, SessionInfo};
use crate::service::mfa::{self, Confirmed, Enrolment, MfaStatus};
use crate::state::AppState;

/// `GET /api/v1/users/me/mfa`
#[utoipa::path(tag = "users", security(("bearer" = [])),
    responses((status = 200, body = MfaStatus), (status = 401, body = ErrorBody)))]
#[get("/users/me/mfa")]
pub async fn get_mfa(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<web::Json<MfaStatus>> {
    Ok(web::Json(mfa::status(&state, &caller.user).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolTotpRequest {
    /// The account's password: a signed-in session alone (a stolen access token) must not put a
    /// second factor of someone else's on the account.
    pub password: String,
}

/// `POST /api/v1/users/me/mfa/totp`
#[utoipa::path(tag = "users", security(("bearer" = [])), request_body = EnrolTotpRequest,
    responses((status = 201, body = Enrolment), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "A wrong password, or called with an API token"),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[post("/users/me/mfa/totp")]
pub async fn enrol_totp(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: ApiJson<EnrolTotpRequest>,
) -> ApiResult<HttpResponse> {
    session_caller(&caller, TWO_FACTOR)?;
    // Before the password is checked: a wrong guess costs an Argon2 run too.
    state.password_limiter.check(&caller.id)?;
    let enrolment = mfa::begin_enrolment(&state, &caller.user, body.into_inner().password).await?;
    Ok(HttpResponse::Created().json(enrolment))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmTotpRequest {
    /// The six digits the authenticator app shows now.
    pub code: String,
}

/// `POST /api/v1/users/me/mfa/totp/confirm`
#[utoipa::path(tag = "users", security(("bearer" = [])), request_body = ConfirmTotpRequest,
    responses((status = 200, body = Confirmed, description = "Two-factor is on; every earlier session ended, and this is the new one with the recovery codes."),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "Called with an API token"),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/users/me/mfa/totp/confirm")]
pub async fn confirm_totp(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: AuthUser,
    body: ApiJson<ConfirmTotpRequest>,
) -> ApiResult<web::Json<Confirmed>> {
    session_caller(&caller, TWO_FACTOR)?;
    // Each try can be a guess: it draws on the password-change budget.
    state.password_limiter.check(&caller.id)?;
    Ok(web::Json(
        mfa::confirm_enrolment(&state, &caller.user, &body.code, crate::api::extract::user_agent(&req)).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableTotpRequest {
    pub password: String,
    /// A current code, or an unused recovery code.
    pub code: String,
}

/// `POST /api/v1/users/me/mfa/totp/disable`
#[utoipa::path(tag = "users", security(("bearer" = [])), request_body = DisableTotpRequest,
    responses((status = 204, description = "Two-factor is off; the recovery codes are gone."),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
#[post("/users/me/mfa/totp/disable")]
pub async fn disable_totp(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: ApiJson<DisableTotpRequest>,
) -> ApiResult<HttpResponse> {
    session_caller(&caller, TWO_FACTOR)?;
    state.password_limiter.check(&caller.id)?;
    let b = body.into_inner();
    mfa::disable(&state, &caller.user, b.password, &b.code).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/users/me/preferences`
#[utoipa::path(tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Preferences), (status = 401, body = ErrorBody)))]
#[get("/users/me/preferences")]
pub async fn get_preferences(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<web::Json<Preferences>> {
    Ok(web::Json(accounts::preferences(&state, caller.id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePreferencesRequest {
    /// `en` or `de`: the language of the mails you get.
    pub language: Option<Language>,
    /// Whether you get the email digest of what you missed while away.
    pub email_digest: Option<bool>,
}

/// `PATCH /api/v1/users/me/preferences`
#[utoipa::path(tag = "users", security(("bearer" = [])), request_body = UpdatePreferencesRequest,
    responses((status = 200, body = Preferences), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[patch("/users/me/preferences")]
pub async fn update_preferences(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: ApiJson<UpdatePreferencesRequest>,
) -> ApiResult<web::Json<Preferences>> {
    let body = body.into_inner();
    Ok(web::Json(accounts::set_preferences(&state, caller.id, body.language, body.email_digest).await?))
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
}

/// Sessions, two-factor, the password and the account itself are a login's business: an API token
/// neither lists nor ends sessions (as it does not manage tokens); turning two-factor on or off or
/// changing the password would let a leaked token start a session of its own (each returns one,
/// and a password change needs no second factor) or lock the owner out; and a token that could
/// delete its account, or sign every device out, would be a leaked token's way to do it.
pub(crate) fn session_caller(caller: &AuthUser, what: &str) -> ApiResult<()> {
    if caller.api_token.is_some() {
        return Err(crate::error::ApiError::Forbidden(format!(
            "{what} managed with a signed-in session, not with an API token."
        )));
    }
    Ok(())
}

pub(crate) const SESSIONS: &str = "Sessions are";
const TWO_FACTOR: &str = "Two-factor login is";
pub(crate) const PASSWORD: &str = "The password is";
pub(crate) const ACCOUNT: &str = "The account's deletion is";

/// `GET /api/v1/users/me/sessions`
#[utoipa::path(tag = "users", security(("bearer" = [])),
    responses((status = 200, body = SessionList, description = "The caller's login sessions that can still renew their tokens, most recently active first"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "A guest, or called with an API token")))]
#[get("/users/me/sessions")]
pub async fn list_sessions(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<web::Json<SessionList>> {
    session_caller(&caller, SESSIONS)?;
    // The login session of the request's access token is marked `current`.
    Ok(web::Json(SessionList { sessions: accounts::sessions(&state, caller.id, caller.login_session).await? }))
}

/// `DELETE /api/v1/users/me/sessions/{id}`
#[utoipa::path(tag = "users", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "That device is signed out: its tokens are revoked and its sockets closed (4001)"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/users/me/sessions/{id}")]
pub async fn end_session(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<uuid::Uuid>,
) -> ApiResult<HttpResponse> {
    session_caller(&caller, SESSIONS)?;
    accounts::end_session(&state, caller.id, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
