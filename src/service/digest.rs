//! The email digest: one mail for a user who is away, summarising the unread messages their
//! notification settings let through, instead of one mail per message. Driven from PostgreSQL,
//! so it is multi-instance safe and survives restarts; mails go through the mail queue
//! (`service::mail`), never from a request.
//!
//! Every instance runs a worker; each round:
//! 1. **Schedules.** The scan (`email_digest_scan`, claimed with `FOR UPDATE SKIP LOCKED`, so one
//!    instance at a time) reads the messages created since its mark, less [`SCAN_OVERLAP_SECS`]
//!    (a message's time is its transaction's start, so one that commits late is still read), and
//!    gives each recipient who can get a digest (an address, verified if
//!    `accounts.require_email_verification`; no guest or bot; not opted out) and whom a message
//!    is for (the push's rules: level, mute, blocks) a digest due `digest_delay_secs` after the
//!    first such message. A due digest stays as it is: a burst of messages makes one mail.
//! 2. **Sends what is due.** Each due digest is claimed (`FOR UPDATE SKIP LOCKED`) and decided:
//!    - the user is connected anywhere (`Notify::connected`): nothing; what arrived until now is
//!      done with (they see it live);
//!    - they were connected less than `digest_delay_secs` ago, or got a digest less than
//!      `digest_interval_secs` ago: the digest waits until that has passed;
//!    - otherwise the messages still unread, for them, created after the last digest and after
//!      they were last connected, go in one mail, grouped by room (newest [`PER_ROOM`] per room,
//!      with the count of the rest, and a link into the room), in their language, with a
//!      one-click unsubscribe link. Nothing left (they read it meanwhile): no mail.
//!
//! The unsubscribe link carries a random token stored as SHA-256 only, as the support mails'
//! links do (`auth::refresh::generate` and `hash`); following it turns `email_digest` off.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};

use crate::auth::refresh;
use crate::db::models::Language;
use crate::db::queries::digest as q;
use crate::error::{ApiError, ApiResult};
use crate::ids::{RoomId, UserId};
use crate::service::{mail, mail_templates};
use crate::state::AppState;

/// The `kind` of digest mails in the queue.
pub const MAIL_KIND: &str = "email_digest";
/// Messages shown per room (its newest); the rest are counted.
pub const PER_ROOM: i64 = 5;
/// Rooms shown per digest (those with the newest messages); the rest are counted.
pub const MAX_ROOMS: usize = 10;
/// Characters of a message body a digest shows.
pub const EXCERPT_CHARS: usize = 200;
/// How far before its mark the scan reads again, for messages whose transaction started before
/// the last scan and committed after it (a send's transaction takes milliseconds; its statements
/// are cut off by `database.statement_timeout_ms` long before this). Each round re-reads this
/// much, so it is kept short.
pub const SCAN_OVERLAP_SECS: i64 = 15;
/// Messages older than this are no news: no digest carries them.
pub const MAX_AGE_DAYS: i64 = 7;
/// How long an unsubscribe link works.
const UNSUBSCRIBE_TTL_DAYS: i64 = 365;
/// Due digests a worker round handles at most.
const BATCH: i64 = 50;

/// The app's link to a room (the web app opens `#room=<id>`).
pub fn room_link(state: &AppState, room_id: RoomId) -> String {
    mail::link(state, &format!("/#room={room_id}"))
}

/// The one-click unsubscribe link (a GET, so that it works from any mail program).
pub fn unsubscribe_link(state: &AppState, token: &str) -> String {
    mail::link(state, &format!("/api/v1/digest/unsubscribe?token={token}"))
}

/// The same for mail programs' one-click unsubscribe (RFC 8058): POST only.
fn one_click_link(state: &AppState, token: &str) -> String {
    mail::link(state, &format!("/api/v1/digest/unsubscribe/one-click?token={token}"))
}

