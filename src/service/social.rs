//! Friends and blocks. A block ends any friendship and pending request between the two, and while
//! it stands neither can send the other a friend request or open or write in a direct room with
//! them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;

use crate::auth::Caller;
use crate::db::models::{Role, User};
use crate::db::queries::{social, users};
use crate::error::{ApiError, ApiResult, gone_meanwhile};
use crate::ids::{FriendRequestId, UserId};
use crate::protocol::ServerEvent;
use crate::protocol::events::{FriendAccepted, FriendRequest};
use crate::protocol::presence::{Status, Visible};
use crate::state::AppState;
use crate::views::{BlockView, FriendRequestView, FriendView, PresenceView, UserView, UserWithPresence};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FriendRequests {
    pub incoming: Vec<FriendRequestView>,
    pub outgoing: Vec<FriendRequestView>,
}

/// The live side of presence for some users: who is not offline, and when the ones who went
/// offline lately were last seen (a time the database may not hold yet).
struct Live {
    statuses: HashMap<UserId, Visible>,
    last_seen: HashMap<UserId, DateTime<Utc>>,
}

impl Live {
    async fn of(state: &AppState, ids: Vec<UserId>) -> Self {
        let statuses = state.notify.live_statuses(ids.clone()).await;
        let offline: Vec<UserId> = ids.into_iter().filter(|id| !statuses.contains_key(id)).collect();
        let last_seen = if offline.is_empty() { HashMap::new() } else { state.notify.recent_last_seen(offline).await };
        Self { statuses, last_seen }
    }

    /// What others see of a user's presence: the live status, or offline with when they were
    /// last seen: the time their `presence` event carried, where the saved one is older.
    fn presence_of(&self, user: &User) -> PresenceView {
        match self.statuses.get(&user.id) {
            Some(status) if user.role != Role::Guest => PresenceView { status: *status, last_seen_at: None },
            _ => {
                let live = self.last_seen.get(&user.id).copied();
                PresenceView { status: Visible::Offline, last_seen_at: live.max(user.last_seen_at) }
            }
        }
    }

    fn with_presence(&self, user: &User) -> UserWithPresence {
        UserWithPresence { user: UserView::public(user), presence: self.presence_of(user) }
    }
}

#[derive(Debug, Serialize)]
pub struct PresenceStatus {
    pub user_id: UserId,
    #[serde(flatten)]
    pub presence: PresenceView,
}

/// `presence.subscribe`: those of the named users whose presence the caller may see, and their
/// statuses. Unknown users, guests, and users whose presence is not the caller's to see are left
/// out alike, so the answer does not tell them apart: see [`social::presence_visible_to`] for
/// who sees whom (friends, room co-members, staff, or everyone where the user allows it; never
/// across a block).
///
/// # Errors
/// Database failures only.
pub async fn presence_statuses(
    state: &AppState,
    caller: &Caller,
    ids: &[UserId],
) -> ApiResult<(Vec<UserId>, Vec<PresenceStatus>)> {
    let users = {
        let mut conn = state.db().await?;
        let visible = social::presence_visible_to(&mut conn, caller.id, caller.role.is_staff(), ids).await?;
        users::find_many(&mut conn, &visible).await?
    };
    let visible: Vec<UserId> = users.iter().map(|u| u.id).collect();
    let live = Live::of(state, visible.clone()).await;
    let statuses = users.iter().map(|u| PresenceStatus { user_id: u.id, presence: live.presence_of(u) }).collect();
    Ok((visible, statuses))
}

/// `presence.set`: keeps the chosen status with the account, so that the user's next
/// connections (a reconnect, another device) start with it.
///
/// # Errors
/// Database failures only.
pub async fn choose_status(state: &AppState, caller: &Caller, status: Status) -> ApiResult<()> {
    let mut conn = state.db().await?;
    users::set_presence_status(&mut conn, caller.id, status.into()).await?;
    Ok(())
}

/// Another existing, non-guest user.
async fn other_user(conn: &mut AsyncPgConnection, caller: &Caller, id: UserId) -> ApiResult<User> {
    if id == caller.id {
        return Err(ApiError::validation("user_id", "That is you."));
    }
    users::find(conn, id).await?.filter(|u| u.role != Role::Guest).ok_or_else(no_such_user)
}

fn no_such_user() -> ApiError {
    ApiError::NotFound("No such user.".into())
}

