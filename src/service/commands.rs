//! Slash commands: a bot account registers `/name` (`PUT /bots/me/commands/{name}`); a message
//! whose first word is `/name` is sent to the room like any message and, once committed, routed to
//! that bot as a `command.invoked` event on its WebSocket connections. The bot answers the
//! invocation (`POST /commands/invocations/{id}/reply`) either to the room (a message of the bot,
//! sent like any member's message, once per invocation) or to the caller alone (a `command.reply`
//! event on the caller's connections, never stored).
//! A bot that is not connected cannot hear the command: the caller is told so at once.

use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::PgPool;
use crate::db::models::User;
use crate::db::queries::commands as q;
use crate::db::queries::users;
use crate::error::{ApiError, ApiResult};
use crate::ids::{MessageId, RoomId, UserId};
use crate::protocol::ServerEvent;
use crate::protocol::events::{CommandInvoked, CommandReply};
use crate::service::messages::{self, SendMessage};
use crate::service::notify::Notify;
use crate::state::AppState;
use crate::views::{MessageView, UserView};

/// How long a bot may answer an invocation.
const REPLY_WINDOW_SECS: i64 = 15 * 60;
/// Longest description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 200;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommandView {
    /// Without the slash.
    pub name: String,
    pub description: String,
    /// The bot it goes to.
    pub bot: UserView,
}

/// Who sees a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// The caller alone (`command.reply`), nothing stored.
    Caller,
    /// Everyone in the room: a message of the bot.
    Room,
}

/// A name: 1 to 32 lower-case letters, digits, `_` or `-`, starting with a letter or digit.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// The command and its arguments of a message body that starts with `/name`; `None` for any other
/// body (`//`, a lone `/`, a path such as `/usr/bin`).
pub fn parse(body: &str) -> Option<(String, &str)> {
    let rest = body.trim_start().strip_prefix('/')?;
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let name = rest[..end].to_ascii_lowercase();
    valid_name(&name).then(|| (name, rest[end..].trim()))
}

fn bots_only(caller: &Caller) -> ApiResult<()> {
    if caller.user.is_bot {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Only bot accounts register slash commands.".into()))
    }
}

fn check_name(name: &str) -> ApiResult<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::validation("name", "A command name is 1 to 32 lower-case letters, digits, '_' or '-'."))
    }
}

/// `PUT /bots/me/commands/{name} {description}`: the calling bot takes the name (or changes its
/// description).
///
/// # Errors
/// `forbidden` for an account that is not a bot; `validation_failed` for a bad name or
/// description; `conflict` when another bot has the name.
pub async fn register(state: &AppState, caller: &Caller, name: &str, description: &str) -> ApiResult<CommandView> {
    bots_only(caller)?;
    check_name(name)?;
    let description = description.trim();
    if description.chars().count() > MAX_DESCRIPTION_CHARS || description.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "description",
            format!("description must be at most {MAX_DESCRIPTION_CHARS} characters without control characters."),
        ));
    }
    let mut conn = state.db().await?;
    let command = q::upsert(&mut conn, name, caller.id, description)
        .await?
        .ok_or_else(|| ApiError::Conflict(format!("Another bot has /{name}.")))?;
    Ok(CommandView { name: command.name, description: command.description, bot: UserView::public(&caller.user) })
}

/// `DELETE /bots/me/commands/{name}`.
///
/// # Errors
/// `forbidden` for an account that is not a bot; `not_found` when the bot has no such command.
pub async fn unregister(state: &AppState, caller: &Caller, name: &str) -> ApiResult<()> {
    bots_only(caller)?;
    let mut conn = state.db().await?;
    if q::delete(&mut conn, name, caller.id).await? == 0 {
        return Err(ApiError::NotFound("This bot has no such command.".into()));
    }
    Ok(())
}

/// `GET /commands`: every command, for a client's suggestions.
///
/// # Errors
/// Database failures only.
pub async fn list(state: &AppState) -> ApiResult<Vec<CommandView>> {
    let mut conn = state.db().await?;
    let commands = q::list(&mut conn).await?;
    let ids: Vec<UserId> = commands.iter().map(|c| UserId(c.bot_id)).collect();
    let bots: std::collections::HashMap<UserId, User> =
        users::find_many(&mut conn, &ids).await?.into_iter().map(|u| (u.id, u)).collect();
    Ok(commands
        .into_iter()
        .filter_map(|c| {
            let bot = bots.get(&UserId(c.bot_id))?;
            Some(CommandView { name: c.name, description: c.description, bot: UserView::public(bot) })
        })
        .collect())
}

/// A message was committed: when it starts with a registered command, routes it to the command's
/// bot in a task of its own (the send has been answered already). Returns at once.
pub fn on_sent(pool: &PgPool, notify: &Arc<dyn Notify>, sender: &User, message: &MessageView) {
    // A bot's message invokes nothing: a room reply of one bot starting with another's command
    // would otherwise set two bots answering each other (only the rate limit would slow them).
    if sender.is_bot {
        return;
    }
    let Some((name, args)) = parse(&message.body) else { return };
    let (pool, notify) = (pool.clone(), notify.clone());
    let (args, caller) = (args.to_owned(), UserView::public(sender));
    let (room_id, message_id) = (message.room_id, message.id);
    actix_web::rt::spawn(async move {
        if let Err(e) = route(&pool, notify.as_ref(), &name, &args, &caller, room_id, message_id).await {
            tracing::warn!(room = %room_id, command = %name, "slash command not routed: {e}");
        }
    });
}

