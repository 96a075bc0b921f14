//! The admin panel under `/api/v1/admin`. Each handler's extractor is its role rule: `AdminUser`
//! for admins only, `StaffUser` for the routes PROTOCOL.md marks M (admins and moderators).

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::extract::{ApiJson, ApiQuery};
use crate::api::rooms::ReadRequest;
use crate::auth::{AdminUser, StaffUser};
use crate::error::{ApiResult, ErrorBody};
use crate::ids::{AuditEntryId, ContactId, MessageId, SessionId, UserId};
use crate::service::admin::{self, AdminUserView, Stats, UserPage, UserQuery, UserUpdate};
use crate::service::audit::{self, AuditEntryView};
use crate::service::contacts::{self, ContactView};
use crate::service::messages;
use crate::service::support::{self, SessionView};
use crate::state::AppState;
use crate::views::MessageView;

#[derive(Debug, Deserialize, IntoParams)]
pub struct UsersQuery {
    /// Start of the username or email, or any part of the display name, ignoring case.
    pub q: Option<String>,
    /// `admin`, `moderator`, `user` or `guest`.
    pub role: Option<String>,
    /// `true` for banned users only, `false` for the others.
    pub banned: Option<bool>,
    /// 1 to 100, default 50.
    pub limit: Option<i64>,
    /// Users to skip, default 0.
    pub offset: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// `admin`, `moderator` or `user`.
    pub role: Option<String>,
    /// `true` bans (closing live sockets with 4003, revoking every token), `false` lifts a ban.
    pub banned: Option<bool>,
    /// With `banned: true` only; at most 500 characters.
    pub ban_reason: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SessionsQuery {
    /// `open` or `closed`; both when absent.
    pub status: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// 1 to 500, default 100.
    pub limit: Option<i64>,
    /// Entries older than this id (the last id of the previous page).
    pub before_id: Option<AuditEntryId>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1 to 100, default 50.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLog {
    pub entries: Vec<AuditEntryView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactList {
    pub contacts: Vec<ContactView>,
}

/// `GET /api/v1/admin/stats`
#[utoipa::path(tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Stats, description = "users_online and connections count this instance"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/admin/stats")]
pub async fn get_stats(state: web::Data<AppState>, _caller: AdminUser) -> ApiResult<web::Json<Stats>> {
    Ok(web::Json(admin::stats(&state).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// How many days back, today included: 1 to 90, default 30.
    pub days: Option<i64>,
}

/// `GET /api/v1/admin/stats/history`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(HistoryQuery),
    responses((status = 200, body = crate::service::history::History, description = "Per UTC day, oldest first: messages, new support sessions, median first response"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[get("/admin/stats/history")]
pub async fn get_history(
    state: web::Data<AppState>,
    _caller: AdminUser,
    query: ApiQuery<HistoryQuery>,
) -> ApiResult<web::Json<crate::service::history::History>> {
    let query = query.into_inner()?;
    Ok(web::Json(crate::service::history::history(&state, query.days).await?))
}

/// `GET /api/v1/admin/users`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(UsersQuery),
    responses((status = 200, body = UserPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[get("/admin/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    _caller: AdminUser,
    query: ApiQuery<UsersQuery>,
) -> ApiResult<web::Json<UserPage>> {
    let q = query.into_inner()?;
    let query = UserQuery { q: q.q, role: q.role, banned: q.banned, limit: q.limit, offset: q.offset };
    Ok(web::Json(admin::list_users(&state, query).await?))
}

/// `PATCH /api/v1/admin/users/{id}`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = UpdateUserRequest,
    responses((status = 200, body = AdminUserView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "Not an admin, or an admin changing their own role or banning themselves"),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[patch("/admin/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    caller: AdminUser,
    id: web::Path<UserId>,
    body: ApiJson<UpdateUserRequest>,
) -> ApiResult<web::Json<AdminUserView>> {
    let b = body.into_inner();
    let update = UserUpdate { role: b.role, banned: b.banned, ban_reason: b.ban_reason };
    Ok(web::Json(admin::update_user(&state, &caller, id.into_inner(), update).await?))
}

/// `DELETE /api/v1/admin/users/{id}`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted as by DELETE /users/me; audited as user.deleted; sockets closed"),
              (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "Not an admin, or an admin deleting themselves"),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "A guest")))]
#[delete("/admin/users/{id}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    caller: AdminUser,
    id: web::Path<UserId>,
) -> ApiResult<HttpResponse> {
    admin::delete_user(&state, admin::Actor::Admin(&caller), id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /api/v1/admin/messages/{id}`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = MessageView, description = "The tombstone"), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/admin/messages/{id}")]
pub async fn delete_message(
    state: web::Data<AppState>,
    caller: StaffUser,
    id: web::Path<MessageId>,
) -> ApiResult<web::Json<MessageView>> {
    Ok(web::Json(messages::delete(&state, &caller, id.into_inner()).await?))
}

/// `GET /api/v1/admin/support/sessions`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(SessionsQuery),
    responses((status = 200, body = SessionList, description = "Most recent activity first"), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[get("/admin/support/sessions")]
pub async fn list_support_sessions(
    state: web::Data<AppState>,
    _caller: StaffUser,
    query: ApiQuery<SessionsQuery>,
) -> ApiResult<web::Json<SessionList>> {
    let q = query.into_inner()?;
    Ok(web::Json(SessionList { sessions: support::inbox(&state, q.status.as_deref(), q.limit, q.offset).await? }))
}

/// `POST /api/v1/admin/support/sessions/{id}/close`
#[utoipa::path(tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SessionView, description = "Closed (closing a closed session changes nothing)"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[post("/admin/support/sessions/{id}/close")]
pub async fn close_support_session(
    state: web::Data<AppState>,
    caller: StaffUser,
    id: web::Path<SessionId>,
) -> ApiResult<web::Json<SessionView>> {
    let session = support::close(&state, &caller, id.into_inner()).await?;
    Ok(web::Json(support::view_of(&state, session.id).await?))
}

/// `POST /api/v1/admin/support/sessions/{id}/read`
#[utoipa::path(tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ReadRequest,
    responses((status = 200, body = SessionView, description = "Staff's read marker moved forward; the visitor hears `read`"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[post("/admin/support/sessions/{id}/read")]
pub async fn read_support_session(
    state: web::Data<AppState>,
    caller: StaffUser,
    id: web::Path<SessionId>,
    body: ApiJson<ReadRequest>,
) -> ApiResult<web::Json<SessionView>> {
    Ok(web::Json(support::mark_read(&state, &caller, id.into_inner(), body.seq).await?))
}

/// `GET /api/v1/admin/audit-log`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditLog, description = "Newest first"), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[get("/admin/audit-log")]
pub async fn audit_log(
    state: web::Data<AppState>,
    _caller: AdminUser,
    query: ApiQuery<AuditQuery>,
) -> ApiResult<web::Json<AuditLog>> {
    let q = query.into_inner()?;
    Ok(web::Json(AuditLog { entries: audit::list(&state, q.limit, q.before_id).await? }))
}

/// `GET /api/v1/admin/contacts`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ContactList, description = "Newest first"), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[get("/admin/contacts")]
pub async fn list_contacts(
    state: web::Data<AppState>,
    _caller: StaffUser,
    query: ApiQuery<PageQuery>,
) -> ApiResult<web::Json<ContactList>> {
    let q = query.into_inner()?;
    Ok(web::Json(ContactList { contacts: contacts::list(&state, q.limit, q.offset).await? }))
}

/// `DELETE /api/v1/admin/contacts/{id}`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Removed"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
#[delete("/admin/contacts/{id}")]
pub async fn delete_contact(
    state: web::Data<AppState>,
    caller: StaffUser,
    id: web::Path<ContactId>,
) -> ApiResult<HttpResponse> {
    contacts::delete(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
