//! One actor per room with local connections. It subscribes the room's broker topic while it
//! runs, puts history events in seq order (a later one waits until the gap fills, and what does
//! not arrive within `gap_timeout_ms` is read from the database), and hands each event's text,
//! serialised once, to its local connections. Membership is cached here and changed by the
//! registry (attach, detach) and by control envelopes on the topic (a member removed).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytestring::ByteString;

use crate::auth::signed_url::UrlSigner;
use crate::db::PgPool;
use crate::db::queries::{messages, rooms};
use crate::ids::{ConnId, MessageId, RoomId, Seq, UserId};
use crate::realtime::broker::{
    Broker, Control, Envelope, Published, Subscriber, SubscriberId, Topic, next_subscriber_id,
};
use crate::realtime::events;
use crate::realtime::outbox::{ConnHandle, FanOut};

/// What a room actor tells its owner (the registry): it dropped connections itself, or it has
/// been idle. Addressed through recipients, so the room knows nothing of who owns it.
#[derive(Clone)]
pub struct Owner {
    pub forget: Recipient<Forget>,
    pub idle: Recipient<RoomIdle>,
}

/// A room actor dropped a connection itself (member removed, room deleted): forget the record.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Forget {
    pub room_id: RoomId,
    pub conn_id: ConnId,
}

/// A room actor has had no connections for its idle time.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomIdle {
    pub room_id: RoomId,
}

/// Tells an idle room actor to stop.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire;

pub struct RoomActor {
    room_id: RoomId,
    pool: PgPool,
    broker: Arc<dyn Broker>,
    owner: Owner,
    subscriber: SubscriberId,
    conns: FanOut,
    /// The seq the next history event must carry; 0 until the baseline is loaded.
    next_seq: Seq,
    /// History events that arrived ahead of a gap.
    held: BTreeMap<Seq, ByteString>,
    /// While the baseline loads: history events published again (`Envelope::Event`'s `again`).
    /// Delivered only if delivery starts at or before them: an old message announced again is
    /// no news, and taken for the start it would replay the room's history since.
    held_again: BTreeMap<Seq, ByteString>,
    /// While the baseline loads: the lowest seq a connection attached for a new membership still
    /// needs (its events may have been published before this actor subscribed).
    floor: Option<Seq>,
    gap_timer: Option<SpawnHandle>,
    gap_timeout: Duration,
    idle_timeout: Duration,
    idle_timer: Option<SpawnHandle>,
    /// Signs the attachment links of events rebuilt from the database; unset, they carry none.
    links: Option<UrlSigner>,
}

