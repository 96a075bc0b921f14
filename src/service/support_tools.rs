//! The support inbox's tools besides answering: canned replies (texts staff manage together and
//! insert into an answer), blocking a visitor by address and/or browser for a set time (audited;
//! `POST /support/sessions` refuses a blocked visitor until then), and mailing a session's
//! transcript to the visitor through the mail queue (audited).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use diesel_async::AsyncConnection;
use serde::Serialize;
use serde_json::json;

use crate::auth::Caller;
use crate::db::models::{CannedReply, CannedReplyChanges, Language, NewCannedReply, NewSupportBlock, SupportBlock};
use crate::db::queries::{attachments, messages, support, support_tools, users};
use crate::error::{ApiError, ApiResult, ConflictExt};
use crate::ids::{CannedReplyId, MessageId, SessionId, SupportBlockId, UserId};
use crate::service::{audit, mail, mail_templates, validate};
use crate::state::AppState;
use crate::views::format_time;

/// Most canned replies kept: the picker lists them all.
pub const MAX_CANNED_REPLIES: i64 = 500;
/// Longest title of a canned reply.
pub const MAX_TITLE_CHARS: usize = 100;
/// Longest block: a year.
pub const MAX_BLOCK_HOURS: u32 = 24 * 365;
/// Most messages a transcript carries (the oldest ones).
pub const MAX_TRANSCRIPT_MESSAGES: i64 = 2000;
/// The `kind` of transcript mails in the queue.
pub const MAIL_KIND: &str = "support_transcript";

/// A canned reply as staff see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CannedReplyView {
    pub id: CannedReplyId,
    pub title: String,
    pub body: String,
    pub created_by: Option<UserId>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: String,
}

impl CannedReplyView {
    fn new(r: CannedReply) -> Self {
        Self {
            id: r.id,
            title: r.title,
            body: r.body,
            created_by: r.created_by,
            created_at: format_time(&r.created_at),
            updated_at: format_time(&r.updated_at),
        }
    }
}

fn checked_title(title: &str) -> ApiResult<String> {
    let title = title.trim();
    let len = title.chars().count();
    if len == 0 || len > MAX_TITLE_CHARS || title.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "title",
            format!("title must be 1 to {MAX_TITLE_CHARS} characters without control characters."),
        ));
    }
    Ok(title.to_owned())
}

/// A reply's text follows the rules of a message body: it is one once inserted and sent.
fn checked_body(body: &str) -> ApiResult<()> {
    if body.trim().is_empty() {
        return Err(ApiError::validation("body", "body must not be blank."));
    }
    if body.chars().count() > crate::service::messages::MAX_BODY_CHARS {
        return Err(ApiError::PayloadTooLarge(format!(
            "body must be at most {} characters.",
            crate::service::messages::MAX_BODY_CHARS
        )));
    }
    Ok(())
}

const TAKEN: &str = "A canned reply with this title exists already.";

/// `GET /admin/canned-replies`: all of them, by title.
///
/// # Errors
/// Database failures only.
pub async fn canned_list(state: &AppState) -> ApiResult<Vec<CannedReplyView>> {
    let mut conn = state.db().await?;
    Ok(support_tools::canned_list(&mut conn).await?.into_iter().map(CannedReplyView::new).collect())
}

/// `POST /admin/canned-replies {title, body}`.
///
/// # Errors
/// `validation_failed` for a bad title or blank body, `payload_too_large` for a body over the
/// message limit, `conflict` for a title in use (ignoring case) or when there are
/// [`MAX_CANNED_REPLIES`] already.
pub async fn canned_create(state: &AppState, caller: &Caller, title: &str, body: &str) -> ApiResult<CannedReplyView> {
    let title = checked_title(title)?;
    checked_body(body)?;
    let mut conn = state.db().await?;
    if support_tools::canned_count(&mut conn).await? >= MAX_CANNED_REPLIES {
        return Err(ApiError::Conflict(format!("There are {MAX_CANNED_REPLIES} canned replies already.")));
    }
    let new = NewCannedReply { id: CannedReplyId::new(), title: &title, body, created_by: Some(caller.id) };
    let reply = support_tools::canned_insert(&mut conn, &new).await.on_conflict(TAKEN)?;
    Ok(CannedReplyView::new(reply))
}

/// `PATCH /admin/canned-replies/{id} {title?, body?}`.
///
/// # Errors
/// As [`canned_create`]; `not_found` for an unknown reply.
pub async fn canned_update(
    state: &AppState,
    id: CannedReplyId,
    title: Option<&str>,
    body: Option<&str>,
) -> ApiResult<CannedReplyView> {
    let title = title.map(checked_title).transpose()?;
    if let Some(body) = body {
        checked_body(body)?;
    }
    let mut conn = state.db().await?;
    let no_such = || ApiError::NotFound("No such canned reply.".into());
    if title.is_none() && body.is_none() {
        return support_tools::canned_find(&mut conn, id).await?.map(CannedReplyView::new).ok_or_else(no_such);
    }
    let changes = CannedReplyChanges { title, body: body.map(str::to_owned) };
    let reply = support_tools::canned_update(&mut conn, id, &changes).await.on_conflict(TAKEN)?.ok_or_else(no_such)?;
    Ok(CannedReplyView::new(reply))
}

