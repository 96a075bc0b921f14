//! Message routes: history and send under a room, edit, delete and reactions by message id, and
//! search.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::extract::{ApiJson, ApiQuery};
use crate::auth::ratelimit::UserAction;
use crate::auth::{AnyUser, AuthUser};
use crate::error::{ApiResult, ErrorBody};
use crate::ids::{AttachmentId, MessageId, RoomId, Seq};
use crate::service::messages::{self, MessagePage, SearchResult, SendMessage};
use crate::state::AppState;
use crate::views::MessageView;

#[derive(Debug, Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// Only messages with a smaller seq.
    pub before_seq: Option<Seq>,
    /// Only messages with a larger seq; switches the order to oldest first.
    pub after_seq: Option<Seq>,
    /// 1–100, default 50.
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// 1–4,000 characters, stored exactly as sent.
    pub body: String,
    /// Makes retries safe: the same id from the same sender in the same room returns the original.
    pub client_msg_id: Option<String>,
    pub reply_to: Option<MessageId>,
    /// Ids of the sender's own unsent uploads (`POST /attachments`) to send with the message; with
    /// at least one, the body may be empty.
    #[serde(default)]
    pub attachment_ids: Vec<AttachmentId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditRequest {
    pub body: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Words to find; quotes for phrases, `-word` to exclude (websearch syntax).
    pub q: String,
    pub room_id: Option<RoomId>,
    /// 1–50, default 20.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    pub results: Vec<SearchResult>,
}

/// `GET /api/v1/rooms/{id}/messages`
#[utoipa::path(tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path), HistoryQuery),
    responses((status = 200, body = MessagePage), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[get("/rooms/{id}/messages")]
pub async fn list_messages(
    state: web::Data<AppState>,
    caller: AnyUser,
    id: web::Path<RoomId>,
    query: ApiQuery<HistoryQuery>,
) -> ApiResult<web::Json<MessagePage>> {
    let q = query.into_inner()?;
    Ok(web::Json(messages::history(&state, &caller, id.into_inner(), q.before_seq, q.after_seq, q.limit).await?))
}

/// `POST /api/v1/rooms/{id}/messages`
#[utoipa::path(tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = SendRequest,
    responses((status = 201, body = MessageView), (status = 200, body = MessageView, description = "A retry: the original message"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/rooms/{id}/messages")]
pub async fn send_message(
    state: web::Data<AppState>,
    caller: AnyUser,
    id: web::Path<RoomId>,
    body: ApiJson<SendRequest>,
) -> ApiResult<HttpResponse> {
    state.user_limits.check_message(caller.id).await?;
    let b = body.into_inner();
    let req = SendMessage {
        body: b.body,
        client_msg_id: b.client_msg_id,
        reply_to: b.reply_to,
        attachment_ids: b.attachment_ids,
    };
    let (message, created) = messages::send(&state, &caller, id.into_inner(), req).await?;
    Ok(if created { HttpResponse::Created().json(message) } else { HttpResponse::Ok().json(message) })
}

/// `PATCH /api/v1/messages/{id}`
#[utoipa::path(tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = EditRequest,
    responses((status = 200, body = MessageView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[patch("/messages/{id}")]
pub async fn edit_message(
    state: web::Data<AppState>,
    caller: AnyUser,
    id: web::Path<MessageId>,
    body: ApiJson<EditRequest>,
) -> ApiResult<web::Json<MessageView>> {
    state.user_limits.check_message(caller.id).await?;
    Ok(web::Json(messages::edit(&state, &caller, id.into_inner(), &body.body).await?))
}

/// `DELETE /api/v1/messages/{id}`
#[utoipa::path(tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = MessageView, description = "The tombstone"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/messages/{id}")]
pub async fn delete_message(
    state: web::Data<AppState>,
    caller: AnyUser,
    id: web::Path<MessageId>,
) -> ApiResult<web::Json<MessageView>> {
    state.user_limits.check_message(caller.id).await?;
    Ok(web::Json(messages::delete(&state, &caller, id.into_inner()).await?))
}

/// `PUT /api/v1/messages/{id}/reactions/{emoji}`
#[utoipa::path(tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("emoji" = String, Path)),
    responses((status = 200, body = MessageView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[put("/messages/{id}/reactions/{emoji}")]
pub async fn add_reaction(
    state: web::Data<AppState>,
    caller: AnyUser,
    path: web::Path<(MessageId, String)>,
) -> ApiResult<web::Json<MessageView>> {
    state.user_limits.check_message(caller.id).await?;
    let (id, emoji) = path.into_inner();
    Ok(web::Json(messages::react(&state, &caller, id, &emoji, true).await?))
}

/// `DELETE /api/v1/messages/{id}/reactions/{emoji}`
#[utoipa::path(tag = "messages", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("emoji" = String, Path)),
    responses((status = 200, body = MessageView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[delete("/messages/{id}/reactions/{emoji}")]
pub async fn remove_reaction(
    state: web::Data<AppState>,
    caller: AnyUser,
    path: web::Path<(MessageId, String)>,
) -> ApiResult<web::Json<MessageView>> {
    state.user_limits.check_message(caller.id).await?;
    let (id, emoji) = path.into_inner();
    Ok(web::Json(messages::react(&state, &caller, id, &emoji, false).await?))
}

/// `GET /api/v1/search/messages`
#[utoipa::path(tag = "messages", security(("bearer" = [])), params(SearchQuery),
    responses((status = 200, body = SearchResults), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
#[get("/search/messages")]
pub async fn search_messages(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: ApiQuery<SearchQuery>,
) -> ApiResult<web::Json<SearchResults>> {
    state.action_limits.check(caller.id, UserAction::Search)?;
    let q = query.into_inner()?;
    Ok(web::Json(SearchResults { results: messages::search(&state, &caller, &q.q, q.room_id, q.limit).await? }))
}
