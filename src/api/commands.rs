//! Slash commands: bots register theirs (`/bots/me/commands/{name}`) and answer invocations
//! (`/commands/invocations/{id}/reply`); anyone signed in lists them (`/commands`).

use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::extract::ApiJson;
use crate::auth::AuthUser;
use crate::error::{ApiResult, ErrorBody};
use crate::service::commands::{self, CommandView, Visibility};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterCommandRequest {
    /// At most 200 characters; shown to people typing `/`.
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommandList {
    pub commands: Vec<CommandView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    /// 1 to 4,000 characters.
    pub text: String,
    /// `caller` (only the person who used the command sees it, nothing is stored) or `room` (a
    /// message of the bot in the room).
    pub visibility: Visibility,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplyDelivered {
    /// `caller`: sent to the caller's connections.
    pub delivered_to: &'static str,
}

/// `GET /api/v1/commands`
#[utoipa::path(tag = "commands", security(("bearer" = [])),
    responses((status = 200, body = CommandList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/commands")]
pub async fn list_commands(state: web::Data<AppState>, _caller: AuthUser) -> ApiResult<web::Json<CommandList>> {
    Ok(web::Json(CommandList { commands: commands::list(&state).await? }))
}

/// `PUT /api/v1/bots/me/commands/{name}`
#[utoipa::path(tag = "commands", security(("bearer" = [])), params(("name" = String, Path)), request_body = RegisterCommandRequest,
    responses((status = 200, body = CommandView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "Not a bot account"),
              (status = 409, body = ErrorBody, description = "Another bot has the name"), (status = 422, body = ErrorBody)))]
#[put("/bots/me/commands/{name}")]
pub async fn register_command(
    state: web::Data<AppState>,
    caller: AuthUser,
    name: web::Path<String>,
    body: ApiJson<RegisterCommandRequest>,
) -> ApiResult<web::Json<CommandView>> {
    Ok(web::Json(commands::register(&state, &caller.0, &name.into_inner(), &body.into_inner().description).await?))
}

/// `DELETE /api/v1/bots/me/commands/{name}`
#[utoipa::path(tag = "commands", security(("bearer" = [])), params(("name" = String, Path)),
    responses((status = 204, description = "Gone"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
#[delete("/bots/me/commands/{name}")]
pub async fn unregister_command(
    state: web::Data<AppState>,
    caller: AuthUser,
    name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    commands::unregister(&state, &caller.0, &name.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/commands/invocations/{id}/reply`
#[utoipa::path(tag = "commands", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ReplyRequest,
    responses((status = 201, body = crate::views::MessageView, description = "Posted to the room"),
              (status = 202, body = ReplyDelivered, description = "Sent to the caller alone"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "Not an invocation of this bot's commands"),
              (status = 409, body = ErrorBody, description = "Older than 15 minutes"), (status = 422, body = ErrorBody)))]
#[post("/commands/invocations/{id}/reply")]
pub async fn reply_to_invocation(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    body: ApiJson<ReplyRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    Ok(match commands::reply(&state, &caller.0, id.into_inner(), &b.text, b.visibility).await? {
        Some(message) => HttpResponse::Created().json(message),
        None => HttpResponse::Accepted().json(ReplyDelivered { delivered_to: "caller" }),
    })
}