/// The unsubscribe link: the user gets no more digests (until they turn them on again in their
/// preferences). Returns their language, for the page that says so.
///
/// # Errors
/// `validation_failed` on `token` for an unknown or expired one.
pub async fn unsubscribe(state: &AppState, token: &str) -> ApiResult<Language> {
    let hash = refresh::hash(token.trim());
    let mut conn = state.db().await?;
    let owner = q::owner_of_token(&mut conn, &hash)
        .await?
        .ok_or_else(|| ApiError::validation("token", "This unsubscribe link is not valid."))?;
    q::opt_out(&mut conn, owner.user_id).await?;
    Ok(owner.language.parse().unwrap_or(Language::En))
}

/// `body` cut to [`EXCERPT_CHARS`] characters (an ellipsis marks the cut).
fn excerpt(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(EXCERPT_CHARS) {
        Some((at, _)) => format!("{}…", body[..at].trim_end()),
        None => body.to_owned(),
    }
}

/// The rooms of a digest from its messages (grouped by room, oldest first within one): rooms with
/// the newest messages first.
fn group(state: &AppState, messages: Vec<q::DigestMessage>) -> Vec<mail_templates::DigestRoom> {
    let mut rooms: Vec<(chrono::DateTime<Utc>, mail_templates::DigestRoom)> = Vec::new();
    let mut index: HashMap<RoomId, usize> = HashMap::new();
    for m in messages {
        let i = *index.entry(m.room_id).or_insert_with(|| {
            rooms.push((
                m.created_at,
                mail_templates::DigestRoom {
                    name: m.room_name.clone(),
                    link: room_link(state, m.room_id),
                    lines: Vec::new(),
                    total: m.room_total,
                },
            ));
            rooms.len() - 1
        });
        let (newest, room) = &mut rooms[i];
        *newest = (*newest).max(m.created_at);
        room.lines.push(mail_templates::TranscriptLine {
            who: m.sender_name,
            at: m.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            body: excerpt(&m.body),
            files: m.files,
        });
    }
    rooms.sort_by_key(|r| std::cmp::Reverse(r.0));
    rooms.into_iter().map(|(_, room)| room).collect()
}

/// What became of one due digest.
#[derive(Debug, PartialEq, Eq)]
enum Decided {
    Sent,
    Nothing,
    Postponed,
}

/// Decides the due digest of one user (see the module's doc).
async fn decide(state: &AppState, user_id: UserId) -> ApiResult<Decided> {
    // Asked before the row is locked: presence may wait on Redis.
    let connected = !state.notify.connected(vec![user_id]).await.is_empty();
    let live_seen = state.notify.recent_last_seen(vec![user_id]).await.remove(&user_id);
    let settings = &state.settings.notifications;
    let delay = chrono::Duration::seconds(i64::try_from(settings.digest_delay_secs).unwrap_or(i64::MAX));
    let interval = chrono::Duration::seconds(i64::try_from(settings.digest_interval_secs).unwrap_or(i64::MAX));
    let verified = state.settings.accounts.require_email_verification;
    let mut conn = state.db().await?;
    conn.transaction::<_, ApiError, _>(async |conn| {
        let Some(due) = q::claim_due(conn, user_id, verified).await? else { return Ok(Decided::Nothing) };
        let Some(email) = due.email else {
            // No address (any more), opted out, banned: nothing, and nothing is done with.
            q::done(conn, user_id, None, false).await?;
            return Ok(Decided::Nothing);
        };
        if connected {
            q::done(conn, user_id, Some(due.now), false).await?;
            return Ok(Decided::Nothing);
        }
        let last_seen = due.last_seen_at.max(live_seen);
        if let Some(seen) = last_seen.filter(|seen| *seen + delay > due.now) {
            q::postpone(conn, user_id, seen + delay).await?;
            return Ok(Decided::Postponed);
        }
        if let Some(sent) = due.sent_at.filter(|sent| *sent + interval > due.now) {
            q::postpone(conn, user_id, sent + interval).await?;
            return Ok(Decided::Postponed);
        }
        let since = [Some(due.mailed_until), last_seen, Some(due.now - chrono::Duration::days(MAX_AGE_DAYS))]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(due.now);
        let messages = q::messages_for(conn, user_id, since, PER_ROOM).await?;
        if messages.is_empty() {
            // Read meanwhile (or deleted): nothing to tell.
            q::done(conn, user_id, None, false).await?;
            return Ok(Decided::Nothing);
        }
        let newest = messages.iter().map(|m| m.created_at).max().unwrap_or(due.now);
        let mut rooms = group(state, messages);
        let more_rooms: Vec<mail_templates::DigestRoom> = rooms.split_off(rooms.len().min(MAX_ROOMS));
        let more_messages: i64 = more_rooms.iter().map(|r| r.total).sum();
        let token = refresh::generate().map_err(ApiError::Internal)?;
        q::insert_token(conn, &refresh::hash(&token), user_id, due.now + chrono::Duration::days(UNSUBSCRIBE_TTL_DAYS))
            .await?;
        let language: Language = due.language.parse().unwrap_or(Language::En);
        let rendered = mail_templates::email_digest(
            language,
            &due.username,
            &rooms,
            more_rooms.len(),
            more_messages,
            &mail::link(state, "/"),
            &unsubscribe_link(state, &token),
        );
        let one_click = one_click_link(state, &token);
        mail::enqueue_unsubscribable(conn, MAIL_KIND, &email, language, &rendered, &one_click).await?;
        q::done(conn, user_id, Some(newest), true).await?;
        Ok(Decided::Sent)
    })
    .await
}

