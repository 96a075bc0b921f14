//! What each client command does. The connection actor (`connection.rs`) owns the socket and
//! hands every parsed, rate-checked command here: what the connection knows locally (typing in
//! one of its rooms, its presence status) is answered at once; everything else runs the same
//! services the REST routes use, as a future the connection spawns off its mailbox, so a slow
//! query never holds up event delivery.

use std::collections::HashSet;

use actix_web::web;
use futures_util::future::LocalBoxFuture;
use serde::Serialize;

use crate::auth::Caller;
use crate::auth::api_token::{self, Scope};
use crate::auth::extractor::{TokenGrant, authenticate_until};
use crate::db::models::Role;
use crate::error::{ApiError, ApiResult};
use crate::ids::{ConnId, RoomId, UserId};
use crate::protocol::commands::{Command, Empty, ReactionData};
use crate::realtime::presence;
use crate::service::messages::SyncPage;
use crate::service::social::PresenceStatus;
use crate::service::turn::{Turn, WriteOrder};
use crate::service::{messages, rooms, social, support};
use crate::state::AppState;
use crate::views::MessageView;

/// Most users one `presence.subscribe` may name.
const MAX_PRESENCE_SUBSCRIBE: usize = 500;

/// A reply's `data`, one shape per command (docs/protocol.md).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum ReplyData {
    /// `{}`: ping, typing, presence.set, message.delete.
    Empty(Empty),
    /// message.send, message.edit, reaction.add, reaction.remove.
    Message {
        message: MessageView,
    },
    /// read.
    Unread {
        unread_count: i64,
    },
    Sync(SyncPage),
    /// presence.subscribe.
    Statuses {
        statuses: Vec<PresenceStatus>,
    },
    /// auth.refresh: when the new token expires (with milliseconds, as every time on the wire).
    Refreshed {
        #[serde(serialize_with = "crate::views::ser_time")]
        expires_at: chrono::DateTime<chrono::Utc>,
    },
}

pub(super) type Reply = ApiResult<ReplyData>;