/// `GET /friends`.
///
/// # Errors
/// Database failures only.
pub async fn friends(state: &AppState, caller: &Caller) -> ApiResult<Vec<FriendView>> {
    let mut conn = state.db().await?;
    let rows = social::friends(&mut conn, caller.id).await?;
    drop(conn);
    let live = Live::of(state, rows.iter().map(|(_, u)| u.id).collect()).await;
    Ok(rows.iter().map(|(since, u)| FriendView { user: live.with_presence(u), since: *since }).collect())
}

/// `POST /friends/requests`.
///
/// # Errors
/// `forbidden` when either blocks the other; `conflict` when already friends or a request is
/// pending either way; `not_found` / `validation_failed` for a bad user id.
pub async fn send_request(state: &AppState, caller: &Caller, to: UserId) -> ApiResult<FriendRequestView> {
    let mut conn = state.db().await?;
    let target = other_user(&mut conn, caller, to).await?;
    let from = caller.id;
    let request = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            // Under the pair's lock, so a block committing meanwhile is seen (`lock_pair`).
            social::lock_pair(conn, from, to).await?;
            if social::blocked_either_way(conn, from, to).await? {
                return Err(ApiError::Forbidden("You cannot send this user a friend request.".into()));
            }
            if social::are_friends(conn, from, to).await? {
                return Err(ApiError::Conflict("You are already friends.".into()));
            }
            if social::request_from(conn, to, from).await?.is_some() {
                return Err(ApiError::Conflict("They already sent you a request: accept it instead.".into()));
            }
            social::insert_request(conn, FriendRequestId::new(), from, to).await.map_err(|e| match e {
                diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                    ApiError::Conflict("You already sent this user a request.".into())
                }
                // Either account deleted meanwhile.
                other => gone_meanwhile(other, no_such_user),
            })
        })
        .await?;
    let view = FriendRequestView {
        id: request.id,
        from: UserView::public(&caller.user),
        to: UserView::public(&target),
        created_at: request.created_at,
    };
    state.notify.user_event(to, &ServerEvent::FriendRequest(FriendRequest { request: &view }));
    Ok(view)
}

/// `GET /friends/requests`.
///
/// # Errors
/// Database failures only.
pub async fn requests(state: &AppState, caller: &Caller) -> ApiResult<FriendRequests> {
    let mut conn = state.db().await?;
    let me = UserView::public(&caller.user);
    let incoming = social::incoming(&mut conn, caller.id).await?;
    let outgoing = social::outgoing(&mut conn, caller.id).await?;
    Ok(FriendRequests {
        incoming: incoming
            .iter()
            .map(|(r, from)| FriendRequestView {
                id: r.id,
                from: UserView::public(from),
                to: me.clone(),
                created_at: r.created_at,
            })
            .collect(),
        outgoing: outgoing
            .iter()
            .map(|(r, to)| FriendRequestView {
                id: r.id,
                from: me.clone(),
                to: UserView::public(to),
                created_at: r.created_at,
            })
            .collect(),
    })
}

fn no_such_request() -> ApiError {
    ApiError::NotFound("No such friend request.".into())
}

/// `POST /friends/requests/{id}/accept`: the recipient accepts; returns the new friend.
///
/// # Errors
/// `not_found` unless the request exists and is addressed to the caller.
pub async fn accept(state: &AppState, caller: &Caller, request_id: FriendRequestId) -> ApiResult<FriendView> {
    let mut conn = state.db().await?;
    let request = social::find_request(&mut conn, request_id).await?.filter(|r| r.to_user_id == caller.id);
    let request = request.ok_or_else(no_such_request)?;
    let friend = users::find(&mut conn, request.from_user_id).await?.ok_or_else(no_such_request)?;
    let (a, b) = (caller.id, friend.id);
    let since = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            // Under the pair's lock: a block (which ends the request) either committed before,
            // and the request is gone, or waits for this and then ends the friendship.
            social::lock_pair(conn, a, b).await?;
            // Spent here, so that a withdrawal or a decline racing this one makes one of the two
            // find nothing: the request is either accepted or withdrawn, not both.
            if social::delete_request(conn, request_id).await? == 0 || social::blocked_either_way(conn, a, b).await? {
                return Err(no_such_request());
            }
            // Either account deleted meanwhile: the request went with it.
            let since = social::befriend(conn, a, b).await.map_err(|e| gone_meanwhile(e, no_such_request))?;
            social::delete_requests_between(conn, a, b).await?;
            Ok(since)
        })
        .await?;
    state.notify.befriended(caller.id, friend.id);
    let user = UserView::public(&caller.user);
    state.notify.user_event(friend.id, &ServerEvent::FriendAccepted(FriendAccepted { user: &user }));
    let live = Live::of(state, vec![friend.id]).await;
    Ok(FriendView { user: live.with_presence(&friend), since })
}

