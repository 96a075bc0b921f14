//! The assistant's knowledge base, for admins (`/admin/knowledge`): FAQ entries and documents,
//! and a search that shows what the assistant would read for a question.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::extract::{ApiJson, ApiQuery};
use crate::auth::AdminUser;
use crate::error::{ApiResult, ErrorBody};
use crate::service::knowledge::{self, EntryView, HitView, Kind};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEntryRequest {
    /// `faq` or `document`.
    pub kind: Kind,
    /// An FAQ entry's question, a document's title: 1 to 200 characters.
    pub title: String,
    /// An FAQ entry's answer (at most 4,000 characters: it is sent as a message), a document's text
    /// (at most 200,000, within `server.max_json_body_bytes`).
    pub body: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEntryRequest {
    pub title: String,
    pub body: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryList {
    pub entries: Vec<EntryView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HitList {
    pub passages: Vec<HitView>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// `faq` or `document`; absent: both.
    pub kind: Option<String>,
    /// 1 to 500, default 100.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// The question, 1 to 500 characters.
    pub q: String,
}

/// `GET /api/v1/admin/knowledge`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = EntryList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[get("/admin/knowledge")]
pub async fn list_entries(
    state: web::Data<AppState>,
    _caller: AdminUser,
    query: ApiQuery<ListQuery>,
) -> ApiResult<web::Json<EntryList>> {
    let q = query.into_inner()?;
    Ok(web::Json(EntryList { entries: knowledge::list(&state, q.kind.as_deref(), q.limit, q.offset).await? }))
}

/// `POST /api/v1/admin/knowledge`
#[utoipa::path(tag = "admin", security(("bearer" = [])), request_body = CreateEntryRequest,
    responses((status = 201, body = EntryView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[post("/admin/knowledge")]
pub async fn create_entry(
    state: web::Data<AppState>,
    caller: AdminUser,
    body: ApiJson<CreateEntryRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    Ok(HttpResponse::Created().json(knowledge::create(&state, &caller.0, b.kind, &b.title, &b.body).await?))
}

/// `GET /api/v1/admin/knowledge/search?q=`: the passages the assistant would read for a question,
/// best first, with the share of the question's terms each holds.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(SearchQuery),
    responses((status = 200, body = HitList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
#[get("/admin/knowledge/search")]
pub async fn search_knowledge(
    state: web::Data<AppState>,
    _caller: AdminUser,
    query: ApiQuery<SearchQuery>,
) -> ApiResult<web::Json<HitList>> {
    let q = query.into_inner()?;
    Ok(web::Json(HitList { passages: knowledge::search(&state, &q.q).await? }))
}

/// `GET /api/v1/admin/knowledge/{id}`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = EntryView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
#[get("/admin/knowledge/{id}")]
pub async fn get_entry(
    state: web::Data<AppState>,
    _caller: AdminUser,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<EntryView>> {
    Ok(web::Json(knowledge::get(&state, id.into_inner()).await?))
}

/// `PATCH /api/v1/admin/knowledge/{id}`: title and body are replaced; the kind stays.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = UpdateEntryRequest,
    responses((status = 200, body = EntryView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[patch("/admin/knowledge/{id}")]
pub async fn update_entry(
    state: web::Data<AppState>,
    _caller: AdminUser,
    id: web::Path<Uuid>,
    body: ApiJson<UpdateEntryRequest>,
) -> ApiResult<web::Json<EntryView>> {
    let b = body.into_inner();
    Ok(web::Json(knowledge::update(&state, id.into_inner(), &b.title, &b.body).await?))
}

/// `DELETE /api/v1/admin/knowledge/{id}`
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
#[delete("/admin/knowledge/{id}")]
pub async fn delete_entry(
    state: web::Data<AppState>,
    _caller: AdminUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    knowledge::delete(&state, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
