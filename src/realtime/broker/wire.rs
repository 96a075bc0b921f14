//! How an envelope travels between instances: one JSON header line (the publishing instance, the
//! seq, the excluded user, or the control change), a newline, then the event's text exactly as it
//! was serialised once by the publisher. The receiving instance decodes each payload once and
//! shares the text with all its local recipients. Topics map to channel names under the
//! deployment's prefix (`{prefix}:room:{id}`).

use std::borrow::Cow;

use bytestring::ByteString;
use serde::{Deserialize, Serialize};

use super::{Control, Envelope, Topic};
use crate::ids::{RoomId, Seq, UserId};
use crate::protocol::CloseReason;
use crate::protocol::presence::Status;

#[derive(Serialize, Deserialize)]
struct Header<'a> {
    /// The publishing instance; empty for messages published by a Redis script on behalf of the
    /// whole cluster (presence), which every instance delivers.
    #[serde(borrow)]
    o: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<Seq>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<WireControl>,
    /// When it was published (µs since the Unix epoch), for the transit-time histogram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<u64>,
    /// A history event published again (`Envelope::Event`'s `again`); absent means false, as
    /// from an instance that predates it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    a: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
enum WireControl {
    Attach {
        room_id: RoomId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_seq: Option<Seq>,
    },
    Detach {
        user_id: UserId,
    },
    RoomDeleted,
    Left {
        room_id: RoomId,
    },
    /// The reason by name: every instance closes with the same code and text.
    Close {
        reason: CloseReason,
    },
    CloseSession {
        session: uuid::Uuid,
    },
    WatchPresence {
        user_id: UserId,
    },
    UnwatchPresence {
        user_id: UserId,
    },
    ChooseStatus {
        status: Status,
    },
}

impl From<&Control> for WireControl {
    fn from(c: &Control) -> Self {
        match c {
            Control::Attach { room_id, from_seq } => WireControl::Attach { room_id: *room_id, from_seq: *from_seq },
            Control::Detach { user_id } => WireControl::Detach { user_id: *user_id },
            Control::RoomDeleted => WireControl::RoomDeleted,
            Control::Left { room_id } => WireControl::Left { room_id: *room_id },
            Control::Close(reason) => WireControl::Close { reason: *reason },
            Control::CloseSession { session } => WireControl::CloseSession { session: *session },
            Control::WatchPresence { user_id } => WireControl::WatchPresence { user_id: *user_id },
            Control::UnwatchPresence { user_id } => WireControl::UnwatchPresence { user_id: *user_id },
            Control::ChooseStatus { status } => WireControl::ChooseStatus { status: *status },
        }
    }
}

impl From<WireControl> for Control {
    fn from(c: WireControl) -> Self {
        match c {
            WireControl::Attach { room_id, from_seq } => Control::Attach { room_id, from_seq },
            WireControl::Detach { user_id } => Control::Detach { user_id },
            WireControl::RoomDeleted => Control::RoomDeleted,
            WireControl::Left { room_id } => Control::Left { room_id },
            WireControl::Close { reason } => Control::Close(reason),
            WireControl::CloseSession { session } => Control::CloseSession { session },
            WireControl::WatchPresence { user_id } => Control::WatchPresence { user_id },
            WireControl::UnwatchPresence { user_id } => Control::UnwatchPresence { user_id },
            WireControl::ChooseStatus { status } => Control::ChooseStatus { status },
        }
    }
}

/// Now, in µs since the Unix epoch (0 if the clock is before it).
pub fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// The payload published for `envelope` by instance `origin`.
pub fn encode(origin: &str, envelope: &Envelope) -> Vec<u8> {
    let t = Some(now_us());
    let (header, text) = match envelope {
        Envelope::Event { seq, text, exclude_user, again } => {
            (Header { o: Cow::Borrowed(origin), s: *seq, x: *exclude_user, c: None, t, a: *again }, Some(text))
        }
        Envelope::Control(c) => {
            (Header { o: Cow::Borrowed(origin), s: None, x: None, c: Some(c.into()), t, a: false }, None)
        }
    };
    // A header of known types cannot fail to serialise; an empty one would be rejected on decode.
    let mut out = serde_json::to_vec(&header).unwrap_or_default();
    out.push(b'\n');
    if let Some(text) = text {
        out.extend_from_slice(text.as_bytes());
    }
    out
}

/// The header line that [`decode`] reads, for payloads built outside Rust (the presence script).
pub fn cluster_header() -> String {
    "{\"o\":\"\"}\n".to_owned()
}

/// A decoded payload: who published it and what it carries.
pub struct Decoded {
    pub origin: String,
    pub envelope: Envelope,
    /// When the publisher encoded it (µs since the Unix epoch), if it said.
    pub published_us: Option<u64>,
}

