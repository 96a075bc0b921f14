//! One actor per WebSocket: the socket, its bounded outbox and its life cycle. It parses frames
//! into commands, applies the per-user rate limits, hands each command to `dispatch` (which runs
//! the services, off the mailbox when they wait), writes the replies, and writes the event text
//! that room actors and the broker queue in its outbox. It knows no SQL and no other connection.
//! It lives no longer than its access token: once the token expired and `auth.refresh` did not
//! replace it within `realtime.token_grace_ms`, it closes with 4001, and it is bound to the login
//! session of that token: logging the session out closes it with 4001 too.
//!
//! actix-web-actors is deprecated upstream; it is confined to this file.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::h1::ShutdownAfterBody;
use actix_web::web;
use actix_web_actors::ws::{self, CloseCode};
use uuid::Uuid;

use crate::auth::Caller;
use crate::auth::extractor::{SocketGrant, TokenGrant};
use crate::db::models::Role;
use crate::error::{ApiError, ApiResult};
use crate::ids::{ConnId, RoomId, Seq, UserId};
use crate::metrics::CommandTimer;
use crate::protocol::commands::{self, Command, CommandId};
use crate::protocol::events::{Hello, MemberRemoved, PresenceChosen};
use crate::protocol::{CloseReason, ServerEvent};
use crate::realtime::broker::{Control, Envelope, Published, Subscriber, SubscriberId, Topic, next_subscriber_id};
use crate::realtime::dispatch::{self, Reply, ReplyData, Session, Step};
use crate::realtime::outbox::{self, ConnHandle, InboxReady, Item, LocalInbox};
use crate::realtime::presence;
use crate::realtime::registry::{Attach, AttachMany, Detach};
use crate::realtime::revalidate::{Memberships, SocketInfo};
use crate::realtime::sockets::SocketSlot;
use crate::realtime::user_rows;
use crate::realtime::woken::Woken;
use crate::service::social::PresenceStatus;
use crate::service::support;
use crate::service::turn::WriteOrder;
use crate::state::AppState;
use crate::views::UserView;
use futures_util::future::LocalBoxFuture;

/// How long a close the server starts waits for the client's answer when
/// `server.client_disconnect_timeout_ms` is 0 (no limit for actix-http).
const DEFAULT_CLOSE_WAIT_MS: u64 = 1000;

pub struct WsConnection {
    id: ConnId,
    state: web::Data<AppState>,
    caller: Caller,
    session_id: Uuid,
    /// The id of the upgrade request (sent back as `x-request-id`), on every command's span.
    request_id: Uuid,
    last_heard: Instant,
    /// How room actors and the broker address the connection, and the inbox they fill.
    handle: ConnHandle,
    inbox: LocalInbox,
    rooms: HashSet<RoomId>,
    /// The rooms of `rooms` the connection follows as its user's memberships, with when it
    /// learnt of each (the periodic re-check only judges those it knew of before its read).
    member_rooms: HashMap<RoomId, Instant>,
    /// The rooms of `rooms` a staff connection follows without membership (open support rooms),
    /// the one followed longest first; at most `quota.staff_support_rooms_per_connection_max`.
    staff_rooms: VecDeque<RoomId>,
    /// The users whose presence the connection receives.
    watched: HashSet<UserId>,
    /// The users it named in `presence.subscribe` (counted by the quotas per connection and,
    /// in `Realtime::watch_quota`, per account; given back on close).
    named: HashSet<UserId>,
    /// Message writes of one connection commit, and are answered, in the order they were sent.
    write_order: WriteOrder,
    /// The order of its `typing` commands, apart from its writes: each is shown after the one
    /// before it, so a quick start and stop cannot arrive the other way round.
    typing_order: WriteOrder,
    /// Commands refused by a rate limit (this instance's, or for message writes the deployment's)
    /// since the last one let through (a message write: once it has run, past both limits; a
    /// ping counts as neither): past `rate_limit.abuse_close_after`, the socket closes.
    limited_in_a_row: u32,
    /// Commands running; on shutdown the connection closes once they have replied.
    in_flight: usize,
    draining: bool,
    /// The server sent its close frame and waits for the client's (`close`): nothing more is
    /// written, and nothing the client sends but its close frame is handled.
    closing: bool,
    /// `release` has given back what the connection holds outside itself.
    released: bool,
    /// This socket's place in the per-user and per-address counts, given back with the actor,
    /// not by `release`: a closing socket whose client stopped reading is not polled (its write
    /// buffer is full) and may live as long as its TCP connection, so it must go on counting,
    /// or one account could pile up such connections without bound.
    _slot: SocketSlot,
    /// The `exp` (seconds since the epoch) of the token the socket was opened or last refreshed
    /// with.
    token_expires_at: u64,
    /// The timer that closes the socket at `token_expires_at` plus the grace period.
    token_timer: Option<SpawnHandle>,
    /// The login session (refresh-token family) of that token: its logout closes the socket.
    login_session: Option<Uuid>,
    /// What the upgrade read and subscribed, until `started` takes it (boxed: an idle socket
    /// keeps only the empty pointer).
    from_upgrade: Option<Box<FromUpgrade>>,
    /// Set when the client's close frame has been answered: the HTTP dispatcher then closes the
    /// TCP connection at once, server first as RFC 6455 asks, instead of waiting up to
    /// `server.client_disconnect_timeout_ms` for the client to close it.
    close_first: ShutdownAfterBody,
}

