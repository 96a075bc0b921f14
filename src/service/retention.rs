//! The retention job: deletes what would otherwise grow for ever, each kind after its own age
//! (`retention.*` settings):
//!
//! - refresh tokens, `refresh_token_days` after they were spent, revoked or expired (one row is
//!   written per refresh, so this is the table that grows fastest);
//! - closed support sessions, `closed_support_session_days` after closing: the room with its
//!   history, and the visitor's guest account (a guest has no other use). Deleted, not archived:
//!   a support chat holds a visitor's name, email and words, kept only as long as the operator
//!   chose; whoever needs a record keeps the days high (the audit log keeps the closing entry);
//! - guests with no activity for `guest_inactive_days`, with their support rooms (an abandoned
//!   open session included).
//!
//! - accounts whose deletion began and stopped half-way (an error, a restart), 10 minutes after it
//!   began: the deletion is finished (`service::accounts::finish_deletions`);
//! - attachments uploaded and never sent, `attachments.unsent_retention_secs` after upload; then
//!   every stored blob no attachment row names any more (those of deleted messages, rooms and
//!   unsent uploads: `service::attachments::sweep`).
//!
//! One pass runs at a time in the whole cluster: the pass holds a PostgreSQL advisory lock on
//! a connection of its own, taken with `pg_try_advisory_lock`, so an instance that finds it taken
//! skips its turn instead of queueing behind (the next interval comes soon enough). The lock is
//! the session's, so an instance that dies mid-pass releases it with its connection. Every
//! statement deletes at most `batch_size` rows, so none runs long or holds many locks.

use std::time::{Duration, Instant};

use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;

use crate::db::PgConn;
use crate::db::queries::retention;
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;
use crate::protocol::CloseReason;
use crate::state::AppState;

/// The advisory lock key of a retention pass ("plauder" and 2; migrations use 1).
pub const LOCK_KEY: i64 = 0x706c_6175_6465_7202;

/// What one pass deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Report {
    pub refresh_tokens: u64,
    /// Support sessions deleted with their rooms and history: closed ones past their age, and
    /// the open ones of inactive guests.
    pub support_sessions: u64,
    pub guests: u64,
    /// Accounts whose stopped deletion the pass finished.
    pub accounts: u64,
    /// Accounts whose stopped deletion failed again in this pass (logged; the next pass tries
    /// again).
    pub accounts_failed: u64,
    /// Unsent uploads deleted.
    pub unsent_attachments: u64,
    /// Stored files deleted because nothing refers to them.
    pub attachment_blobs: u64,
}

/// How a pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed(Report),
    /// Another process held the lock: it is running a pass.
    Skipped,
}

/// Registers the help text of the job's metrics.
fn describe_metrics() {
    metrics::describe_counter!(
        "plauder_retention_deleted_total",
        "Rows (and stored files) deleted by the retention job, by kind (refresh_tokens, \
         support_sessions, guests, accounts, unsent_attachments, attachment_blobs)."
    );
    metrics::describe_counter!(
        "plauder_retention_runs_total",
        "Retention passes by outcome: completed, skipped (another instance held the lock) or failed."
    );
    metrics::describe_counter!(
        "plauder_retention_failed_total",
        "Rows the retention job failed to delete and left for its next pass, by kind (accounts: a \
         stopped deletion that failed again)."
    );
    metrics::describe_gauge!(
        "plauder_retention_last_completed_timestamp_seconds",
        "Unix time at which this process last completed a retention pass."
    );
}

/// Runs one pass now, unless another process is running one.
///
/// # Errors
/// `unavailable` when PostgreSQL cannot be reached; a database error of a statement. What was
/// deleted before the error stays deleted (each batch commits on its own).
pub async fn run_once(state: &AppState) -> ApiResult<Outcome> {
    describe_metrics();
    let started = Instant::now();
    let result = run_locked(state).await;
    let outcome = match &result {
        Ok(Outcome::Completed(report)) => {
            for (kind, n) in [
                ("refresh_tokens", report.refresh_tokens),
                ("support_sessions", report.support_sessions),
                ("guests", report.guests),
                ("accounts", report.accounts),
                ("unsent_attachments", report.unsent_attachments),
                ("attachment_blobs", report.attachment_blobs),
            ] {
                metrics::counter!("plauder_retention_deleted_total", "kind" => kind).increment(n);
            }
            // A counter, not a gauge of the last pass: each instance would keep its own last
            // figure, long after another's pass finished those deletions.
            metrics::counter!("plauder_retention_failed_total", "kind" => "accounts").increment(report.accounts_failed);
            metrics::gauge!("plauder_retention_last_completed_timestamp_seconds").set(Utc::now().timestamp() as f64);
            tracing::info!(
                refresh_tokens = report.refresh_tokens,
                support_sessions = report.support_sessions,
                guests = report.guests,
                accounts = report.accounts,
                accounts_failed = report.accounts_failed,
                unsent_attachments = report.unsent_attachments,
                attachment_blobs = report.attachment_blobs,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "retention pass completed"
            );
            "completed"
        }
        Ok(Outcome::Skipped) => {
            tracing::info!("retention pass skipped: another instance is running one");
            "skipped"
        }
        Err(e) => {
            tracing::error!(error = ?e, "retention pass failed");
            "failed"
        }
    };
    metrics::counter!("plauder_retention_runs_total", "outcome" => outcome).increment(1);
    result
}

