//! Rooms and membership: create (group, direct), list, read, update, delete, members, join,
//! leave or kick, member roles, read markers. What global staff do here by their global role
//! (not as the room's owner or moderator) goes on the audit log with the change.

use std::collections::HashMap;

use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;
use serde_json::json;

use crate::auth::Caller;
use crate::db::models::{MemberRole, NewRoom, NewRoomMember, Role, Room, RoomChanges, RoomKind, SupportStatus, User};
use crate::db::queries::{messages, rooms, social, users};
use crate::error::{ApiError, ApiResult, ConflictExt, violates_foreign_key};
use crate::ids::{MessageId, RoomId, Seq, UserId};
use crate::protocol::ServerEvent;
use crate::protocol::events::{Read, RoomUpdated};
use crate::service::access::{RoomAccess, no_such_room};
use crate::service::audit::{self, Action};
use crate::state::AppState;
use crate::views::{MemberView, MessageView, RoomListing, RoomView, UserView};

/// The foreign keys of `room_members` (PostgreSQL's default names).
const ROOM_OF_MEMBER: &str = "room_members_room_id_fkey";
const USER_OF_MEMBER: &str = "room_members_user_id_fkey";

/// Most users a room can be created with or have added in one call.
pub const MAX_MEMBERS_PER_CALL: usize = 200;

pub struct CreateRoom {
    pub kind: String,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub is_public: Option<bool>,
    pub member_ids: Vec<UserId>,
}

pub struct UpdateRoom {
    pub name: Option<String>,
    pub topic: Option<Option<String>>,
    pub is_public: Option<bool>,
}

/// A room as `GET /rooms/{id}` shows it: the room, and the caller's standing when a member.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoomDetail {
    #[serde(flatten)]
    pub room: RoomView,
    pub my_role: Option<MemberRole>,
    pub last_read_seq: Option<Seq>,
    pub unread_count: Option<i64>,
    /// Support rooms only: whether their session is `open` or `closed` (how a visitor's widget
    /// that was offline at the close learns of it: `support.session_closed` is not replayed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_status: Option<SupportStatus>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadMarker {
    pub room_id: RoomId,
    pub last_read_seq: Seq,
    pub unread_count: i64,
}

fn validate_name(name: &str) -> ApiResult<String> {
    let trimmed = name.trim();
    let len = trimmed.chars().count();
    if len == 0 || len > 100 || trimmed.chars().any(char::is_control) {
        return Err(ApiError::validation("name", "Room name must be 1 to 100 characters without control characters."));
    }
    Ok(trimmed.to_owned())
}

fn validate_topic(topic: &str) -> ApiResult<()> {
    if topic.chars().count() > 500 {
        return Err(ApiError::validation("topic", "Topic must be at most 500 characters."));
    }
    Ok(())
}

fn no_guests(caller: &Caller) -> ApiResult<()> {
    if caller.role == Role::Guest {
        return Err(ApiError::Forbidden("Guests can only use their support room.".into()));
    }
    Ok(())
}

/// The distinct other users among `ids`, which must all exist and not be guests.
async fn other_users(conn: &mut AsyncPgConnection, caller: UserId, ids: &[UserId]) -> ApiResult<Vec<User>> {
    let mut wanted: Vec<UserId> = ids.iter().copied().filter(|id| *id != caller).collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.len() > MAX_MEMBERS_PER_CALL {
        return Err(ApiError::validation("member_ids", format!("At most {MAX_MEMBERS_PER_CALL} users at a time.")));
    }
    let found: Vec<User> =
        users::find_many(conn, &wanted).await?.into_iter().filter(|u| u.role != Role::Guest).collect();
    if found.len() != wanted.len() {
        let missing: Vec<String> =
            wanted.iter().filter(|id| !found.iter().any(|u| u.id == **id)).map(ToString::to_string).collect();
        return Err(ApiError::Validation {
            message: "Some users do not exist.".into(),
            details: Some(
                serde_json::json!({ "fields": { "member_ids": "unknown users" }, "unknown_user_ids": missing }),
            ),
        });
    }
    Ok(found)
}