impl RoomActor {
    pub fn new(
        room_id: RoomId,
        pool: PgPool,
        broker: Arc<dyn Broker>,
        owner: Owner,
        conns: HashMap<ConnId, ConnHandle>,
        gap_timeout: Duration,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            room_id,
            pool,
            broker,
            owner,
            subscriber: next_subscriber_id(),
            conns: conns.into(),
            next_seq: Seq::ZERO,
            held: BTreeMap::new(),
            held_again: BTreeMap::new(),
            floor: None,
            gap_timer: None,
            gap_timeout,
            idle_timeout,
            idle_timer: None,
            links: None,
        }
    }

    /// Events this actor rebuilds from the database carry the messages' attachments, their
    /// links signed with `links`.
    pub fn with_links(mut self, links: UrlSigner) -> Self {
        self.links = Some(links);
        self
    }

    /// The actor is started for a connection whose membership began at seq `from_seq`: delivery
    /// starts after it even if the room has moved on by the time the baseline is read.
    pub fn delivering_after(mut self, from_seq: Option<Seq>) -> Self {
        self.floor = from_seq.map(|s| s + 1);
        self
    }

    /// Starts the actor, subscribed to its topic before this returns, so the subscription is
    /// ordered before anything its creator does next (a connection's wait for the broker to be
    /// ready before `hello`).
    pub fn start_subscribed(self) -> Addr<Self> {
        RoomActor::create(|ctx| {
            self.broker.subscribe(
                Topic::Room(self.room_id),
                self.subscriber,
                Subscriber::Actor(ctx.address().recipient()),
            );
            self
        })
    }

    fn fan_out(&mut self, text: &ByteString, exclude_user: Option<UserId>) {
        self.conns.deliver(text, exclude_user);
    }

    /// Takes a history event: delivers it if it is next, holds it if it is early, drops it if it
    /// was already delivered.
    fn on_history(&mut self, seq: Seq, text: ByteString, again: bool, ctx: &mut Context<Self>) {
        if self.next_seq == Seq::ZERO {
            // The baseline is still loading; see `started`.
            let held = if again { &mut self.held_again } else { &mut self.held };
            held.insert(seq, text);
            return;
        }
        if seq < self.next_seq {
            return;
        }
        self.held.insert(seq, text);
        self.drain();
        self.watch_gap(ctx);
    }

    /// Starts the gap timer while events wait behind a missing seq, stops it when none do.
    fn watch_gap(&mut self, ctx: &mut Context<Self>) {
        if self.held.is_empty() {
            if let Some(timer) = self.gap_timer.take() {
                ctx.cancel_future(timer);
            }
        } else if self.gap_timer.is_none() {
            self.gap_timer = Some(ctx.run_later(self.gap_timeout, |act, ctx| {
                act.gap_timer = None;
                act.fill_gap(ctx, Seq::ZERO);
            }));
        }
    }

    fn drain(&mut self) {
        while let Some(text) = self.held.remove(&self.next_seq) {
            self.fan_out(&text, None);
            self.next_seq += 1;
        }
    }

    /// The gap did not fill in time (the event was lost, or superseded before it was published),
    /// or events before the baseline are owed to a new member: read what changed up to
    /// `at_least` (or the last held event) from the database, then deliver everything in order.
    fn fill_gap(&mut self, ctx: &mut Context<Self>, at_least: Seq) {
        let upto = self.held.keys().next_back().map_or(at_least, |&last| last.max(at_least));
        let since = self.next_seq - 1;
        if upto <= since {
            return;
        }
        metrics::counter!("realtime_gap_fetches_total").increment(1);
        let fetch = read_changes(self.pool.clone(), self.links.clone(), self.room_id, since, upto);
        ctx.wait(fetch.into_actor(self).map(move |result, act, _| {
            match result {
                Ok(changed) => {
                    for (rev, text) in changed {
                        act.held.entry(rev).or_insert(text);
                    }
                }
                Err(e) => tracing::warn!(room = %act.room_id, "gap fetch failed, skipping the gap: {e}"),
            }
            // Whatever is still missing was superseded by a later change of the same message.
            if let Some(&first) = act.held.keys().next() {
                act.next_seq = act.next_seq.max(first);
            }
            act.drain();
        }));
    }

    /// A connection attached for a membership that began at `from`, after this actor delivered
    /// past it (the membership's events raced the attach): it gets what it missed from the
    /// database before anything newer. The mailbox waits meanwhile, so nothing overtakes.
    fn catch_up(&mut self, conn: ConnHandle, from: Seq, ctx: &mut Context<Self>) {
        let upto = self.next_seq - 1;
        metrics::counter!("realtime_attach_catch_ups_total").increment(1);
        let fetch = read_changes(self.pool.clone(), self.links.clone(), self.room_id, from, upto);
        ctx.wait(fetch.into_actor(self).map(move |result, act, _| {
            match result {
                Ok(changed) => {
                    for (_, text) in &changed {
                        conn.deliver(text);
                    }
                }
                Err(e) => {
                    tracing::warn!(room = %act.room_id, "catch-up read failed; the client recovers with sync: {e}")
                }
            }
            act.conns.insert(conn);
        }));
    }

    fn schedule_idle_check(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.idle_timer.take() {
            ctx.cancel_future(timer);
        }
        if self.conns.is_empty() {
            self.idle_timer = Some(ctx.run_later(self.idle_timeout, |act, _| {
                act.idle_timer = None;
                if act.conns.is_empty() {
                    act.owner.idle.do_send(RoomIdle { room_id: act.room_id });
                }
            }));
        }
    }
}

impl Actor for RoomActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        metrics::gauge!("realtime_rooms_active").increment(1.0);
        // The baseline: events up to the room's current seq are history the clients load
        // themselves. History events that arrive while it loads are held: they were published
        // after this actor subscribed, so they are news to connections that attached before
        // (a message sent right after `hello` commits before this read more often than not),
        // and delivery starts from the lowest of them even when the read already counts it (not
        // from one published again, which may be of any age: `held_again`). The
        // read waits until the subscription hears every instance (Redis), so no later event is missed.
        // A failed read is tried again, backing off, until it succeeds: guessing (seq 0) would
        // make the first gap replay the room's whole history to every socket. Events keep being
        // held meanwhile.
        let (pool, room_id) = (self.pool.clone(), self.room_id);
        let subscribed = self.broker.ready();
        let load = async move {
            subscribed.await;
            let mut backoff = BASELINE_RETRY_MIN;
            loop {
                match read_baseline(&pool, room_id).await {
                    Ok(last_seq) => return last_seq,
                    Err(e) => {
                        metrics::counter!("plauder_realtime_baseline_retries_total").increment(1);
                        tracing::warn!(room = %room_id, "reading the room's baseline failed, retrying in {backoff:?}: {e}");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(BASELINE_RETRY_MAX);
                    }
                }
            }
        };
        ctx.spawn(load.into_actor(self).map(|last_seq, act, ctx| {
            let baseline = last_seq + 1;
            let first_held = act.held.keys().next().copied();
            act.next_seq =
                [Some(baseline), first_held, act.floor.take()].into_iter().flatten().min().unwrap_or(baseline);
            for (seq, text) in std::mem::take(&mut act.held_again).split_off(&act.next_seq) {
                act.held.entry(seq).or_insert(text);
            }
            act.drain();
            if act.next_seq < baseline {
                // A new member's first events were committed before this actor subscribed.
                act.fill_gap(ctx, baseline - 1);
            }
            act.watch_gap(ctx);
        }));
        self.schedule_idle_check(ctx);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.broker.unsubscribe(Topic::Room(self.room_id), self.subscriber);
        metrics::gauge!("realtime_rooms_active").decrement(1.0);
    }
}

