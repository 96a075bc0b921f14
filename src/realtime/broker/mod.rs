//! The seam between producers of events (services, after commit) and their delivery. Topics are
//! per room (`room:{id}`), per user (`user:{id}`: control events and personal notifications),
//! per user's presence (`presence:{id}`), and one for the staff (`staff`: what every online admin
//! and moderator hears, such as new support sessions), so an instance only hears about rooms and
//! users it has local connections for. The in-process broker is the embedded default; a Redis broker behind the
//! same trait carries events between instances.

pub mod memory;
pub mod redis;
pub mod wire;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix::{Message, Recipient};
use bytestring::ByteString;
use uuid::Uuid;

use crate::ids::{RoomId, Seq, UserId};
use crate::protocol::presence::Status;
use crate::protocol::{CloseReason, ServerEvent};
use crate::realtime::outbox::ConnHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Room(RoomId),
    User(UserId),
    Presence(UserId),
    /// Every connection of an admin or moderator subscribes it while open.
    Staff,
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Room(id) => write!(f, "room:{id}"),
            Topic::User(id) => write!(f, "user:{id}"),
            Topic::Presence(id) => write!(f, "presence:{id}"),
            Topic::Staff => f.write_str("staff"),
        }
    }
}

impl Topic {
    /// The inverse of `Display`: a topic from its name (brokers that carry names on the wire).
    pub fn parse(name: &str) -> Option<Topic> {
        if name == "staff" {
            return Some(Topic::Staff);
        }
        let (kind, id) = name.split_once(':')?;
        let id: Uuid = id.parse().ok()?;
        match kind {
            "room" => Some(Topic::Room(id.into())),
            "user" => Some(Topic::User(id.into())),
            "presence" => Some(Topic::Presence(id.into())),
            _ => None,
        }
    }
}

/// What travels on a topic.
#[derive(Debug, Clone)]
pub enum Envelope {
    /// A protocol event, serialised once and shared by every recipient.
    Event {
        /// The room seq the event carries, for room history events; the room actor orders by it.
        seq: Option<Seq>,
        text: ByteString,
        /// Not delivered to this user's connections (typing goes to the others only).
        exclude_user: Option<UserId>,
        /// A history event published again (a retried send announcing its original once more):
        /// news to a room actor still waiting for that seq, but never where a starting room
        /// actor begins delivering (see `room::RoomActor::on_history`).
        again: bool,
    },
    /// Membership and session changes that actors act on.
    Control(Control),
}

impl Envelope {
    /// A protocol event, serialised here once; history events carry their seq.
    pub fn event(event: &ServerEvent<'_>) -> Self {
        Envelope::Event { seq: event.seq(), text: event.to_text(), exclude_user: None, again: false }
    }

    /// A history event published once more ([`Envelope::Event`]'s `again`).
    pub fn event_again(event: &ServerEvent<'_>) -> Self {
        Envelope::Event { seq: event.seq(), text: event.to_text(), exclude_user: None, again: true }
    }

    /// An event for everyone on the topic but this user's connections.
    pub fn event_except(event: &ServerEvent<'_>, user_id: UserId) -> Self {
        Envelope::Event { seq: event.seq(), text: event.to_text(), exclude_user: Some(user_id), again: false }
    }
}

#[derive(Debug, Clone)]
pub enum Control {
    /// On a user topic: the user joined this room; their connections attach to it. On the staff
    /// topic: a support room opened; every staff connection attaches to it without membership.
    /// `from_seq`: the room's last seq when the membership was committed; events after it that
    /// the room actor already passed are read back for this connection (see `room::AddConn`).
    Attach { room_id: RoomId, from_seq: Option<Seq> },
    /// On a room topic: this user left or was removed; their connections detach.
    Detach { user_id: UserId },
    /// On a room topic: the room is gone.
    RoomDeleted,
    /// On a user topic: the user left or lost this room; their connections forget it.
    Left { room_id: RoomId },
    /// On a user topic: close the user's connections.
    Close(CloseReason),
    /// On a user topic: close the user's connections bound to this login session (its
    /// refresh-token family was revoked by a logout), with `CloseReason::LoggedOut`.
    CloseSession { session: Uuid },
    /// On a user topic: start receiving this user's presence (a new friend).
    WatchPresence { user_id: UserId },
    /// On a user topic: stop receiving this user's presence (a block, either way).
    UnwatchPresence { user_id: UserId },
    /// On a user topic: the user chose this status (`presence.set`); every one of their
    /// connections, on every instance, takes it.
    ChooseStatus { status: Status },
}