/// A user named in `field` to be added, found by the checks, was deleted before the insert.
fn named_user_deleted(e: diesel::result::Error, field: &str) -> ApiError {
    if violates_foreign_key(&e, USER_OF_MEMBER) {
        ApiError::validation(field, "A user named was deleted meanwhile.")
    } else {
        e.into()
    }
}

/// Nobody is put in a group by someone they block. Checked in the transaction that adds them,
/// under the pairs' locks, which a block takes too: a block committing meanwhile is seen here, or
/// waits until the users are in (and was made after they were added).
///
/// # Errors
/// `forbidden` when one of `users` blocks `caller`.
async fn refuse_blockers(conn: &mut AsyncPgConnection, caller: UserId, users: &[User]) -> ApiResult<()> {
    let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
    social::lock_pairs(conn, caller, &ids).await?;
    if social::blockers_among(conn, caller, &ids).await?.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("You cannot add a user who blocks you.".into()))
    }
}

/// `POST /rooms`. Returns the room and whether it was created (a direct room that already
/// existed comes back with `false`).
///
/// # Errors
/// `validation_failed` for a bad kind, name, topic or member list; `forbidden` for guests and
/// for a direct room between users where one blocks the other; `not_found` for an unknown
/// direct partner.
pub async fn create(state: &AppState, caller: &Caller, req: CreateRoom) -> ApiResult<(RoomView, bool)> {
    no_guests(caller)?;
    match req.kind.parse::<RoomKind>().ok() {
        Some(RoomKind::Group) => create_group(state, caller, req).await.map(|r| (r, true)),
        Some(RoomKind::Direct) => create_direct(state, caller, &req.member_ids).await,
        Some(RoomKind::Support) => {
            Err(ApiError::validation("kind", "Support rooms are opened with POST /support/sessions."))
        }
        None => Err(ApiError::validation("kind", "kind must be group or direct.")),
    }
}

async fn create_group(state: &AppState, caller: &Caller, req: CreateRoom) -> ApiResult<RoomView> {
    let name = validate_name(req.name.as_deref().unwrap_or_default())?;
    if let Some(topic) = &req.topic {
        validate_topic(topic)?;
    }
    let mut conn = state.db().await?;
    let others = other_users(&mut conn, caller.id, &req.member_ids).await?;
    let mut everyone = vec![UserView::public(&caller.user)];
    everyone.extend(others.iter().map(UserView::public));
    let caller_id = caller.id;
    let room = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            refuse_blockers(conn, caller_id, &others).await?;
            let room = rooms::insert(
                conn,
                &NewRoom {
                    id: RoomId::new(),
                    kind: RoomKind::Group,
                    name: Some(&name),
                    topic: req.topic.as_deref(),
                    is_public: req.is_public.unwrap_or(false),
                    created_by: Some(caller_id),
                    direct_key: None,
                },
            )
            .await?;
            let mut members = vec![NewRoomMember { room_id: room.id, user_id: caller_id, role: MemberRole::Owner }];
            members.extend(others.iter().map(|u| NewRoomMember {
                room_id: room.id,
                user_id: u.id,
                role: MemberRole::Member,
            }));
            rooms::add_members(conn, &members).await.map_err(|e| named_user_deleted(e, "member_ids"))?;
            Ok(room)
        })
        .await?;
    let view = RoomView::new(&room);
    state.notify.members_added(&view, &everyone);
    Ok(view)
}

/// The key that makes a pair's direct room unique, whoever creates it.
pub(crate) fn direct_key(a: UserId, b: UserId) -> String {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    format!("{lo}:{hi}")
}

