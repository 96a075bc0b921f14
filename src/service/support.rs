//! Support chat: a website visitor opens a session and gets a guest account confined to one
//! `support` room; every admin and moderator reads and answers every support room without joining
//! it (see [`crate::service::access`]) and works them from the inbox; staff close sessions.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;
use serde_json::json;

use crate::auth::Caller;
use crate::db::models::{
    MemberRole, NewRoom, NewRoomMember, NewSupportSession, NewUser, Role, RoomKind, SupportSession, SupportStatus,
};
use crate::db::queries::{messages, rooms, support, users};
use crate::error::{ApiError, ApiResult};
use crate::ids::{MessageId, RoomId, Seq, SessionId, UserId};
use crate::protocol::ServerEvent;
use crate::protocol::events::{Read, SessionOpened, SupportSessionClosed, SupportSessionCreated};
use crate::service::{accounts, audit, validate};
use crate::state::AppState;
use crate::views::{MessageView, RoomView, UserView, format_time};

/// Largest page of the inbox.
pub const MAX_PAGE: i64 = 200;

/// What `POST /support/sessions` answers: the session and the guest's credentials.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OpenedSession {
    pub session_id: SessionId,
    pub room: RoomView,
    pub user: UserView,
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires; the refresh token renews it.
    pub expires_in: u64,
}

/// A session as the inbox shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// The session_id.
    pub id: SessionId,
    pub room: RoomView,
    /// The visitor's guest account; its display name is the name the visitor gave.
    pub user: UserView,
    /// The email the visitor gave, if any.
    pub email: Option<String>,
    pub status: SupportStatus,
    /// The visitor's messages since staff last wrote (all of them before the first answer).
    pub unread_count: i64,
    pub last_message: Option<MessageView>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_response_at: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<String>,
    /// The highest seq staff have marked read (`POST /admin/support/sessions/{id}/read`).
    pub staff_read_seq: Seq,
    /// Where the chat started, as the visitor's browser told it.
    pub context: VisitorContext,
    /// Whether the visitor's browser is known (its widget sent an id), so that it can be blocked
    /// (`POST /admin/support/sessions/{id}/block` with `browser`). The id itself is not shown.
    pub browser_known: bool,
}

/// What the visitor's browser says about them, all optional: the page the widget was on, the
/// browser (its User-Agent header, taken by the server), its language and IANA time zone (so
/// staff can tell the visitor's local time).
#[derive(Debug, Default, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitorContext {
    /// An http(s) address, at most 2,000 characters.
    pub page_url: Option<String>,
    /// Set by the server from the request's User-Agent header (a value sent is ignored).
    pub user_agent: Option<String>,
    /// A BCP 47 language tag such as `de-DE`, at most 35 characters.
    pub language: Option<String>,
    /// An IANA time zone such as `Europe/Berlin`, at most 64 characters.
    pub time_zone: Option<String>,
    /// A random id the widget keeps in the visitor's browser (16 to 64 letters, digits, `-` and
    /// `_`), so staff can block the browser rather than only the address. Never shown back.
    #[serde(default, skip_serializing)]
    pub browser_id: Option<String>,
}

impl VisitorContext {
    /// Checks what the browser sent; a field that breaks its rule is refused (422), as anywhere.
    fn validated(mut self, user_agent: Option<&str>) -> ApiResult<Self> {
        let blank = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        self.page_url = blank(self.page_url);
        self.language = blank(self.language);
        self.time_zone = blank(self.time_zone);
        if let Some(url) = &self.page_url
            && (url.chars().count() > 2000
                || !(url.starts_with("https://") || url.starts_with("http://"))
                || url.chars().any(char::is_control))
        {
            return Err(ApiError::validation(
                "context.page_url",
                "page_url must be an http(s) address of at most 2000 characters.",
            ));
        }
        if let Some(lang) = &self.language
            && (lang.len() > 35 || !lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        {
            return Err(ApiError::validation("context.language", "language must be a language tag such as de-DE."));
        }
        if let Some(zone) = &self.time_zone
            && (zone.len() > 64 || !zone.chars().all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c)))
        {
            return Err(ApiError::validation(
                "context.time_zone",
                "time_zone must be an IANA time zone such as Europe/Berlin.",
            ));
        }
        if let Some(id) = &self.browser_id
            && !((16..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(ApiError::validation(
                "context.browser_id",
                "browser_id must be 16 to 64 letters, digits, '-' or '_'.",
            ));
        }
        // The header is the browser's own word; cut, not refused, since the visitor cannot pick it.
        self.user_agent = user_agent
            .map(|ua| ua.chars().filter(|c| !c.is_control()).take(512).collect::<String>())
            .filter(|ua| !ua.is_empty());
        Ok(self)
    }
}