/// # Errors
/// A payload that is not a header line and an event text or control change.
pub fn decode(payload: &[u8]) -> Result<Decoded, String> {
    let newline = payload.iter().position(|b| *b == b'\n').ok_or("no header line")?;
    let header: Header<'_> = serde_json::from_slice(&payload[..newline]).map_err(|e| format!("header: {e}"))?;
    let body = &payload[newline + 1..];
    let envelope = match header.c {
        Some(c) => Envelope::Control(c.into()),
        None => {
            let text = std::str::from_utf8(body).map_err(|e| format!("event text: {e}"))?;
            if text.is_empty() {
                return Err("empty event".to_owned());
            }
            Envelope::Event {
                seq: header.s,
                text: ByteString::from(text.to_owned()),
                exclude_user: header.x,
                again: header.a,
            }
        }
    };
    Ok(Decoded { origin: header.o.into_owned(), envelope, published_us: header.t })
}

/// The Redis channel of a topic.
pub fn channel(prefix: &str, topic: Topic) -> String {
    format!("{prefix}:{topic}")
}

/// The topic of a channel under `prefix`, if it is one of ours.
pub fn topic(prefix: &str, channel: &str) -> Option<Topic> {
    Topic::parse(channel.strip_prefix(prefix)?.strip_prefix(':')?)
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn an_event_round_trips_with_its_seq_exclusion_and_origin() {
        let user = UserId::new();
        let env = Envelope::Event {
            seq: Some(Seq(7)),
            text: "{\"type\":\"x\",\"data\":\"a\\nb\"}".into(),
            exclude_user: Some(user),
            again: true,
        };
        let decoded = decode(&encode("node-a", &env)).expect("decodes");
        assert_eq!(decoded.origin, "node-a");
        match decoded.envelope {
            Envelope::Event { seq, text, exclude_user, again } => {
                assert_eq!(seq, Some(Seq(7)));
                assert_eq!(&*text, "{\"type\":\"x\",\"data\":\"a\\nb\"}");
                assert_eq!(exclude_user, Some(user));
                assert!(again);
            }
            Envelope::Control(_) => panic!("not an event"),
        }
    }

    #[test]
    fn an_event_from_an_instance_that_predates_again_is_not_again() {
        let decoded = decode(b"{\"o\":\"old\",\"s\":3}\n{\"type\":\"x\"}").expect("decodes");
        assert!(matches!(decoded.envelope, Envelope::Event { seq: Some(Seq(3)), again: false, .. }));
        let first =
            encode("n", &Envelope::Event { seq: Some(Seq(3)), text: "x".into(), exclude_user: None, again: false });
        assert!(!String::from_utf8_lossy(&first).contains("\"a\""), "false is not written");
    }

    #[test]
    fn a_close_control_keeps_its_reason() {
        for reason in [CloseReason::Banned, CloseReason::RoleChanged, CloseReason::LoggedOut, CloseReason::TokenExpired]
        {
            let env = Envelope::Control(Control::Close(reason));
            let decoded = decode(&encode("n", &env)).expect("decodes");
            assert!(matches!(decoded.envelope, Envelope::Control(Control::Close(r)) if r == reason), "{reason:?}");
        }
    }

    #[test]
    fn a_session_close_keeps_its_session() {
        let session = uuid::Uuid::new_v4();
        let decoded = decode(&encode("n", &Envelope::Control(Control::CloseSession { session }))).expect("decodes");
        assert!(matches!(decoded.envelope, Envelope::Control(Control::CloseSession { session: s }) if s == session));
    }

    #[test]
    fn an_unknown_close_reason_is_rejected() {
        assert!(decode(b"{\"o\":\"a\",\"c\":{\"k\":\"close\",\"reason\":\"nope\"}}\n").is_err());
    }

    #[test]
    fn garbage_payloads_are_rejected_not_panicked_on() {
        for bad in [&b""[..], b"no newline", b"{}\n", b"{\"o\":1}\nx", b"{\"o\":\"a\"}\n\xff"] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn channels_map_back_to_topics_only_under_the_prefix() {
        let id = Uuid::new_v4();
        for t in [Topic::Room(id.into()), Topic::User(id.into()), Topic::Presence(id.into()), Topic::Staff] {
            let ch = channel("p1", t);
            assert_eq!(topic("p1", &ch), Some(t), "{ch}");
            assert_eq!(topic("p2", &ch), None);
        }
        assert_eq!(topic("p1", "p1:room:nope"), None);
        assert_eq!(topic("p1", "p1:staffer"), None);
    }
}