/// The two members of a direct room, from its key (no query needed).
pub fn direct_pair(key: &str) -> Option<(UserId, UserId)> {
    let (a, b) = key.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The other user of a direct room being opened was deleted meanwhile.
fn partner_deleted(e: diesel::result::Error) -> ApiError {
    if violates_foreign_key(&e, USER_OF_MEMBER) { ApiError::NotFound("No such user.".into()) } else { e.into() }
}

async fn create_direct(state: &AppState, caller: &Caller, member_ids: &[UserId]) -> ApiResult<(RoomView, bool)> {
    let [other] = member_ids else {
        return Err(ApiError::validation("member_ids", "A direct room needs exactly one other user."));
    };
    if *other == caller.id {
        return Err(ApiError::validation("member_ids", "A direct room needs another user than yourself."));
    }
    let mut conn = state.db().await?;
    let partner = users::find(&mut conn, *other).await?.filter(|u| u.role != Role::Guest);
    let partner = partner.ok_or_else(|| ApiError::NotFound("No such user.".into()))?;
    let key = direct_key(caller.id, partner.id);
    let (caller_id, partner_id) = (caller.id, partner.id);
    let members =
        |room_id| [caller_id, partner_id].map(|user_id| NewRoomMember { room_id, user_id, role: MemberRole::Member });
    let pair = [UserView::public(&caller.user), UserView::public(&partner)];
    enum Opened {
        New(Room),
        /// The pair's room, and who of the two came back into it.
        Again(Room, Vec<UserId>),
    }
    enum Failed {
        Api(ApiError),
        /// The pair's room was made meanwhile by a request that did not take the pair's lock (an
        /// older instance, during a rolling update): its insert clashed on `direct_key`.
        Raced,
    }
    impl From<diesel::result::Error> for Failed {
        fn from(e: diesel::result::Error) -> Self {
            Failed::Api(e.into())
        }
    }
    impl From<ApiError> for Failed {
        fn from(e: ApiError) -> Self {
            Failed::Api(e)
        }
    }
    // Under the pair's lock, which a block takes first: a block committing meanwhile is seen here,
    // or waits until the room is made (and then stops its messages).
    let created = conn
        .transaction::<_, Failed, _>(async |conn| {
            social::lock_pair(conn, caller_id, partner_id).await?;
            if social::blocked_either_way(conn, caller_id, partner_id).await? {
                return Err(ApiError::Forbidden("You cannot open a direct room with this user.".into()).into());
            }
            if let Some(room) = rooms::find_direct(conn, &key).await? {
                // Someone who left comes back into the same room and history.
                let back = rooms::add_members(conn, &members(room.id)).await.map_err(partner_deleted)?;
                return Ok(Opened::Again(room, back));
            }
            let room = rooms::insert(
                conn,
                &NewRoom {
                    id: RoomId::new(),
                    kind: RoomKind::Direct,
                    name: None,
                    topic: None,
                    is_public: false,
                    created_by: Some(caller_id),
                    direct_key: Some(&key),
                },
            )
            .await
            .map_err(|e| match e {
                diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                    Failed::Raced
                }
                other => other.into(),
            })?;
            rooms::add_members(conn, &members(room.id)).await.map_err(partner_deleted)?;
            Ok(Opened::New(room))
        })
        .await;
    let created = match created {
        Ok(opened) => opened,
        Err(Failed::Api(e)) => return Err(e),
        // The other request's room: answered as found.
        Err(Failed::Raced) => {
            let room = rooms::find_direct(&mut conn, &key).await?.ok_or_else(no_such_room)?;
            return Ok((RoomView::new(&room), false));
        }
    };
    match created {
        Opened::New(room) => {
            let view = RoomView::new(&room);
            state.notify.members_added(&view, &pair);
            Ok((view, true))
        }
        Opened::Again(room, back) => {
            let view = RoomView::new(&room);
            let returning: Vec<UserView> = pair.into_iter().filter(|u| back.contains(&u.id)).collect();
            state.notify.members_added(&view, &returning);
            Ok((view, false))
        }
    }
}

/// `GET /rooms`: three queries whatever the number of rooms (rooms with counts, their last
/// messages, those messages' reactions).
///
/// # Errors
/// Database failures only.
pub async fn list(state: &AppState, caller: &Caller) -> ApiResult<Vec<RoomListing>> {
    let mut conn = state.db().await?;
    let rows = rooms::list_for_user(&mut conn, caller.id).await?;
    let last_ids: Vec<MessageId> = rows.iter().filter_map(|r| r.last_message_id).collect();
    let last = messages::by_ids(&mut conn, &last_ids).await?;
    let reactions = messages::reactions_for(&mut conn, &last_ids).await?;
    let mut last: HashMap<MessageId, MessageView> =
        last.into_iter().map(|m| (m.id, MessageView::new(m, &reactions))).collect();
    Ok(rows
        .into_iter()
        .map(|row| RoomListing {
            room: RoomView::new(&row.room),
            my_role: row.my_role,
            last_read_seq: row.last_read_seq,
            unread_count: row.unread_count,
            last_message: row.last_message_id.and_then(|id| last.remove(&id)),
            support_status: row.support_status,
        })
        .collect())
}

