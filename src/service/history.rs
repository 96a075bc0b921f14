//! The admin overview's history: per day over the last weeks (UTC days, today included), the
//! messages written, the support sessions opened and the median time to staff's first answer.
//! One aggregate query per series; days without data are filled in here.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::Serialize;

use crate::db::queries::stats;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The longest history asked for, in days.
pub const MAX_DAYS: i64 = 90;
/// The history the overview shows.
pub const DEFAULT_DAYS: i64 = 30;

/// One UTC day of the history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Messages written that day (not deleted since).
    pub messages: i64,
    /// Support sessions opened that day.
    pub support_sessions: i64,
    /// The median seconds to staff's first answer of the sessions opened that day that were
    /// answered; null when none was.
    pub median_first_response_secs: Option<f64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct History {
    /// Oldest first, ending today (UTC).
    pub days: Vec<Day>,
}

/// `GET /admin/stats/history?days=`.
///
/// # Errors
/// `validation_failed` for `days` outside 1–[`MAX_DAYS`]; database failures.
pub async fn history(state: &AppState, days: Option<i64>) -> ApiResult<History> {
    let days = days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::validation("days", format!("days must be between 1 and {MAX_DAYS}.")));
    }
    let today = Utc::now().date_naive();
    let first = today - Duration::days(days - 1);
    let since: DateTime<Utc> = first.and_time(NaiveTime::MIN).and_utc();
    let mut conn = state.db().await?;
    let messages = stats::messages_per_day(&mut conn, since).await?;
    let sessions = stats::sessions_per_day(&mut conn, since).await?;
    let medians = stats::median_first_response_per_day(&mut conn, since).await?;
    let len = usize::try_from(days).unwrap_or(0);
    let mut out: Vec<Day> = (0..days)
        .map(|i| Day {
            date: (first + Duration::days(i)).format("%Y-%m-%d").to_string(),
            messages: 0,
            support_sessions: 0,
            median_first_response_secs: None,
        })
        .collect();
    // Rows past the end (written after midnight while this ran) are left out.
    let slot = |day: i32| usize::try_from(day).ok().filter(|d| *d < len);
    for row in messages {
        if let Some(i) = slot(row.day) {
            out[i].messages = row.n;
        }
    }
    for row in sessions {
        if let Some(i) = slot(row.day) {
            out[i].support_sessions = row.n;
        }
    }
    for row in medians {
        if let Some(i) = slot(row.day) {
            out[i].median_first_response_secs = row.v;
        }
    }
    Ok(History { days: out })
}
