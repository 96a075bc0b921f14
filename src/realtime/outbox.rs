//! How events reach the connections of this process: one fan-out hub per worker thread, and one
//! bounded inbox per connection.
//!
//! Room actors and the broker run on other threads than the connections they feed. Handing every
//! delivery to a connection's actix mailbox cost a boxed envelope, atomic queue operations and a
//! cross-thread wake-up per connection per event: at 100 members a room's event crossed threads
//! 100 times. Instead each worker thread runs a hub (a task on its arbiter) with the inboxes of
//! the connections that live there: a room actor sends an event once per worker that has its
//! members (`FanOut`), the hub puts the shared text in each local inbox, and a connection
//! takes everything queued in its inbox at once and writes it to its socket as one buffer. What
//! crosses threads is one message per event per worker; what is done per delivery stays on the
//! connection's own thread (a map lookup, a reference count, a queue push, a local wake-up).
//!
//! The hub also keeps its connections' time: one timer per worker asks every connection for its
//! heartbeat (a ping, or a close when the client fell silent), and the hub tells them all when
//! shutdown begins. Each connection had its own interval and its own wait for the shutdown
//! signal: two timers and futures per idle socket, which also pushed actix's list of a context's
//! futures past its inline capacity, onto the heap, twice. The timer ticks
//! [`HEARTBEAT_SLICES`] times per interval and asks one slice of the connections each time: asked
//! all at once, the 9,750 idle sockets of a worker with 19,500 open kept it busy for about half a
//! second every interval (a ping written and a pong read each), and every delivery on that worker
//! waited behind them.
//!
//! The inbox is bounded: a connection `limit` events behind (its socket not draining, so its
//! actor not running) gets nothing more; it is marked overflowed, and closes with 4009 as soon
//! as it runs again. Memory per connection is thereby bounded by the limit.
//!
//! One hub channel per worker keeps each sender's order: what one room actor (or the broker)
//! sends to a connection arrives in the order it was sent, as through the mailbox before.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use std::time::Duration;

use bytestring::ByteString;
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;

use crate::ids::{ConnId, UserId};
use crate::realtime::broker::Published;
use crate::realtime::revalidate::Memberships;

/// Events queued over every inbox of the process, for `plauder_ws_outbox_queued_events`: one
/// relaxed add per event is cheaper than visiting every connection at scrape time.
static QUEUED_TOTAL: AtomicUsize = AtomicUsize::new(0);

/// Events queued for connections of this process and not yet written.
pub fn queued_total() -> usize {
    QUEUED_TOTAL.load(Ordering::Relaxed)
}

/// Numbers the hubs, so that a room can group its connections by the hub that serves them.
static NEXT_HUB: AtomicUsize = AtomicUsize::new(0);

/// Most events a hub takes from its channel before it yields to the connections it fed.
const HUB_BATCH: usize = 256;

/// The parts a heartbeat interval is cut into: each tick of the hub's timer asks the connections
/// of one part, so each connection is still asked once per interval.
const HEARTBEAT_SLICES: u8 = 64;

/// What a hub is sent.
enum HubEvent {
    /// One connection's event (the broker's user, staff and presence topics; a catch-up) or
    /// control change (broker topics), in one queue so that neither overtakes the other.
    One { conn: ConnId, item: Item },
    /// A room's event, for its members on this worker but `exclude_user`'s.
    Many { text: ByteString, targets: Arc<[ConnId]>, exclude_user: Option<UserId> },
}

/// The address of one worker's hub; cheap to clone and to send between threads.
#[derive(Clone)]
pub struct HubRef {
    id: usize,
    tx: mpsc::UnboundedSender<HubEvent>,
}

impl HubRef {
    fn send(&self, event: HubEvent) {
        // Fails only once the worker's runtime is gone, and its connections with it.
        let _ = self.tx.send(event);
    }
}

/// The hub of the current thread and the inboxes of its connections.
struct LocalHub {
    hub: HubRef,
    inboxes: Inboxes,
    /// Shutdown has begun: a connection registered now drains at once.
    draining: Rc<Cell<bool>>,
    /// The heartbeat slice of the next connection registered: they take the slices in turn.
    next_slice: u8,
}