/// `GET /rooms/{id}`.
///
/// # Errors
/// `not_found`, or `forbidden` for a private room the caller is not in.
pub async fn get(state: &AppState, caller: &Caller, room_id: RoomId) -> ApiResult<RoomDetail> {
    let mut conn = state.db().await?;
    let access = RoomAccess::load(&mut conn, room_id, caller).await?;
    access.require_read()?;
    let unread_count = match &access.member {
        Some(m) => Some(rooms::unread_count(&mut conn, room_id, caller.id, m.last_read_seq).await?),
        None => None,
    };
    Ok(RoomDetail {
        room: RoomView::new(&access.room),
        my_role: access.my_role(),
        last_read_seq: access.member.as_ref().map(|m| m.last_read_seq),
        unread_count,
        support_status: access.support_status(),
    })
}

/// `PATCH /rooms/{id}`.
///
/// # Errors
/// `forbidden` unless a moderator of the room; `validation_failed` for bad fields or a direct
/// room.
pub async fn update(state: &AppState, caller: &Caller, room_id: RoomId, req: UpdateRoom) -> ApiResult<RoomView> {
    let mut conn = state.db().await?;
    let access = RoomAccess::load(&mut conn, room_id, caller).await?;
    access.require_moderate()?;
    if access.room.kind != RoomKind::Group {
        return Err(ApiError::validation("kind", "Only group rooms can be renamed or made public."));
    }
    let name = req.name.as_deref().map(validate_name).transpose()?;
    if let Some(Some(topic)) = &req.topic {
        validate_topic(topic)?;
    }
    // Staff do not read private rooms they are not in: by global role alone they may rename or
    // clean up a room, but not open a private one to anyone (themselves included).
    if req.is_public == Some(true) && !access.room.is_public && access.moderates_by_global_role() {
        return Err(ApiError::Forbidden(
            "Only the room's owner or moderators may make a private room public; staff do not open private rooms."
                .into(),
        ));
    }
    let changes = RoomChanges { name, topic: req.topic, is_public: req.is_public };
    if changes.name.is_none() && changes.topic.is_none() && changes.is_public.is_none() {
        return Ok(RoomView::new(&access.room));
    }
    let audited = access
        .moderates_by_global_role()
        .then(|| json!({ "name": changes.name, "topic": changes.topic, "is_public": changes.is_public }));
    let actor = caller.id;
    let room = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            // No row: the room was deleted while this waited for it.
            let room = rooms::update(conn, room_id, &changes).await.map_err(|e| match e {
                diesel::result::Error::NotFound => no_such_room(),
                other => other.into(),
            })?;
            if let Some(details) = audited {
                audit::record(conn, actor, Action::RoomUpdated, room_id, details).await?;
            }
            Ok(room)
        })
        .await?;
    let view = RoomView::new(&room);
    state.notify.room_event(room_id, &ServerEvent::RoomUpdated(RoomUpdated { room: &view }));
    Ok(view)
}

/// `DELETE /rooms/{id}`: the room and its history go.
///
/// # Errors
/// `forbidden` unless the owner or a global admin.
pub async fn delete(state: &AppState, caller: &Caller, room_id: RoomId) -> ApiResult<()> {
    let mut conn = state.db().await?;
    let access = RoomAccess::load(&mut conn, room_id, caller).await?;
    access.require_owner()?;
    let members = rooms::member_ids(&mut conn, room_id).await?;
    let audited = access.owns_by_global_role().then(|| json!({ "name": access.room.name, "kind": access.room.kind }));
    let actor = caller.id;
    // The room's messages go in the same statement (a trigger), so a large room may need far
    // longer than a request's statement_timeout; and once begun, it runs to its end and is
    // announced, whether or not the client still waits.
    let timeout_ms = state.settings.database.erase_statement_timeout_ms;
    let notify = state.notify.clone();
    crate::service::uncancelled(async move {
        conn.transaction::<_, ApiError, _>(async move |conn| {
            crate::db::set_local_erase_limits(conn, timeout_ms).await?;
            // The room before anything that locks an account's row (the audit entry's actor, by
            // its foreign key): room before user, as an account's deletion takes them.
            rooms::lock_for_delete(conn, room_id).await?;
            if let Some(details) = audited {
                audit::record(conn, actor, Action::RoomDeleted, room_id, details).await?;
            }
            // Webhook endpoints scoped to the room can never match again and go with it, with
            // what they had queued; the audit log says so, since only admins manage them.
            crate::service::webhooks::record_going_with_rooms(conn, Some(actor), &[room_id]).await?;
            rooms::delete(conn, room_id).await?;
            Ok(())
        })
        .await?;
        notify.room_deleted(room_id, &members);
        Ok(())
    })
    .await
}

