//! Incoming webhooks: a room's secret URL (`POST /hooks/{token}` with `{"text"}`) through which a
//! program posts into the room without an account of its own, as the hook's bot. The room's owner
//! (or an admin) makes one; it comes with a bot account (`is_bot`, named after the hook) that joins
//! the room, so its messages carry a badge and obey the room's rules and the per-user rate limit
//! like any member's. The token (`plh_` and 256 random bits) is shown once, stored as SHA-256; an
//! unknown token is 404, so the route reveals nothing.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel_async::AsyncConnection;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::Caller;
use crate::auth::api_token::Scopes;
use crate::db::models::{IncomingHook, MemberRole, NewIncomingHook, NewRoomMember, NewUser, Role, RoomKind, User};
use crate::db::queries::{incoming_hooks as q, rooms, users};
use crate::error::{ApiError, ApiResult};
use crate::ids::{RoomId, UserId};
use crate::service::access::RoomAccess;
use crate::service::messages::{self, SendMessage};
use crate::service::validate;
use crate::state::AppState;
use crate::views::{MessageView, RoomView, UserView, format_time};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HookView {
    pub id: Uuid,
    pub room_id: RoomId,
    pub name: String,
    /// The account its messages come from.
    pub bot: UserView,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
}

impl HookView {
    fn new(h: &IncomingHook, bot: &User) -> Self {
        Self {
            id: h.id,
            room_id: h.room_id,
            name: h.name.clone(),
            bot: UserView::public(bot),
            created_at: format_time(&h.created_at),
        }
    }
}

/// A hook just made, with its secret path this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedHook {
    #[serde(flatten)]
    pub hook: HookView,
    /// `/hooks/<token>`: POST `{"text": "..."}` to it. Shown only now.
    pub path: String,
}

/// How a hook's bot's username begins; no other bot's may (`service::tokens::create_bot`).
pub const HOOK_BOT_PREFIX: &str = "hook-";

/// Whether `user` is the bot of an incoming webhook (made with the hook, kept after it as the
/// author of its messages). Such a bot takes no API token: it posts through its hook's address,
/// and a token would let an admin read the room its owner gave the hook.
pub fn is_hook_bot(user: &crate::db::models::User) -> bool {
    user.is_bot && user.username.starts_with(HOOK_BOT_PREFIX)
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// `POST /rooms/{id}/hooks {name}`.
///
/// # Errors
/// `forbidden` unless the room's owner or an admin; `validation_failed` for a room that is not a
/// group or a bad name; `conflict` when the room has `quota.incoming_hooks_per_room_max` already.
pub async fn create(state: &AppState, caller: &Caller, room_id: RoomId, name: &str) -> ApiResult<CreatedHook> {
    let name = validate::display_name(name)
        .map_err(|_| ApiError::validation("name", "name must be 1 to 64 characters without control characters."))?;
    let mut conn = state.db().await?;
    let access = RoomAccess::load(&mut conn, room_id, caller).await?;
    access.require_owner()?;
    if access.room.kind != RoomKind::Group {
        return Err(ApiError::validation("room_id", "Incoming webhooks post into group rooms only."));
    }
    let by_global_role = access.owns_by_global_role();
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(anyhow::anyhow!("random source: {e}")))?;
    let token = format!("plh_{}", URL_SAFE_NO_PAD.encode(bytes));
    let token_hash = hash(&token);
    let actor = caller.id;
    let max = state.settings.quota.incoming_hooks_per_room_max;
    let (hook, bot) = conn
        .transaction::<_, ApiError, _>(async |conn| {
            // Under the room's lock, so that concurrent creations cannot both take the last place.
            if !rooms::lock(conn, room_id).await? {
                return Err(crate::service::access::no_such_room());
            }
            // The hook's bot becomes a member, and reads what members read: an admin who does not
            // own a private room may no more give it one than add anyone to it
            // (`service::rooms::add_members`). Read under the room's lock, so the room cannot
            // turn private meanwhile.
            let public = rooms::find(conn, room_id).await?.is_some_and(|r| r.is_public);
            if by_global_role && !public {
                return Err(ApiError::Forbidden(
                    "Only the room's owner adds incoming webhooks to a private room; staff do not open private rooms."
                        .into(),
                ));
            }
            if q::count_for_room(conn, room_id).await? >= max {
                return Err(ApiError::Conflict(format!("This room already has {max} incoming webhooks.")));
            }
            let bot_id = UserId::new();
            // The id makes the name unique without a retry loop.
            let username = format!("{HOOK_BOT_PREFIX}{}", &bot_id.0.simple().to_string()[..12]);
            let bot = users::insert(
                conn,
                &NewUser {
                    id: bot_id,
                    username: &username,
                    email: None,
                    display_name: &name,
                    role: Role::User,
                    password_hash: None,
                    is_bot: true,
                },
            )
            .await?;
            rooms::add_members(conn, &[NewRoomMember { room_id, user_id: bot.id, role: MemberRole::Member }]).await?;
            let new = NewIncomingHook {
                id: Uuid::new_v4(),
                room_id,
                bot_id: bot.id,
                name: &name,
                token_hash: &token_hash,
                created_by: Some(actor),
            };
            let hook = q::insert(conn, &new).await?;
            Ok((hook, bot))
        })
        .await?;
    state.notify.members_added(&RoomView::new(&access.room), &[UserView::public(&bot)]);
    Ok(CreatedHook { hook: HookView::new(&hook, &bot), path: format!("/hooks/{token}") })
}