/// The pass on a connection of its own: one taken out of the pool for good (so it is set up as
/// every pooled connection is, statement timeout included), since the lock belongs to the
/// session, which must live exactly as long as the pass; dropping it closes the session.
async fn run_locked(state: &AppState) -> ApiResult<Outcome> {
    let mut conn = PgConn::take(state.db().await?);
    if !retention::try_lock(&mut conn, LOCK_KEY).await? {
        return Ok(Outcome::Skipped);
    }
    let result = delete_expired(state, &mut conn).await;
    // Dropping the connection releases the lock as well; unlocking first only makes it prompt.
    if let Err(e) = retention::unlock(&mut conn, LOCK_KEY).await {
        tracing::warn!(error = %e, "releasing the retention lock; closing the connection releases it");
    }
    result.map(Outcome::Completed)
}

async fn delete_expired(state: &AppState, conn: &mut AsyncPgConnection) -> ApiResult<Report> {
    let settings = &state.settings.retention;
    let batch = settings.batch_size;
    let days = |n: u32| Utc::now() - chrono::Duration::days(i64::from(n));
    let mut report = Report::default();

    let cutoff = days(settings.refresh_token_days);
    loop {
        let n = retention::delete_dead_refresh_tokens(conn, cutoff, batch).await?;
        report.refresh_tokens += n as u64;
        if (n as i64) < batch {
            break;
        }
    }

    let cutoff = days(settings.closed_support_session_days);
    loop {
        let guests = retention::guests_of_closed_sessions(conn, cutoff, batch).await?;
        let progressed = delete_guests(state, conn, &guests, &mut report).await?;
        // A full batch that deleted nothing would come back the same: stop rather than spin.
        if (guests.len() as i64) < batch || !progressed {
            break;
        }
    }

    let cutoff = days(settings.guest_inactive_days);
    loop {
        let guests = retention::inactive_guests(conn, cutoff, batch).await?;
        let progressed = delete_guests(state, conn, &guests, &mut report).await?;
        // A full batch that deleted nothing would come back the same: stop rather than spin.
        if (guests.len() as i64) < batch || !progressed {
            break;
        }
    }

    (report.accounts, report.accounts_failed) = crate::service::accounts::finish_deletions(state, conn, batch).await?;

    // Last, so the blobs of rooms deleted above go in the same pass.
    let swept = crate::service::attachments::sweep(state, conn, batch).await?;
    report.unsent_attachments = swept.unsent;
    report.attachment_blobs = swept.blobs;
    Ok(report)
}

/// Deletes the guests and their support rooms in one transaction, then tells connected clients:
/// staff following an open session see its room go, and a guest still connected is closed.
/// Whether anything was deleted.
async fn delete_guests(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    guests: &[UserId],
    report: &mut Report,
) -> ApiResult<bool> {
    if guests.is_empty() {
        return Ok(false);
    }
    let ids = guests.to_vec();
    // A batch counts guests, not their rooms' messages: under the requests' statement_timeout a
    // batch with many would fail on every pass, and retention would never get past it.
    let timeout_ms = state.settings.database.erase_statement_timeout_ms;
    let (rooms, deleted) = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            crate::db::set_local_erase_limits(conn, timeout_ms).await?;
            let rooms = retention::lock_support_rooms_of(conn, &ids).await?;
            crate::service::webhooks::record_going_with_rooms(conn, None, &rooms).await?;
            retention::delete_rooms(conn, &rooms).await?;
            let deleted = retention::delete_guests(conn, &ids).await?;
            Ok((rooms, deleted))
        })
        .await?;
    let progressed_rooms = !rooms.is_empty();
    report.support_sessions += rooms.len() as u64;
    report.guests += deleted as u64;
    for room in rooms {
        state.notify.room_deleted(room, &[]);
    }
    for guest in guests {
        state.notify.close_user(*guest, CloseReason::AccountDeleted);
    }
    Ok(deleted > 0 || progressed_rooms)
}

/// Runs a pass every `retention.interval_secs` on this instance (the first one interval after
/// start, so a rollout does not start every instance's pass at once); off when the interval is 0.
pub fn spawn(state: std::sync::Arc<AppState>) {
    let secs = state.settings.retention.interval_secs;
    if secs == 0 {
        return;
    }
    tokio::spawn(async move {
        let period = Duration::from_secs(secs);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Failures are logged and counted in run_once; the next interval tries again.
            let _ = run_once(&state).await;
        }
    });
}