struct FromUpgrade {
    rooms: Vec<RoomId>,
    friends: Vec<UserId>,
    /// The subscription to the user's topic, which `started` takes over.
    early: EarlySubscription,
}

/// A connection being opened, before its actor exists: its id and its inbox on this worker
/// thread, already subscribed to its user's topic, so that what is published about the user
/// after the upgrade reads its rooms (a room joined, a logout) waits in the inbox for the actor.
pub struct Opening {
    id: ConnId,
    handle: ConnHandle,
    inbox: LocalInbox,
    subscription: EarlySubscription,
}

impl Opening {
    /// Made on the worker thread that will run the connection: its inbox joins that thread's hub.
    pub fn new(state: &web::Data<AppState>, user_id: UserId) -> Self {
        let id = ConnId(next_subscriber_id());
        let times = || outbox::HubTimes {
            heartbeat: Duration::from_millis(state.settings.realtime.heartbeat_interval_ms),
            shutdown: state.realtime.shutdown_signal(),
        };
        let (handle, inbox) = outbox::register(id, user_id, state.settings.realtime.outbox_limit, times);
        let subscriber = Subscriber::Connection(handle.clone());
        state.realtime.broker().subscribe(Topic::User(user_id), id.0, subscriber);
        let subscription = EarlySubscription { state: state.clone(), user_id, id: id.0, armed: true };
        Self { id, handle, inbox, subscription }
    }
}

/// Unsubscribes when dropped still armed: the upgrade failed after subscribing, or the actor
/// never ran. A running actor disarms it, having subscribed itself.
struct EarlySubscription {
    state: web::Data<AppState>,
    user_id: UserId,
    id: SubscriberId,
    armed: bool,
}

impl Drop for EarlySubscription {
    fn drop(&mut self) {
        if self.armed {
            self.state.realtime.broker().unsubscribe(Topic::User(self.user_id), self.id);
        }
    }
}

impl WsConnection {
    /// From what the upgrade opened and read.
    fn new(
        state: web::Data<AppState>,
        opened: SocketGrant<Opening>,
        slot: SocketSlot,
        request_id: Uuid,
        close_first: ShutdownAfterBody,
    ) -> Self {
        let SocketGrant { grant, rooms, friends, opened: Opening { id, handle, inbox, subscription } } = opened;
        let mut caller = grant.caller;
        user_rows::share(&mut caller.user);
        Self {
            id,
            state,
            caller,
            session_id: Uuid::new_v4(),
            request_id,
            last_heard: Instant::now(),
            handle,
            inbox,
            rooms: HashSet::new(),
            member_rooms: HashMap::new(),
            staff_rooms: VecDeque::new(),
            watched: HashSet::new(),
            named: HashSet::new(),
            write_order: WriteOrder::default(),
            typing_order: WriteOrder::default(),
            limited_in_a_row: 0,
            in_flight: 0,
            draining: false,
            closing: false,
            released: false,
            _slot: slot,
            token_expires_at: grant.expires_at,
            token_timer: None,
            login_session: grant.session,
            from_upgrade: Some(Box::new(FromUpgrade { rooms, friends, early: subscription })),
            close_first,
        }
    }