type Inboxes = Rc<RefCell<HashMap<ConnId, Rc<Inbox>>>>;

/// What a thread's hub needs besides its inboxes, taken when the first connection starts it.
pub struct HubTimes {
    /// How often every connection is asked for its heartbeat (`realtime.heartbeat_interval_ms`).
    pub heartbeat: Duration,
    /// Changes to `true` when shutdown begins.
    pub shutdown: watch::Receiver<bool>,
}

thread_local! {
    static LOCAL: RefCell<Option<LocalHub>> = const { RefCell::new(None) };
}

/// Gives a connection of the current thread its inbox, starting the thread's hub on first use
/// (or again, when the runtime that ran the previous one has stopped, as between tests) with
/// `times`. Must be called on the connection's arbiter, inside its runtime.
pub fn register(
    conn: ConnId,
    user_id: UserId,
    limit: usize,
    times: impl FnOnce() -> HubTimes,
) -> (ConnHandle, LocalInbox) {
    let inbox = Rc::new(Inbox {
        user_id,
        limit,
        queue: RefCell::new(VecDeque::new()),
        overflowed: Cell::new(false),
        heartbeat_due: Cell::new(false),
        heartbeat_slice: Cell::new(0),
        drain: Cell::new(false),
        waker: RefCell::new(None),
    });
    let hub = LOCAL.with_borrow_mut(|local| {
        let local = match local {
            Some(running) if !running.hub.tx.is_closed() => running,
            _ => local.insert(start_hub(times())),
        };
        inbox.drain.set(local.draining.get());
        inbox.heartbeat_slice.set(local.next_slice);
        local.next_slice = (local.next_slice + 1) % HEARTBEAT_SLICES;
        local.inboxes.borrow_mut().insert(conn, inbox.clone());
        local.hub.clone()
    });
    let alive = Arc::new(());
    (ConnHandle { id: conn, user_id, hub, alive: Arc::downgrade(&alive) }, LocalInbox { conn, inbox, _alive: alive })
}

fn start_hub(times: HubTimes) -> LocalHub {
    let (tx, rx) = mpsc::unbounded_channel();
    let inboxes = Inboxes::default();
    // A hub started once shutdown began (the worker's first socket came after it) drains at
    // once: its receiver was made after the change, which `changed` would never report.
    let draining = Rc::new(Cell::new(*times.shutdown.borrow()));
    actix::spawn(run_hub(rx, inboxes.clone(), times, draining.clone()));
    LocalHub { hub: HubRef { id: NEXT_HUB.fetch_add(1, Ordering::Relaxed), tx }, inboxes, draining, next_slice: 0 }
}

async fn run_hub(
    mut rx: mpsc::UnboundedReceiver<HubEvent>,
    inboxes: Inboxes,
    HubTimes { heartbeat, mut shutdown }: HubTimes,
    draining: Rc<Cell<bool>>,
) {
    let mut events = Vec::with_capacity(HUB_BATCH);
    let tick = (heartbeat / u32::from(HEARTBEAT_SLICES)).max(Duration::from_millis(1));
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut slice = 0;
    // Gone (`Err`) only with the server's state, whose connections go with it.
    let mut watching = true;
    loop {
        tokio::select! {
            biased;
            received = rx.recv_many(&mut events, HUB_BATCH) => {
                if received == 0 {
                    break;
                }
            }
            _ = beat.tick() => {
                for inbox in inboxes.borrow().values().filter(|inbox| inbox.heartbeat_slice.get() == slice) {
                    inbox.heartbeat_due.set(true);
                    inbox.wake();
                }
                slice = (slice + 1) % HEARTBEAT_SLICES;
                continue;
            }
            changed = shutdown.changed(), if watching && !draining.get() => {
                watching = changed.is_ok();
                if watching && *shutdown.borrow_and_update() {
                    draining.set(true);
                    signal(&inboxes, |inbox| inbox.drain.set(true));
                }
                continue;
            }
        }
        let inboxes = inboxes.borrow();
        for event in events.drain(..) {
            match event {
                HubEvent::One { conn, item } => {
                    if let Some(inbox) = inboxes.get(&conn) {
                        inbox.push(item);
                    }
                }
                HubEvent::Many { text, targets, exclude_user } => {
                    for conn in targets.iter() {
                        // A connection that closed since the room was told is simply not here.
                        if let Some(inbox) = inboxes.get(conn)
                            && Some(inbox.user_id) != exclude_user
                        {
                            inbox.push(Item::Text(text.clone()));
                        }
                    }
                }
            }
        }
    }
}

