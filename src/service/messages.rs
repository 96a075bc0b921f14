//! Messages: send (idempotent by client_msg_id), history pages, edit, delete (tombstone),
//! reactions, and full-text search. Every change takes the room's next seq in the statement that
//! makes it (see `db::queries::messages`).

use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;

use crate::auth::Caller;
use crate::auth::signed_url::UrlSigner;
use crate::db::models::{Attachment, Message, Role, RoomKind};
use crate::db::queries::attachments as attachment_q;
use crate::db::queries::messages::{self as q, Change, NewMessage};
use crate::db::queries::{rooms, social, support as support_q};
use crate::db::send_batch::{Outcome, QueuedSend};
use crate::error::{ApiError, ApiResult};
use crate::ids::{AttachmentId, MessageId, RoomId, Seq, UserId};
use crate::protocol::ServerEvent;
use crate::service::access::RoomAccess;
use crate::service::access::support_session_closed as session_closed;
use crate::service::attachments;
use crate::service::audit;
use crate::service::mentions;
use crate::service::notify::Notify;
use crate::service::rooms::direct_pair;
use crate::service::turn::Turn;
use crate::service::uncancelled;
use crate::state::AppState;
use crate::views::{AttachmentView, MessageView};
use crate::webhooks::{self, Event, EventType};

/// Longest body, in Unicode code points.
pub const MAX_BODY_CHARS: usize = 4000;
/// Longest client_msg_id, in characters.
pub const MAX_CLIENT_MSG_ID_CHARS: usize = 64;
/// Largest history page.
pub const MAX_PAGE: i64 = 100;