fn opt_time(t: Option<DateTime<Utc>>) -> Option<String> {
    t.as_ref().map(format_time)
}

fn validate_name(name: &str) -> ApiResult<String> {
    let trimmed = name.trim();
    let len = trimmed.chars().count();
    if len == 0 || len > 64 || trimmed.chars().any(char::is_control) {
        return Err(ApiError::validation("name", "Name must be 1 to 64 characters without control characters."));
    }
    Ok(trimmed.to_owned())
}

/// `POST /support/sessions`: a guest account, its support room and the session, in one
/// transaction, then the guest's first tokens. Online staff hear `support.session_created`.
/// `address` is the client's (kept for blocking, see `support_tools`).
///
/// # Errors
/// `validation_failed` for a bad name or email; `forbidden` for a blocked address or browser.
pub async fn open(
    state: &AppState,
    name: &str,
    email: Option<&str>,
    context: VisitorContext,
    user_agent: Option<&str>,
    address: &str,
) -> ApiResult<OpenedSession> {
    let name = validate_name(name)?;
    let context = context.validated(user_agent)?;
    let email = email.map(str::trim).filter(|e| !e.is_empty());
    if let Some(email) = email {
        validate::email(email)?;
    }
    let mut conn = state.db().await?;
    crate::service::support_tools::refuse_blocked(&mut conn, address, context.browser_id.as_deref()).await?;
    let guest_id = UserId::new();
    // Guests never log in by name; the id makes the name unique without a retry loop.
    let username = format!("guest-{}", guest_id.0.simple());
    let (session, room, guest, auth) = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let guest = users::insert(
                conn,
                &NewUser {
                    id: guest_id,
                    username: &username,
                    // The visitor's email stays on the session: users.email is unique and a
                    // returning visitor may open several sessions.
                    email: None,
                    display_name: &name,
                    role: Role::Guest,
                    password_hash: None,
                    is_bot: false,
                },
            )
            .await?;
            let room = rooms::insert(
                conn,
                &NewRoom {
                    id: RoomId::new(),
                    kind: RoomKind::Support,
                    name: Some(&name),
                    topic: None,
                    is_public: false,
                    created_by: Some(guest_id),
                    direct_key: None,
                },
            )
            .await?;
            let member = NewRoomMember { room_id: room.id, user_id: guest_id, role: MemberRole::Member };
            rooms::add_members(conn, &[member]).await?;
            let session = support::insert(
                conn,
                &NewSupportSession {
                    id: SessionId::new(),
                    room_id: room.id,
                    guest_id,
                    visitor_name: &name,
                    visitor_email: email,
                    visitor_page_url: context.page_url.as_deref(),
                    visitor_user_agent: context.user_agent.as_deref(),
                    visitor_language: context.language.as_deref(),
                    visitor_time_zone: context.time_zone.as_deref(),
                    visitor_address: Some(address),
                    visitor_browser_id: context.browser_id.as_deref(),
                },
            )
            .await?;
            let auth = accounts::start_session(state, conn, &guest, context.user_agent.as_deref()).await?;
            Ok((session, room, guest, auth))
        })
        .await?;
    let room = RoomView::new(&room);
    let user = UserView::public(&guest);
    let session_opened = SessionOpened {
        id: session.id,
        email: session.visitor_email.as_deref(),
        status: SupportStatus::Open.as_str(),
        created_at: format_time(&session.created_at),
    };
    let announced =
        ServerEvent::SupportSessionCreated(SupportSessionCreated { room: &room, user: &user, session: session_opened });
    state.notify.support_opened(room.id, &announced);
    crate::service::support_mail::session_opened(state, session.id).await;
    metrics::counter!("support_sessions_opened_total").increment(1);
    Ok(OpenedSession {
        session_id: session.id,
        room,
        user: UserView::own(&guest),
        access_token: auth.access_token,
        refresh_token: auth.refresh_token,
        expires_in: auth.expires_in,
    })
}

