//! The support inbox's tools under `/api/v1/admin` (admins and moderators): canned replies,
//! blocking visitors, and mailing a session's transcript.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::extract::ApiJson;
use crate::auth::StaffUser;
use crate::error::{ApiResult, ErrorBody};
use crate::ids::{CannedReplyId, SessionId, SupportBlockId};
use crate::service::support_tools::{self, BlockRequest, BlockView, CannedReplyView, TranscriptQueued};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct CannedReplyList {
    pub replies: Vec<CannedReplyView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCannedReply {
    /// What staff pick it by: 1 to 100 characters, unique ignoring case.
    pub title: String,
    /// The text inserted into the answer: a message body's rules (not blank, at most 4,000
    /// characters).
    pub body: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCannedReply {
    pub title: Option<String>,
    pub body: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockVisitorRequest {
    /// Block the client address the session was opened from.
    #[serde(default)]
    pub address: bool,
    /// Block the browser the session was opened in (the widget's id for it).
    #[serde(default)]
    pub browser: bool,
    /// For how long: 1 to 8,760 hours.
    pub hours: u32,
    /// At most 500 characters, for the other staff.
    pub reason: Option<String>,
    /// Close the session too; default true.
    pub close: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlockList {
    pub blocks: Vec<BlockView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranscriptRequest {
    /// Where to send it; the address the visitor gave when absent.
    pub email: Option<String>,
}

/// `GET /api/v1/admin/canned-replies`
#[utoipa::path(tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = CannedReplyList, description = "Every canned reply, by title"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/admin/canned-replies")]
pub async fn list_canned_replies(
    state: web::Data<AppState>,
    _caller: StaffUser,
) -> ApiResult<web::Json<CannedReplyList>> {
    Ok(web::Json(CannedReplyList { replies: support_tools::canned_list(&state).await? }))
}

/// `POST /api/v1/admin/canned-replies`
#[utoipa::path(tag = "admin", security(("bearer" = [])), request_body = CreateCannedReply,
    responses((status = 201, body = CannedReplyView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/admin/canned-replies")]
pub async fn create_canned_reply(
    state: web::Data<AppState>,
    caller: StaffUser,
    body: ApiJson<CreateCannedReply>,
) -> ApiResult<HttpResponse> {
    let reply = support_tools::canned_create(&state, &caller, &body.title, &body.body).await?;
    Ok(HttpResponse::Created().json(reply))
}

/// `PATCH /api/v1/admin/canned-replies/{id}`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = UpdateCannedReply,
    responses((status = 200, body = CannedReplyView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[patch("/admin/canned-replies/{id}")]
pub async fn update_canned_reply(
    state: web::Data<AppState>,
    _caller: StaffUser,
    id: web::Path<CannedReplyId>,
    body: ApiJson<UpdateCannedReply>,
) -> ApiResult<web::Json<CannedReplyView>> {
    let b = body.into_inner();
    Ok(web::Json(support_tools::canned_update(&state, id.into_inner(), b.title.as_deref(), b.body.as_deref()).await?))
}

/// `DELETE /api/v1/admin/canned-replies/{id}`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
#[delete("/admin/canned-replies/{id}")]
pub async fn delete_canned_reply(
    state: web::Data<AppState>,
    _caller: StaffUser,
    id: web::Path<CannedReplyId>,
) -> ApiResult<HttpResponse> {
    support_tools::canned_delete(&state, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/admin/support/sessions/{id}/block`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = BlockVisitorRequest,
    responses((status = 201, body = BlockView, description = "Blocked (and the session closed unless `close` is false); audited"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[post("/admin/support/sessions/{id}/block")]
pub async fn block_visitor(
    state: web::Data<AppState>,
    caller: StaffUser,
    id: web::Path<SessionId>,
    body: ApiJson<BlockVisitorRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let req = BlockRequest {
        address: b.address,
        browser: b.browser,
        hours: b.hours,
        reason: b.reason,
        close: b.close.unwrap_or(true),
    };
    let block = support_tools::block_visitor(&state, &caller, id.into_inner(), req).await?;
    Ok(HttpResponse::Created().json(block))
}

/// `GET /api/v1/admin/support/blocks`
#[utoipa::path(tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = BlockList, description = "The blocks in force, ending soonest first"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/admin/support/blocks")]
pub async fn list_blocks(state: web::Data<AppState>, _caller: StaffUser) -> ApiResult<web::Json<BlockList>> {
    Ok(web::Json(BlockList { blocks: support_tools::blocks(&state).await? }))
}

/// `DELETE /api/v1/admin/support/blocks/{id}`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Lifted; audited"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
#[delete("/admin/support/blocks/{id}")]
pub async fn lift_block(
    state: web::Data<AppState>,
    caller: StaffUser,
    id: web::Path<SupportBlockId>,
) -> ApiResult<HttpResponse> {
    support_tools::lift_block(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/admin/support/sessions/{id}/transcript`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = TranscriptRequest,
    responses((status = 202, body = TranscriptQueued, description = "The transcript is queued for mailing; audited"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[post("/admin/support/sessions/{id}/transcript")]
pub async fn send_transcript(
    state: web::Data<AppState>,
    caller: StaffUser,
    id: web::Path<SessionId>,
    body: ApiJson<TranscriptRequest>,
) -> ApiResult<HttpResponse> {
    let queued = support_tools::send_transcript(&state, &caller, id.into_inner(), body.email.as_deref()).await?;
    Ok(HttpResponse::Accepted().json(queued))
}