pub struct SendMessage {
    pub body: String,
    pub client_msg_id: Option<String>,
    pub reply_to: Option<MessageId>,
    /// The sender's own unsent uploads, sent with the message (empty for most sends).
    pub attachment_ids: Vec<AttachmentId>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessagePage {
    pub messages: Vec<MessageView>,
    pub has_more: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchResult {
    pub message: MessageView,
    /// HTML-escaped text around the matches, each wrapped in `<mark>…</mark>`.
    pub snippet: String,
    pub rank: f32,
}

/// Bodies are kept exactly as sent; only the checks look at the trimmed text.
fn validate_body(body: &str) -> ApiResult<()> {
    validate_body_with(body, false)
}

/// As [`validate_body`]; a message carrying files may have an empty body.
fn validate_body_with(body: &str, has_attachments: bool) -> ApiResult<()> {
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(ApiError::PayloadTooLarge(format!("A message body may hold at most {MAX_BODY_CHARS} characters.")));
    }
    if body.trim().is_empty() && !has_attachments {
        return Err(ApiError::validation("body", "A message body must not be empty."));
    }
    Ok(())
}

fn no_such_message() -> ApiError {
    ApiError::NotFound("No such message.".into())
}

fn deleted() -> ApiError {
    ApiError::Conflict("The message was deleted.".into())
}

/// The message as the API shows it (reactions, files).
///
/// Edits, deletions and reactions read it inside their transaction and commit and announce in a
/// task of their own ([`uncancelled`]), as sends do: run in the request, a client that hung up
/// (or a socket closed) after the commit dropped the change's announcement, and the other members
/// learnt of it only when a later event in the room showed a gap, or never; read after the
/// commit, a failure left a committed change unannounced and its author told it failed.
async fn view(conn: &mut AsyncPgConnection, signer: &UrlSigner, m: Message) -> ApiResult<MessageView> {
    let reactions = q::reactions_for(conn, &[m.id]).await?;
    let mut view = [MessageView::new(m, &reactions)];
    attachments::fill(conn, signer, &mut view).await?;
    let [view] = view;
    Ok(view)
}

/// Attachment ids as a send names them: at most `max`, no repeats.
fn check_attachment_ids(ids: &[AttachmentId], max: usize) -> ApiResult<()> {
    if ids.len() > max {
        return Err(ApiError::validation("attachment_ids", format!("A message may carry at most {max} attachments.")));
    }
    let mut seen = std::collections::HashSet::new();
    if !ids.iter().all(|id| seen.insert(*id)) {
        return Err(ApiError::validation("attachment_ids", "attachment_ids names a file twice."));
    }
    Ok(())
}

/// Why the checked insert failed: the database, an attachment the sender may not send, or the
/// write checks made again under the room's row ([`check_write_again`]).
enum InsertError {
    Db(diesel::result::Error),
    Attachments,
    Refused(ApiError),
}

impl From<diesel::result::Error> for InsertError {
    fn from(e: diesel::result::Error) -> Self {
        InsertError::Db(e)
    }
}

/// The write checks of `caller` in `room_id` made again in a transaction that holds the room's
/// row: a removal from the room, a block between a direct room's two, or a support session's
/// close, that committed after the checks made before the row was taken refuses the write, which
/// would otherwise land after it. Each takes that row (`rooms::lock`; a block,
/// `rooms::lock_direct`; a close, `support::close`), so either it waits for the write, or the
/// write for it and then sees it here: nothing is written after it.
async fn check_write_again(conn: &mut AsyncPgConnection, room_id: RoomId, caller: &Caller) -> ApiResult<()> {
    let access = RoomAccess::load(conn, room_id, caller).await?;
    access.require_write()?;
    check_direct_block(conn, &access).await
}

/// In a direct room, a block either way stops messages, edits and reactions (deleting one's own
/// messages stays possible).
async fn check_direct_block(conn: &mut AsyncPgConnection, access: &RoomAccess) -> ApiResult<()> {
    if blocked_in_direct_room(conn, access).await? {
        return Err(ApiError::Forbidden("You cannot message this user.".into()));
    }
    Ok(())
}

/// Whether the room is a direct room whose two members are blocked either way.
pub(crate) async fn blocked_in_direct_room(conn: &mut AsyncPgConnection, access: &RoomAccess) -> ApiResult<bool> {
    if access.room.kind != RoomKind::Direct {
        return Ok(false);
    }
    let Some((a, b)) = access.room.direct_key.as_deref().and_then(direct_pair) else {
        return Ok(false);
    };
    let other = if a == access.caller_id { b } else { a };
    Ok(social::blocked_either_way(conn, access.caller_id, other).await?)
}

/// `typing`: the caller may show that they are writing where they may write. A block stops it in
/// a direct room as it stops messages, and a closed support session hears nothing after its
/// `support.session_closed`. The membership the connection knows is checked before this.
///
/// # Errors
/// `forbidden` across a block, in a closed support session, or for a member who left meanwhile.
pub async fn check_typing(state: &AppState, caller: &Caller, room_id: RoomId) -> ApiResult<()> {
    let mut conn = state.db().await?;
    let access = RoomAccess::load(&mut conn, room_id, caller).await?;
    access.require_write()?;
    check_direct_block(&mut conn, &access).await
}

/// What a send's data alone refuses: its body, its files' ids, its client_msg_id.
fn validate_send(req: &SendMessage, max_attachments: usize) -> ApiResult<()> {
    validate_body_with(&req.body, !req.attachment_ids.is_empty())?;
    check_attachment_ids(&req.attachment_ids, max_attachments)?;
    if let Some(id) = &req.client_msg_id {
        let len = id.chars().count();
        if len == 0 || len > MAX_CLIENT_MSG_ID_CHARS {
            return Err(ApiError::validation("client_msg_id", "client_msg_id must be 1 to 64 characters."));
        }
    }
    Ok(())
}

/// `POST /rooms/{id}/messages` and `message.send`. Returns the message as committed and whether it
/// is new: a retry with a known client_msg_id returns the original with `false`.
///
/// The commit and its announcement run in a task of their own ([`uncancelled`]), or in the
/// group-commit writer, which announces what it commits itself ([`announce_committed`]): a request
/// whose client goes away (its future dropped by actix, a WebSocket closed mid-command) must not
/// leave a committed message that live sockets never hear of. A retry announces the original
/// again when it has not changed since (`rev == seq`): if the first announcement was lost, this
/// one is heard; if not, every room actor drops it as already delivered (its seq is behind), so no
/// connection gets a message twice.
///
/// # Errors
/// `payload_too_large` over 4,000 characters; `validation_failed` for an empty body, a bad
/// client_msg_id or a reply_to outside the room; `forbidden` for non-members and blocked direct
/// rooms; `not_found` for an unknown room.
pub async fn send(
    state: &AppState,
    caller: &Caller,
    room_id: RoomId,
    req: SendMessage,
) -> ApiResult<(MessageView, bool)> {
    send_in_turn(state, caller, room_id, req, Turn::unordered()).await
}

/// [`send`] as one of a client's ordered writes (`service::turn`): a fast-path send is queued at
/// the group-commit writer after the client's earlier writes and answered after them, without
/// waiting for their commits; a send that takes the checked path runs once they are done.
pub async fn send_in_turn(
    state: &AppState,
    caller: &Caller,
    room_id: RoomId,
    mut req: SendMessage,
    mut turn: Turn,
) -> ApiResult<(MessageView, bool)> {
    if let Err(e) = validate_send(&req, state.settings.attachments.max_per_message) {
        // Answered in its place among the client's writes; the later ones queue without it.
        turn.earlier_queued().await;
        turn.queued();
        turn.earlier_done().await;
        return Err(e);
    }
    // The common case, a member writing to a group room without a reply, goes to the group-commit
    // writer (one statement checks membership, takes the seq and inserts, for many sends at once).
    // Anything else (a reply, files, an `@name` to resolve) takes the checked path below. A body
    // without '@' costs the mention check one byte scan.
    let id = MessageId::new();
    let names = mentions::parse(&req.body);
    // For a send the writer handed back: held until this send's commit (or failure), and until
    // then the writer holds back this sender's later sends to the room.
    let mut handed_back = None;
    if req.reply_to.is_none() && req.attachment_ids.is_empty() && names.is_empty() {
        let queued = QueuedSend { id, room_id, sender_id: caller.id, body: req.body, client_msg_id: req.client_msg_id };
        let batcher = state.send_batcher.clone();
        let after = AfterSend::of(state, caller);
        let (outcome, back_turn) = uncancelled(async move {
            turn.earlier_queued().await;
            let queued = batcher.enqueue(queued).await;
            turn.queued();
            let outcome = match queued.outcome().await {
                // The writer announced it (`announce_committed`) and queued its pushes before
                // answering. The batch writes to group rooms only.
                Outcome::Inserted(m) => {
                    let view = MessageView::new(m, &[]);
                    after.run(RoomKind::Group, &view, true).await;
                    Ok(Ok(view))
                }
                Outcome::NotSimple(back, handed_back) => Ok(Err((back, handed_back))),
                Outcome::Failed(e) => Err(e),
            };
            Ok((outcome, turn))
        })
        .await?;
        turn = back_turn;
        // Answered after the client's earlier writes; a send handed back runs after them.
        turn.earlier_done().await;
        match outcome? {
            Ok(view) => return Ok((view, true)),
            Err((back, fence)) => {
                (req.body, req.client_msg_id) = (back.body, back.client_msg_id);
                handed_back = Some(fence);
            }
        }
    } else {
        turn.exclusive().await;
    }
    // The turn is held to the end: later writes of the client wait for this one's commit.
    let _turn = turn;
    let mut conn = state.db().await?;
    let access = RoomAccess::load(&mut conn, room_id, caller).await?;
    access.require_write()?;
    check_direct_block(&mut conn, &access).await?;
    if let Some(reply_to) = req.reply_to {
        let parent = q::find(&mut conn, reply_to).await?;
        if parent.is_none_or(|p| p.room_id != room_id) {
            return Err(ApiError::validation("reply_to", "reply_to must be a message in the same room."));
        }
    }
    let first_response = access.room.kind == RoomKind::Support && caller.role.is_staff();
    let reply_mail_delay = state.settings.support.reply_mail_delay_secs;
    let room_kind = access.room.kind;
    let mentioned = mentions::resolve(&mut conn, room_id, &names).await?;
    // Checked: now one of the room's places, waited for without a connection (`service::room_gate`).
    let (gate, mut conn) = state.room_write(room_id, conn).await?;
    let (sender_id, notify, signer) = (caller.id, state.notify.clone(), state.attachments.signer.clone());
    let hooks = state.webhooks.clone();
    let after = AfterSend::of(state, caller);
    let writer = caller.clone();
    uncancelled(async move {
        let new = NewMessage {
            id,
            room_id,
            sender_id,
            body: &req.body,
            reply_to: req.reply_to,
            client_msg_id: req.client_msg_id.as_deref(),
            mentions: mentioned.as_deref(),
        };
        let ids = &req.attachment_ids;
        let wants_hook = hooks.wants(EventType::MessageCreated);
        // The files are linked, and a webhook's outbox rows written, in the message's own
        // transaction: all of it or no message. The write is checked in it again once the insert
        // holds the room's row. Staff's first answer is recorded with the message (the assistant
        // stays out once it is).
        let inserted = conn
            .transaction::<_, InsertError, _>(async |conn| {
                let m = q::insert_next(conn, &new).await?;
                check_write_again(conn, room_id, &writer).await.map_err(InsertError::Refused)?;
                if first_response {
                    support_q::record_first_response(conn, room_id).await?;
                }
                let linked = if ids.is_empty() {
                    Vec::new()
                } else {
                    attachment_q::link_to_message(conn, ids, sender_id, m.id, room_id).await?
                };
                if linked.len() != ids.len() {
                    return Err(InsertError::Attachments);
                }
                if wants_hook {
                    // The event's message is the view the API answers, files included.
                    let mut view = [MessageView::new(m.clone(), &[])];
                    MessageView::fill_attachments(&mut view, &linked, &signer);
                    webhooks::enqueue_created(conn, &hooks, &view).await?;
                }
                Ok((m, linked))
            })
            .await;
        match inserted {
            Ok((m, linked)) => {
                // Announced before the reply mail is scheduled, which may wait for the session's
                // row (a close holding it).
                let view = announce_with(notify.as_ref(), m, &linked, &signer);
                if first_response {
                    crate::service::support_mail::staff_answered(&mut conn, room_id, reply_mail_delay).await;
                }
                // What follows waits on others (staff's presence, the pool): the room's place and
                // the sender's later sends are let go first.
                drop((conn, gate, handed_back));
                after.run(room_kind, &view, false).await;
                Ok((view, true))
            }
            Err(InsertError::Refused(e)) => Err(e),
            Err(InsertError::Attachments) => Err(ApiError::validation(
                "attachment_ids",
                "attachment_ids must name your own uploads that have not been sent yet.",
            )),
            Err(InsertError::Db(diesel::result::Error::NotFound)) => Err(crate::service::access::no_such_room()),
            Err(InsertError::Db(e)) => retried_or(e, &mut conn, notify.as_ref(), &signer, &new).await,
        }
    })
    .await
}

/// What a new message sets going once it is committed, besides its announcement: its pushes,
/// staff's push for a new support chat, the assistant's answer and a slash command's bot. It runs
/// in the send's own task ([`uncancelled`]), not in the request's future, and so holds its own
/// handles: a client gone right after sending (a tab closed, a phone off the network) has had its
/// message committed and delivered live, and must not lose its pushes or its command either.
struct AfterSend {
    push: std::sync::Arc<crate::push::Pusher>,
    assistant: crate::service::assistant::Assistant,
    pool: crate::db::PgPool,
    notify: std::sync::Arc<dyn Notify>,
    staff_need_mfa: bool,
    sender: std::sync::Arc<crate::db::models::User>,
    role: Role,
}

impl AfterSend {
    fn of(state: &AppState, caller: &Caller) -> Self {
        Self {
            push: state.push.clone(),
            assistant: state.assistant.clone(),
            pool: state.pool.clone(),
            notify: state.notify.clone(),
            staff_need_mfa: state.settings.mfa.require_for_staff,
            sender: caller.user.clone(),
            role: caller.role,
        }
    }