    /// (Re)arms the timer that closes the socket once its token expired and the grace period
    /// passed. Wall-clock time, as the token's `exp` is.
    fn arm_token_timer(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if let Some(old) = self.token_timer.take() {
            ctx.cancel_future(old);
        }
        let deadline_ms =
            self.token_expires_at.saturating_mul(1000).saturating_add(self.state.settings.realtime.token_grace_ms);
        let wait = Duration::from_millis(deadline_ms.saturating_sub(now_ms()));
        // Not `run_later`: the context polls its timers on every wake-up, a delivery's too, and a
        // sleep hours long answered "pending" thousands of times (2 % of the server's CPU in
        // fan-out, docs/benchmarks.md). Wrapped, it is polled when its own timer fires.
        let expired = Woken::new(tokio::time::sleep(wait));
        self.token_timer = Some(ctx.spawn(expired.into_actor(self).map(|(), act, ctx| {
            act.token_timer = None;
            act.close(CloseReason::TokenExpired, ctx);
        })));
    }

    fn attach(&mut self, room_id: RoomId, from_seq: Option<Seq>) {
        // Released at the close: a command finishing during the closing wait attaches nothing.
        if !self.closing && self.rooms.insert(room_id) {
            self.state.realtime.registry().do_send(Attach { room_id, conn: self.handle.clone(), from_seq });
        }
    }

    /// Staff: follows an open support room (a new session, or one opened with `sync`), letting go
    /// of the one followed longest when at the bound. A room followed already counts as fresh.
    fn follow_support(&mut self, room_id: RoomId, from_seq: Option<Seq>) {
        if self.closing {
            return;
        }
        if let Some(pos) = self.staff_rooms.iter().position(|r| *r == room_id) {
            self.staff_rooms.remove(pos);
            self.staff_rooms.push_back(room_id);
            return;
        }
        if self.rooms.contains(&room_id) {
            return;
        }
        let max = self.state.settings.quota.staff_support_rooms_per_connection_max;
        while self.staff_rooms.len() >= max {
            let Some(oldest) = self.staff_rooms.pop_front() else { break };
            if self.rooms.remove(&oldest) {
                self.state.realtime.registry().do_send(Detach { conn_id: self.id, room_ids: vec![oldest] });
            }
        }
        self.staff_rooms.push_back(room_id);
        self.attach(room_id, from_seq);
    }

    /// How the broker reaches this connection: events and control changes through its inbox, in
    /// order. The connection's id is its subscriber id.
    fn broker_subscriber(&self) -> Subscriber {
        Subscriber::Connection(self.handle.clone())
    }

    fn watch(&mut self, user_id: UserId) {
        if !self.closing && self.watched.insert(user_id) {
            self.state.realtime.broker().subscribe(Topic::Presence(user_id), self.id.0, self.broker_subscriber());
        }
    }

    fn unwatch(&mut self, user_id: UserId) {
        if self.watched.remove(&user_id) {
            self.state.realtime.broker().unsubscribe(Topic::Presence(user_id), self.id.0);
        }
    }

    /// Counts newly named users against the account's quota, then runs the subscription; its
    /// result says whose presence to receive.
    fn subscribe(
        &mut self,
        id: Option<CommandId>,
        timer: CommandTimer,
        new: Vec<UserId>,
        fut: LocalBoxFuture<'static, ApiResult<(Vec<UserId>, Vec<PresenceStatus>)>>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let quota = self.state.realtime.watch_quota();
        if let Err(held) = quota.take(self.caller.id, new.len()) {
            let e = ApiError::validation(
                "user_ids",
                format!(
                    "An account may watch at most {} users over its connections; yours watch {held} and these would add {}.",
                    quota.max(),
                    new.len()
                ),
            );
            return self.respond(id, timer, Err(e), ctx);
        }
        self.named.extend(new);
        self.run_then(
            id,
            timer,
            fut,
            |act, (visible, statuses), _| {
                for user_id in visible {
                    act.watch(user_id);
                }
                Ok(ReplyData::Statuses { statuses })
            },
            ctx,
        );
    }