/// `GET /rooms/{id}/members`.
///
/// # Errors
/// As [`get`].
pub async fn members(state: &AppState, caller: &Caller, room_id: RoomId) -> ApiResult<Vec<MemberView>> {
    let mut conn = state.db().await?;
    let access = RoomAccess::load(&mut conn, room_id, caller).await?;
    access.require_read()?;
    let rows = rooms::members(&mut conn, room_id).await?;
    // Across a block neither sees what the other has read, here as in the `read` events.
    let blocked = crate::service::messages::blocked_in_direct_room(&mut conn, &access).await?;
    Ok(rows
        .iter()
        .map(|(m, u)| {
            let mut view = MemberView::new(m, u);
            if blocked && u.id != caller.id {
                view.last_read_seq = None;
            }
            view
        })
        .collect())
}

/// `POST /rooms/{id}/members`: adds users (skipping those already in); returns those added.
///
/// # Errors
/// `forbidden` unless a moderator of the room; `validation_failed` for unknown users or a room
/// that is not a group.
pub async fn add_members(
    state: &AppState,
    caller: &Caller,
    room_id: RoomId,
    user_ids: &[UserId],
) -> ApiResult<Vec<MemberView>> {
    let mut conn = state.db().await?;
    let access = RoomAccess::load(&mut conn, room_id, caller).await?;
    access.require_moderate()?;
    if access.room.kind != RoomKind::Group {
        return Err(ApiError::validation("kind", "Members can only be added to group rooms."));
    }
    if user_ids.is_empty() {
        return Err(ApiError::validation("user_ids", "Name at least one user."));
    }
    // Adding an account (any account: it may be one of theirs) would let staff read a private
    // room they are not in; only the room's owner and moderators add members to one.
    if !access.room.is_public && access.moderates_by_global_role() {
        return Err(ApiError::Forbidden(
            "Only the room's owner or moderators may add members to a private room; staff do not open private rooms."
                .into(),
        ));
    }
    let users = other_users(&mut conn, caller.id, user_ids).await?;
    let new: Vec<NewRoomMember> =
        users.iter().map(|u| NewRoomMember { room_id, user_id: u.id, role: MemberRole::Member }).collect();
    let audited = access.moderates_by_global_role();
    let actor = caller.id;
    let added = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            refuse_blockers(conn, actor, &users).await?;
            let added = rooms::add_members(conn, &new).await.map_err(|e| {
                // Deleted meanwhile, after the checks above found it.
                if violates_foreign_key(&e, ROOM_OF_MEMBER) {
                    no_such_room()
                } else {
                    named_user_deleted(e, "user_ids")
                }
            })?;
            if audited && !added.is_empty() {
                audit::record(conn, actor, Action::RoomMembersAdded, room_id, json!({ "user_ids": added })).await?;
            }
            Ok(added)
        })
        .await?;
    let all = rooms::members(&mut conn, room_id).await?;
    let views: Vec<MemberView> =
        all.iter().filter(|(m, _)| added.contains(&m.user_id)).map(|(m, u)| MemberView::new(m, u)).collect();
    let users: Vec<UserView> = views.iter().map(|m| m.user.clone()).collect();
    state.notify.members_added(&RoomView::new(&access.room), &users);
    Ok(views)
}

