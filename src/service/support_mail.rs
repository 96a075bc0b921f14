//! Mail around support chats, through the mail queue (`service::mail`):
//!
//! - **Staff answers for an absent visitor.** A staff answer in the session of a visitor who gave
//!   an address schedules the session's reply mail `support.reply_mail_delay_secs` ahead (a later
//!   answer keeps that time, so a burst makes one mail). When it is due, a worker on some instance
//!   claims the session (`FOR UPDATE SKIP LOCKED`) and mails every staff answer the visitor has
//!   neither read (their read marker) nor been mailed, unless the visitor is connected anywhere in
//!   the cluster then (`Notify::connected`), has unsubscribed, or the session closed.
//! - **The mail's links.** Each reply mail carries two random tokens, stored as SHA-256 only: one
//!   that `POST /support/resume` exchanges for a new login of the session's guest (the widget
//!   continues the conversation; it works `support.resume_token_ttl_secs` and closing the session
//!   revokes it) and one that unsubscribes the session from these mails in one click.
//! - **A new chat while no staff member is online.** Opening a session marks it; once the visitor
//!   has written, the worker mails every admin and moderator with an address (in their language)
//!   the visitor's name, first message and the inbox link, if none of them is online then.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};

use crate::auth::refresh;
use crate::db::models::{Language, SupportStatus};
use crate::db::queries::support_mail as q;
use crate::db::queries::{rooms, users};
use crate::error::{ApiError, ApiResult};
use crate::ids::{RoomId, SessionId};
use crate::service::support::OpenedSession;
use crate::service::{accounts, mail, mail_templates};
use crate::state::AppState;
use crate::views::{RoomView, UserView};

/// The `kind` of the visitor's reply mails in the queue.
pub const REPLY_MAIL_KIND: &str = "support_reply";
/// The `kind` of the staff's "new chat" mails in the queue.
pub const STAFF_MAIL_KIND: &str = "support_new_chat";
/// Most answers one reply mail carries (the oldest ones; later ones go with the next mail).
pub const MAX_ANSWERS_PER_MAIL: i64 = 50;
/// Sessions a worker round handles at most, per kind of mail.
const BATCH: i64 = 20;
/// How long an unsubscribe link works: as long as its session, in practice.
const UNSUBSCRIBE_TTL_DAYS: i64 = 3650;
const RESUME: &str = "resume";
const UNSUBSCRIBE: &str = "unsubscribe";

/// The link back into the conversation: the server's support page, which loads the widget; the
/// widget takes the token from the fragment (which reaches neither access logs nor a Referer).
pub fn resume_link(state: &AppState, token: &str) -> String {
    mail::link(state, &format!("/support#plauder-resume={token}"))
}

/// The one-click unsubscribe link (a GET, so that it works from any mail program).
pub fn unsubscribe_link(state: &AppState, token: &str) -> String {
    mail::link(state, &format!("/api/v1/support/unsubscribe?token={token}"))
}

/// The same for mail programs' one-click unsubscribe (RFC 8058): POST only.
fn one_click_link(state: &AppState, token: &str) -> String {
    mail::link(state, &format!("/api/v1/support/unsubscribe/one-click?token={token}"))
}

/// The inbox's link to one session's room, for staff.
pub fn inbox_link(state: &AppState, room_id: RoomId) -> String {
    mail::link(state, &format!("/admin#support={room_id}"))
}

/// Staff answered in a support room: schedules the session's reply mail. The answer is committed
/// by then, so a failure here is logged, not returned.
pub async fn staff_answered(conn: &mut AsyncPgConnection, room_id: RoomId, delay_secs: u64) {
    if let Err(e) = q::schedule_reply(conn, room_id, delay_secs).await {
        tracing::warn!(room = %room_id, "support reply mail not scheduled: {e}");
    }
}

/// A visitor opened a session: it wants the staff's "new chat" mail (sent with the visitor's
/// first message if no staff member is online then). Logged, not returned, on failure: the
/// session is open either way.
pub async fn session_opened(state: &AppState, session_id: SessionId) {
    if !state.settings.support.staff_new_chat_mail {
        return;
    }
    let marked = async {
        let mut conn = state.db().await?;
        q::want_staff_mail(&mut conn, session_id).await.map_err(ApiError::from)
    };
    if let Err(e) = marked.await {
        tracing::warn!(session = %session_id, "staff mail for a new support chat not planned: {e}");
    }
}

/// The session closed (in its transaction): its resume links stop working.
///
/// # Errors
/// Database failures only.
pub async fn session_closed(conn: &mut AsyncPgConnection, session_id: SessionId) -> ApiResult<()> {
    q::revoke_resume_tokens(conn, session_id).await?;
    Ok(())
}