/// What the connection does with a command.
pub(super) enum Step {
    /// Answer at once.
    Done(Reply),
    /// Spawn off the mailbox; reply when it completes.
    Run(LocalBoxFuture<'static, Reply>),
    /// presence.subscribe: count these newly named users against the per-account quota (or
    /// refuse), then run off the mailbox; on success the connection starts receiving the
    /// presence of the users in the result it may see, and replies with their statuses.
    Subscribe(Vec<UserId>, LocalBoxFuture<'static, ApiResult<(Vec<UserId>, Vec<PresenceStatus>)>>),
    /// `sync` of a room the connection does not follow, by staff: as `Run`; when the room is an
    /// open support room, the connection follows it from the page's `last_seq` on.
    SyncFollow(LocalBoxFuture<'static, ApiResult<(SyncPage, bool)>>),
    /// auth.refresh: run off the mailbox; on success the connection adopts the account as read
    /// now, the token's expiry and its login session.
    Refresh(LocalBoxFuture<'static, ApiResult<TokenGrant>>),
}

/// The connection as the commands see it.
pub(super) struct Session<'a> {
    pub state: &'a web::Data<AppState>,
    pub caller: &'a Caller,
    pub conn_id: ConnId,
    /// The rooms the connection is attached to: the members' rooms, kept current by the broker.
    pub rooms: &'a HashSet<RoomId>,
    /// The users the connection named in `presence.subscribe` so far (what its quota counts).
    pub named: &'a HashSet<UserId>,
    /// Message writes of one connection commit, and are answered, in the order they were sent
    /// (`service::turn`); presence changes keep their order the same way.
    pub write_order: &'a mut WriteOrder,
    /// `typing` commands keep their order among themselves (not behind the writes).
    pub typing_order: &'a mut WriteOrder,
}

pub(super) fn command(session: Session<'_>, command: Command) -> Step {
    let state = session.state.clone();
    let caller = session.caller.clone();
    if command.needs_write() && !caller.scopes.allows(Scope::Write) {
        return Step::Done(Err(api_token::missing(Scope::Write)));
    }
    // Taken when the command arrives, so the turns follow the order the client sent in.
    let mut turn = match &command {
        Command::PresenceSet(_) => session.write_order.take_turn(),
        c if c.is_message_write() => session.write_order.take_turn(),
        Command::Typing(d) if session.rooms.contains(&d.room_id) => session.typing_order.take_turn(),
        _ => Turn::unordered(),
    };
    match command {
        Command::Ping => Step::Done(Ok(ReplyData::Empty(Empty {}))),
        Command::Typing(d) if !session.rooms.contains(&d.room_id) => {
            Step::Done(Err(ApiError::Forbidden("You are not a member of this room.".into())))
        }
        // A read of the room's access (a block, a closed support session) before it is shown,
        // after the connection's earlier `typing` was shown.
        Command::Typing(d) => Step::Run(Box::pin(async move {
            turn.exclusive().await;
            crate::service::messages::check_typing(&state, &caller, d.room_id).await?;
            state.realtime.typing(d.room_id, caller.id, d.active);
            Ok(ReplyData::Empty(Empty {}))
        })),
        Command::PresenceSet(d) => match (d.status(), caller.role) {
            (_, Role::Guest) => Step::Done(Err(ApiError::Forbidden("Guests have no presence.".into()))),
            (Err(e), _) => Step::Done(Err(e)),
            (Ok(status), _) => {
                let conn_id = session.conn_id;
                Step::Run(Box::pin(async move {
                    turn.exclusive().await;
                    // Stored first, so reconnects and new devices start with it; then this
                    // connection at once, and every other connection of the user, on every
                    // instance. A command refused (too many in flight) or failed changes nothing.
                    social::choose_status(&state, &caller, status).await?;
                    let set = presence::SetStatus { user_id: caller.id, conn_id, status };
                    state.realtime.presence().do_send(set);
                    state.realtime.status_chosen(caller.id, status);
                    Ok(ReplyData::Empty(Empty {}))
                }))
            }
        },
        Command::PresenceSubscribe(d) => {
            if d.user_ids.len() > MAX_PRESENCE_SUBSCRIBE {
                let e = ApiError::validation("user_ids", format!("At most {MAX_PRESENCE_SUBSCRIBE} users."));
                return Step::Done(Err(e));
            }
            // The total per connection is bounded too: each watched user is a broker
            // subscription (with Redis, a channel every change of the set copies whole), and
            // guests may subscribe.
            // Users named count whether or not their presence turns out to be the caller's to see
            // (each costs a check, and the answer must not tell the two apart).
            let max = state.settings.quota.presence_subscriptions_per_connection_max;
            let new: HashSet<UserId> = d.user_ids.iter().filter(|u| !session.named.contains(u)).copied().collect();
            if session.named.len() + new.len() > max {
                let e = ApiError::validation(
                    "user_ids",
                    format!(
                        "A connection may watch at most {max} users; this one watches {} and these would add {}.",
                        session.named.len(),
                        new.len()
                    ),
                );
                return Step::Done(Err(e));
            }
            Step::Subscribe(
                new.into_iter().collect(),
                Box::pin(async move { social::presence_statuses(&state, &caller, &d.user_ids).await }),
            )
        }
        Command::AuthRefresh(d) => Step::Refresh(Box::pin(async move {
            // The same checks as the upgrade (signature, expiry, account, ban, token version).
            let grant = authenticate_until(&state, &d.token).await?;
            // As at the upgrade: a socket receives every event of the user's rooms.
            grant.caller.require(crate::auth::api_token::Scope::Read)?;
            let fresh = &grant.caller;
            if fresh.id != caller.id {
                return Err(ApiError::Forbidden("The token belongs to another user.".into()));
            }
            // The socket was set up for its role (staff topic, support rooms); a role change
            // closes it with 4001 anyway, so a token of the new role does not extend it.
            if fresh.role != caller.role {
                return Err(ApiError::Forbidden("The role changed: reconnect.".into()));
            }
            Ok(grant)
        })),
        Command::Send(d) => Step::Run(Box::pin(async move {
            let req = messages::SendMessage {
                body: d.body,
                client_msg_id: d.client_msg_id,
                reply_to: d.reply_to,
                attachment_ids: d.attachment_ids,
            };
            let (message, _) = messages::send_in_turn(&state, &caller, d.room_id, req, turn).await?;
            Ok(ReplyData::Message { message })
        })),
        Command::Edit(d) => Step::Run(Box::pin(async move {
            turn.exclusive().await;
            let message = messages::edit(&state, &caller, d.message_id, &d.body).await?;
            Ok(ReplyData::Message { message })
        })),
        Command::Delete(d) => Step::Run(Box::pin(async move {
            turn.exclusive().await;
            messages::delete(&state, &caller, d.message_id).await?;
            Ok(ReplyData::Empty(Empty {}))
        })),
        Command::ReactionAdd(d) => Step::Run(Box::pin(react(state, caller, turn, d, true))),
        Command::ReactionRemove(d) => Step::Run(Box::pin(react(state, caller, turn, d, false))),
        Command::Read(d) => Step::Run(Box::pin(async move {
            let read = rooms::mark_read(&state, &caller, d.room_id, d.seq).await?;
            Ok(ReplyData::Unread { unread_count: read.unread_count })
        })),
        // Staff open a support chat the connection does not follow (past the bound, or closed
        // meanwhile) with `sync`: from then on its events arrive live.
        Command::Sync(d) if caller.role.is_staff() && !session.rooms.contains(&d.room_id) => {
            Step::SyncFollow(Box::pin(async move {
                let page = messages::sync(&state, &caller, d.room_id, d.since_seq, d.limit).await?;
                let follow = support::is_open_room(&state, d.room_id).await?;
                Ok((page, follow))
            }))
        }
        Command::Sync(d) => Step::Run(Box::pin(async move {
            let page = messages::sync(&state, &caller, d.room_id, d.since_seq, d.limit).await?;
            Ok(ReplyData::Sync(page))
        })),
    }
}

async fn react(state: web::Data<AppState>, caller: Caller, mut turn: Turn, d: ReactionData, add: bool) -> Reply {
    turn.exclusive().await;
    let message = messages::react(&state, &caller, d.message_id, &d.emoji, add).await?;
    Ok(ReplyData::Message { message })
}