    /// Starts the closing handshake: sends the close frame and waits for the client's answer, on
    /// which the server closes the TCP connection at once (RFC 6455, 5.5.1 and 7.1.1). A client
    /// that does not answer is hung up on when the wait runs out.
    /// Stopping at once instead left an answering client waiting for the server's hang-up until
    /// actix-http's wait for the client (`server.client_disconnect_timeout_ms`) ran out: a
    /// browser saw a kick, a logout or a shutdown that much late.
    fn close(&mut self, reason: CloseReason, ctx: &mut ws::WebsocketContext<Self>) {
        if self.closing {
            return;
        }
        self.closing = true;
        let description = Some(reason.text().to_owned());
        ctx.close(Some(ws::CloseReason { code: CloseCode::Other(reason.code()), description }));
        // The user leaves presence, rooms and topics now, not when the wait ends: the actor runs
        // only while the dispatcher polls it, which it stops doing while its write buffer is
        // full, so a client that stopped reading could hold all of that for as long as its TCP
        // connection lives.
        self.release();
        // No answer can come from a client that is not reading (4009), nor be told from the rest
        // of an oversized frame still unread (1009) or of a stream that broke the protocol
        // (1007, 1002): the dispatcher discards what comes until the client hangs up, or its
        // wait runs out.
        if matches!(
            reason,
            CloseReason::TooSlow
                | CloseReason::FrameTooLarge
                | CloseReason::InvalidText
                | CloseReason::ProtocolViolation
        ) {
            ctx.stop();
            return;
        }
        // 0 lifts actix-http's limit; a socket being closed still must not wait for ever on a
        // client that is gone, nor hold up a shutdown.
        let wait = match self.state.settings.server.client_disconnect_timeout_ms {
            0 => DEFAULT_CLOSE_WAIT_MS,
            ms => ms,
        };
        ctx.run_later(Duration::from_millis(wait), |act, ctx| act.hang_up(ctx));
    }

    /// Gives back what the connection holds outside itself: its place in presence, its rooms'
    /// fan-out, its broker topics, its socket record and its watch quota. Idempotent; runs at
    /// the close the server starts and when the actor stops. While closing, nothing new is
    /// attached or watched (`attach`, `follow_support`, `watch`).
    fn release(&mut self) {
        if self.released {
            return;
        }
        self.released = true;
        let realtime = &self.state.realtime;
        realtime.sockets().remove(self.id);
        realtime.registry().do_send(Detach { conn_id: self.id, room_ids: self.rooms.drain().collect() });
        realtime.broker().unsubscribe(Topic::User(self.caller.id), self.id.0);
        if self.caller.role.is_staff() {
            realtime.broker().unsubscribe(Topic::Staff, self.id.0);
        }
        for user_id in self.watched.drain() {
            realtime.broker().unsubscribe(Topic::Presence(user_id), self.id.0);
        }
        realtime.watch_quota().give_back(self.caller.id, self.named.len());
        if self.caller.role != Role::Guest {
            realtime.presence().do_send(presence::Disconnect { user_id: self.caller.id, conn_id: self.id });
        }
    }

    /// Ends the socket with the server's FIN first, once the closing handshake is over: the
    /// dispatcher shuts the connection down as soon as what is written is out.
    fn hang_up(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        self.close_first.set();
        ctx.stop();
    }

    fn respond(
        &mut self,
        id: Option<CommandId>,
        timer: CommandTimer,
        result: Reply,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        timer.finish(result.is_ok());
        if self.closing {
            // After the close frame nothing more may be sent (RFC 6455, 5.5.1).
            return;
        }
        match (id, result) {
            (Some(id), Ok(data)) => ctx.text(commands::reply_ok(&id, &data)),
            (Some(id), Err(e)) => ctx.text(commands::reply_err(&id, &e)),
            (None, Ok(_)) => {}
            (None, Err(e)) => ctx.text(commands::error_event(&e)),
        }
    }

    /// Runs a command's service call off the mailbox and replies when it completes.
    fn run<F>(&mut self, id: Option<CommandId>, timer: CommandTimer, fut: F, ctx: &mut ws::WebsocketContext<Self>)
    where
        F: Future<Output = Reply> + 'static,
    {
        self.run_then(id, timer, fut, |_, data, _| Ok(data), ctx);
    }