fn invalid_link() -> ApiError {
    ApiError::validation("token", "This conversation link is invalid, expired or revoked.")
}

/// `POST /support/resume {token}`: a new login of the session's guest, answered as opening a
/// session is, so the widget continues the conversation.
///
/// # Errors
/// `validation_failed` on `token` for an unknown, expired or revoked token, or a closed session;
/// `forbidden` for a banned guest.
pub async fn resume(state: &AppState, token: &str, user_agent: Option<&str>) -> ApiResult<OpenedSession> {
    let hash = refresh::hash(token.trim());
    let mut conn = state.db().await?;
    let opened = conn
        .transaction::<_, ApiError, _>(async |conn| {
            // The link's row held until the session is issued: staff closing the chat meanwhile
            // revoke the link (`session_closed`) after this commits, or first, and then it is
            // refused here; a guest session used to be issued from a check made before the close.
            let session = q::lock_session_of_token(conn, &hash, RESUME).await?.ok_or_else(invalid_link)?;
            if session.status != SupportStatus::Open {
                return Err(invalid_link());
            }
            // A visitor blocked since (by this chat's address or browser) gets no new login.
            if let Some(address) = &session.visitor_address {
                crate::service::support_tools::refuse_blocked(conn, address, session.visitor_browser_id.as_deref())
                    .await?;
            }
            let guest = users::find(conn, session.guest_id).await?.ok_or_else(invalid_link)?;
            // A login like any other: a banned guest gets no session here either.
            if guest.is_banned() {
                return Err(crate::service::accounts::banned());
            }
            let room = rooms::find(conn, session.room_id).await?.ok_or_else(invalid_link)?;
            let auth = accounts::start_session(state, conn, &guest, user_agent).await?;
            Ok(OpenedSession {
                session_id: session.id,
                room: RoomView::new(&room),
                user: UserView::own(&guest),
                access_token: auth.access_token,
                refresh_token: auth.refresh_token,
                expires_in: auth.expires_in,
            })
        })
        .await?;
    metrics::counter!("support_sessions_resumed_total").increment(1);
    Ok(opened)
}

/// The unsubscribe link: the session gets no more reply mails. Returns the visitor's language
/// (for the page that says so).
///
/// # Errors
/// `validation_failed` on `token` for an unknown one.
pub async fn unsubscribe(state: &AppState, token: &str) -> ApiResult<Language> {
    let hash = refresh::hash(token.trim());
    let mut conn = state.db().await?;
    let session = q::session_of_token(&mut conn, &hash, UNSUBSCRIBE)
        .await?
        .ok_or_else(|| ApiError::validation("token", "This unsubscribe link is not valid."))?;
    q::opt_out(&mut conn, session.id).await?;
    Ok(Language::from_accept_language(session.visitor_language.as_deref()))
}

/// A new random token of `purpose` for the session, stored hashed; the token itself.
async fn issue_token(
    conn: &mut AsyncPgConnection,
    session_id: SessionId,
    purpose: &str,
    ttl: chrono::Duration,
) -> ApiResult<String> {
    let token = refresh::generate().map_err(ApiError::Internal)?;
    q::insert_token(conn, &refresh::hash(&token), session_id, purpose, Utc::now() + ttl).await?;
    Ok(token)
}

/// Sends the reply mail of one due session, if it still has one to send. Whether a mail was
/// queued.
async fn reply_mail(state: &AppState, id: SessionId) -> ApiResult<bool> {
    let mut conn = state.db().await?;
    let Some(session) = crate::db::queries::support::find(&mut conn, id).await? else { return Ok(false) };
    // Asked before the row is locked: presence may wait on Redis.
    let connected = !state.notify.connected(vec![session.guest_id]).await.is_empty();
    let language = Language::from_accept_language(session.visitor_language.as_deref());
    let ttl =
        chrono::Duration::seconds(i64::try_from(state.settings.support.resume_token_ttl_secs).unwrap_or(i64::MAX));
    let queued = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let Some(due) = q::claim_due_reply(conn, id).await? else { return Ok(false) };
            let s = &due.session;
            let email = s
                .visitor_email
                .clone()
                .filter(|_| !connected && !due.reply_mail_opt_out && s.status == SupportStatus::Open);
            let answers = match &email {
                Some(_) => {
                    let after = due.reply_mailed_seq.max(due.visitor_read_seq);
                    q::staff_answers_after(conn, s.room_id, after, MAX_ANSWERS_PER_MAIL).await?
                }
                None => Vec::new(),
            };
            let (Some(email), Some(last)) = (email, answers.last()) else {
                // Connected (they see the answers live), read, unsubscribed or closed: no mail.
                q::reply_done(conn, id, None).await?;
                return Ok(false);
            };
            let last_seq = last.seq;
            let lines: Vec<mail_templates::TranscriptLine> = answers
                .into_iter()
                .map(|a| mail_templates::TranscriptLine {
                    who: a.sender_name,
                    at: a.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                    body: a.body,
                    files: a.files,
                })
                .collect();
            let resume = issue_token(conn, id, RESUME, ttl).await?;
            let unsubscribe = issue_token(conn, id, UNSUBSCRIBE, chrono::Duration::days(UNSUBSCRIBE_TTL_DAYS)).await?;
            let rendered = mail_templates::support_reply(
                language,
                &s.visitor_name,
                &lines,
                &resume_link(state, &resume),
                &unsubscribe_link(state, &unsubscribe),
            );
            let one_click = one_click_link(state, &unsubscribe);
            mail::enqueue_unsubscribable(conn, REPLY_MAIL_KIND, &email, language, &rendered, &one_click).await?;
            q::reply_done(conn, id, Some(last_seq)).await?;
            Ok(true)
        })
        .await?;
    Ok(queued)
}