/// A connection joins the room's fan-out; `from_seq` as in the registry's `Attach`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddConn {
    pub conn: ConnHandle,
    pub from_seq: Option<Seq>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct RemoveConn(pub ConnId);

/// Fault injection for the supervision test: makes the room actor panic.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

impl Handler<AddConn> for RoomActor {
    type Result = ();
    fn handle(&mut self, AddConn { conn, from_seq }: AddConn, ctx: &mut Context<Self>) {
        match from_seq {
            Some(from) if self.next_seq == Seq::ZERO => {
                self.floor = Some(self.floor.map_or(from + 1, |f| f.min(from + 1)));
                self.conns.insert(conn);
            }
            Some(from) if from + 1 < self.next_seq => self.catch_up(conn, from, ctx),
            _ => {
                self.conns.insert(conn);
            }
        }
        self.schedule_idle_check(ctx);
    }
}

impl Handler<RemoveConn> for RoomActor {
    type Result = ();
    fn handle(&mut self, RemoveConn(id): RemoveConn, ctx: &mut Context<Self>) {
        self.conns.remove(&id);
        self.schedule_idle_check(ctx);
    }
}

impl Handler<Retire> for RoomActor {
    type Result = ();
    fn handle(&mut self, _: Retire, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Crash> for RoomActor {
    type Result = ();
    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("room {} crashed on purpose", self.room_id);
    }
}

impl Handler<Published> for RoomActor {
    type Result = ();
    fn handle(&mut self, msg: Published, ctx: &mut Context<Self>) {
        match msg.envelope.as_ref() {
            Envelope::Event { seq: Some(seq), text, again, .. } => self.on_history(*seq, text.clone(), *again, ctx),
            Envelope::Event { seq: None, text, exclude_user, .. } => self.fan_out(text, *exclude_user),
            Envelope::Control(Control::Detach { user_id }) => {
                let gone: Vec<ConnId> = self.conns.handles().filter(|c| c.user_id == *user_id).map(|c| c.id).collect();
                for id in gone {
                    self.conns.remove(&id);
                    self.owner.forget.do_send(Forget { room_id: self.room_id, conn_id: id });
                }
                self.schedule_idle_check(ctx);
            }
            Envelope::Control(Control::RoomDeleted) => {
                for conn in self.conns.handles() {
                    self.owner.forget.do_send(Forget { room_id: self.room_id, conn_id: conn.id });
                }
                self.conns.clear();
                self.schedule_idle_check(ctx);
            }
            Envelope::Control(_) => {}
        }
    }
}

/// The first and the longest wait before reading a room's baseline again after a failure.
const BASELINE_RETRY_MIN: Duration = Duration::from_millis(50);
const BASELINE_RETRY_MAX: Duration = Duration::from_secs(5);

/// The room's latest seq; zero for a room that no longer exists (nothing will be delivered).
async fn read_baseline(pool: &PgPool, room_id: RoomId) -> Result<Seq, String> {
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
    let room = rooms::find(&mut conn, room_id).await.map_err(|e| e.to_string())?;
    Ok(room.map_or(Seq::ZERO, |r| r.last_seq))
}

/// The room's changes with `since < rev <= upto`, as events in rev order.
async fn read_changes(
    pool: PgPool,
    links: Option<UrlSigner>,
    room_id: RoomId,
    since: Seq,
    upto: Seq,
) -> Result<Vec<(Seq, ByteString)>, String> {
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
    let changed = messages::changed_since(&mut conn, room_id, since, upto - since).await.map_err(|e| e.to_string())?;
    let ids: Vec<MessageId> = changed.iter().map(|m| m.id).collect();
    let reactions = messages::reactions_for(&mut conn, &ids).await.map_err(|e| e.to_string())?;
    let files = match &links {
        Some(_) => crate::db::queries::attachments::of_messages(&mut conn, &ids).await.map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    Ok(changed
        .into_iter()
        .filter(|m| m.rev <= upto)
        .map(|m| (m.rev, events::from_row(m, &reactions, &files, links.as_ref())))
        .collect())
}
