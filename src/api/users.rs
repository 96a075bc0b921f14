//! Profile routes under `/api/v1/users`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::extract::{ApiJson, ApiQuery, double_option, user_agent};
use crate::auth::ratelimit::UserAction;
use crate::auth::{AnyUser, AuthUser};
use crate::db::models::PresenceVisibility;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ids::UserId;
use crate::service::accounts::AuthResponse;
use crate::service::export::{self, Cursor, ExportHead};
use crate::service::{accounts, avatars, users};
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
    /// Who sees your presence besides staff: `contacts` (friends and people you share a room
    /// with; the default) or `everyone`. A block hides it either way.
    pub presence_visibility: Option<PresenceVisibility>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMeRequest {
    /// The account's password, confirming the deletion.
    pub password: String,
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
    let update = users::ProfileUpdate {
        display_name: b.display_name,
        bio: b.bio,
        avatar_url: b.avatar_url,
        presence_visibility: b.presence_visibility,
    };
    Ok(web::Json(users::update_profile(&state, caller.id, update).await?))
}

/// `PUT /api/v1/users/me/avatar`
///
/// The body is the image itself (PNG, JPEG, GIF or WebP, decided from its content); it becomes
/// a square picture of `attachments.avatar_px` pixels, re-encoded (no EXIF survives), and the
/// caller's `avatar_url`.
#[utoipa::path(tag = "users", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/*"),
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[put("/users/me/avatar")]
pub async fn set_avatar(
    state: web::Data<AppState>,
    caller: AuthUser,
    req: HttpRequest,
    body: web::Payload,
) -> ApiResult<web::Json<UserView>> {
    let declared_len =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    Ok(web::Json(avatars::set(&state, &caller, declared_len, body).await?))
}

/// `DELETE /api/v1/users/me/avatar`
#[utoipa::path(tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserView, description = "No avatar any more (`avatar_url` null)"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[delete("/users/me/avatar")]
pub async fn remove_avatar(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<web::Json<UserView>> {
    Ok(web::Json(avatars::remove(&state, &caller).await?))
}

/// `GET /api/v1/avatars/{key}`
///
/// An uploaded avatar, as a user object's `avatar_url` names it: no credential (the key is the
/// picture's hash, known only from the user object), cacheable for good (a new picture has a
/// new key); 404 once nobody has it.
#[utoipa::path(tag = "users", security(()),
    params(("key" = String, Path, description = "The picture's SHA-256, as `avatar_url` carries it")),
    responses((status = 200, description = "The picture (image/jpeg or image/png)"),
              (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[get("/avatars/{key}")]
pub async fn get_avatar(
    state: web::Data<AppState>,
    req: HttpRequest,
    key: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let etag = format!("\"{key}\"");
    let fresh = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str());
    let picture = avatars::get(&state, &key, !fresh).await?;
    let mut res = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    res.insert_header((header::CONTENT_TYPE, picture.content_type.as_str()))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // The bytes under a key never change.
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::ETAG, etag));
    Ok(match picture.body {
        Some(body) => res.streaming(body),
        None => res.finish(),
    })
}

/// `POST /api/v1/users/me/password`
#[utoipa::path(tag = "users", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses((status = 200, body = AuthResponse, description = "Changed; every earlier token is revoked, and this is the caller's new session."),
              (status = 403, body = ErrorBody, description = "Wrong current password, or called with an API token"),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[post("/users/me/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    caller: AuthUser,
    body: ApiJson<ChangePasswordRequest>,
) -> ApiResult<web::Json<AuthResponse>> {
    crate::api::security::session_caller(&caller, crate::api::security::PASSWORD)?;
    // Before the current password is checked: a wrong guess costs an Argon2 run too.
    state.password_limiter.check(&caller.id)?;
    let b = body.into_inner();
    let session =
        accounts::change_password(&state, &caller.user, b.current_password, b.new_password, user_agent(&req)).await?;
    Ok(web::Json(session))
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
    caller: AnyUser,
    id: web::Path<UserId>,
) -> ApiResult<web::Json<UserView>> {
    Ok(web::Json(users::get(&state, &caller, id.into_inner()).await?))
}

/// `DELETE /api/v1/users/me`
#[utoipa::path(tag = "users", security(("bearer" = [])), request_body = DeleteMeRequest,
    responses((status = 204, description = "Deleted: the account, its sessions and memberships are gone; its messages \
                stay with sender_id null. Open WebSockets close with 4001 \"account deleted\"."),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "Wrong password, a guest, or called with an API token"),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[delete("/users/me")]
pub async fn delete_me(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: ApiJson<DeleteMeRequest>,
) -> ApiResult<HttpResponse> {
    crate::api::security::session_caller(&caller, crate::api::security::ACCOUNT)?;
    // The password guesses it allows cost an Argon2 run each, as password changes do.
    state.password_limiter.check(&caller.id)?;
    accounts::delete_own_account(&state, &caller.user, body.into_inner().password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Where the streamed export stands.
enum ExportStep {
    Messages { after: Option<Cursor>, first: bool },
    Done,
}

/// `GET /api/v1/users/me/export`
///
/// One JSON object: the fields of `ExportHead`, then `messages`, every message the caller sent
/// (oldest first). It is streamed, a page of messages at a time, so its size is not bounded by
/// memory; a failure half-way cuts the response short, which leaves the JSON unterminated (the
/// client sees a parse error, never a silently partial export).
#[utoipa::path(tag = "users", security(("bearer" = [])),
    responses((status = 200, body = ExportHead,
               description = "The export, as a download: these fields plus `messages`, an array of ExportedMessage"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/users/me/export")]
pub async fn export_me(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<HttpResponse> {
    let head = export::head(&state, &caller).await?;
    let mut opening = serde_json::to_string(&head).map_err(ApiError::internal)?;
    // The head serialises as an object; reopen it to append the messages as they are read.
    opening.pop();
    opening.push_str(",\"messages\":[");
    let user_id = caller.id;
    let pages = futures_util::stream::unfold(ExportStep::Messages { after: None, first: true }, move |step| {
        let state = state.clone();
        async move {
            let ExportStep::Messages { after, first } = step else { return None };
            let (page, next) = match export::messages_page(&state, user_id, after).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = ?e, "data export failed half-way; the response is cut short");
                    return Some((Err(e), ExportStep::Done));
                }
            };
            let mut chunk = String::new();
            for (i, message) in page.iter().enumerate() {
                if !(first && i == 0) {
                    chunk.push(',');
                }
                match serde_json::to_string(message) {
                    Ok(json) => chunk.push_str(&json),
                    Err(e) => return Some((Err(ApiError::internal(e)), ExportStep::Done)),
                }
            }
            let following = match next {
                Some(after) => ExportStep::Messages { after: Some(after), first: false },
                None => {
                    chunk.push_str("]}");
                    ExportStep::Done
                }
            };
            Some((Ok(web::Bytes::from(chunk)), following))
        }
    });
    let body = futures_util::stream::once(async move { Ok::<_, ApiError>(web::Bytes::from(opening)) }).chain(pages);
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("content-disposition", "attachment; filename=\"plauder-export.json\""))
        .streaming(body))
}