/// `DELETE /admin/canned-replies/{id}`.
///
/// # Errors
/// `not_found` for an unknown reply.
pub async fn canned_delete(state: &AppState, id: CannedReplyId) -> ApiResult<()> {
    let mut conn = state.db().await?;
    if support_tools::canned_delete(&mut conn, id).await? == 0 {
        return Err(ApiError::NotFound("No such canned reply.".into()));
    }
    Ok(())
}

/// A block as staff see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BlockView {
    pub id: SupportBlockId,
    /// The client address blocked, if the block covers it.
    pub address: Option<String>,
    /// Whether the visitor's browser (the widget's id for it) is blocked.
    pub browser: bool,
    pub reason: Option<String>,
    /// The session the block was made from (null once that session is gone).
    pub session_id: Option<SessionId>,
    pub created_by: Option<UserId>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: String,
}

impl BlockView {
    fn new(b: SupportBlock) -> Self {
        Self {
            id: b.id,
            address: b.address,
            browser: b.browser_id.is_some(),
            reason: b.reason,
            session_id: b.session_id,
            created_by: b.created_by,
            created_at: format_time(&b.created_at),
            expires_at: format_time(&b.expires_at),
        }
    }
}

/// What staff ask to block.
pub struct BlockRequest {
    /// Block the address the session was opened from.
    pub address: bool,
    /// Block the browser the session was opened in.
    pub browser: bool,
    /// For how long, 1 to [`MAX_BLOCK_HOURS`].
    pub hours: u32,
    pub reason: Option<String>,
    /// Close the session as well (what staff want nearly always).
    pub close: bool,
}

/// `POST /admin/support/sessions/{id}/block`: blocks the visitor of a session by its address
/// and/or browser until `hours` from now, audited as `support.visitor_blocked`, and closes the
/// session unless asked not to.
///
/// # Errors
/// `not_found` for an unknown session; `validation_failed` when neither is asked for, the
/// session has no browser id (its widget sent none), or for bad hours or reason.
pub async fn block_visitor(
    state: &AppState,
    caller: &Caller,
    session_id: SessionId,
    req: BlockRequest,
) -> ApiResult<BlockView> {
    if !req.address && !req.browser {
        return Err(ApiError::validation("address", "Block the address, the browser, or both."));
    }
    if !(1..=MAX_BLOCK_HOURS).contains(&req.hours) {
        return Err(ApiError::validation("hours", format!("hours must be between 1 and {MAX_BLOCK_HOURS}.")));
    }
    let reason = req.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > 500 || r.chars().any(char::is_control)) {
        return Err(ApiError::validation(
            "reason",
            "reason must be at most 500 characters without control characters.",
        ));
    }
    let mut conn = state.db().await?;
    let session = support::find(&mut conn, session_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("No such support session.".into()))?;
    let address = if req.address {
        Some(session.visitor_address.clone().ok_or_else(|| {
            ApiError::validation("address", "This session's address is not known (it predates blocking).")
        })?)
    } else {
        None
    };
    let browser_id = if req.browser {
        Some(session.visitor_browser_id.clone().ok_or_else(|| {
            ApiError::validation("browser", "This session's browser is not known (its widget sent no browser id).")
        })?)
    } else {
        None
    };
    // An IPv6 address blocks its /64, as the per-address limits count it.
    let address_key = address.as_deref().map(crate::auth::client_ip::address_key);
    let expires_at: DateTime<Utc> = Utc::now() + Duration::hours(i64::from(req.hours));
    let actor = caller.id;
    let block = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let block = support_tools::block_insert(
                conn,
                &NewSupportBlock {
                    id: SupportBlockId::new(),
                    address: address.as_deref(),
                    address_key: address_key.as_deref(),
                    browser_id: browser_id.as_deref(),
                    reason,
                    session_id: Some(session_id),
                    created_by: Some(actor),
                    expires_at,
                },
            )
            .await?;
            let details = json!({
                "session_id": session_id,
                "address": address,
                "browser": browser_id.is_some(),
                "until": format_time(&expires_at),
                "reason": reason,
            });
            audit::record(conn, actor, audit::Action::SupportVisitorBlocked, block.id, details).await?;
            Ok(block)
        })
        .await?;
    if req.close {
        // Every open chat of the visitor the block matches, not only this one: a spammer's
        // other sessions would stay open and writable.
        let mut others = support::open_visitors(&mut conn).await?;
        others.retain(|(id, other_address, other_browser)| {
            *id != session_id
                && (address_key.as_deref().is_some_and(|key| {
                    other_address.as_deref().map(crate::auth::client_ip::address_key).as_deref() == Some(key)
                }) || browser_id.is_some() && *other_browser == browser_id)
        });
        crate::service::support::close(state, caller, session_id).await?;
        for (other, _, _) in others {
            crate::service::support::close(state, caller, other).await?;
        }
    }
    Ok(BlockView::new(block))
}