/// `DELETE /rooms/{id}/members/{user_id}`: leaving (oneself) or kicking (a moderator). An owner
/// who leaves hands the room to the longest-standing moderator, else member; a room whose last
/// member leaves is kept with its history.
///
/// # Errors
/// `forbidden` for a kick without the right; `validation_failed` on `kind` for a kick from a direct
/// or support room; `not_found` when the user is not a member.
pub async fn remove_member(state: &AppState, caller: &Caller, room_id: RoomId, user_id: UserId) -> ApiResult<()> {
    let mut conn = state.db().await?;
    // Judged once before the room's lock, so that a caller without the right holds it up for
    // nobody, and again under it, on the room and memberships as they are then: a room deleted or
    // a member gone meanwhile is 404 (not 204 for nothing done).
    may_remove(&RoomAccess::load(&mut conn, room_id, caller).await?, caller, user_id)?;
    conn.transaction::<_, ApiError, _>(async |conn| {
        if !rooms::lock(conn, room_id).await? {
            return Err(no_such_room());
        }
        let access = RoomAccess::load(conn, room_id, caller).await?;
        may_remove(&access, caller, user_id)?;
        let target = match rooms::find_with_membership(conn, room_id, user_id).await? {
            Some((_, Some(member))) => member.role,
            _ => return Err(ApiError::NotFound("That user is not a member of this room.".into())),
        };
        if user_id != caller.id {
            let allowed = match access.my_role() {
                _ if caller.role == Role::Admin => true,
                Some(MemberRole::Owner) => true,
                _ if caller.role.is_staff() => target != MemberRole::Owner,
                Some(MemberRole::Moderator) => target == MemberRole::Member,
                _ => false,
            };
            if !allowed {
                return Err(ApiError::Forbidden("You cannot remove this member.".into()));
            }
        }
        // A kick the caller's room role alone would not allow was made by global role. Recorded
        // before the memberships change: the entry's actor (a user's row) before member rows, as
        // an account's deletion takes them.
        let by_room_role = match access.my_role() {
            Some(MemberRole::Owner) => true,
            Some(MemberRole::Moderator) => target == MemberRole::Member,
            _ => false,
        };
        if user_id != caller.id && !by_room_role {
            let details = json!({ "user_id": user_id, "role": target });
            audit::record(conn, caller.id, Action::RoomMemberRemoved, room_id, details).await?;
        }
        if rooms::remove_member(conn, room_id, user_id).await? == 0 {
            return Err(ApiError::NotFound("That user is not a member of this room.".into()));
        }
        if target == MemberRole::Owner {
            hand_over(conn, room_id, user_id).await?;
        }
        Ok(())
    })
    .await?;
    state.notify.member_removed(room_id, user_id);
    Ok(())
}

/// Gives the room of an owner who goes (`leaving`: a leave, a kick, an account's deletion) to the
/// longest-standing moderator, else member (`members()` is ordered by joined_at), under the
/// room's lock; a person before any bot (an incoming webhook's or an admin's), whose owner
/// could no longer be reached by the room's people and whose credentials admins hold. An heir whose membership went meanwhile (an account's deletion does not wait for
/// the room's lock) is passed over for the next, and so is one whose account is being deleted
/// (the room would go with it); a room left with no one keeps no owner.
pub(crate) async fn hand_over(conn: &mut AsyncPgConnection, room_id: RoomId, leaving: UserId) -> ApiResult<()> {
    let mut rest: Vec<_> = rooms::members(conn, room_id)
        .await?
        .into_iter()
        .filter(|(m, u)| m.user_id != leaving && !u.is_being_deleted())
        .map(|(m, u)| (u.is_bot, m))
        .collect();
    // A stable sort: people first, then by role, the longest-standing first within a role.
    rest.sort_by_key(|(bot, m)| (*bot, std::cmp::Reverse(m.role)));
    for (_, heir) in rest {
        if rooms::set_member_role(conn, room_id, heir.user_id, MemberRole::Owner).await? == 1 {
            break;
        }
    }
    Ok(())
}

/// Whether the caller may remove `user_id` from the room as far as their access and the room's
/// kind go; the target's role is judged next, on the membership read under the room's lock.
fn may_remove(access: &RoomAccess, caller: &Caller, user_id: UserId) -> ApiResult<()> {
    if user_id == caller.id {
        access.require_member()?;
        return Ok(());
    }
    access.require_moderate()?;
    // As adding members and roles: a direct room is its two people's, and a support room the
    // visitor's until staff close the session (which global staff could otherwise bypass).
    if access.room.kind != RoomKind::Group {
        return Err(ApiError::validation("kind", "Members can only be removed from group rooms."));
    }
    Ok(())
}