    /// Whether `view` is the visitor's first message in their support chat: seq 1, or later when
    /// staff greeted first. A failed read counts as not first (no push rather than a second).
    async fn first_of_visitor(&self, view: &MessageView) -> bool {
        if view.seq == Seq(1) {
            return true;
        }
        let Ok(mut conn) = self.pool.get().await else { return false };
        q::sent_before(&mut conn, view.room_id, self.sender.id, view.seq).await.is_ok_and(|before| !before)
    }

    /// `pushed`: the send writer has queued the message's pushes already. The assistant and the
    /// command start tasks of their own; staff's push is queued before this returns.
    async fn run(&self, room_kind: RoomKind, view: &MessageView, pushed: bool) {
        if !pushed {
            self.push.messages_committed(vec![view.id]);
        }
        if room_kind == RoomKind::Support && self.role == Role::Guest && self.first_of_visitor(view).await {
            let staff = crate::push::StaffPush {
                pool: &self.pool,
                push: &self.push,
                notify: self.notify.as_ref(),
                need_mfa: self.staff_need_mfa,
            };
            staff.support_chat(view.room_id, &self.sender.display_name, &view.body).await;
        }
        self.assistant.on_sent(&self.sender, room_kind, view);
        crate::service::commands::on_sent(&self.pool, &self.notify, &self.sender, view);
    }
}

/// What [`post_as_bot`] posts: the message's chosen id, where, as whom, the text, the message of
/// the same room it answers, and whether it answers a visitor in a support room (dropped once
/// staff answered there).
pub struct BotPost<'a> {
    pub id: MessageId,
    pub room_id: RoomId,
    pub sender_id: UserId,
    pub body: &'a str,
    pub reply_to: Option<MessageId>,
    pub support_answer: bool,
}