/// Sets a flag on every inbox of the hub and wakes its connection.
fn signal(inboxes: &Inboxes, set: impl Fn(&Inbox)) {
    for inbox in inboxes.borrow().values() {
        set(inbox);
        inbox.wake();
    }
}

/// One connection's queue of event texts not yet written, on the connection's thread.
struct Inbox {
    user_id: UserId,
    limit: usize,
    queue: RefCell<VecDeque<Item>>,
    overflowed: Cell<bool>,
    /// The hub's heartbeat timer fired since the connection last ran. Flags rather than queued
    /// items: an idle connection's queue then never allocates.
    heartbeat_due: Cell<bool>,
    /// Which tick of each heartbeat interval asks this connection.
    heartbeat_slice: Cell<u8>,
    /// Shutdown has begun.
    drain: Cell<bool>,
    /// The connection's task, while it waits for events.
    waker: RefCell<Option<Waker>>,
}

impl Inbox {
    fn push(&self, item: Item) {
        if self.overflowed.get() {
            return;
        }
        let mut queue = self.queue.borrow_mut();
        // A control change is never refused (a close must not be lost); it is rare and comes
        // from the server, not from traffic a slow reader could pile up.
        if queue.len() >= self.limit && matches!(item, Item::Text(_)) {
            self.overflowed.set(true);
            metrics::counter!("ws_slow_consumers_total").increment(1);
        } else {
            queue.push_back(item);
            QUEUED_TOTAL.fetch_add(1, Ordering::Relaxed);
        }
        drop(queue);
        self.wake();
    }