/// `PATCH /rooms/{id}/members/{user_id}`: the owner makes a member a moderator or back, or hands
/// over ownership (becoming a moderator).
///
/// # Errors
/// `forbidden` unless the owner or a global admin; `not_found` for a non-member;
/// `validation_failed` for a bad role.
pub async fn set_member_role(
    state: &AppState,
    caller: &Caller,
    room_id: RoomId,
    user_id: UserId,
    role: &str,
) -> ApiResult<MemberView> {
    let role = role
        .parse::<MemberRole>()
        .map_err(|_| ApiError::validation("role", "role must be owner, moderator or member."))?;
    let mut conn = state.db().await?;
    // Judged before the room's lock and again under it, as removing a member is: a room deleted
    // or a member gone meanwhile is 404, and two hand-overs of ownership cannot both take effect.
    may_set_roles(&RoomAccess::load(&mut conn, room_id, caller).await?)?;
    let (target, user) = conn
        .transaction::<_, ApiError, _>(async |conn| {
            if !rooms::lock(conn, room_id).await? {
                return Err(no_such_room());
            }
            let access = RoomAccess::load(conn, room_id, caller).await?;
            may_set_roles(&access)?;
            let members = rooms::members(conn, room_id).await?;
            let (target, user) = members
                .iter()
                .find(|(m, _)| m.user_id == user_id)
                .cloned()
                .ok_or_else(|| ApiError::NotFound("That user is not a member of this room.".into()))?;
            if target.role == MemberRole::Owner && role != MemberRole::Owner {
                return Err(ApiError::Conflict("Hand ownership to another member instead.".into()));
            }
            // The entry's actor (a user's row) before member rows, as an account's deletion.
            if access.owns_by_global_role() {
                let details = json!({ "user_id": user_id, "from": target.role, "to": role });
                audit::record(conn, caller.id, Action::RoomMemberRoleChanged, room_id, details).await?;
            }
            // An account's deletion does not wait for the room's lock: a member gone meanwhile
            // is 404, with nothing changed.
            if rooms::set_member_role(conn, room_id, user_id, role).await? == 0 {
                return Err(ApiError::NotFound("That user is not a member of this room.".into()));
            }
            if role == MemberRole::Owner {
                let previous = members.iter().filter(|(m, _)| m.role == MemberRole::Owner && m.user_id != user_id);
                for (old, _) in previous {
                    rooms::set_member_role(conn, room_id, old.user_id, MemberRole::Moderator).await?;
                }
            }
            Ok((target, user))
        })
        .await?;
    let mut view = MemberView::new(&target, &user);
    view.role = role;
    Ok(view)
}

/// Only the owner (or an admin) sets roles, and only in group rooms.
fn may_set_roles(access: &RoomAccess) -> ApiResult<()> {
    access.require_owner()?;
    if access.room.kind != RoomKind::Group {
        return Err(ApiError::validation("kind", "Only group rooms have roles."));
    }
    Ok(())
}

/// `POST /rooms/{id}/join`: public group rooms only; joining again is harmless.
///
/// # Errors
/// `forbidden` for private, direct and support rooms and for guests.
pub async fn join(state: &AppState, caller: &Caller, room_id: RoomId) -> ApiResult<RoomView> {
    no_guests(caller)?;
    let mut conn = state.db().await?;
    let access = RoomAccess::load(&mut conn, room_id, caller).await?;
    if access.member.is_none() {
        if !(access.room.is_public && access.room.kind == RoomKind::Group) {
            return Err(ApiError::Forbidden("This room is not public.".into()));
        }
        // A public room's joins can come in a crowd, and each waits for the room's row.
        let (_gate, mut conn) = state.room_write(room_id, conn).await?;
        let me = [NewRoomMember { room_id, user_id: caller.id, role: MemberRole::Member }];
        let added = match rooms::add_members(&mut conn, &me).await {
            // The room was deleted while the join waited for its row.
            Err(e) if violates_foreign_key(&e, ROOM_OF_MEMBER) => return Err(no_such_room()),
            other => other.on_conflict("Already a member.")?,
        };
        rooms::touch(&mut conn, room_id).await?;
        if !added.is_empty() {
            state.notify.members_added(&RoomView::new(&access.room), &[UserView::public(&caller.user)]);
        }
    }
    Ok(RoomView::new(&access.room))
}