/// A message of a bot the server runs itself (the assistant): no membership, rate limit or write
/// turn, since the server decided it speaks (its answers have their own rate and budget), but the
/// same commit as any send (the room's next seq, the webhook outbox in the same transaction) and
/// the same `message.new`. Bots of users (slash-command replies, incoming webhooks) send through
/// [`send`] like anyone. `id` is chosen by the
/// caller, so the events announcing the message while it was written can name it. A body over
/// [`MAX_BODY_CHARS`] is cut. `None`, with nothing written, in a support room whose session
/// closed meanwhile, or, for a `support_answer` (not a reply to a mention), got staff's answer.
///
/// # Errors
/// Database failures; `not_found` when the room is gone.
pub async fn post_as_bot(
    conn: &mut AsyncPgConnection,
    hooks: &webhooks::Wanted,
    notify: &dyn Notify,
    post: BotPost<'_>,
) -> ApiResult<Option<MessageView>> {
    let BotPost { id, room_id, sender_id, body, reply_to, support_answer } = post;
    let body: String = body.trim().chars().take(MAX_BODY_CHARS).collect();
    validate_body(&body)?;
    let new = NewMessage { id, room_id, sender_id, body: &body, reply_to, client_msg_id: None, mentions: None };
    let m = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let m = q::insert_next(conn, &new).await?;
            // In a support room, checked again under the room's lock that the insert took: the
            // answer may have taken seconds, and the session closed meanwhile, or staff answered
            // (a staff answer records itself with its message), after which the assistant stays
            // out of the session unless called by name.
            if let Some(session) = support_q::find_by_room(conn, room_id).await?
                && (session.status != crate::db::models::SupportStatus::Open
                    || (support_answer && session.first_response_at.is_some()))
            {
                return Err(diesel::result::Error::RollbackTransaction);
            }
            if hooks.wants(EventType::MessageCreated) {
                let view = MessageView::new(m.clone(), &[]);
                webhooks::enqueue_created(conn, hooks, std::slice::from_ref(&view)).await?;
            }
            Ok(m)
        })
        .await
        .map(Some)
        .or_else(|e| match e {
            diesel::result::Error::RollbackTransaction => Ok(None),
            diesel::result::Error::NotFound => Err(crate::service::access::no_such_room()),
            e => Err(e.into()),
        })?;
    Ok(m.map(|m| announce_new(notify, m)))
}

