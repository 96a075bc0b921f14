//! The registry: one per instance. It finds or starts the room actor for a room, keeps the record
//! of which local connections are attached to which room, and restarts a room actor that died
//! (a panic) with that record, so a fault in one room costs that room a moment and nothing else.
//! It sits on the path of attaching and detaching only; events go broker → room actor directly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::auth::signed_url::UrlSigner;
use crate::db::PgPool;
use crate::ids::{ConnId, RoomId, Seq};
use crate::realtime::broker::Broker;
use crate::realtime::outbox::ConnHandle;
use crate::realtime::room::{AddConn, Crash, Forget, Owner, RemoveConn, Retire, RoomActor, RoomIdle};

pub struct Registry {
    rooms: HashMap<RoomId, RoomEntry>,
    /// The sum of the entries' connections, kept as they change: summing them for the gauge on
    /// every attach cost a pass over every room per new connection.
    attachments: usize,
    pool: PgPool,
    broker: Arc<dyn Broker>,
    gap_timeout: Duration,
    idle_timeout: Duration,
    /// Signs the attachment links of events rebuilt from the database.
    links: UrlSigner,
}

struct RoomEntry {
    addr: Addr<RoomActor>,
    conns: HashMap<ConnId, ConnHandle>,
}

impl Registry {
    pub fn new(
        pool: PgPool,
        broker: Arc<dyn Broker>,
        gap_timeout: Duration,
        idle_timeout: Duration,
        links: UrlSigner,
    ) -> Self {
        Self { rooms: HashMap::new(), attachments: 0, pool, broker, gap_timeout, idle_timeout, links }
    }

    fn spawn_room(
        &self,
        room_id: RoomId,
        conns: HashMap<ConnId, ConnHandle>,
        from_seq: Option<Seq>,
        ctx: &Context<Self>,
    ) -> Addr<RoomActor> {
        let owner = Owner { forget: ctx.address().recipient(), idle: ctx.address().recipient() };
        RoomActor::new(
            room_id,
            self.pool.clone(),
            self.broker.clone(),
            owner,
            conns,
            self.gap_timeout,
            self.idle_timeout,
        )
        .delivering_after(from_seq)
        .with_links(self.links.clone())
        .start_subscribed()
    }

    fn report(&self) {
        metrics::gauge!("realtime_registry_rooms").set(self.rooms.len() as f64);
        metrics::gauge!("realtime_registry_attachments").set(self.attachments as f64);
    }

    /// Restarts room actors that are gone without having been retired (they panicked).
    fn revive(&mut self, ctx: &Context<Self>) {
        let dead: Vec<RoomId> = self.rooms.iter().filter(|(_, e)| !e.addr.connected()).map(|(id, _)| *id).collect();
        for room_id in dead {
            if let Some(entry) = self.rooms.get(&room_id) {
                tracing::error!(room = %room_id, "room actor died; restarting it");
                metrics::counter!("realtime_room_restarts_total").increment(1);
                let addr = self.spawn_room(room_id, entry.conns.clone(), None, ctx);
                if let Some(entry) = self.rooms.get_mut(&room_id) {
                    entry.addr = addr;
                }
            }
        }
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_millis(500), |act, ctx| act.revive(ctx));
    }
}

/// A local connection of a member joins the room's fan-out.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Attach {
    pub room_id: RoomId,
    pub conn: ConnHandle,
    /// For a membership that began while the connection was open: the room's last seq then.
    pub from_seq: Option<Seq>,
}

/// A new connection joins the fan-out of all its rooms at once; answered when recorded, so the
/// connection can say `hello` knowing every later event of those rooms will reach it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AttachMany {
    pub room_ids: Vec<RoomId>,
    pub conn: ConnHandle,
}

/// A connection leaves rooms (it closed, or its user left them).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Detach {
    pub conn_id: ConnId,
    pub room_ids: Vec<RoomId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryStats {
    pub rooms: usize,
    pub attachments: usize,
}

#[derive(Message)]
#[rtype(result = "RegistryStats")]
pub struct Stats;

/// Fault injection: panics the room's actor (for the supervision test). Answers whether it ran.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct CrashRoom(pub RoomId);

impl Handler<Attach> for Registry {
    type Result = ();
    fn handle(&mut self, Attach { room_id, conn, from_seq }: Attach, ctx: &mut Context<Self>) {
        match self.rooms.get_mut(&room_id) {
            Some(entry) if entry.addr.connected() => {
                if entry.conns.insert(conn.id, conn.clone()).is_none() {
                    self.attachments += 1;
                }
                entry.addr.do_send(AddConn { conn, from_seq });
            }
            _ => {
                let mut conns = self.rooms.remove(&room_id).map(|e| e.conns).unwrap_or_default();
                if conns.insert(conn.id, conn).is_none() {
                    self.attachments += 1;
                }
                let addr = self.spawn_room(room_id, conns.clone(), from_seq, ctx);
                self.rooms.insert(room_id, RoomEntry { addr, conns });
            }
        }
        self.report();
    }
}

impl Handler<AttachMany> for Registry {
    type Result = ();
    fn handle(&mut self, AttachMany { room_ids, conn }: AttachMany, ctx: &mut Context<Self>) {
        for room_id in room_ids {
            self.handle(Attach { room_id, conn: conn.clone(), from_seq: None }, ctx);
        }
    }
}

impl Handler<Detach> for Registry {
    type Result = ();
    fn handle(&mut self, Detach { conn_id, room_ids }: Detach, _: &mut Context<Self>) {
        for room_id in room_ids {
            if let Some(entry) = self.rooms.get_mut(&room_id)
                && entry.conns.remove(&conn_id).is_some()
            {
                self.attachments -= 1;
                entry.addr.do_send(RemoveConn(conn_id));
            }
        }
        self.report();
    }
}

impl Handler<Forget> for Registry {
    type Result = ();
    fn handle(&mut self, Forget { room_id, conn_id }: Forget, _: &mut Context<Self>) {
        if let Some(entry) = self.rooms.get_mut(&room_id)
            && entry.conns.remove(&conn_id).is_some()
        {
            self.attachments -= 1;
        }
        self.report();
    }
}

impl Handler<RoomIdle> for Registry {
    type Result = ();
    fn handle(&mut self, RoomIdle { room_id }: RoomIdle, _: &mut Context<Self>) {
        // Only if nothing attached meanwhile (the attach would have reset the room's idle timer,
        // but its RoomIdle may already have been on the way).
        if self.rooms.get(&room_id).is_some_and(|e| e.conns.is_empty())
            && let Some(entry) = self.rooms.remove(&room_id)
        {
            entry.addr.do_send(Retire);
        }
        self.report();
    }
}

impl Handler<Stats> for Registry {
    type Result = MessageResult<Stats>;
    fn handle(&mut self, _: Stats, _: &mut Context<Self>) -> Self::Result {
        // The tests ask for these after their connections closed: the count kept must be the sum.
        debug_assert_eq!(self.attachments, self.rooms.values().map(|r| r.conns.len()).sum::<usize>());
        MessageResult(RegistryStats { rooms: self.rooms.len(), attachments: self.attachments })
    }
}

impl Handler<CrashRoom> for Registry {
    type Result = bool;
    fn handle(&mut self, CrashRoom(room_id): CrashRoom, _: &mut Context<Self>) -> bool {
        self.rooms.get(&room_id).map(|e| e.addr.do_send(Crash)).is_some()
    }
}
