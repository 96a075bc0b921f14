//! The admin routes of account recovery: the outgoing mail queue and admin-triggered password
//! resets (admins only).

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::auth::Accepted;
use crate::api::extract::ApiQuery;
use crate::auth::AdminUser;
use crate::error::{ApiResult, ErrorBody};
use crate::ids::UserId;
use crate::service::admin::Actor;
use crate::service::mail::{self, MailPage};
use crate::service::recovery;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
pub struct MailQuery {
    /// `queued` (waiting for a first or next try), `failed` (given up), `sent`, or `all` (the
    /// default).
    pub status: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// `GET /api/v1/admin/mail`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(MailQuery),
    responses((status = 200, body = MailPage, description = "Newest first; bodies are never shown"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[get("/admin/mail")]
pub async fn list_mail(
    state: web::Data<AppState>,
    _caller: AdminUser,
    query: ApiQuery<MailQuery>,
) -> ApiResult<web::Json<MailPage>> {
    let q = query.into_inner()?;
    Ok(web::Json(mail::list(&state, q.status.as_deref(), q.limit, q.offset).await?))
}

/// `POST /api/v1/admin/users/{id}/password-reset`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 202, body = Accepted, description = "A reset link is queued for the user's address; audited as user.password_reset"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "A guest, or an account without email")))]
#[post("/admin/users/{id}/password-reset")]
pub async fn reset_user_password(
    state: web::Data<AppState>,
    caller: AdminUser,
    id: web::Path<UserId>,
) -> ApiResult<HttpResponse> {
    recovery::admin_reset(&state, Actor::Admin(&caller), id.into_inner(), true).await?;
    Ok(HttpResponse::Accepted().json(Accepted { message: "A reset link is on its way to the user's address." }))
}
