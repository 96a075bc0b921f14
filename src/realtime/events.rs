//! History events rebuilt from the database, for room actors filling a gap or catching a new
//! member up. Events published by services are built in `protocol::events`.

use bytestring::ByteString;

use crate::auth::signed_url::UrlSigner;
use crate::db::models::{Attachment, Message, Reaction};
use crate::protocol::ServerEvent;
use crate::views::MessageView;

/// A history event rebuilt from the database when the published one did not arrive. What kind
/// of change produced the row's current rev is not stored, so it is told from the row: a rev
/// equal to the seq is the creation, a deleted row a deletion, anything else an update (an edit
/// or a reaction; both carry the whole message, which is what clients apply).
pub fn from_row(m: Message, reactions: &[Reaction], files: &[Attachment], links: Option<&UrlSigner>) -> ByteString {
    let (deleted, created) = (m.deleted_at.is_some(), m.rev == m.seq);
    let mut view = [MessageView::new(m, reactions)];
    if let Some(links) = links {
        MessageView::fill_attachments(&mut view, files, links);
    }
    let [view] = view;
    let event = if deleted {
        ServerEvent::message_deleted(&view)
    } else if created {
        ServerEvent::message_new(&view)
    } else {
        ServerEvent::message_updated(&view)
    };
    event.to_text()
}
