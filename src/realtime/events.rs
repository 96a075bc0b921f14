//! History events rebuilt from the database, for room actors filling a gap or catching a new
//! member up. Events published by services are built in `protocol::events`.

use bytestring::ByteString;

use crate::db::models::{Message, Reaction};
use crate::protocol::ServerEvent;
use crate::views::MessageView;

/// A history event rebuilt from the database when the published one did not arrive. What kind
/// of change produced the row's current rev is not stored, so it is told from the row: a rev
/// equal to the seq is the creation, a deleted row a deletion, anything else an update (an edit
/// or a reaction; both carry the whole message, which is what clients apply).
pub fn from_row(m: Message, reactions: &[Reaction]) -> ByteString {
    let (deleted, created) = (m.deleted_at.is_some(), m.rev == m.seq);
    let view = MessageView::new(m, reactions);
    let event = if deleted {
        ServerEvent::message_deleted(&view)
    } else if created {
        ServerEvent::message_new(&view)
    } else {
        ServerEvent::message_updated(&view)
    };
    event.to_text()
}