/// What the group-commit writer does with each batch it committed (`db::send_batch::Announce`,
/// wired in `state`): `message.new` for each message, in commit order. Those sends carry no files.
pub fn announce_committed(notify: &dyn Notify, messages: &[Message]) {
    for m in messages {
        announce_new(notify, m.clone());
    }
}

fn announce_new(notify: &dyn Notify, m: Message) -> MessageView {
    let view = MessageView::new(m, &[]);
    notify.room_event(view.room_id, &ServerEvent::message_new(&view));
    view
}

/// [`announce_new`] for a message sent with files.
fn announce_with(notify: &dyn Notify, m: Message, linked: &[Attachment], signer: &UrlSigner) -> MessageView {
    let mut view = MessageView::new(m, &[]);
    let now = chrono::Utc::now().timestamp();
    view.attachments = linked.iter().map(|a| AttachmentView::new(a, signer, now)).collect();
    notify.room_event(view.room_id, &ServerEvent::message_new(&view));
    view
}

/// A send that failed on the (room, sender, client_msg_id) key is a retry: answer with the
/// original. The clash rolled back the seq increment with its statement, so no seq is lost. The
/// original is announced again while it is unchanged (see [`send`]). Any other error stands.
async fn retried_or(
    e: diesel::result::Error,
    conn: &mut AsyncPgConnection,
    notify: &dyn Notify,
    signer: &UrlSigner,
    new: &NewMessage<'_>,
) -> ApiResult<(MessageView, bool)> {
    match (&e, new.client_msg_id) {
        (diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _), Some(cmid)) => {
            let original =
                q::find_by_client_id(conn, new.room_id, new.sender_id, cmid).await?.ok_or_else(no_such_message)?;
            let unchanged = original.rev == original.seq && original.deleted_at.is_none();
            let view = view(conn, signer, original).await?;
            if unchanged {
                notify.room_event_again(view.room_id, &ServerEvent::message_new(&view));
            }
            Ok((view, false))
        }
        _ => Err(e.into()),
    }
}

/// `GET /rooms/{id}/messages`: newest first below `before_seq`, or oldest first above
/// `after_seq`; `limit` 1–100 (default 50).
///
/// # Errors
/// `validation_failed` for a bad limit or negative seq; as [`crate::service::rooms::get`] for access.
pub async fn history(
    state: &AppState,
    caller: &Caller,
    room_id: RoomId,
    before: Option<Seq>,
    after: Option<Seq>,
    limit: Option<i64>,
) -> ApiResult<MessagePage> {
    let limit = limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::validation("limit", "limit must be between 1 and 100."));
    }
    for (field, seq) in [("before_seq", before), ("after_seq", after)] {
        if seq.is_some_and(|s| s < Seq::ZERO) {
            return Err(ApiError::validation(field, "seq values must not be negative."));
        }
    }
    let mut conn = state.db().await?;
    RoomAccess::load(&mut conn, room_id, caller).await?.require_read()?;
    let rows = q::page(&mut conn, room_id, before, after, limit + 1).await?;
    let (messages, has_more) = views_of_page(&mut conn, &state.attachments.signer, rows, limit).await?;
    Ok(MessagePage { messages, has_more })
}

