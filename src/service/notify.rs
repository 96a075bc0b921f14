//! The one way services reach connected clients: after a change commits, a service hands the
//! events it caused to this interface, and reads the live figures it needs (presence, counts)
//! from it. The real-time side (`realtime::Realtime`) implements it; services know no actor,
//! broker or topic, only the events of `protocol`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use uuid::Uuid;

use crate::error::ApiResult;
use crate::ids::{RoomId, UserId};
use crate::protocol::presence::Visible;
use crate::protocol::{CloseReason, ServerEvent};
use crate::views::{RoomView, UserView};

pub trait Notify: Send + Sync {
    /// To every connection attached to the room (its members', and staff following a support
    /// room). History events are delivered in their seq order.
    fn room_event(&self, room_id: RoomId, event: &ServerEvent<'_>);

    /// A history event announced once more (a retried send whose original may not have been
    /// heard): delivered where it is still awaited, and dropped where it was delivered. A room
    /// that starts meanwhile does not take it for news, so it cannot replay the history since.
    fn room_event_again(&self, room_id: RoomId, event: &ServerEvent<'_>);

    /// To every connection of one user.
    fn user_event(&self, user_id: UserId, event: &ServerEvent<'_>);

    /// Users joined a room: the members already there hear `room.member_added`, and each new
    /// member's connections attach to the room and hear it too.
    fn members_added(&self, room: &RoomView, users: &[UserView]);

    /// A user left or was removed: everyone, the user included, hears `room.member_removed`,
    /// then that user's connections stop receiving the room.
    fn member_removed(&self, room_id: RoomId, user_id: UserId);

    /// The room is gone: members hear `room.deleted` and their connections drop it.
    fn room_deleted(&self, room_id: RoomId, member_ids: &[UserId]);

    /// Two users became friends: each starts receiving the other's presence.
    fn befriended(&self, a: UserId, b: UserId);

    /// One user blocked the other: neither receives the other's presence any more, whatever
    /// made them receive it (friendship, a subscription).
    fn blocked(&self, a: UserId, b: UserId);

    /// `watcher`'s connections stop receiving `watched`'s presence (it is no longer theirs to
    /// see).
    fn stop_watching(&self, watcher: UserId, watched: UserId);

    /// A new support session (`support.session_created`): every online admin and moderator hears
    /// it, and their connections follow the room from now on.
    fn support_opened(&self, room_id: RoomId, event: &ServerEvent<'_>);

    /// Closes every connection of the user, on every instance.
    fn close_user(&self, user_id: UserId, reason: CloseReason);

    /// Closes the user's connections opened (or last refreshed) with an access token of this
    /// login session (refresh-token family), on every instance: the session was logged out.
    fn close_session(&self, user_id: UserId, session: Uuid);

    /// The status others see of each of these users that is not offline, across the cluster
    /// when there is one.
    fn live_statuses(&self, ids: Vec<UserId>) -> BoxFuture<'_, HashMap<UserId, Visible>>;

    /// Which of these users have a WebSocket connection open anywhere in the cluster, whatever
    /// their status (invisible, and guests, who have no presence, included): each connection
    /// subscribes its user's topic, so with Redis this asks Redis how many instances listen on
    /// those channels; without Redis (or when it does not answer), this instance's sockets.
    fn connected(&self, ids: Vec<UserId>) -> BoxFuture<'_, HashSet<UserId>>;

    /// Which of these users have an open connection (any status, invisible included), across the
    /// cluster when there is one: they need no push, they see the message live.
    fn connected_users(&self, ids: Vec<UserId>) -> BoxFuture<'_, HashSet<UserId>>;

    /// When each of these users was last seen, where the real-time side knows a time that may
    /// not be saved yet (the one their `presence` event carried); absent ones: the saved time
    /// stands.
    fn recent_last_seen(&self, ids: Vec<UserId>) -> BoxFuture<'_, HashMap<UserId, DateTime<Utc>>>;

    /// Users with an open connection and open WebSocket connections: of the whole deployment
    /// when instances share Redis and it answers, else of this instance.
    fn live_figures(&self) -> BoxFuture<'_, ApiResult<LiveFigures>>;
}

/// The live counters of the admin panel.
#[derive(Debug, Clone, Copy)]
pub struct LiveFigures {
    pub users_online: usize,
    pub connections: usize,
}
