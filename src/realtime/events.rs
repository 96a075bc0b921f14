//! Builds the envelopes of protocol events, each serialised once here and shared from then on.

use bytestring::ByteString;
use serde_json::{Value, json};

use crate::db::models::{Message, Reaction};
use crate::realtime::broker::Envelope;
use crate::realtime::protocol;
use crate::views::MessageView;

/// A room history event (`message.new`, `message.updated`, `message.deleted`,
/// `reaction.updated`): `{seq, message}`, where seq is the change's number, the message's rev.
pub fn history(kind: &str, message: &MessageView) -> Envelope {
    let text = protocol::event(kind, json!({ "seq": message.rev, "message": message }));
    Envelope::Event { seq: Some(message.rev), text: text.into(), exclude_user: None }
}

/// A history event rebuilt from the database when the published one did not arrive. What kind
/// of change produced the row's current rev is not stored, so it is told from the row: a rev
/// equal to the seq is the creation, a deleted row a deletion, anything else an update (an edit
/// or a reaction; both carry the whole message, which is what clients apply).
pub fn from_row(m: Message, reactions: &[Reaction]) -> ByteString {
    let kind = if m.deleted_at.is_some() {
        "message.deleted"
    } else if m.rev == m.seq {
        "message.new"
    } else {
        "message.updated"
    };
    let view = MessageView::new(m, reactions);
    protocol::event(kind, json!({ "seq": view.rev, "message": view })).into()
}

/// Any other event: `{type, data}`, without a seq.
pub fn plain(kind: &str, data: Value) -> Envelope {
    Envelope::Event { seq: None, text: protocol::event(kind, data).into(), exclude_user: None }
}
