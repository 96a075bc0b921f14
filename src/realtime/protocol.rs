//! The WebSocket wire format: client commands parsed into typed values, server frames (replies and
//! events) built as JSON text, and the close codes. Parsing never fails the connection: every bad
//! frame becomes an error reply (or an `error` event when it has no id).

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::ApiError;

/// Close codes (PROTOCOL.md): named so no code appears as a bare number elsewhere.
pub mod close {
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const TOKEN_REVOKED: u16 = 4001;
    pub const BANNED: u16 = 4003;
    pub const TOO_SLOW: u16 = 4009;
}

/// A command's correlation id: an integer or a string, echoed verbatim in the reply.
pub type CommandId = Value;

#[derive(Debug, Deserialize)]
pub struct SendData {
    pub room_id: Uuid,
    pub body: String,
    pub client_msg_id: Option<String>,
    pub reply_to: Option<Uuid>,
}

#[derive(Debug, Deserialize)]
pub struct EditData {
    pub message_id: Uuid,
    pub body: String,
}

#[derive(Debug, Deserialize)]
pub struct MessageIdData {
    pub message_id: Uuid,
}

#[derive(Debug, Deserialize)]
pub struct ReactionData {
    pub message_id: Uuid,
    pub emoji: String,
}

#[derive(Debug, Deserialize)]
pub struct TypingData {
    pub room_id: Uuid,
    pub active: bool,
}

#[derive(Debug, Deserialize)]
pub struct ReadData {
    pub room_id: Uuid,
    pub seq: i64,
}

#[derive(Debug, Deserialize)]
pub struct SyncData {
    pub room_id: Uuid,
    pub since_seq: i64,
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct PresenceSetData {
    pub status: String,
}

#[derive(Debug, Deserialize)]
pub struct PresenceSubscribeData {
    pub user_ids: Vec<Uuid>,
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
    Ping,
}

impl Command {
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
}

fn data<T: DeserializeOwned>(data: Option<Value>) -> Result<T, ApiError> {
    serde_json::from_value(data.unwrap_or_else(|| json!({})))
        .map_err(|e| ApiError::Validation { message: format!("Invalid data: {e}"), details: None })
}

/// Parses one text frame.
pub fn parse(text: &str) -> Parsed {
    // A map, not a struct: serde would read a struct from a JSON array too.
    let mut raw: serde_json::Map<String, Value> = match serde_json::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let message = if e.is_data() { "A frame must be a JSON object." } else { "The frame is not valid JSON." };
            return Parsed { id: None, command: Err(ApiError::BadRequest(message.into())), bare_ping: false };
        }
    };
    let id = raw.remove("id").filter(|v| !v.is_null());
    let kind = raw.remove("type");
    let data_value = raw.remove("data");
    if let Some(bad) = id.as_ref().filter(|v| !(v.is_i64() || v.is_u64() || v.is_string())) {
        let _ = bad;
        return Parsed {
            id: None,
            command: Err(ApiError::BadRequest("id must be an integer or a string.".into())),
            bare_ping: false,
        };
    }
    let Some(kind) = kind.as_ref().and_then(Value::as_str) else {
        return Parsed { id, command: Err(ApiError::BadRequest("The frame has no type.".into())), bare_ping: false };
    };
    let bare_ping = kind == "ping" && id.is_none();
    let command = match kind {
        "message.send" => data(data_value.clone()).map(Command::Send),
        "message.edit" => data(data_value.clone()).map(Command::Edit),
        "message.delete" => data(data_value.clone()).map(Command::Delete),
        "reaction.add" => data(data_value.clone()).map(Command::ReactionAdd),
        "reaction.remove" => data(data_value.clone()).map(Command::ReactionRemove),
        "typing" => data(data_value.clone()).map(Command::Typing),
        "read" => data(data_value.clone()).map(Command::Read),
        "sync" => data(data_value.clone()).map(Command::Sync),
        "presence.set" => data(data_value.clone()).map(Command::PresenceSet),
        "presence.subscribe" => data(data_value.clone()).map(Command::PresenceSubscribe),
        "ping" => Ok(Command::Ping),
        other => Err(ApiError::BadRequest(format!("Unknown type '{}'.", other.chars().take(64).collect::<String>()))),
    };
    Parsed { id, command, bare_ping }
}

/// `{"type":"reply","id":..,"ok":true,"data":..}`
pub fn reply_ok(id: &CommandId, data: Value) -> String {
    json!({"type": "reply", "id": id, "ok": true, "data": data}).to_string()
}

/// `{"type":"reply","id":..,"ok":false,"error":..}`
pub fn reply_err(id: &CommandId, err: &ApiError) -> String {
    json!({"type": "reply", "id": id, "ok": false, "error": err.body().error}).to_string()
}

/// `{"type":"error","data":{"error":..}}`, for bad frames without an id.
pub fn error_event(err: &ApiError) -> String {
    event("error", json!({ "error": err.body().error }))
}

/// `{"type": <kind>, "data": <data>}`
pub fn event(kind: &str, data: Value) -> String {
    json!({"type": kind, "data": data}).to_string()
}
