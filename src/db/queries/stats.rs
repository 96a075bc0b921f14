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
