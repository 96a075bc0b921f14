//! Queries on `room_notification_settings`, `push_subscriptions` and `push_queue`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Int8, Interval, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::{ClaimedPush, NewPushSubscription, PushSubscription, RoomNotificationSetting};
use crate::ids::{MessageId, PushSubscriptionId, RoomId, UserId};
use crate::schema::{push_subscriptions, room_notification_settings};

pub async fn setting(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    room_id: RoomId,
) -> QueryResult<Option<RoomNotificationSetting>> {
    room_notification_settings::table
        .find((user_id, room_id))
        .select(RoomNotificationSetting::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn put_setting(
    conn: &mut AsyncPgConnection,
    row: &RoomNotificationSetting,
) -> QueryResult<RoomNotificationSetting> {
    diesel::insert_into(room_notification_settings::table)
        .values(row)
        .on_conflict((room_notification_settings::user_id, room_notification_settings::room_id))
        .do_update()
        .set(row)
        .returning(RoomNotificationSetting::as_returning())
        .get_result(conn)
        .await
}

pub async fn delete_setting(conn: &mut AsyncPgConnection, user_id: UserId, room_id: RoomId) -> QueryResult<usize> {
    diesel::delete(room_notification_settings::table.find((user_id, room_id))).execute(conn).await
}

/// Stores a subscription; an endpoint subscribed before (by anyone: the browser profile changed
/// account) takes the new owner and keys, and what was queued for the previous owner goes: the
/// new owner's browser would show it. Then the owner's oldest subscriptions past `max` go.
pub async fn subscribe(
    conn: &mut AsyncPgConnection,
    new: &NewPushSubscription<'_>,
    max: i64,
) -> QueryResult<PushSubscription> {
    let row = diesel::insert_into(push_subscriptions::table)
        .values(new)
        .on_conflict(push_subscriptions::endpoint)
        .do_update()
        .set((
            push_subscriptions::user_id.eq(new.user_id),
            push_subscriptions::session_id.eq(new.session_id),
            push_subscriptions::p256dh.eq(new.p256dh),
            push_subscriptions::auth.eq(new.auth),
            push_subscriptions::created_at.eq(diesel::dsl::now),
        ))
        .returning(PushSubscription::as_returning())
        .get_result(conn)
        .await?;
    diesel::sql_query("DELETE FROM push_queue WHERE subscription_id = $1 AND user_id <> $2")
        .bind::<SqlUuid, _>(row.id)
        .bind::<SqlUuid, _>(new.user_id)
        .execute(conn)
        .await?;
    diesel::sql_query(
        "DELETE FROM push_subscriptions WHERE id IN (\
            SELECT id FROM push_subscriptions WHERE user_id = $1 \
            ORDER BY created_at DESC, id OFFSET $2)",
    )
    .bind::<SqlUuid, _>(new.user_id)
    .bind::<BigInt, _>(max)
    .execute(conn)
    .await?;
    Ok(row)
}

pub async fn subscriptions_of(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<Vec<PushSubscription>> {
    push_subscriptions::table
        .filter(push_subscriptions::user_id.eq(user_id))
        .order((push_subscriptions::created_at.desc(), push_subscriptions::id))
        .select(PushSubscription::as_select())
        .load(conn)
        .await
}

/// Deletes the user's subscription with this endpoint; whether there was one.
pub async fn unsubscribe(conn: &mut AsyncPgConnection, user_id: UserId, endpoint: &str) -> QueryResult<bool> {
    diesel::delete(
        push_subscriptions::table
            .filter(push_subscriptions::user_id.eq(user_id))
            .filter(push_subscriptions::endpoint.eq(endpoint)),
    )
    .execute(conn)
    .await
    .map(|n| n > 0)
}

/// A login session ended: the devices it subscribed get nothing more.
pub async fn delete_of_session(conn: &mut AsyncPgConnection, session: uuid::Uuid) -> QueryResult<usize> {
    diesel::delete(push_subscriptions::table.filter(push_subscriptions::session_id.eq(session))).execute(conn).await
}

/// The account is being deleted: every device it subscribed, by a login or an API token, gets
/// nothing more (their queued pushes go by foreign key).
pub async fn delete_all_of(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<usize> {
    diesel::delete(push_subscriptions::table.filter(push_subscriptions::user_id.eq(user_id))).execute(conn).await
}

/// Every login session of the user ended (logout everywhere, a password change or reset).
pub async fn delete_of_sessions(conn: &mut AsyncPgConnection, user_id: UserId) -> QueryResult<usize> {
    diesel::delete(
        push_subscriptions::table
            .filter(push_subscriptions::user_id.eq(user_id))
            .filter(push_subscriptions::session_id.is_not_null()),
    )
    .execute(conn)
    .await
}

/// The push service says the subscription is gone (404/410).
pub async fn delete_subscription(conn: &mut AsyncPgConnection, id: PushSubscriptionId) -> QueryResult<usize> {
    diesel::delete(push_subscriptions::table.find(id)).execute(conn).await
}

/// Whether any subscription exists at all.
pub async fn any_subscription(conn: &mut AsyncPgConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(push_subscriptions::table.select(push_subscriptions::id))).get_result(conn).await
}

/// Queues the pushes of newly committed messages, one statement for a whole batch: for each
/// message, each subscription of each member other than the sender whose setting for the room
/// lets it through (the level, `all` in a direct room and `mentions` elsewhere without a row; not
/// muted) and who has not blocked the sender. Whether the member is connected is the worker's
/// question, asked when it sends. The payload is made here, in the recipient's language where it
/// has words (`placeholder_en`/`_de`: the body of a message that only carries files).
pub async fn enqueue_messages(
    conn: &mut AsyncPgConnection,
    ids: &[MessageId],
    placeholder_en: &str,
    placeholder_de: &str,
) -> QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO push_queue (subscription_id, user_id, kind, urgency, payload) \
         SELECT ps.id, rm.user_id, 'message', \
                CASE WHEN r.kind = 'direct' OR rm.user_id = ANY(coalesce(m.mentions, '{}')) \
                     THEN 'high' ELSE 'normal' END, \
                json_build_object(\
                    'kind', 'message', \
                    'room_id', m.room_id, \
                    'room_name', CASE WHEN r.kind = 'direct' THEN coalesce(nullif(su.display_name, ''), su.username) \
                                      ELSE coalesce(r.name, '') END, \
                    'sender', coalesce(nullif(su.display_name, ''), su.username), \
                    'body', CASE WHEN btrim(m.body) = '' \
                                 THEN CASE WHEN up.language = 'de' THEN $3 ELSE $2 END \
                                 ELSE left(m.body, 140) END, \
                    'message_id', m.id, \
                    'mention', rm.user_id = ANY(coalesce(m.mentions, '{}')), \
                    'url', '/#room=' || m.room_id)::text \
         FROM messages m \
         JOIN rooms r ON r.id = m.room_id \
         JOIN users su ON su.id = m.sender_id \
         JOIN room_members rm ON rm.room_id = m.room_id AND rm.user_id <> m.sender_id \
         JOIN push_subscriptions ps ON ps.user_id = rm.user_id \
         LEFT JOIN room_notification_settings ns ON ns.user_id = rm.user_id AND ns.room_id = m.room_id \
         LEFT JOIN user_preferences up ON up.user_id = rm.user_id \
         WHERE m.id = ANY($1) AND m.deleted_at IS NULL \
           AND (ns.muted_until IS NULL OR ns.muted_until <= now()) \
           AND CASE coalesce(ns.level, CASE WHEN r.kind = 'direct' THEN 'all' ELSE 'mentions' END) \
                 WHEN 'all' THEN true \
                 WHEN 'mentions' THEN rm.user_id = ANY(coalesce(m.mentions, '{}')) \
                 ELSE false END \
           AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = rm.user_id AND b.blocked_id = m.sender_id)",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Text, _>(placeholder_en)
    .bind::<Text, _>(placeholder_de)
    .execute(conn)
    .await
}

/// Queues `payload` for every subscription of the staff who can answer support chats
/// (`staff_who_can_answer!`; `two_factor` is `mfa.require_for_staff`).
pub async fn enqueue_staff(conn: &mut AsyncPgConnection, payload: &str, two_factor: bool) -> QueryResult<usize> {
    diesel::sql_query(concat!(
        "INSERT INTO push_queue (subscription_id, user_id, kind, urgency, payload) \
         SELECT ps.id, ps.user_id, 'support', 'high', $1 \
         FROM push_subscriptions ps JOIN users u ON u.id = ps.user_id WHERE ",
        crate::staff_who_can_answer!("$2")
    ))
    .bind::<Text, _>(payload)
    .bind::<diesel::sql_types::Bool, _>(two_factor)
    .execute(conn)
    .await
}

/// Claims up to `limit` due pushes for this worker, as the mail queue does
/// (`mail_queue::claim_due`): the attempt counted, `next_attempt_at` moved `lease` ahead,
/// rows chosen with `FOR UPDATE SKIP LOCKED`. A push queued for a subscription's previous owner
/// (queued while the endpoint changed hands) comes back marked not `owned`, for the worker to
/// drop.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease: std::time::Duration,
) -> QueryResult<Vec<ClaimedPush>> {
    let lease =
        diesel::pg::data_types::PgInterval::from_microseconds(i64::try_from(lease.as_micros()).unwrap_or(i64::MAX));
    diesel::sql_query(
        "WITH claimed AS (\
            UPDATE push_queue SET attempts = attempts + 1, next_attempt_at = now() + $2 \
            WHERE id IN (SELECT id FROM push_queue WHERE next_attempt_at <= now() \
                         ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
            RETURNING id, subscription_id, user_id, kind, urgency, payload, attempts) \
         SELECT c.id, c.subscription_id, c.user_id, c.kind, c.urgency, c.payload, c.attempts, \
                s.endpoint, s.p256dh, s.auth, s.user_id = c.user_id AS owned \
         FROM claimed c JOIN push_subscriptions s ON s.id = c.subscription_id \
         ORDER BY c.id",
    )
    .bind::<BigInt, _>(limit)
    .bind::<Interval, _>(lease)
    .load(conn)
    .await
}

/// Delivered, given up, or not needed (the recipient is connected).
pub async fn done(conn: &mut AsyncPgConnection, ids: &[i64]) -> QueryResult<usize> {
    diesel::sql_query("DELETE FROM push_queue WHERE id = ANY($1)").bind::<Array<Int8>, _>(ids).execute(conn).await
}

/// A failed try, to be retried at `retry_at`.
pub async fn retry(conn: &mut AsyncPgConnection, id: i64, error: &str, retry_at: DateTime<Utc>) -> QueryResult<usize> {
    diesel::sql_query("UPDATE push_queue SET last_error = $2, next_attempt_at = $3 WHERE id = $1")
        .bind::<Int8, _>(id)
        .bind::<Text, _>(error)
        .bind::<Timestamptz, _>(retry_at)
        .execute(conn)
        .await
}