async fn route(
    pool: &PgPool,
    notify: &dyn Notify,
    name: &str,
    args: &str,
    caller: &UserView,
    room_id: RoomId,
    message_id: MessageId,
) -> ApiResult<()> {
    let mut conn = pool.get().await?;
    let Some(command) = q::find(&mut conn, name).await? else { return Ok(()) };
    let bot = UserId(command.bot_id);
    if bot == caller.id {
        return Ok(());
    }
    let id = Uuid::new_v4();
    q::insert_invocation(&mut conn, id, name, bot, room_id, caller.id, message_id).await?;
    drop(conn);
    metrics::counter!("slash_commands_total").increment(1);
    if notify.live_statuses(vec![bot]).await.is_empty() {
        let text = format!("/{name} is not available right now: its bot is not connected.");
        let reply = CommandReply { invocation_id: id, room_id, bot_id: bot, text: &text };
        notify.user_event(caller.id, &ServerEvent::CommandReply(reply));
        return Ok(());
    }
    let invoked = CommandInvoked { invocation_id: id, command: name, args, room_id, message_id, caller };
    notify.user_event(bot, &ServerEvent::CommandInvoked(invoked));
    Ok(())
}

/// `POST /commands/invocations/{id}/reply {text, visibility}`: the bot answers one of its
/// invocations. The message when it was posted to the room; `None` when it went to the caller.
///
/// # Errors
/// `not_found` for an invocation that is not the caller's (or unknown); `conflict` past the reply
/// window or for a second room reply; `validation_failed` for an empty or long text; for a room
/// reply, `rate_limited` and the send's errors (`forbidden` when the bot is not a member).
pub async fn reply(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    text: &str,
    visibility: Visibility,
) -> ApiResult<Option<MessageView>> {
    let max = messages::MAX_BODY_CHARS;
    if text.trim().is_empty() || text.chars().count() > max {
        return Err(ApiError::validation("text", format!("text must be 1 to {max} characters.")));
    }
    let mut conn = state.db().await?;
    let invocation = q::find_invocation(&mut conn, id, caller.id)
        .await?
        .ok_or_else(|| ApiError::NotFound("No such invocation of this bot's commands.".into()))?;
    if (chrono::Utc::now() - invocation.created_at).num_seconds() > REPLY_WINDOW_SECS {
        return Err(ApiError::Conflict("This invocation is too old to answer.".into()));
    }
    let room_id = RoomId(invocation.room_id);
    match visibility {
        Visibility::Room => {
            // A room reply is a message of the bot like any other: the sender's message rate
            // limit here, then the send's own rules (membership, a closed support session, a
            // block in a direct room), as for a person or an incoming webhook's bot. The one room
            // reply is claimed first, so a refused second reply costs no budget; a refused send
            // gives the claim back.
            if !q::claim_room_reply(&mut conn, id).await? {
                return Err(ApiError::Conflict("This invocation has been answered in the room already.".into()));
            }
            drop(conn);
            // Given back unless the send succeeds, also when the request is dropped on the way
            // (a client gone mid-request must not use up the invocation's one reply).
            let claim = ClaimGuard { pool: Some(state.pool.clone()), id };
            let req =
                SendMessage { body: text.to_owned(), client_msg_id: None, reply_to: None, attachment_ids: Vec::new() };
            let sent = match state.user_limits.check_message(caller.id).await {
                Ok(()) => messages::send(state, caller, room_id, req).await,
                Err(e) => Err(e),
            };
            match sent {
                Ok((posted, _)) => {
                    claim.keep();
                    Ok(Some(posted))
                }
                Err(e) => {
                    // Given back before answering, so the caller's next try finds it free.
                    claim.release().await;
                    Err(e)
                }
            }
        }
        Visibility::Caller => {
            let reply = CommandReply { invocation_id: id, room_id, bot_id: caller.id, text };
            state.notify.user_event(UserId(invocation.caller_id), &ServerEvent::CommandReply(reply));
            Ok(None)
        }
    }
}

/// A claimed room reply, given back when dropped without [`ClaimGuard::keep`]. The release runs
/// on a task of its own: a drop cannot wait for the database.
struct ClaimGuard {
    pool: Option<PgPool>,
    id: Uuid,
}

impl ClaimGuard {
    fn keep(mut self) {
        self.pool = None;
    }

    /// Gives the claim back now; if that fails (or is cancelled), the drop tries again.
    async fn release(self) {
        let Some(pool) = self.pool.clone() else { return };
        if let Ok(mut conn) = pool.get().await
            && q::release_room_reply(&mut conn, self.id).await.is_ok()
        {
            self.keep();
        }
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        let Some(pool) = self.pool.take() else { return };
        let id = self.id;
        actix_web::rt::spawn(async move {
            let released = match pool.get().await {
                Ok(mut conn) => q::release_room_reply(&mut conn, id).await.map_err(anyhow::Error::from),
                Err(e) => Err(anyhow::Error::from(e)),
            };
            if let Err(e) = released {
                tracing::warn!(invocation = %id, "a refused room reply's claim was not given back: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_the_first_word_after_a_slash() {
        assert_eq!(parse("/weather Berlin  tomorrow "), Some(("weather".to_owned(), "Berlin  tomorrow")));
        assert_eq!(parse("  /Deploy"), Some(("deploy".to_owned(), "")));
        assert_eq!(parse("/"), None);
        assert_eq!(parse("// comment"), None);
        assert_eq!(parse("no /command here"), None);
        assert_eq!(parse("/ümlaut x"), None);
        assert_eq!(parse(&format!("/{}", "a".repeat(33))), None);
    }
}