/// A delivery from the broker to a subscriber.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Published {
    pub topic: Topic,
    pub envelope: Arc<Envelope>,
}

/// Identifies one subscription so it can be removed (recipients have no identity of their own).
pub type SubscriberId = u64;

/// Who hears a topic. A room actor takes every envelope as a [`Published`] message. A connection
/// takes everything through its bounded inbox (`outbox`), like the events room actors hand it:
/// events counted, and nothing more once it is too far behind, so no topic can grow its memory;
/// control changes in the same queue, so they keep their order with the events, but never
/// refused, as a close must not be dropped. A connection subscribes to its user's topic while it
/// is being opened, before its actor exists (the opening unsubscribes should the actor never run).
#[derive(Clone)]
pub enum Subscriber {
    Actor(Recipient<Published>),
    Connection(ConnHandle),
}

impl Subscriber {
    pub fn deliver(&self, topic: Topic, envelope: &Arc<Envelope>) {
        match (self, envelope.as_ref()) {
            (Subscriber::Connection(outbox), Envelope::Event { text, exclude_user, .. }) => {
                if *exclude_user != Some(outbox.user_id) {
                    outbox.deliver(text);
                }
            }
            (Subscriber::Connection(outbox), Envelope::Control(_)) => {
                outbox.control(Published { topic, envelope: envelope.clone() });
            }
            (Subscriber::Actor(r), _) => {
                r.do_send(Published { topic, envelope: envelope.clone() });
            }
        }
    }

    /// Whether the subscriber still runs (a connection: or is being opened).
    pub fn connected(&self) -> bool {
        match self {
            Subscriber::Actor(r) => r.connected(),
            Subscriber::Connection(outbox) => outbox.is_open(),
        }
    }
}

/// A broker whose publications are traced (`broker.publish`, TRACE level: see `telemetry`).
pub struct Traced(pub Arc<dyn Broker>);

impl Broker for Traced {
    fn publish(&self, topic: Topic, envelope: Envelope) {
        let _span = tracing::trace_span!("broker.publish", topic = %topic).entered();
        self.0.publish(topic, envelope);
    }

    fn subscribe(&self, topic: Topic, id: SubscriberId, subscriber: Subscriber) {
        self.0.subscribe(topic, id, subscriber);
    }

    fn unsubscribe(&self, topic: Topic, id: SubscriberId) {
        self.0.unsubscribe(topic, id);
    }

    fn ready(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.0.ready()
    }
}

pub trait Broker: Send + Sync + 'static {
    /// Sends to every subscriber of `topic` on every instance, once.
    fn publish(&self, topic: Topic, envelope: Envelope);
    fn subscribe(&self, topic: Topic, id: SubscriberId, subscriber: Subscriber);
    fn unsubscribe(&self, topic: Topic, id: SubscriberId);
    /// Resolves once every subscription made before the call hears publications from every
    /// instance (Redis confirmed the SUBSCRIBE), or at once when that cannot be had now (Redis
    /// down: the channels are subscribed when it returns). A new connection waits for it before
    /// `hello`, a new room actor before it reads its baseline seq, so nothing published after
    /// either is missed. In-process brokers are ready at once.
    fn ready(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(std::future::ready(()))
    }
}

static NEXT_SUBSCRIBER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A process-unique subscriber id.
pub fn next_subscriber_id() -> SubscriberId {
    NEXT_SUBSCRIBER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
