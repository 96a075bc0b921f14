//! The admin panel's counters that live in the database, in one statement.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(Debug, QueryableByName)]
pub struct DbStats {
    /// Accounts that are not guests (support visitors are counted by their sessions).
    #[diesel(sql_type = BigInt)]
    pub users_total: i64,
    /// Rooms of every kind.
    #[diesel(sql_type = BigInt)]
    pub rooms_total: i64,
    /// Messages that are not deleted.
    #[diesel(sql_type = BigInt)]
    pub messages_total: i64,
    /// Of those, the ones created since midnight UTC.
    #[diesel(sql_type = BigInt)]
    pub messages_today: i64,
    #[diesel(sql_type = BigInt)]
    pub support_open: i64,
    /// Mean time from a session's opening to staff's first answer, over answered sessions.
    #[diesel(sql_type = Nullable<Double>)]
    pub avg_first_response_secs: Option<f64>,
}

pub async fn load(conn: &mut AsyncPgConnection) -> QueryResult<DbStats> {
    diesel::sql_query(
        "SELECT (SELECT count(*) FROM users WHERE role <> 'guest') AS users_total, \
                (SELECT count(*) FROM rooms) AS rooms_total, \
                (SELECT count(*) FROM messages WHERE deleted_at IS NULL) AS messages_total, \
                (SELECT count(*) FROM messages WHERE deleted_at IS NULL \
                   AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS messages_today, \
                (SELECT count(*) FROM support_sessions WHERE status = 'open') AS support_open, \
                (SELECT avg(EXTRACT(EPOCH FROM first_response_at - created_at))::float8 FROM support_sessions \
                   WHERE first_response_at IS NOT NULL) AS avg_first_response_secs",
    )
    .get_result(conn)
    .await
}

/// One day's count in a history series: `day` days after its start.
#[derive(Debug, QueryableByName)]
pub struct DayCount {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub day: i32,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// One day's value in a history series.
#[derive(Debug, QueryableByName)]
pub struct DayValue {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub day: i32,
    #[diesel(sql_type = Nullable<Double>)]
    pub v: Option<f64>,
}

/// The day of a row, counted from `since` (a midnight UTC): the grouping of every history query.
const DAY: &str = "floor(extract(epoch FROM created_at - $1) / 86400)::int4";

/// Messages not deleted, per day since `since` (days without any are absent): one aggregate over
/// the recent part of `messages` (`messages_created_brin`).
pub async fn messages_per_day(
    conn: &mut AsyncPgConnection,
    since: chrono::DateTime<chrono::Utc>,
) -> QueryResult<Vec<DayCount>> {
    diesel::sql_query(format!(
        "SELECT {DAY} AS day, count(*) AS n FROM messages \
         WHERE created_at >= $1 AND deleted_at IS NULL GROUP BY 1 ORDER BY 1"
    ))
    .bind::<diesel::sql_types::Timestamptz, _>(since)
    .load(conn)
    .await
}

/// Support sessions opened per day since `since`.
pub async fn sessions_per_day(
    conn: &mut AsyncPgConnection,
    since: chrono::DateTime<chrono::Utc>,
) -> QueryResult<Vec<DayCount>> {
    diesel::sql_query(format!(
        "SELECT {DAY} AS day, count(*) AS n FROM support_sessions WHERE created_at >= $1 GROUP BY 1 ORDER BY 1"
    ))
    .bind::<diesel::sql_types::Timestamptz, _>(since)
    .load(conn)
    .await
}

/// The median time to staff's first answer, in seconds, of the sessions opened each day since
/// `since` that were answered.
pub async fn median_first_response_per_day(
    conn: &mut AsyncPgConnection,
    since: chrono::DateTime<chrono::Utc>,
) -> QueryResult<Vec<DayValue>> {
    diesel::sql_query(format!(
        "SELECT {DAY} AS day, \
                percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_response_at - created_at))::float8 AS v \
         FROM support_sessions WHERE created_at >= $1 AND first_response_at IS NOT NULL GROUP BY 1 ORDER BY 1"
    ))
    .bind::<diesel::sql_types::Timestamptz, _>(since)
    .load(conn)
    .await
}