/// Rows fetched with one more than `limit` (to learn whether more exist): the first `limit` as
/// views with their reactions and attachments (a query each), and whether there were more.
async fn views_of_page(
    conn: &mut AsyncPgConnection,
    signer: &UrlSigner,
    mut rows: Vec<Message>,
    limit: i64,
) -> ApiResult<(Vec<MessageView>, bool)> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let ids: Vec<MessageId> = rows.iter().map(|m| m.id).collect();
    let reactions = q::reactions_for(conn, &ids).await?;
    let mut views: Vec<MessageView> = rows.into_iter().map(|m| MessageView::new(m, &reactions)).collect();
    attachments::fill(conn, signer, &mut views).await?;
    Ok((views, has_more))
}

/// What `sync` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SyncPage {
    pub room_id: RoomId,
    /// The room's seq when the answer was read: a client that got `has_more: false` is now
    /// current up to it.
    pub last_seq: Seq,
    /// Every message whose rev is above `since_seq`, in rev order: new, edited and deleted.
    pub messages: Vec<MessageView>,
    pub has_more: bool,
}

/// `sync`: whatever changed in the room after `since_seq`, oldest change first; `limit` 1–500
/// (default 100). A client pages by calling again with the last message's rev.
///
/// # Errors
/// `validation_failed` for a negative seq or bad limit; access as for history.
pub async fn sync(
    state: &AppState,
    caller: &Caller,
    room_id: RoomId,
    since_seq: Seq,
    limit: Option<i64>,
) -> ApiResult<SyncPage> {
    let limit = limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit", "limit must be between 1 and 500."));
    }
    if since_seq < Seq::ZERO {
        return Err(ApiError::validation("since_seq", "since_seq must not be negative."));
    }
    let mut conn = state.db().await?;
    let access = RoomAccess::load(&mut conn, room_id, caller).await?;
    access.require_read()?;
    let rows = q::changed_since(&mut conn, room_id, since_seq, limit + 1).await?;
    let (messages, has_more) = views_of_page(&mut conn, &state.attachments.signer, rows, limit).await?;
    // Changes may have committed between reading the room and reading the messages.
    let last_seq = messages.last().map_or(access.room.last_seq, |m| m.rev.max(access.room.last_seq));
    Ok(SyncPage { room_id, last_seq, messages, has_more })
}

/// The message and the caller's access to its room.
async fn load_message(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: MessageId,
) -> ApiResult<(Message, RoomAccess)> {
    let m = q::find(conn, id).await?.ok_or_else(no_such_message)?;
    let access = RoomAccess::load(conn, m.room_id, caller).await?;
    Ok((m, access))
}

/// `PATCH /messages/{id}`: the sender changes the body; the message takes a new rev.
///
/// # Errors
/// `forbidden` for anyone but the sender (who must still be in the room) and in a direct room with
/// a block either way; `conflict` for a deleted message; body errors as [`send`].
pub async fn edit(state: &AppState, caller: &Caller, id: MessageId, body: &str) -> ApiResult<MessageView> {
    // The length now; an empty body once the message is known (files make it allowed).
    validate_body_with(body, true)?;
    let mut conn = state.db().await?;
    let (m, access) = load_message(&mut conn, caller, id).await?;
    access.require_write()?;
    check_direct_block(&mut conn, &access).await?;
    if m.sender_id != Some(caller.id) {
        return Err(ApiError::Forbidden("Only the sender can edit a message.".into()));
    }
    if m.deleted_at.is_some() {
        return Err(deleted());
    }
    // A message with files may be sent without words, so it may be edited to none: an edit keeps
    // its files.
    if body.trim().is_empty() {
        let has_files = !crate::db::queries::attachments::of_messages(&mut conn, &[id]).await?.is_empty();
        validate_body_with(body, has_files)?;
    }
    let room_id = m.room_id;
    // An edit says again who it mentions (an edit notifies nobody anew).
    let mentioned = mentions::resolve(&mut conn, room_id, &mentions::parse(body)).await?;
    let (gate, mut conn) = state.room_write(room_id, conn).await?;
    let (hooks, signer, notify, body) =
        (state.webhooks.clone(), state.attachments.signer.clone(), state.notify.clone(), body.to_owned());
    let editor = caller.clone();
    // Committed and announced together, whether or not the client still waits (see [`view`]).
    uncancelled(async move {
        let view = conn
            .transaction::<_, ApiError, _>(async |conn| {
                let current = lock_and_reload(conn, room_id, id).await?;
                if current.deleted_at.is_some() {
                    return Err(deleted());
                }
                check_write_again(conn, room_id, &editor).await?;
                let changed = q::change(conn, room_id, id, Change::Edit(&body, mentioned.as_deref())).await?;
                let view = view(conn, &signer, changed).await?;
                if hooks.wants(EventType::MessageEdited) {
                    // An edit keeps the files: the event carries them as the API's view does.
                    let event = Event::message(EventType::MessageEdited, &view);
                    webhooks::enqueue(conn, &hooks, vec![event]).await?;
                }
                Ok(view)
            })
            .await?;
        drop(gate);
        notify.room_event(view.room_id, &ServerEvent::message_updated(&view));
        Ok(view)
    })
    .await
}