/// `GET /rooms/{id}/hooks`.
///
/// # Errors
/// `forbidden` unless the room's owner or an admin.
pub async fn list(state: &AppState, caller: &Caller, room_id: RoomId) -> ApiResult<Vec<HookView>> {
    let mut conn = state.db().await?;
    RoomAccess::load(&mut conn, room_id, caller).await?.require_owner()?;
    Ok(q::list_for_room(&mut conn, room_id).await?.iter().map(|(h, b)| HookView::new(h, b)).collect())
}

/// `DELETE /rooms/{id}/hooks/{hook_id}`: the URL stops working; the bot stays a member (remove it
/// like any member) so its messages keep their author.
///
/// # Errors
/// `forbidden` unless the room's owner or an admin; `not_found`.
pub async fn delete(state: &AppState, caller: &Caller, room_id: RoomId, id: Uuid) -> ApiResult<()> {
    let mut conn = state.db().await?;
    RoomAccess::load(&mut conn, room_id, caller).await?.require_owner()?;
    if q::delete(&mut conn, room_id, id).await? == 0 {
        return Err(ApiError::NotFound("No such incoming webhook.".into()));
    }
    Ok(())
}

/// `POST /hooks/{token} {text}`: the text becomes a message of the hook's bot in its room, through
/// the same send path (rules, rate limit, events, outgoing webhooks) as any message.
///
/// # Errors
/// `not_found` for an unknown token; `forbidden` when the bot was banned or removed from the room;
/// the send's errors (`validation_failed`, `payload_too_large`, `rate_limited`).
pub async fn post(state: &AppState, token: &str, text: String) -> ApiResult<MessageView> {
    let found = {
        let mut conn = state.db().await?;
        q::find_by_hash(&mut conn, &hash(token)).await?
    };
    // A bot whose deletion has begun is gone already, with its hooks.
    let (hook, bot) = found
        .filter(|(_, bot)| !bot.is_being_deleted())
        .ok_or_else(|| ApiError::NotFound("No such webhook.".into()))?;
    if bot.is_banned() {
        return Err(ApiError::Forbidden("This webhook's bot is banned.".into()));
    }
    state.user_limits.check_message(bot.id).await?;
    let caller = Caller {
        id: bot.id,
        role: bot.role,
        user: std::sync::Arc::new(bot),
        scopes: Scopes::FULL,
        api_token: None,
        login_session: None,
    };
    let req = SendMessage { body: text, client_msg_id: None, reply_to: None, attachment_ids: Vec::new() };
    Ok(messages::send(state, &caller, hook.room_id, req).await?.0)
}