/// `GET /admin/support/blocks`: the blocks in force, ending soonest first.
///
/// # Errors
/// Database failures only.
pub async fn blocks(state: &AppState) -> ApiResult<Vec<BlockView>> {
    let mut conn = state.db().await?;
    Ok(support_tools::blocks_active(&mut conn).await?.into_iter().map(BlockView::new).collect())
}

/// `DELETE /admin/support/blocks/{id}`: lifts a block early, audited as
/// `support.visitor_unblocked`.
///
/// # Errors
/// `not_found` when no block in force has this id.
pub async fn lift_block(state: &AppState, caller: &Caller, id: SupportBlockId) -> ApiResult<()> {
    let mut conn = state.db().await?;
    let actor = caller.id;
    conn.transaction::<_, ApiError, _>(async |conn| {
        let block = support_tools::block_lift(conn, id)
            .await?
            .ok_or_else(|| ApiError::NotFound("No such block in force.".into()))?;
        audit::record(
            conn,
            actor,
            audit::Action::SupportVisitorUnblocked,
            id,
            json!({ "session_id": block.session_id }),
        )
        .await
    })
    .await
}

/// Refuses a new support session from a blocked address or browser.
///
/// # Errors
/// `forbidden` while a block matches; database failures.
pub async fn refuse_blocked(
    conn: &mut diesel_async::AsyncPgConnection,
    address: &str,
    browser_id: Option<&str>,
) -> ApiResult<()> {
    // An IPv6 visitor is matched by their /64 (see `block_visitor`).
    let key = crate::auth::client_ip::address_key(address);
    match support_tools::block_matching(conn, Some((address, &key)), browser_id).await? {
        Some(_) => Err(ApiError::Forbidden("You cannot open a support chat at the moment.".into())),
        None => Ok(()),
    }
}

/// Where a transcript went.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TranscriptQueued {
    /// The address it is queued for.
    pub email: String,
    /// How many messages it carries.
    pub messages: usize,
}

/// `POST /admin/support/sessions/{id}/transcript {email?}`: queues a mail with the conversation
/// (every message not deleted, oldest first, at most [`MAX_TRANSCRIPT_MESSAGES`]; files by name)
/// to `email`, or the address the visitor gave. In the visitor's language (from the session's
/// context), audited as `support.transcript_sent`.
///
/// # Errors
/// `not_found` for an unknown session; `validation_failed` for a bad address or when there is
/// none; `conflict` when the conversation has no message yet.
pub async fn send_transcript(
    state: &AppState,
    caller: &Caller,
    session_id: SessionId,
    email: Option<&str>,
) -> ApiResult<TranscriptQueued> {
    let mut conn = state.db().await?;
    let session = support::find(&mut conn, session_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("No such support session.".into()))?;
    let email = match email.map(str::trim).filter(|e| !e.is_empty()) {
        Some(given) => given.to_owned(),
        None => session
            .visitor_email
            .clone()
            .ok_or_else(|| ApiError::validation("email", "The visitor gave no email address: name one."))?,
    };
    validate::email(&email)?;
    // Deleted messages (tombstones) are left out by the query, so they take no places.
    let history = messages::kept_from_start(&mut conn, session.room_id, MAX_TRANSCRIPT_MESSAGES).await?;
    if history.is_empty() {
        return Err(ApiError::Conflict("The conversation has no messages yet.".into()));
    }
    let mut senders: Vec<UserId> = history.iter().filter_map(|m| m.sender_id).collect();
    senders.sort_unstable();
    senders.dedup();
    let names: HashMap<UserId, String> =
        users::find_many(&mut conn, &senders).await?.into_iter().map(|u| (u.id, u.display_name)).collect();
    let ids: Vec<MessageId> = history.iter().map(|m| m.id).collect();
    let mut files: HashMap<MessageId, Vec<String>> = HashMap::new();
    for a in attachments::of_messages(&mut conn, &ids).await? {
        if let Some(message) = a.message_id {
            files.entry(message).or_default().push(a.name);
        }
    }
    let language = Language::from_accept_language(session.visitor_language.as_deref());
    let lines: Vec<mail_templates::TranscriptLine> = history
        .iter()
        .map(|m| mail_templates::TranscriptLine {
            who: match m.sender_id {
                Some(id) if id == session.guest_id => session.visitor_name.clone(),
                Some(id) => names.get(&id).cloned().unwrap_or_default(),
                None => String::new(),
            },
            at: m.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            body: m.body.clone(),
            files: files.remove(&m.id).unwrap_or_default(),
        })
        .collect();
    let rendered = mail_templates::transcript(language, &session.visitor_name, &lines);
    let count = lines.len();
    let actor = caller.id;
    conn.transaction::<_, ApiError, _>(async |conn| {
        mail::enqueue(conn, MAIL_KIND, &email, language, &rendered).await?;
        audit::record(
            conn,
            actor,
            audit::Action::SupportTranscriptSent,
            session_id,
            json!({ "email": email, "messages": count }),
        )
        .await
    })
    .await?;
    state.mailer.wake();
    Ok(TranscriptQueued { email, messages: count })
}