    fn wake(&self) {
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

impl Drop for Inbox {
    /// Events still queued when the connection is gone will never be taken.
    fn drop(&mut self) {
        QUEUED_TOTAL.fetch_sub(self.queue.get_mut().len(), Ordering::Relaxed);
    }
}

/// What waits in a connection's inbox.
pub enum Item {
    /// An event's text, shared by every recipient.
    Text(ByteString),
    /// A change to the connection from one of its broker topics (or the re-check's close).
    Control(Published),
    /// The periodic re-check's read of the user's memberships.
    Memberships(Memberships),
}

/// What a connection's inbox says when its task runs.
pub enum InboxReady {
    /// Items to handle, taken with [`LocalInbox::pop`].
    Events,
    /// The connection fell `limit` events behind: close it (4009).
    Overflowed,
    /// Time to ping the client, or to close if it has been silent too long.
    Heartbeat,
    /// Shutdown has begun: close once the commands running have replied (1001).
    Drain,
}

/// A connection's own view of its inbox. Dropping it (with the connection) takes the inbox out
/// of the hub.
pub struct LocalInbox {
    conn: ConnId,
    inbox: Rc<Inbox>,
    /// Lives as long as the connection: what its handles ask (`ConnHandle::is_open`).
    _alive: Arc<()>,
}

impl LocalInbox {
    /// The oldest queued item.
    pub fn pop(&self) -> Option<Item> {
        let item = self.inbox.queue.borrow_mut().pop_front();
        if item.is_some() {
            QUEUED_TOTAL.fetch_sub(1, Ordering::Relaxed);
        }
        item
    }

    /// The stream that wakes the connection while events wait (added to its context).
    pub fn stream(&self) -> InboxStream {
        InboxStream { inbox: self.inbox.clone(), ended: false }
    }
}

impl Drop for LocalInbox {
    fn drop(&mut self) {
        // `try_with`: a connection dropped while its thread shuts down finds the map gone.
        let _ = LOCAL.try_with(|local| {
            if let Some(local) = local.borrow().as_ref() {
                local.inboxes.borrow_mut().remove(&self.conn);
            }
        });
    }
}

/// Ready while events wait in a connection's inbox; ends after telling of an overflow.
pub struct InboxStream {
    inbox: Rc<Inbox>,
    ended: bool,
}

impl futures_util::Stream for InboxStream {
    type Item = InboxReady;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<InboxReady>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if self.inbox.overflowed.get() {
            self.ended = true;
            return Poll::Ready(Some(InboxReady::Overflowed));
        }
        let inbox = &self.inbox;
        // Events first: what was queued before shutdown began still goes out.
        if !inbox.queue.borrow().is_empty() {
            return Poll::Ready(Some(InboxReady::Events));
        }
        if inbox.drain.take() {
            return Poll::Ready(Some(InboxReady::Drain));
        }
        if inbox.heartbeat_due.take() {
            return Poll::Ready(Some(InboxReady::Heartbeat));
        }
        let mut waker = inbox.waker.borrow_mut();
        if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// How room actors, the registry, the broker and the re-check address a connection. `Send`: it
/// names the connection's hub and the connection in it. Everything sent through it is queued in
/// the connection's inbox, in the order sent, instead of going through the actor's mailbox (whose
/// every address cost the connection two allocations more).
#[derive(Clone)]
pub struct ConnHandle {
    pub id: ConnId,
    pub user_id: UserId,
    hub: HubRef,
    alive: std::sync::Weak<()>,
}

impl ConnHandle {
    /// Queues `text` for this connection alone.
    pub fn deliver(&self, text: &ByteString) {
        self.hub.send(HubEvent::One { conn: self.id, item: Item::Text(text.clone()) });
    }

    /// Queues a control change from a broker topic, behind the events queued before it.
    pub fn control(&self, published: Published) {
        self.hub.send(HubEvent::One { conn: self.id, item: Item::Control(published) });
    }

    /// Queues the re-check's read of the user's memberships.
    pub fn memberships(&self, memberships: Memberships) {
        self.hub.send(HubEvent::One { conn: self.id, item: Item::Memberships(memberships) });
    }

    /// Whether the connection still exists (being opened, or its actor running): the broker
    /// drops the subscriptions of one that is gone without unsubscribing.
    pub fn is_open(&self) -> bool {
        self.alive.strong_count() > 0
    }
}

/// A room's connections, grouped by the hub that serves them so that an event crosses to each
/// worker once. The groups are made again on the first event after a change of members.
#[derive(Default)]
pub struct FanOut {
    conns: HashMap<ConnId, ConnHandle>,
    groups: Option<Vec<(HubRef, Arc<[ConnId]>)>>,
}

impl FanOut {
    pub fn insert(&mut self, conn: ConnHandle) {
        self.conns.insert(conn.id, conn);
        self.groups = None;
    }

    pub fn remove(&mut self, id: &ConnId) {
        if self.conns.remove(id).is_some() {
            self.groups = None;
        }
    }

    pub fn clear(&mut self) {
        self.conns.clear();
        self.groups = None;
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    pub fn handles(&self) -> impl Iterator<Item = &ConnHandle> {
        self.conns.values()
    }

    /// Queues `text` for every connection but `exclude_user`'s.
    pub fn deliver(&mut self, text: &ByteString, exclude_user: Option<UserId>) {
        let conns = &self.conns;
        let groups = self.groups.get_or_insert_with(|| {
            let mut by_hub: HashMap<usize, (HubRef, Vec<ConnId>)> = HashMap::new();
            for conn in conns.values() {
                by_hub.entry(conn.hub.id).or_insert_with(|| (conn.hub.clone(), Vec::new())).1.push(conn.id);
            }
            by_hub.into_values().map(|(hub, ids)| (hub, ids.into())).collect()
        });
        for (hub, targets) in groups.iter() {
            hub.send(HubEvent::Many { text: text.clone(), targets: targets.clone(), exclude_user });
        }
    }
}

impl From<HashMap<ConnId, ConnHandle>> for FanOut {
    fn from(conns: HashMap<ConnId, ConnHandle>) -> Self {
        Self { conns, groups: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use uuid::Uuid;

    fn times(heartbeat_ms: u64, shutdown: watch::Receiver<bool>) -> impl FnOnce() -> HubTimes {
        move || HubTimes { heartbeat: Duration::from_millis(heartbeat_ms), shutdown }
    }

    #[test]
    fn a_handle_tells_whether_its_connection_still_exists() {
        actix_web::rt::System::new().block_on(async {
            let (_tx, shutdown) = watch::channel(false);
            let (handle, inbox) = register(ConnId(1), UserId(Uuid::nil()), 8, times(60_000, shutdown));
            let copy = handle.clone();
            assert!(handle.is_open() && copy.is_open());
            drop(inbox);
            assert!(!handle.is_open() && !copy.is_open());
        });
    }

    /// The connections of a worker are asked for their heartbeat a slice at a time, spread over
    /// the interval, not all on one tick.
    #[test]
    fn heartbeats_are_spread_over_the_interval() {
        actix_web::rt::System::new().block_on(async {
            let (_tx, shutdown) = watch::channel(false);
            let interval = Duration::from_millis(640);
            let started = tokio::time::Instant::now();
            let inboxes: Vec<_> = (0..2 * u64::from(HEARTBEAT_SLICES))
                .map(|i| register(ConnId(100 + i), UserId(Uuid::nil()), 8, times(640, shutdown.clone())).1)
                .collect();
            let asked = futures_util::future::join_all(inboxes.iter().map(|inbox| async move {
                let mut ready = inbox.stream();
                assert!(matches!(ready.next().await, Some(InboxReady::Heartbeat)));
                tokio::time::Instant::now()
            }))
            .await;
            let (first, last) = (asked.iter().min().unwrap(), asked.iter().max().unwrap());
            // 64 ticks 10 ms apart: the last slice 630 ms after the first (timers only run late).
            assert!(*last - *first >= Duration::from_millis(600), "asked within {:?}", *last - *first);
            assert!(
                *last - started >= interval - Duration::from_millis(5),
                "the last slice is asked an interval after the start"
            );
        });
    }

    #[test]
    fn the_hub_asks_for_heartbeats_and_drains_after_the_queued_events() {
        actix_web::rt::System::new().block_on(async {
            let (tx, shutdown) = watch::channel(false);
            let (handle, inbox) = register(ConnId(2), UserId(Uuid::nil()), 8, times(20, shutdown));
            let mut ready = inbox.stream();
            assert!(matches!(ready.next().await, Some(InboxReady::Heartbeat)));
            assert!(matches!(ready.next().await, Some(InboxReady::Heartbeat)), "and again");

            handle.deliver(&ByteString::from_static("before"));
            tokio::task::yield_now().await;
            tx.send(true).unwrap();
            assert!(matches!(ready.next().await, Some(InboxReady::Events)));
            assert!(matches!(inbox.pop(), Some(Item::Text(t)) if t == "before"));
            assert!(matches!(ready.next().await, Some(InboxReady::Drain)));

            // One registered after shutdown began drains at once.
            let (_, late) = register(ConnId(3), UserId(Uuid::nil()), 8, || unreachable!("the hub runs"));
            assert!(matches!(late.stream().next().await, Some(InboxReady::Drain)));
        });
    }

    #[test]
    fn a_hub_started_after_shutdown_began_drains_its_connections() {
        actix_web::rt::System::new().block_on(async {
            let (tx, _) = watch::channel(false);
            tx.send_replace(true);
            let (_handle, inbox) = register(ConnId(4), UserId(Uuid::nil()), 8, times(60_000, tx.subscribe()));
            let ready = tokio::time::timeout(Duration::from_secs(5), inbox.stream().next()).await;
            assert!(matches!(ready, Ok(Some(InboxReady::Drain))));
        });
    }
}