    /// As `run`, with `apply` changing the connection by the result before the reply goes out.
    fn run_then<T, F, A>(
        &mut self,
        id: Option<CommandId>,
        timer: CommandTimer,
        fut: F,
        apply: A,
        ctx: &mut ws::WebsocketContext<Self>,
    ) where
        T: 'static,
        F: Future<Output = ApiResult<T>> + 'static,
        A: FnOnce(&mut Self, T, &mut ws::WebsocketContext<Self>) -> Reply + 'static,
    {
        if self.in_flight >= self.state.settings.realtime.max_in_flight_per_connection {
            metrics::counter!("ws_commands_refused_busy_total").increment(1);
            return self.respond(id, timer, Err(ApiError::RateLimited { retry_after_ms: 50 }), ctx);
        }
        self.in_flight += 1;
        // Polled only when its own work wakes it, not on every wake-up of the connection.
        let fut = Woken::new(tracing::Instrument::instrument(fut, timer.span().clone()));
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            act.in_flight -= 1;
            let result = result.and_then(|value| apply(act, value, ctx));
            act.respond(id, timer, result, ctx);
            if act.draining && act.in_flight == 0 {
                act.close(CloseReason::ShuttingDown, ctx);
            }
        }));
    }

    /// Shutdown: stop taking commands, let the running ones reply, then close with 1001.
    fn drain(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        self.draining = true;
        if self.in_flight == 0 {
            self.close(CloseReason::ShuttingDown, ctx);
        }
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let parsed = commands::parse(text);
        let span = tracing::trace_span!(
            "ws.command",
            command = parsed.kind,
            conn_id = self.id.0,
            request_id = %self.request_id,
            otel.kind = "server",
        );
        let timer = CommandTimer::start(parsed.kind, span);
        if parsed.bare_ping {
            ctx.text(ServerEvent::Pong.to_text());
            timer.finish(true);
            return;
        }
        let id = parsed.id;
        // The flag as well as the hub's word: the hub tells its connections in its own turn, and
        // a command read after shutdown began must not start (the client may send it elsewhere).
        if self.draining || self.state.realtime.shutting_down() {
            let e = ApiError::Unavailable(anyhow::anyhow!("shutting down"));
            return self.respond(id, timer, Err(e), ctx);
        }
        let command = match parsed.command {
            Ok(c) => c,
            Err(e) => return self.respond(id, timer, Err(e), ctx),
        };
        if !matches!(command, Command::Ping) {
            if let Err(e) = self.state.user_limits.check(self.caller.id, command.is_message_write()) {
                if self.limited(ctx) {
                    timer.finish(false);
                    return;
                }
                return self.respond(id, timer, Err(e), ctx);
            }
            // A message write is let through once the deployment's limit passes it too (below).
            if !command.is_message_write() {
                self.limited_in_a_row = 0;
            }
        }
        let message_write = command.is_message_write();
        let session = Session {
            state: &self.state,
            caller: &self.caller,
            conn_id: self.id,
            rooms: &self.rooms,
            named: &self.named,
            write_order: &mut self.write_order,
            typing_order: &mut self.typing_order,
        };
        match dispatch::command(session, command) {
            Step::Done(reply) => self.respond(id, timer, reply, ctx),
            Step::Run(fut) if message_write => {
                // The deployment-wide message limit (Redis) before the write, off the mailbox. Its
                // refusals count toward the abuse close as this instance's do: a client that
                // floods from sockets on several instances passes each one's own limit.
                let (state, user) = (self.state.clone(), self.caller.id);
                let gated = async move {
                    Ok(match state.user_limits.check_message_shared(user).await {
                        Ok(()) => Shared::Passed(fut.await),
                        Err(e) => Shared::Refused(e),
                    })
                };
                let counted = |act: &mut Self, shared, ctx: &mut ws::WebsocketContext<Self>| match shared {
                    Shared::Passed(reply) => {
                        act.limited_in_a_row = 0;
                        reply
                    }
                    Shared::Refused(e) => {
                        act.limited(ctx);
                        Err(e)
                    }
                };
                self.run_then(id, timer, gated, counted, ctx);
            }
            Step::Run(fut) => self.run(id, timer, fut, ctx),
            Step::Subscribe(new, fut) => self.subscribe(id, timer, new, fut, ctx),
            Step::Refresh(fut) => self.run_then(id, timer, fut, Self::refreshed, ctx),
            Step::SyncFollow(fut) => self.run_then(
                id,
                timer,
                fut,
                |act, (page, follow), _| {
                    if follow {
                        act.follow_support(page.room_id, Some(page.last_seq));
                    }
                    Ok(ReplyData::Sync(page))
                },
                ctx,
            ),
        }
    }

    /// One more command refused by a rate limit; past the allowance the socket closes (1008) and
    /// this says so.
    fn limited(&mut self, ctx: &mut ws::WebsocketContext<Self>) -> bool {
        self.limited_in_a_row += 1;
        if self.limited_in_a_row > self.state.settings.rate_limit.abuse_close_after {
            self.close(CloseReason::RateLimitAbuse, ctx);
            return true;
        }
        false
    }

    /// A refresh passed the checks: the socket now lives as long as the new token (and holds the
    /// account as read now).
    fn refreshed(&mut self, grant: TokenGrant, ctx: &mut ws::WebsocketContext<Self>) -> Reply {
        self.caller = grant.caller;
        user_rows::share(&mut self.caller.user);
        // Before the session moves: the expiry depends on whether it does.
        self.token_expires_at = if grant.session == self.login_session {
            // Two refreshes of one session in flight may complete in either order: an older
            // token never shortens.
            self.token_expires_at.max(grant.expires_at)
        } else {
            // Another session's token (an API token's socket moving to an access token, or back)
            // is the one it lives on now, its expiry included.
            grant.expires_at
        };
        // Bound to the session of the token it lives on now.
        self.login_session = grant.session;
        self.state.realtime.sockets().set_session(self.id, grant.session);
        self.arm_token_timer(ctx);
        let expires_at = i64::try_from(self.token_expires_at)
            .ok()
            .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        Ok(ReplyData::Refreshed { expires_at })
    }
}