/// `POST /rooms/{id}/read {seq}`: moves the caller's read marker forward (never back, never past
/// the room's last seq).
///
/// # Errors
/// `forbidden` for non-members; `validation_failed` for a negative seq.
pub async fn mark_read(state: &AppState, caller: &Caller, room_id: RoomId, seq: Seq) -> ApiResult<ReadMarker> {
    if seq < Seq::ZERO {
        return Err(ApiError::validation("seq", "seq must not be negative."));
    }
    let mut conn = state.db().await?;
    let access = RoomAccess::load(&mut conn, room_id, caller).await?;
    access.require_member()?;
    let Some(marker) = rooms::advance_read_marker(&mut conn, room_id, caller.id, seq).await? else {
        // Left, removed or deleted since it was checked: the room as it is now says which.
        RoomAccess::load(&mut conn, room_id, caller).await?.require_member()?;
        return Err(ApiError::Conflict("The membership changed meanwhile; try again.".into()));
    };
    let unread_count = rooms::unread_count(&mut conn, room_id, caller.id, marker).await?;
    let read = ServerEvent::Read(Read { room_id, user_id: caller.id, seq: marker });
    // Across a block the other member no longer sees "seen", and a closed support session's room
    // hears nothing after `support.session_closed`; the reader's own devices still follow the
    // marker.
    if access.support_closed || crate::service::messages::blocked_in_direct_room(&mut conn, &access).await? {
        state.notify.user_event(caller.id, &read);
    } else {
        state.notify.room_event(room_id, &read);
    }
    Ok(ReadMarker { room_id, last_read_seq: marker, unread_count })
}

/// Largest page of the room directory.
pub const MAX_DIRECTORY_PAGE: i64 = 100;
/// Longest directory search.
pub const MAX_DIRECTORY_QUERY_CHARS: usize = 100;

/// A public room as the directory lists it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DirectoryEntry {
    #[serde(flatten)]
    pub room: RoomView,
    pub member_count: i64,
    /// Whether the caller is a member already.
    pub joined: bool,
}

/// One page of the directory.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Directory {
    pub rooms: Vec<DirectoryEntry>,
    /// How many public rooms match in all.
    pub total: i64,
    pub has_more: bool,
}

/// `GET /directory/rooms?q=&limit=&offset=`: the public group rooms anyone signed in may join,
/// biggest first; `q` matches any part of the name or topic, ignoring case.
///
/// # Errors
/// `validation_failed` for a query over 100 characters or with control characters, or a bad
/// limit or offset.
pub async fn directory(
    state: &AppState,
    caller: &Caller,
    q: Option<&str>,
    limit: Option<i64>,
    offset: Option<i64>,
) -> ApiResult<Directory> {
    let (limit, offset) = crate::service::validate::page(limit, offset, 30, MAX_DIRECTORY_PAGE)?;
    let q = q.map(str::trim).filter(|q| !q.is_empty());
    if let Some(q) = q
        && (q.chars().count() > MAX_DIRECTORY_QUERY_CHARS || q.chars().any(char::is_control))
    {
        return Err(ApiError::validation(
            "q",
            format!("q must be at most {MAX_DIRECTORY_QUERY_CHARS} characters without control characters."),
        ));
    }
    let pattern = q.map(|q| format!("%{}%", users::escape_like(q)));
    let mut conn = state.db().await?;
    let (rows, total) = rooms::directory(&mut conn, caller.id, pattern.as_deref(), limit, offset).await?;
    let has_more = offset + i64::try_from(rows.len()).unwrap_or(i64::MAX) < total;
    Ok(Directory {
        rooms: rows
            .into_iter()
            .map(|r| DirectoryEntry { room: RoomView::new(&r.room), member_count: r.member_count, joined: r.joined })
            .collect(),
        total,
        has_more,
    })
}