/// One round: the scan, then the due digests. How many digests it queued.
///
/// # Errors
/// Database failures (what was not done is done by a later round).
pub async fn run_once(state: &AppState) -> ApiResult<usize> {
    let settings = &state.settings.notifications;
    if !settings.email_digest {
        return Ok(0);
    }
    let verified = state.settings.accounts.require_email_verification;
    let due = {
        let mut conn = state.db().await?;
        let scheduled = conn
            .transaction::<_, ApiError, _>(async |conn| {
                let Some(mark) = q::claim_scan(conn).await? else { return Ok(0) };
                let since = mark - chrono::Duration::seconds(SCAN_OVERLAP_SECS);
                Ok(q::schedule(conn, since, settings.digest_delay_secs, verified).await?)
            })
            .await?;
        metrics::counter!("digests_scheduled_total").increment(scheduled as u64);
        q::delete_expired_tokens(&mut conn, 1000).await?;
        q::due(&mut conn, BATCH).await?
    };
    let mut queued = 0;
    for user_id in due {
        // One user's digest failing (a statement timeout on a huge backlog, say) must not stop
        // everyone else's: it is logged and stays due for the next round.
        let outcome = match decide(state, user_id).await {
            Ok(Decided::Sent) => {
                queued += 1;
                "sent"
            }
            Ok(Decided::Nothing) => "nothing",
            Ok(Decided::Postponed) => "postponed",
            Err(e) => {
                tracing::warn!(error = ?e, user_id = %user_id, "a digest could not be decided; tried again next round");
                "failed"
            }
        };
        metrics::counter!("digests_decided_total", "outcome" => outcome).increment(1);
    }
    if queued > 0 {
        state.mailer.wake();
    }
    Ok(queued)
}

/// This instance's worker: a round every `notifications.digest_poll_interval_ms`.
pub fn spawn_worker(state: Arc<AppState>) {
    tokio::spawn(async move {
        let poll = Duration::from_millis(state.settings.notifications.digest_poll_interval_ms);
        loop {
            if let Err(e) = run_once(&state).await {
                tracing::warn!("email digests: {}", crate::error::error_chain(&e));
            }
            tokio::time::sleep(poll).await;
        }
    });
}

/// Turns the user's digest on or off (`PATCH /users/me/preferences`); off also drops a pending
/// one at once.
///
/// # Errors
/// Database failures only.
pub async fn set_preference(conn: &mut AsyncPgConnection, user_id: UserId, on: bool) -> ApiResult<()> {
    if on {
        crate::db::queries::users::set_email_digest(conn, user_id, true).await?;
    } else {
        q::opt_out(conn, user_id).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_long_bodies_on_a_character_boundary() {
        assert_eq!(excerpt("  short  "), "short");
        let long = "ä".repeat(EXCERPT_CHARS + 5);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
