//! Every event the server pushes, one variant and payload per event of docs/protocol.md, written
//! as `{"type": <event>, "data": <payload>}`. An event is serialised once ([`ServerEvent::to_text`])
//! and the text shared by every recipient, on every instance. Payloads borrow the views they
//! carry, so building an event copies nothing.

use bytestring::ByteString;
use serde::Serialize;
use uuid::Uuid;

use crate::error::ErrorObject;
use crate::ids::{MessageId, RoomId, Seq, SessionId, UserId};
use crate::protocol::presence::{Status, Visible};
use crate::views::{FriendRequestView, MessageView, RoomView, UserView};

#[derive(Debug, Serialize)]
#[serde(tag = "type", content = "data")]
pub enum ServerEvent<'a> {
    /// The first frame on every connection, once it is attached to all its rooms.
    #[serde(rename = "hello")]
    Hello(Hello<'a>),
    #[serde(rename = "message.new")]
    MessageNew(History<'a>),
    #[serde(rename = "message.updated")]
    MessageUpdated(History<'a>),
    #[serde(rename = "message.deleted")]
    MessageDeleted(History<'a>),
    #[serde(rename = "reaction.updated")]
    ReactionUpdated(History<'a>),
    /// A piece of a message still being written (the assistant streaming an answer). Not
    /// history: it has no seq and is not replayed; the finished message follows as `message.new`
    /// with the same id, which is what sync and history return.
    #[serde(rename = "message.delta")]
    MessageDelta(MessageDelta<'a>),
    #[serde(rename = "typing")]
    Typing(Typing),
    #[serde(rename = "read")]
    Read(Read),
    #[serde(rename = "presence")]
    Presence(Presence),
    /// To every connection of a user who chose a status with `presence.set` on one of them.
    #[serde(rename = "presence.chosen")]
    PresenceChosen(PresenceChosen),
    #[serde(rename = "room.member_added")]
    MemberAdded(MemberAdded<'a>),
    #[serde(rename = "room.member_removed")]
    MemberRemoved(MemberRemoved),
    #[serde(rename = "room.updated")]
    RoomUpdated(RoomUpdated<'a>),
    #[serde(rename = "room.deleted")]
    RoomDeleted(RoomDeleted),
    #[serde(rename = "friend.request")]
    FriendRequest(FriendRequest<'a>),
    #[serde(rename = "friend.accepted")]
    FriendAccepted(FriendAccepted<'a>),
    /// To every online admin and moderator.
    #[serde(rename = "support.session_created")]
    SupportSessionCreated(SupportSessionCreated<'a>),
    /// The visitor's last event of the session; staff following the room hear it too.
    #[serde(rename = "support.session_closed")]
    SupportSessionClosed(SupportSessionClosed),
    /// To a bot's connections: a message in some room started with one of its slash commands.
    #[serde(rename = "command.invoked")]
    CommandInvoked(CommandInvoked<'a>),
    /// To the caller's connections only: a bot's answer to a slash command that nobody else sees.
    #[serde(rename = "command.reply")]
    CommandReply(CommandReply<'a>),
    /// A frame without an id could not be handled.
    #[serde(rename = "error")]
    Error(ErrorEvent<'a>),
    /// The answer to `{"type":"ping"}` without an id: `{"type":"pong"}`.
    #[serde(rename = "pong")]
    Pong,
}

impl<'a> ServerEvent<'a> {
    pub fn message_new(message: &'a MessageView) -> Self {
        ServerEvent::MessageNew(History::of(message))
    }

    pub fn message_updated(message: &'a MessageView) -> Self {
        ServerEvent::MessageUpdated(History::of(message))
    }

    pub fn message_deleted(message: &'a MessageView) -> Self {
        ServerEvent::MessageDeleted(History::of(message))
    }

    pub fn reaction_updated(message: &'a MessageView) -> Self {
        ServerEvent::ReactionUpdated(History::of(message))
    }

    /// The room seq a history event carries (room actors deliver these in seq order); None for
    /// every other event.
    pub fn seq(&self) -> Option<Seq> {
        match self {
            ServerEvent::MessageNew(h)
            | ServerEvent::MessageUpdated(h)
            | ServerEvent::MessageDeleted(h)
            | ServerEvent::ReactionUpdated(h) => Some(h.seq),
            _ => None,
        }
    }

    /// The event's text, written once and shared by every recipient.
    pub fn to_text(&self) -> ByteString {
        // Payloads are structs with string keys: serialising them cannot fail. Should it ever,
        // an empty text is delivered as nothing rather than as a broken frame.
        serde_json::to_string(self)
            .unwrap_or_else(|e| {
                tracing::error!("event not serialised: {e}");
                String::new()
            })
            .into()
    }
}

#[derive(Debug, Serialize)]
pub struct Hello<'a> {
    pub user: &'a UserView,
    pub session_id: Uuid,
    pub heartbeat_ms: u64,
    /// The instance serving the socket.
    pub instance: &'a str,
}

/// A change of a room's history: `seq` is the change's number, the message's `rev`, and the
/// message is its whole state after the change.
#[derive(Debug, Serialize)]
pub struct History<'a> {
    pub seq: Seq,
    pub message: &'a MessageView,
}

impl<'a> History<'a> {
    fn of(message: &'a MessageView) -> Self {
        History { seq: message.rev, message }
    }
}

/// A chunk of a streamed message: `index` counts the stream's chunks from 0, so a client that
/// missed the start (it connected mid-answer) knows to wait for the finished message instead.
#[derive(Debug, Serialize)]
pub struct MessageDelta<'a> {
    pub room_id: RoomId,
    /// The id the finished message will have.
    pub message_id: MessageId,
    pub sender_id: UserId,
    pub index: u32,
    /// The text to append.
    pub delta: &'a str,
    /// `true` on the last event of a stream that ends without a message (it could not be
    /// committed): clients drop what they showed of it.
    pub aborted: bool,
}

#[derive(Debug, Serialize)]
pub struct CommandInvoked<'a> {
    /// What the bot's reply names (`POST /commands/invocations/{id}/reply`).
    pub invocation_id: Uuid,
    /// The command without its slash.
    pub command: &'a str,
    /// The rest of the message after the command, trimmed.
    pub args: &'a str,
    pub room_id: RoomId,
    /// The message that invoked it (sent to the room like any message).
    pub message_id: MessageId,
    pub caller: &'a UserView,
}

#[derive(Debug, Serialize)]
pub struct CommandReply<'a> {
    pub invocation_id: Uuid,
    pub room_id: RoomId,
    pub bot_id: UserId,
    pub text: &'a str,
}

#[derive(Debug, Serialize)]
pub struct Typing {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub active: bool,
}

#[derive(Debug, Serialize)]
pub struct Read {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub seq: Seq,
}

#[derive(Debug, Serialize)]
pub struct Presence {
    pub user_id: UserId,
    pub status: Visible,
    /// Set when the status is offline and the time is known.
    pub last_seen_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PresenceChosen {
    pub status: Status,
}

#[derive(Debug, Serialize)]
pub struct MemberAdded<'a> {
    pub room_id: RoomId,
    pub user: &'a UserView,
    pub room: &'a RoomView,
}

#[derive(Debug, Serialize)]
pub struct MemberRemoved {
    pub room_id: RoomId,
    pub user_id: UserId,
}

#[derive(Debug, Serialize)]
pub struct RoomUpdated<'a> {
    pub room: &'a RoomView,
}

#[derive(Debug, Serialize)]
pub struct RoomDeleted {
    pub room_id: RoomId,
}

#[derive(Debug, Serialize)]
pub struct FriendRequest<'a> {
    pub request: &'a FriendRequestView,
}

#[derive(Debug, Serialize)]
pub struct FriendAccepted<'a> {
    pub user: &'a UserView,
}

#[derive(Debug, Serialize)]
pub struct SupportSessionCreated<'a> {
    pub room: &'a RoomView,
    /// The visitor.
    pub user: &'a UserView,
    pub session: SessionOpened<'a>,
}

#[derive(Debug, Serialize)]
pub struct SessionOpened<'a> {
    pub id: SessionId,
    /// The address the visitor left for a reply, if any.
    pub email: Option<&'a str>,
    pub status: &'static str,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct SupportSessionClosed {
    pub session_id: SessionId,
    pub room_id: RoomId,
    pub status: &'static str,
    pub closed_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ErrorEvent<'a> {
    pub error: &'a ErrorObject,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_its_type_and_data() {
        let (room_id, user_id) = (RoomId(Uuid::nil()), UserId(Uuid::max()));
        let text = ServerEvent::Typing(Typing { room_id, user_id, active: true }).to_text();
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["type"], "typing");
        assert_eq!(v["data"]["room_id"], room_id.to_string());
        assert_eq!(v["data"]["active"], true);
        assert_eq!(&*ServerEvent::Pong.to_text(), r#"{"type":"pong"}"#);
    }

    #[test]
    fn presence_keeps_a_null_last_seen() {
        let text =
            ServerEvent::Presence(Presence { user_id: UserId(Uuid::nil()), status: Visible::Dnd, last_seen_at: None })
                .to_text();
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["data"]["status"], "dnd");
        assert!(v["data"].as_object().is_some_and(|d| d.contains_key("last_seen_at")));
    }
}