/// `POST /friends/requests/{id}/decline`: the recipient declines, or the sender withdraws.
///
/// # Errors
/// `not_found` unless the request exists and involves the caller.
pub async fn decline(state: &AppState, caller: &Caller, request_id: FriendRequestId) -> ApiResult<()> {
    let mut conn = state.db().await?;
    let request = social::find_request(&mut conn, request_id).await?;
    let request =
        request.filter(|r| r.to_user_id == caller.id || r.from_user_id == caller.id).ok_or_else(no_such_request)?;
    // Gone meanwhile (accepted, or declined from the other side): nothing was declined.
    if social::delete_request(&mut conn, request.id).await? == 0 {
        return Err(no_such_request());
    }
    Ok(())
}

/// `DELETE /friends/{user_id}`.
///
/// # Errors
/// `not_found` when they are not friends.
pub async fn unfriend(state: &AppState, caller: &Caller, user_id: UserId) -> ApiResult<()> {
    let mut conn = state.db().await?;
    if !social::unfriend(&mut conn, caller.id, user_id).await? {
        return Err(ApiError::NotFound("You are not friends with that user.".into()));
    }
    // Each stops receiving the other's presence unless it is still theirs to see (a shared room,
    // staff, or shown to everyone).
    let other_is_staff = users::find(&mut conn, user_id).await?.is_some_and(|u| u.role.is_staff());
    for (watcher, staff, watched) in
        [(caller.id, caller.role.is_staff(), user_id), (user_id, other_is_staff, caller.id)]
    {
        if social::presence_visible_to(&mut conn, watcher, staff, &[watched]).await?.is_empty() {
            state.notify.stop_watching(watcher, watched);
        }
    }
    Ok(())
}

/// `POST /blocks`: returns the block and whether it is new (blocking twice is harmless).
///
/// # Errors
/// `not_found` / `validation_failed` for a bad user id.
pub async fn block(state: &AppState, caller: &Caller, user_id: UserId) -> ApiResult<(BlockView, bool)> {
    let mut conn = state.db().await?;
    let target = other_user(&mut conn, caller, user_id).await?;
    let (a, b) = (caller.id, user_id);
    let (block, existed) = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            social::lock_pair(conn, a, b).await?;
            // Their direct room's row, after the pair's lock (the order a block always takes):
            // a message, edit or reaction there checked before this commits lands first, or is
            // refused once it has (`service::messages`).
            crate::db::queries::rooms::lock_direct(conn, &crate::service::rooms::direct_key(a, b)).await?;
            let existed = social::is_blocking(conn, a, b).await?;
            let block = social::block(conn, a, b).await.map_err(|e| gone_meanwhile(e, no_such_user))?;
            social::unfriend(conn, a, b).await?;
            social::delete_requests_between(conn, a, b).await?;
            Ok((block, existed))
        })
        .await?;
    // A block hides presence both ways, also where a subscription or the ended friendship had
    // each receiving the other's.
    state.notify.blocked(a, b);
    Ok((BlockView { user: UserView::public(&target), created_at: block.created_at }, !existed))
}

/// `DELETE /blocks/{user_id}`.
///
/// # Errors
/// `not_found` when the caller does not block that user.
pub async fn unblock(state: &AppState, caller: &Caller, user_id: UserId) -> ApiResult<()> {
    let mut conn = state.db().await?;
    if !social::unblock(&mut conn, caller.id, user_id).await? {
        return Err(ApiError::NotFound("You do not block that user.".into()));
    }
    Ok(())
}

/// `GET /blocks`: the users the caller blocks.
///
/// # Errors
/// Database failures only.
pub async fn blocks(state: &AppState, caller: &Caller) -> ApiResult<Vec<BlockView>> {
    let mut conn = state.db().await?;
    let rows = social::blocks_of(&mut conn, caller.id).await?;
    Ok(rows.iter().map(|(b, u)| BlockView { user: UserView::public(u), created_at: b.created_at }).collect())
}