/// The rooms of the open sessions, most recent activity first, at most `limit`: those a staff
/// connection follows when it opens.
///
/// # Errors
/// Database failures only.
pub async fn open_room_ids(state: &AppState, limit: usize) -> ApiResult<Vec<RoomId>> {
    let mut conn = state.db().await?;
    Ok(support::open_room_ids(&mut conn, i64::try_from(limit).unwrap_or(i64::MAX)).await?)
}

/// Whether `room_id` is the room of an open session (one a staff connection may follow).
///
/// # Errors
/// Database failures only.
pub async fn is_open_room(state: &AppState, room_id: RoomId) -> ApiResult<bool> {
    let mut conn = state.db().await?;
    Ok(support::is_open_room(&mut conn, room_id).await?)
}

/// `GET /admin/support/sessions?status=&limit=&offset=`: most recent activity first.
///
/// # Errors
/// `validation_failed` for a bad status, limit or offset.
pub async fn inbox(
    state: &AppState,
    status: Option<&str>,
    limit: Option<i64>,
    offset: Option<i64>,
) -> ApiResult<Vec<SessionView>> {
    let status = status
        .map(|s| {
            s.parse::<SupportStatus>().map_err(|_| ApiError::validation("status", "status must be open or closed."))
        })
        .transpose()?;
    let (limit, offset) = crate::service::validate::page(limit, offset, 50, MAX_PAGE)?;
    let mut conn = state.db().await?;
    let rows = support::inbox(&mut conn, status.map(SupportStatus::as_str), None, limit, offset).await?;
    views(&mut conn, rows).await
}

/// Inbox rows with their rooms, visitors and last messages (four queries for the whole page).
async fn views(conn: &mut AsyncPgConnection, rows: Vec<support::InboxRow>) -> ApiResult<Vec<SessionView>> {
    let room_ids: Vec<RoomId> = rows.iter().map(|r| r.session.room_id).collect();
    let guest_ids: Vec<UserId> = rows.iter().map(|r| r.session.guest_id).collect();
    let last_ids: Vec<MessageId> = rows.iter().filter_map(|r| r.last_message_id).collect();
    let mut rooms: HashMap<RoomId, RoomView> =
        rooms::by_ids(conn, &room_ids).await?.iter().map(|r| (r.id, RoomView::new(r))).collect();
    let guests: HashMap<UserId, UserView> =
        users::find_many(conn, &guest_ids).await?.iter().map(|u| (u.id, UserView::public(u))).collect();
    let reactions = messages::reactions_for(conn, &last_ids).await?;
    let mut last: HashMap<MessageId, MessageView> =
        messages::by_ids(conn, &last_ids).await?.into_iter().map(|m| (m.id, MessageView::new(m, &reactions))).collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let s = row.session;
        // Room and guest go with the session (ON DELETE CASCADE), so both are there.
        let (Some(room), Some(user)) = (rooms.remove(&s.room_id), guests.get(&s.guest_id).cloned()) else { continue };
        out.push(SessionView {
            id: s.id,
            room,
            user,
            email: s.visitor_email.clone(),
            status: s.status,
            unread_count: row.unread_count,
            last_message: row.last_message_id.and_then(|id| last.remove(&id)),
            created_at: format_time(&s.created_at),
            first_response_at: opt_time(s.first_response_at),
            closed_at: opt_time(s.closed_at),
            staff_read_seq: Seq(s.staff_read_seq),
            context: VisitorContext {
                page_url: s.visitor_page_url.clone(),
                user_agent: s.visitor_user_agent.clone(),
                language: s.visitor_language.clone(),
                time_zone: s.visitor_time_zone.clone(),
                browser_id: None,
            },
            browser_known: s.visitor_browser_id.is_some(),
        });
    }
    Ok(out)
}

