//! Client commands parsed into typed values, and the replies to them. Parsing never fails the
//! connection: every bad frame becomes an error reply (or an `error` event when it has no id).
//! Command data rejects unknown fields, as the REST bodies do.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::ids::{AttachmentId, MessageId, RoomId, Seq, UserId};
use crate::protocol::events::{ErrorEvent, ServerEvent};
use crate::protocol::presence::Status;

/// A command's correlation id: an integer or a string, echoed verbatim in the reply.
pub type CommandId = Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendData {
    pub room_id: RoomId,
    pub body: String,
    pub client_msg_id: Option<String>,
    pub reply_to: Option<MessageId>,
    /// The sender's own unsent uploads to send with the message.
    #[serde(default)]
    pub attachment_ids: Vec<AttachmentId>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditData {
    pub message_id: MessageId,
    pub body: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageIdData {
    pub message_id: MessageId,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReactionData {
    pub message_id: MessageId,
    pub emoji: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypingData {
    pub room_id: RoomId,
    pub active: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadData {
    pub room_id: RoomId,
    pub seq: Seq,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncData {
    pub room_id: RoomId,
    pub since_seq: Seq,
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceSetData {
    /// Kept as text so an unknown status gets a validation error naming the field.
    pub status: String,
}

impl PresenceSetData {
    /// # Errors
    /// `validation_failed` for a status other than online, away, dnd or invisible.
    pub fn status(&self) -> Result<Status, ApiError> {
        self.status
            .parse()
            .map_err(|_| ApiError::validation("status", "status must be online, away, dnd or invisible."))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceSubscribeData {
    pub user_ids: Vec<UserId>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthRefreshData {
    /// A fresh access token of the socket's user.
    pub token: String,
}

#[derive(Debug)]
pub enum Command {
    Send(SendData),
    Edit(EditData),
    Delete(MessageIdData),
    ReactionAdd(ReactionData),
    ReactionRemove(ReactionData),
    Typing(TypingData),
    Read(ReadData),
    Sync(SyncData),
    PresenceSet(PresenceSetData),
    PresenceSubscribe(PresenceSubscribeData),
    AuthRefresh(AuthRefreshData),
    Ping,
}

impl Command {
    /// Whether an API token needs the `write` scope for this command (every command that
    /// changes something); the rest need only `read`, which opening the socket already did.
    pub fn needs_write(&self) -> bool {
        matches!(
            self,
            Command::Send(_)
                | Command::Edit(_)
                | Command::Delete(_)
                | Command::ReactionAdd(_)
                | Command::ReactionRemove(_)
                | Command::Typing(_)
                | Command::Read(_)
                | Command::PresenceSet(_)
        )
    }

    /// Whether this command spends the per-user message budget (the one REST sends share).
    pub fn is_message_write(&self) -> bool {
        matches!(
            self,
            Command::Send(_)
                | Command::Edit(_)
                | Command::Delete(_)
                | Command::ReactionAdd(_)
                | Command::ReactionRemove(_)
        )
    }
}

/// A parsed client frame: the command, or the error to answer with. The id is kept either way.
pub struct Parsed {
    pub id: Option<CommandId>,
    pub command: Result<Command, ApiError>,
    /// `{"type":"ping"}` without id: answered with a bare `pong`.
    pub bare_ping: bool,
    /// The frame's type as a metrics label: one of [`TYPES`], or "other" (unknown, missing, or not
    /// a frame at all), so a client cannot mint series.
    pub kind: &'static str,
}

/// Every command type of the protocol (docs/protocol.md), as the `type` of a frame.
pub const TYPES: [&str; 12] = [
    "message.send",
    "message.edit",
    "message.delete",
    "reaction.add",
    "reaction.remove",
    "typing",
    "read",
    "sync",
    "presence.set",
    "presence.subscribe",
    "auth.refresh",
    "ping",
];

/// `kind` as a label from the closed set [`TYPES`].
fn kind_label(kind: &str) -> &'static str {
    TYPES.iter().find(|t| **t == kind).copied().unwrap_or("other")
}

fn data<T: DeserializeOwned>(data: Option<Value>, may_hold_nul: bool) -> Result<T, ApiError> {
    let data = data.unwrap_or_else(|| Value::Object(serde_json::Map::new()));
    // As for REST bodies (`api::extract::parse_json`): no field may carry U+0000 to the database.
    if may_hold_nul {
        super::text::json_text(&data)?;
    }
    serde_json::from_value(data)
        .map_err(|e| ApiError::Validation { message: format!("Invalid data: {e}"), details: None })
}

/// The id of a JSON object that serde_json cannot read as a whole, with everything but the id
/// skipped unread: serde_json skips a value it does not keep without converting numbers or
/// counting depth. `None` when the text is no JSON object, or its id is not a valid one.
fn id_of_unreadable(text: &str) -> Option<Value> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: Option<Value>,
    }
    // serde reads a struct from an array too.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let id = serde_json::from_str::<IdOnly>(text).ok()?.id?;
    (id.is_i64() || id.is_u64() || id.is_string()).then_some(id)
}

/// Parses one text frame.
pub fn parse(text: &str) -> Parsed {
    // A map, not a struct: serde would read a struct from a JSON array too.
    let mut raw: serde_json::Map<String, Value> = match serde_json::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            // A frame serde_json reads as a syntax error may still be a JSON object whose id its
            // client waits on: a number beyond f64's range, or nesting deeper than 128, is JSON.
            let (id, message) = match id_of_unreadable(text) {
                Some(id) => {
                    (Some(id), "The frame holds JSON the server cannot read (a number out of range, nesting too deep).")
                }
                None if e.is_data() => (None, "A frame must be a JSON object."),
                None => (None, "The frame is not valid JSON."),
            };
            return Parsed { id, command: Err(ApiError::BadRequest(message.into())), bare_ping: false, kind: "other" };
        }
    };
    let id = raw.remove("id").filter(|v| !v.is_null());
    let kind = raw.remove("type");
    let data_value = raw.remove("data");
    if id.as_ref().is_some_and(|v| !(v.is_i64() || v.is_u64() || v.is_string())) {
        return Parsed {
            id: None,
            command: Err(ApiError::BadRequest("id must be an integer or a string.".into())),
            bare_ping: false,
            kind: "other",
        };
    }
    let Some(kind) = kind.as_ref().and_then(Value::as_str) else {
        return Parsed {
            id,
            command: Err(ApiError::BadRequest("The frame has no type.".into())),
            bare_ping: false,
            kind: "other",
        };
    };
    let nul = super::text::may_hold_nul(text.as_bytes());
    let command = match kind {
        "message.send" => data(data_value, nul).map(Command::Send),
        "message.edit" => data(data_value, nul).map(Command::Edit),
        "message.delete" => data(data_value, nul).map(Command::Delete),
        "reaction.add" => data(data_value, nul).map(Command::ReactionAdd),
        "reaction.remove" => data(data_value, nul).map(Command::ReactionRemove),
        "typing" => data(data_value, nul).map(Command::Typing),
        "read" => data(data_value, nul).map(Command::Read),
        "sync" => data(data_value, nul).map(Command::Sync),
        "presence.set" => data(data_value, nul).map(Command::PresenceSet),
        "presence.subscribe" => data(data_value, nul).map(Command::PresenceSubscribe),
        "auth.refresh" => data(data_value, nul).map(Command::AuthRefresh),
        "ping" => match data_value {
            None | Some(Value::Null) => Ok(Command::Ping),
            Some(Value::Object(fields)) if fields.is_empty() => Ok(Command::Ping),
            Some(_) => Err(ApiError::Validation { message: "ping takes no data.".into(), details: None }),
        },
        other => Err(ApiError::BadRequest(format!("Unknown type '{}'.", other.chars().take(64).collect::<String>()))),
    };
    // Answered with a pong before anything else: only a ping the server takes.
    let bare_ping = id.is_none() && matches!(command, Ok(Command::Ping));
    Parsed { id, command, bare_ping, kind: kind_label(kind) }
}

#[derive(Serialize)]
struct Reply<'a, T> {
    r#type: &'static str,
    id: &'a CommandId,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a crate::error::ErrorObject>,
}

fn write<T: Serialize>(reply: &Reply<'_, T>) -> String {
    // Replies hold views and ids only: serialising them cannot fail.
    serde_json::to_string(reply).unwrap_or_else(|e| {
        tracing::error!("reply not serialised: {e}");
        String::new()
    })
}

/// `{"type":"reply","id":..,"ok":true,"data":..}`
pub fn reply_ok<T: Serialize>(id: &CommandId, data: &T) -> String {
    write(&Reply { r#type: "reply", id, ok: true, data: Some(data), error: None })
}

/// `{"type":"reply","id":..,"ok":false,"error":..}`
pub fn reply_err(id: &CommandId, err: &ApiError) -> String {
    let body = err.body();
    write::<()>(&Reply { r#type: "reply", id, ok: false, data: None, error: Some(&body.error) })
}

/// `{"type":"error","data":{"error":..}}`, for bad frames without an id.
pub fn error_event(err: &ApiError) -> bytestring::ByteString {
    let body = err.body();
    ServerEvent::Error(ErrorEvent { error: &body.error }).to_text()
}

/// The reply data of commands that answer `{}`.
#[derive(Debug, Serialize)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    //! Property tests of frame parsing: whatever a client sends, `parse` returns (never panics),
    //! and a frame it cannot take is a typed client error (`bad_request` or `validation_failed`),
    //! never anything the connection would answer as a server failure. Bounded to a few thousand
    //! cases so the suite runs them in seconds.

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::{Command, TYPES, parse};

    /// Any JSON value, a few levels deep, with the strings, numbers and ids commands take.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            any::<String>().prop_map(Value::String),
            Just(json!(uuid::Uuid::nil())),
            Just(json!("a\u{0}b")),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(field_name(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Field names the commands use, and others.
    fn field_name() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "room_id",
                "message_id",
                "body",
                "emoji",
                "active",
                "seq",
                "since_seq",
                "limit",
                "status",
                "user_ids",
                "token",
                "client_msg_id",
                "reply_to",
            ])
            .prop_map(str::to_owned),
            any::<String>(),
        ]
    }

    fn assert_typed(text: &str) {
        let parsed = parse(text);
        if let Err(e) = &parsed.command {
            assert!(matches!(e.code(), "bad_request" | "validation_failed"), "{} for {text:?}", e.code());
        }
        if parsed.bare_ping {
            assert!(matches!(parsed.command, Ok(Command::Ping)));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_text_parses_to_a_command_or_a_client_error(text in any::<String>()) {
            assert_typed(&text);
        }

        #[test]
        fn any_frame_shape_parses_to_a_command_or_a_client_error(
            id in prop_oneof![Just(None), json_value().prop_map(Some)],
            kind in prop_oneof![prop::sample::select(TYPES.to_vec()).prop_map(|n| json!(n)), json_value()],
            data in prop_oneof![Just(None), json_value().prop_map(Some)],
        ) {
            let mut frame = serde_json::Map::new();
            if let Some(id) = id {
                frame.insert("id".into(), id);
            }
            frame.insert("type".into(), kind);
            if let Some(data) = data {
                frame.insert("data".into(), data);
            }
            assert_typed(&Value::Object(frame).to_string());
        }

        #[test]
        fn a_valid_frame_cut_or_spliced_anywhere_still_parses_safely(
            name in prop::sample::select(TYPES.to_vec()),
            cut in any::<prop::sample::Index>(),
            insert in any::<String>(),
        ) {
            let frame = json!({"id": 1, "type": name, "data": {
                "room_id": uuid::Uuid::nil(), "body": "hi", "since_seq": 0, "user_ids": [uuid::Uuid::nil()]
            }})
            .to_string();
            let mut at = cut.index(frame.len() + 1);
            while !frame.is_char_boundary(at) {
                at -= 1;
            }
            assert_typed(&frame[..at]);
            assert_typed(&format!("{}{insert}{}", &frame[..at], &frame[at..]));
        }

        #[test]
        fn every_data_of_every_command_is_a_command_or_a_validation_error(
            name in prop::sample::select(TYPES.to_vec()),
            data in prop::collection::btree_map(field_name(), json_value(), 0..5),
        ) {
            let frame = json!({"id": "x", "type": name, "data": data});
            let parsed = parse(&frame.to_string());
            prop_assert_eq!(parsed.id, Some(json!("x")));
            if let Err(e) = parsed.command {
                prop_assert_eq!(e.code(), "validation_failed");
            }
        }
    }

    #[test]
    fn frames_nested_past_the_recursion_limit_are_bad_requests() {
        let deep = format!("{{\"type\":\"ping\",\"data\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
        let parsed = parse(&deep);
        assert_eq!(parsed.command.err().map(|e| e.code()), Some("bad_request"));
    }
}