/// A message write's check against the deployment's limit: the write's reply if it passed.
enum Shared {
    Passed(Reply),
    Refused(ApiError),
}

impl WsConnection {
    /// Stops following a room the user is no longer in.
    fn leave(&mut self, room_id: RoomId) {
        self.member_rooms.remove(&room_id);
        self.staff_rooms.retain(|r| *r != room_id);
        if self.rooms.remove(&room_id) {
            self.state.realtime.registry().do_send(Detach { conn_id: self.id, room_ids: vec![room_id] });
        }
    }

    /// The periodic re-check read the user's memberships: a room the connection follows as a
    /// membership it knew of before the read, and which the read no longer has, was lost while
    /// its kick (or leave, or deletion) did not reach this instance. The client hears what the
    /// lost message would have told it, `room.member_removed` about itself, and the room's
    /// events stop.
    fn on_memberships(&mut self, Memberships { as_of, room_ids }: Memberships, ctx: &mut ws::WebsocketContext<Self>) {
        let lost: Vec<RoomId> = self
            .member_rooms
            .iter()
            .filter(|(room, since)| **since < as_of && !room_ids.contains(room) && !self.staff_rooms.contains(room))
            .map(|(room, _)| *room)
            .collect();
        for room_id in lost {
            metrics::counter!("plauder_realtime_revalidation_detaches_total").increment(1);
            self.leave(room_id);
            let removed = ServerEvent::MemberRemoved(MemberRemoved { room_id, user_id: self.caller.id });
            ctx.text(removed.to_text());
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Upgrades an authenticated request to a WebSocket served by a new connection actor.
///
/// # Errors
/// 429 `rate_limited` when the user or the client address already has its most sockets open
/// (`quota.sockets_per_user_max`, `quota.sockets_per_address_max`); the request is not a valid
/// WebSocket handshake.
pub fn start(
    req: &actix_web::HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    opened: SocketGrant<Opening>,
) -> Result<actix_web::HttpResponse, actix_web::Error> {
    let frame_size = state.settings.realtime.max_frame_bytes;
    let slot = state.sockets.acquire(opened.grant.caller.id, state.client_limit_key(req))?;
    let request_id = Uuid::new_v4();
    let close_first = ShutdownAfterBody::default();
    let actor = WsConnection::new(state, opened, slot, request_id, close_first.clone());
    let mut res = ws::WsResponseBuilder::new(actor, req, stream).frame_size(frame_size).start()?;
    res.extensions_mut().insert(close_first);
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&request_id.to_string()) {
        res.headers_mut().insert(actix_web::http::header::HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

impl Actor for WsConnection {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        metrics::gauge!("ws_connections").increment(1.0);
        ctx.add_stream(self.inbox.stream());
        let realtime = &self.state.realtime;
        realtime.connection_opened();
        // The version and role it was authorised with at the upgrade: a later refresh does not
        // change what a lost revocation must catch.
        let user = &self.caller.user;
        let info = SocketInfo {
            user_id: user.id,
            token_version: user.token_version,
            role: user.role,
            session: self.login_session,
            outbox: self.handle.clone(),
        };
        realtime.sockets().insert(self.id, info);
        // The upgrade's subscription to the user's topic is the connection's from now on.
        let from_upgrade = self.from_upgrade.take().map(|f| {
            let FromUpgrade { rooms, friends, mut early } = *f;
            early.armed = false;
            (rooms, friends)
        });
        if self.caller.role.is_staff() {
            realtime.broker().subscribe(Topic::Staff, self.id.0, self.broker_subscriber());
        }
        if self.caller.role != Role::Guest {
            // The status the user chose last, wherever they chose it.
            let status = self.caller.user.presence_status.into();
            realtime.presence().do_send(presence::Connect { user_id: self.caller.id, conn_id: self.id, status });
        }
        // The heartbeat and shutdown come through the inbox, from the worker's hub.
        self.arm_token_timer(ctx);

        // Attached to every room before `hello` and before any frame is handled: from `hello` on,
        // every event of the user's rooms reaches this connection, and typing checks see them.
        let (state, handle) = (self.state.clone(), self.handle.clone());
        let staff = self.caller.role.is_staff();
        let (rooms, friends) = from_upgrade.unwrap_or_default();
        let load = async move {
            // Admins and moderators follow open support rooms without being members: the most
            // recently active ones, up to the bound (the inbox pages through the rest), the
            // least recent first as the order of `staff_rooms` wants.
            let mut support = Vec::new();
            if staff {
                // Read once the staff topic (subscribed above) hears every instance: a session
                // opened elsewhere is then in the read or announced on the topic, not missed
                // between the two.
                state.realtime.broker().ready().await;
                let max = state.settings.quota.staff_support_rooms_per_connection_max;
                support = support::open_room_ids(&state, max).await?;
                support.reverse();
            }
            let room_ids = rooms.iter().chain(&support).copied().collect();
            let attach = AttachMany { room_ids, conn: handle };
            state
                .realtime
                .registry
                .send(attach)
                .await
                .map_err(|e| ApiError::internal(anyhow::anyhow!("registry: {e}")))?;
            // Subscriptions to other instances' events (Redis) confirmed, or Redis is down.
            state.realtime.broker().ready().await;
            Ok::<_, ApiError>((rooms, support, friends))
        };
        ctx.wait(load.into_actor(self).map(|loaded, act, ctx| match loaded {
            Ok((rooms, support, friends)) => {
                // After the read: a re-check that began before it cannot judge these rooms.
                let now = Instant::now();
                act.member_rooms.extend(rooms.iter().map(|r| (*r, now)));
                act.rooms.extend(rooms);
                act.staff_rooms.extend(support.iter().copied());
                act.rooms.extend(support);
                for friend in friends {
                    act.watch(friend);
                }
                let user = UserView::own(&act.caller.user);
                let hello = ServerEvent::Hello(Hello {
                    user: &user,
                    session_id: act.session_id,
                    heartbeat_ms: act.state.settings.realtime.heartbeat_interval_ms,
                    instance: &act.state.instance_id,
                });
                ctx.text(hello.to_text());
            }
            Err(e) => {
                tracing::warn!("closing a new connection: its rooms could not be loaded: {e}");
                act.close(CloseReason::Unavailable, ctx);
            }
        }));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        metrics::gauge!("ws_connections").decrement(1.0);
        self.state.realtime.connection_closed();
        self.release();
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WsConnection {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        if self.closing {
            match msg {
                // The answer to our close frame: the handshake is over.
                Ok(ws::Message::Close(_)) => self.hang_up(ctx),
                // A frame the decoder cannot read is not taken off its buffer: stop reading.
                Err(_) => ctx.stop(),
                // What the client sent before it read our close frame.
                Ok(_) => {}
            }
            return;
        }
        match msg {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Binary(_)) => {
                let e = ApiError::BadRequest("Binary frames are not supported; send JSON text.".into());
                ctx.text(commands::error_event(&e));
            }
            Ok(ws::Message::Ping(bytes)) => ctx.pong(&bytes),
            Ok(ws::Message::Pong(_) | ws::Message::Nop) => {}
            Ok(ws::Message::Continuation(_)) => {
                let e = ApiError::BadRequest("Fragmented frames are not supported.".into());
                ctx.text(commands::error_event(&e));
            }
            Ok(ws::Message::Close(reason)) => {
                // The client closed first and hears our close frame last: nothing more comes,
                // so the server closes the TCP connection as soon as that frame is out.
                ctx.close(reason);
                self.hang_up(ctx);
            }
            Err(ws::ProtocolError::Overflow) => self.close(CloseReason::FrameTooLarge, ctx),
            Err(e) => {
                tracing::debug!("websocket protocol error: {e}");
                // RFC 6455 fails such a connection with a close frame: 1007 for a text frame that
                // is not UTF-8 (actix-web-actors reports it only as an I/O error with
                // `ByteString`'s message, hence the text match), 1002 for any other violation.
                let reason = match &e {
                    ws::ProtocolError::Io(io) if io.to_string().contains("utf-8") => CloseReason::InvalidText,
                    _ => CloseReason::ProtocolViolation,
                };
                self.close(reason, ctx);
            }
        }
    }
}

impl StreamHandler<InboxReady> for WsConnection {
    /// Everything queued since the connection last ran goes out together, in one buffer.
    fn handle(&mut self, ready: InboxReady, ctx: &mut Self::Context) {
        if self.closing {
            // Nothing more is written after the close frame; what is queued is dropped.
            while self.inbox.pop().is_some() {}
            return;
        }
        match ready {
            InboxReady::Events => {
                // Nothing more is written once a control change closed the socket.
                while !self.closing
                    && ctx.state() == ActorState::Running
                    && let Some(item) = self.inbox.pop()
                {
                    match item {
                        Item::Text(text) => ctx.text(text),
                        Item::Control(published) => self.on_control(&published, ctx),
                        Item::Memberships(memberships) => self.on_memberships(memberships, ctx),
                    }
                }
            }
            InboxReady::Overflowed => self.close(CloseReason::TooSlow, ctx),
            InboxReady::Heartbeat => {
                let heartbeat = Duration::from_millis(self.state.settings.realtime.heartbeat_interval_ms);
                if self.last_heard.elapsed() > heartbeat * 3 {
                    self.close(CloseReason::NoHeartbeat, ctx);
                } else {
                    ctx.ping(b"");
                }
            }
            InboxReady::Drain => self.drain(ctx),
        }
    }

    /// The inbox ends only after an overflow, which closes the socket already.
    fn finished(&mut self, _: &mut Self::Context) {}
}

impl WsConnection {
    /// A control change from one of the connection's broker topics, or the re-check's close.
    fn on_control(&mut self, msg: &Published, ctx: &mut ws::WebsocketContext<Self>) {
        match msg.envelope.as_ref() {
            // Events are queued as their text (`Item::Text`).
            Envelope::Event { .. } => {}
            Envelope::Control(Control::Attach { room_id, from_seq }) => {
                // On the staff topic: a support session opened.
                if msg.topic == Topic::Staff {
                    self.follow_support(*room_id, *from_seq);
                } else {
                    self.member_rooms.insert(*room_id, Instant::now());
                    self.attach(*room_id, *from_seq);
                }
            }
            Envelope::Control(Control::Close(reason)) => self.close(*reason, ctx),
            Envelope::Control(Control::CloseSession { session }) => {
                if self.login_session == Some(*session) {
                    self.close(CloseReason::LoggedOut, ctx);
                }
            }
            Envelope::Control(Control::WatchPresence { user_id }) => self.watch(*user_id),
            Envelope::Control(Control::UnwatchPresence { user_id }) => self.unwatch(*user_id),
            Envelope::Control(Control::ChooseStatus { status }) => {
                if self.caller.role != Role::Guest {
                    let set = presence::SetStatus { user_id: self.caller.id, conn_id: self.id, status: *status };
                    self.state.realtime.presence().do_send(set);
                    // The client shows the status it has chosen: chosen on another device, it
                    // changes here too.
                    ctx.text(ServerEvent::PresenceChosen(PresenceChosen { status: *status }).to_text());
                }
            }
            Envelope::Control(Control::Left { room_id }) => self.leave(*room_id),
            Envelope::Control(Control::Detach { .. } | Control::RoomDeleted) => {}
        }
    }
}
