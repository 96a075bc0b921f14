//! Queries on `mail_queue`: enqueue, claim what is due, record the outcome, list for admins.

use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Interval};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::{NewMail, QueuedMail};
use crate::ids::UserId;
use crate::schema::mail_queue;

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewMail<'_>) -> QueryResult<usize> {
    diesel::insert_into(mail_queue::table).values(new).execute(conn).await
}

/// Drops the mails of the given kinds still waiting to go to the account's address (none once it
/// has no address). A worker sending one at this moment finishes it: its outcome updates nothing.
pub async fn drop_unsent_to_account(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    kinds: &[&str],
) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM mail_queue WHERE sent_at IS NULL AND failed_at IS NULL AND kind = ANY($2) \
           AND recipient = (SELECT email FROM users WHERE id = $1)",
    )
    .bind::<diesel::sql_types::Uuid, _>(user_id)
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(kinds)
    .execute(conn)
    .await
}

/// Claims up to `limit` due mails for this worker: counts the attempt and moves each one's
/// `next_attempt_at` `lease` ahead, so no other worker takes it meanwhile. The rows are chosen
/// with `FOR UPDATE SKIP LOCKED`, so workers claiming at the same moment split the rows between
/// them instead of waiting for each other; no transaction stays open while the mail is sent.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease: std::time::Duration,
) -> QueryResult<Vec<QueuedMail>> {
    let lease =
        diesel::pg::data_types::PgInterval::from_microseconds(i64::try_from(lease.as_micros()).unwrap_or(i64::MAX));
    diesel::sql_query(
        "UPDATE mail_queue SET attempts = attempts + 1, next_attempt_at = now() + $2 \
         WHERE id IN (SELECT id FROM mail_queue \
                      WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now() \
                      ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING *",
    )
    .bind::<BigInt, _>(limit)
    .bind::<Interval, _>(lease)
    .load(conn)
    .await
}

/// Moves the lease of one claimed mail `lease` ahead from now, just before it is sent, so that a
/// batch sent one by one never outlasts the lease its claim took. False when the mail is no longer
/// this claim's: taken over by another worker once the lease ran out (its attempts moved on),
/// sent, given up, or dropped (an account's deletion).
pub async fn renew_lease(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    attempts: i32,
    lease: std::time::Duration,
) -> QueryResult<bool> {
    let lease =
        diesel::pg::data_types::PgInterval::from_microseconds(i64::try_from(lease.as_micros()).unwrap_or(i64::MAX));
    let renewed = diesel::sql_query(
        "UPDATE mail_queue SET next_attempt_at = now() + $3 \
         WHERE id = $1 AND attempts = $2 AND sent_at IS NULL AND failed_at IS NULL",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<diesel::sql_types::Integer, _>(attempts)
    .bind::<Interval, _>(lease)
    .execute(conn)
    .await?;
    Ok(renewed == 1)
}

/// Delivered: the bodies and the unsubscribe address go (a reset link must not outlive its
/// delivery in the database, nor an unsubscribe token).
pub async fn mark_sent(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
    diesel::update(mail_queue::table.find(id))
        .set((
            mail_queue::sent_at.eq(now),
            mail_queue::last_error.eq(None::<String>),
            mail_queue::body_text.eq(""),
            mail_queue::body_html.eq(""),
            mail_queue::list_unsubscribe.eq(None::<String>),
        ))
        .execute(conn)
        .await
}

/// A failed try, to be retried at `retry_at`.
pub async fn mark_retry(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    error: &str,
    retry_at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(mail_queue::table.find(id))
        .set((mail_queue::last_error.eq(error), mail_queue::next_attempt_at.eq(retry_at)))
        .execute(conn)
        .await
}

/// The last try failed: given up. The bodies go as for a sent mail.
pub async fn mark_failed(conn: &mut AsyncPgConnection, id: Uuid, error: &str) -> QueryResult<usize> {
    diesel::update(mail_queue::table.find(id))
        .set((
            mail_queue::failed_at.eq(now),
            mail_queue::last_error.eq(error),
            mail_queue::body_text.eq(""),
            mail_queue::body_html.eq(""),
            mail_queue::list_unsubscribe.eq(None::<String>),
        ))
        .execute(conn)
        .await
}

/// Which mails an admin lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailFilter {
    /// Not sent yet and not given up.
    Queued,
    Failed,
    Sent,
    All,
}

/// A page of mails, newest first, and how many match in all.
pub async fn list(
    conn: &mut AsyncPgConnection,
    filter: MailFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<QueuedMail>, i64)> {
    let query = || {
        let mut q = mail_queue::table.into_boxed();
        q = match filter {
            MailFilter::Queued => q.filter(mail_queue::sent_at.is_null()).filter(mail_queue::failed_at.is_null()),
            MailFilter::Failed => q.filter(mail_queue::failed_at.is_not_null()),
            MailFilter::Sent => q.filter(mail_queue::sent_at.is_not_null()),
            MailFilter::All => q,
        };
        q
    };
    let total = query().count().get_result(conn).await?;
    let page = query()
        .order((mail_queue::created_at.desc(), mail_queue::id.desc()))
        .limit(limit)
        .offset(offset)
        .select(QueuedMail::as_select())
        .load(conn)
        .await?;
    Ok((page, total))
}