/// `POST /admin/support/sessions/{id}/close`: the visitor gets `support.session_closed` and
/// cannot write any more; the history stays readable. Closing a closed session changes nothing.
///
/// # Errors
/// `not_found` for an unknown session.
pub async fn close(state: &AppState, caller: &Caller, id: SessionId) -> ApiResult<SupportSession> {
    let mut conn = state.db().await?;
    let actor = caller.id;
    let closed = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            // The room's lock first, as every write to the room takes it: a send under way
            // commits before the close, and one that waits for it finds the session closed
            // (`service::messages`), so `support.session_closed` is the visitor's last event.
            let Some(found) = support::find(conn, id).await? else { return Ok(None) };
            crate::db::queries::rooms::lock(conn, found.room_id).await?;
            let Some(session) = support::close(conn, id).await? else { return Ok(None) };
            crate::service::support_mail::session_closed(conn, id).await?;
            audit::record(conn, actor, audit::Action::SupportClosed, id, json!({ "room_id": session.room_id })).await?;
            Ok(Some(session))
        })
        .await?;
    match closed {
        Some(session) => {
            let closed = ServerEvent::SupportSessionClosed(SupportSessionClosed {
                session_id: session.id,
                room_id: session.room_id,
                status: SupportStatus::Closed.as_str(),
                closed_at: opt_time(session.closed_at),
            });
            state.notify.room_event(session.room_id, &closed);
            Ok(session)
        }
        None => {
            support::find(&mut conn, id).await?.ok_or_else(|| ApiError::NotFound("No such support session.".into()))
        }
    }
}

/// `POST /admin/support/sessions/{id}/read {seq}`: staff have read the conversation up to `seq`.
/// The marker only moves forward (and never past the room's last message); the inbox's unread
/// count then leaves out what was read, and, while the session is open, the room hears `read` with
/// the staff member's id, so the visitor sees "seen".
///
/// # Errors
/// `validation_failed` for a negative seq; `not_found` for an unknown session.
pub async fn mark_read(state: &AppState, caller: &Caller, id: SessionId, seq: Seq) -> ApiResult<SessionView> {
    if seq < Seq::ZERO {
        return Err(ApiError::validation("seq", "seq must not be negative."));
    }
    let mut conn = state.db().await?;
    let read = support::mark_staff_read(&mut conn, id, seq.0)
        .await?
        .ok_or_else(|| ApiError::NotFound("No such support session.".into()))?;
    // The marker still moves for the inbox, but a closed session's room hears nothing more:
    // `support.session_closed` was the visitor's last event.
    if read.open {
        let (room_id, seq) = (read.room_id, Seq(read.staff_read_seq));
        state.notify.room_event(room_id, &ServerEvent::Read(Read { room_id, user_id: caller.id, seq }));
    }
    let rows = support::inbox(&mut conn, None, Some(id), 1, 0).await?;
    views(&mut conn, rows).await?.pop().ok_or_else(|| ApiError::NotFound("No such support session.".into()))
}

/// The inbox entry of one session (what the close route answers).
///
/// # Errors
/// `not_found` when the session is gone.
pub async fn view_of(state: &AppState, id: SessionId) -> ApiResult<SessionView> {
    let mut conn = state.db().await?;
    let rows = support::inbox(&mut conn, None, Some(id), 1, 0).await?;
    views(&mut conn, rows).await?.pop().ok_or_else(|| ApiError::NotFound("No such support session.".into()))
}