/// Takes the room lock (see `rooms::lock`), then reads the message as it now stands: a change
/// committed while this transaction waited for the lock is seen.
async fn lock_and_reload(conn: &mut AsyncPgConnection, room_id: RoomId, id: MessageId) -> ApiResult<Message> {
    rooms::lock(conn, room_id).await?;
    q::find(conn, id).await?.ok_or_else(no_such_message)
}

/// `DELETE /messages/{id}`: leaves a tombstone (empty body, `deleted: true`, reactions gone) under
/// a new rev. Deleting a deleted message changes nothing. Global staff deleting someone else's
/// message is recorded in the audit log.
///
/// # Errors
/// `forbidden` unless the sender (still a member, and not in a closed support session), a
/// moderator of the room, or global staff.
pub async fn delete(state: &AppState, caller: &Caller, id: MessageId) -> ApiResult<MessageView> {
    let mut conn = state.db().await?;
    let (m, access) = load_message(&mut conn, caller, id).await?;
    let own = m.sender_id == Some(caller.id) && access.member.is_some();
    if !own && !access.can_moderate() {
        access.require_read()?;
        return Err(ApiError::Forbidden("You cannot delete this message.".into()));
    }
    if !access.can_moderate() {
        // A sender's own deletion is a write like any other (a closed support session stops it).
        access.require_write()?;
    }
    let room_id = m.room_id;
    // A sender's own deletion in a support room is a write that a close stops.
    let support_write = access.room.kind == RoomKind::Support && !access.can_moderate();
    // Removal by global staff of someone else's message is moderation, and goes on the record.
    let audited = (!own && caller.role.is_staff()).then_some((caller.id, m.sender_id));
    let (hooks, notify) = (state.webhooks.clone(), state.notify.clone());
    let (gate, mut conn) = state.room_write(room_id, conn).await?;
    // Committed and announced together, whether or not the client still waits (see [`view`]).
    uncancelled(async move {
        let tombstone = conn
            .transaction::<_, ApiError, _>(async move |conn| {
                let current = lock_and_reload(conn, room_id, id).await?;
                if current.deleted_at.is_some() {
                    // Already deleted: nothing changes, no new rev.
                    return Ok((current, false));
                }
                if support_write && !support_q::is_open_room(conn, room_id).await? {
                    return Err(session_closed());
                }
                q::clear_reactions(conn, id).await?;
                // The rows go now; the bytes with the retention job's next sweep.
                attachment_q::delete_of_message(conn, id).await?;
                if let Some((actor, sender_id)) = audited {
                    let details = serde_json::json!({ "room_id": room_id, "sender_id": sender_id });
                    audit::record(conn, actor, audit::Action::MessageDeleted, id, details).await?;
                }
                let tombstone = q::change(conn, room_id, id, Change::Delete).await?;
                if hooks.wants(EventType::MessageDeleted) {
                    let event = Event::message(EventType::MessageDeleted, &MessageView::new(tombstone.clone(), &[]));
                    webhooks::enqueue(conn, &hooks, vec![event]).await?;
                }
                Ok((tombstone, true))
            })
            .await?;
        drop(gate);
        let (tombstone, changed) = tombstone;
        let view = MessageView::new(tombstone, &[]);
        if changed {
            notify.room_event(view.room_id, &ServerEvent::message_deleted(&view));
        }
        Ok(view)
    })
    .await
}

fn validate_emoji(emoji: &str) -> ApiResult<()> {
    let len = emoji.chars().count();
    if len == 0 || len > 16 || emoji.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::validation("emoji", "An emoji must be 1 to 16 characters without spaces."));
    }
    Ok(())
}

