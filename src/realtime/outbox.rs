//! A connection's bounded outgoing queue, as seen by the actors that feed it. Events reach a
//! connection as `Deliver` messages; the sender counts them in and the connection counts them out
//! as it writes them to the socket. A connection that falls `limit` events behind (its socket not
//! draining, so its actor not running) gets nothing more: it is marked overflowed, and closes
//! with 4009 as soon as it runs again. Memory per connection is thereby bounded by the limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::ids::{ConnId, UserId};
use actix::{Message, Recipient};
use bytestring::ByteString;

/// One event's text, shared by every recipient.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub ByteString);

/// Events queued over every outbox of the process, for `plauder_ws_outbox_queued_events`: one
/// relaxed add per event is cheaper than visiting every connection at scrape time.
static QUEUED_TOTAL: AtomicUsize = AtomicUsize::new(0);

/// Events queued for connections of this process and not yet written.
pub fn queued_total() -> usize {
    QUEUED_TOTAL.load(Ordering::Relaxed)
}

#[derive(Debug, Default)]
pub struct Outbox {
    queued: AtomicUsize,
    overflowed: AtomicBool,
}

impl Drop for Outbox {
    /// Events still queued when the connection is gone will never be taken.
    fn drop(&mut self) {
        QUEUED_TOTAL.fetch_sub(*self.queued.get_mut(), Ordering::Relaxed);
    }
}

impl Outbox {
    /// The connection wrote one event out.
    pub fn taken(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
        QUEUED_TOTAL.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed)
    }

    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

/// How room actors and the registry address a connection.
#[derive(Clone)]
pub struct ConnHandle {
    pub id: ConnId,
    pub user_id: UserId,
    pub recipient: Recipient<Deliver>,
    pub outbox: Arc<Outbox>,
    pub limit: usize,
}

impl ConnHandle {
    /// Queues `text` unless the connection is already `limit` events behind.
    pub fn deliver(&self, text: &ByteString) {
        if self.outbox.overflowed() {
            return;
        }
        QUEUED_TOTAL.fetch_add(1, Ordering::Relaxed);
        if self.outbox.queued.fetch_add(1, Ordering::Relaxed) >= self.limit {
            self.outbox.overflowed.store(true, Ordering::Relaxed);
            // One more (empty, and counted like the others) so that the connection, once it runs,
            // notices and closes.
            self.recipient.do_send(Deliver(ByteString::new()));
            metrics::counter!("ws_slow_consumers_total").increment(1);
            return;
        }
        self.recipient.do_send(Deliver(text.clone()));
    }
}