/// Whether anyone of the staff has a connection open anywhere (whatever their status: an
/// invisible admin still sees the inbox).
async fn staff_online(state: &AppState) -> ApiResult<bool> {
    let staff = {
        let mut conn = state.db().await?;
        users::staff_ids(&mut conn, state.settings.mfa.require_for_staff).await?
    };
    Ok(!state.notify.connected(staff).await.is_empty())
}

/// Sends the staff's "new chat" mails of one session whose visitor has written; `None` when
/// there is no such session. The number of mails queued.
async fn staff_mail(state: &AppState, online: bool) -> ApiResult<Option<usize>> {
    let mut conn = state.db().await?;
    conn.transaction::<_, ApiError, _>(async |conn| {
        let Some(chat) = q::claim_new_chat(conn).await? else { return Ok(None) };
        let mut queued = 0;
        if !online {
            let link = inbox_link(state, chat.room_id);
            for staff in q::staff_recipients(conn, state.settings.mfa.require_for_staff).await? {
                let language = staff.language.parse().unwrap_or(Language::En);
                let rendered = mail_templates::support_new_chat(
                    language,
                    &staff.username,
                    &chat.visitor_name,
                    &chat.first_message,
                    &link,
                );
                mail::enqueue(conn, STAFF_MAIL_KIND, &staff.email, language, &rendered).await?;
                queued += 1;
            }
        }
        q::staff_mail_done(conn, chat.id).await?;
        Ok(Some(queued))
    })
    .await
}

/// One round: the due reply mails, then the staff mails of new chats. How many mails it queued.
///
/// # Errors
/// Database failures (what was not done comes due again next round).
pub async fn run_once(state: &AppState) -> ApiResult<usize> {
    let mut queued = 0;
    let due = {
        let mut conn = state.db().await?;
        q::drop_stale_staff_mails(&mut conn).await?;
        q::due_replies(&mut conn, BATCH).await?
    };
    for id in due {
        if reply_mail(state, id).await? {
            queued += 1;
            metrics::counter!("support_reply_mails_total").increment(1);
        }
    }
    if state.settings.support.staff_new_chat_mail && pending_staff_mail(state).await? {
        // Presence is asked once per round, and only when some chat waits for its mail.
        let online = staff_online(state).await?;
        for _ in 0..BATCH {
            match staff_mail(state, online).await? {
                Some(n) => queued += n,
                None => break,
            }
        }
    }
    if queued > 0 {
        state.mailer.wake();
    }
    Ok(queued)
}

/// Whether some open session waits for its staff mail (cheap: a partial index).
async fn pending_staff_mail(state: &AppState) -> ApiResult<bool> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;

    use crate::schema::support_sessions as s;
    let mut conn = state.db().await?;
    let pending: i64 = s::table.filter(s::staff_mail_pending.eq(true)).count().get_result(&mut conn).await?;
    Ok(pending > 0)
}

/// This instance's worker: a round every `email.poll_interval_ms` (the mail queue's pace; the
/// delays here are minutes).
pub fn spawn_worker(state: Arc<AppState>) {
    tokio::spawn(async move {
        let poll = Duration::from_millis(state.settings.email.poll_interval_ms);
        loop {
            if let Err(e) = run_once(&state).await {
                tracing::warn!("support mails: {e:#}");
            }
            tokio::time::sleep(poll).await;
        }
    });
}