/// `PUT` / `DELETE /messages/{id}/reactions/{emoji}`. Only a real change takes a new rev:
/// adding a reaction twice or removing one that is not there returns the message unchanged.
///
/// # Errors
/// `forbidden` for non-members and in a direct room with a block either way; `conflict` on a
/// deleted message; `validation_failed` for a bad emoji.
pub async fn react(state: &AppState, caller: &Caller, id: MessageId, emoji: &str, add: bool) -> ApiResult<MessageView> {
    validate_emoji(emoji)?;
    let mut conn = state.db().await?;
    let (m, access) = load_message(&mut conn, caller, id).await?;
    access.require_write()?;
    check_direct_block(&mut conn, &access).await?;
    let (room_id, user_id, emoji) = (m.room_id, caller.id, emoji.to_owned());
    let quota = state.settings.quota.clone();
    let (gate, mut conn) = state.room_write(room_id, conn).await?;
    let (signer, notify, reactor) = (state.attachments.signer.clone(), state.notify.clone(), caller.clone());
    // Committed and announced together, whether or not the client still waits (see [`view`]).
    uncancelled(async move {
        let (view, changed) = conn
            .transaction::<_, ApiError, _>(async move |conn| {
                let current = lock_and_reload(conn, room_id, id).await?;
                if current.deleted_at.is_some() {
                    return Err(deleted());
                }
                check_write_again(conn, room_id, &reactor).await?;
                let changed = if add {
                    // Checked under the room lock taken above, so concurrent reactions cannot both
                    // pass the last free place.
                    check_reaction_quota(conn, &quota, id, user_id, &emoji).await?;
                    q::add_reaction(conn, id, user_id, &emoji).await?
                } else {
                    q::remove_reaction(conn, id, user_id, &emoji).await?
                };
                let message = if changed { q::change(conn, room_id, id, Change::Touch).await? } else { current };
                Ok((view(conn, &signer, message).await?, changed))
            })
            .await?;
        drop(gate);
        if changed {
            notify.room_event(view.room_id, &ServerEvent::reaction_updated(&view));
        }
        Ok(view)
    })
    .await
}

/// Distinct reactions per message and reactions per user per message are bounded: each
/// `reaction.updated` carries the message's whole list, so an unbounded one grows every event
/// and history page that carries the message. Adding a reaction that is already there passes.
async fn check_reaction_quota(
    conn: &mut AsyncPgConnection,
    quota: &crate::config::QuotaSettings,
    id: MessageId,
    user_id: UserId,
    emoji: &str,
) -> ApiResult<()> {
    let (distinct, present, by_user) = q::reaction_counts(conn, id, user_id, emoji).await?;
    if !present && distinct >= quota.reactions_per_message_max {
        let max = quota.reactions_per_message_max;
        return Err(ApiError::Conflict(format!("This message already has {max} different reactions.")));
    }
    if by_user >= quota.reactions_per_user_per_message_max {
        let max = quota.reactions_per_user_per_message_max;
        return Err(ApiError::Conflict(format!("You already have {max} reactions on this message.")));
    }
    Ok(())
}

/// `GET /search/messages`: full-text search over the caller's rooms, or one of them.
///
/// # Errors
/// `validation_failed` for an empty or long query or a bad limit; `forbidden` / `not_found` for
/// a `room_id` the caller cannot search.
pub async fn search(
    state: &AppState,
    caller: &Caller,
    q_text: &str,
    room_id: Option<RoomId>,
    limit: Option<i64>,
) -> ApiResult<Vec<SearchResult>> {
    crate::service::validate::text("q", q_text)?;
    let text = q_text.trim();
    if text.is_empty() || text.chars().count() > 200 {
        return Err(ApiError::validation("q", "Search text must be 1 to 200 characters."));
    }
    let limit = limit.unwrap_or(20);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::validation("limit", "limit must be between 1 and 50."));
    }
    let mut conn = state.db().await?;
    if let Some(room_id) = room_id {
        RoomAccess::load(&mut conn, room_id, caller).await?.require_member()?;
    }
    let limit = i32::try_from(limit).unwrap_or(50);
    let timeout_ms = state.settings.database.search_statement_timeout_ms;
    let caller_id = caller.id;
    let (rows, reactions) = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            crate::db::set_local_statement_timeout(conn, timeout_ms).await?;
            let rows = q::search(conn, caller_id, text, room_id, limit).await?;
            let ids: Vec<MessageId> = rows.iter().map(|r| r.message.id).collect();
            let reactions = q::reactions_for(conn, &ids).await?;
            Ok((rows, reactions))
        })
        .await
        .map_err(ApiError::as_search_timeout)?;
    let mut views: Vec<MessageView> = rows.iter().map(|r| MessageView::new(r.message.clone(), &reactions)).collect();
    attachments::fill(&mut conn, &state.attachments.signer, &mut views).await?;
    Ok(rows
        .into_iter()
        .zip(views)
        .map(|(r, message)| SearchResult { message, snippet: r.snippet, rank: r.rank })
        .collect())
}
