//! Queries on `webhook_endpoints`, `webhook_outbox` and `webhook_attempts`. The delivery worker's
//! statements are hand-written SQL: diesel's builder has no `FOR UPDATE ... SKIP LOCKED` with
//! `NOT EXISTS` over the same table, nor `unnest` of several arrays.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::models::{Attempt, NewWebhookEndpoint, OutboxRow, WebhookEndpoint};
use crate::ids::RoomId;
use crate::schema::{webhook_attempts, webhook_endpoints, webhook_outbox};
use crate::webhooks::Event;

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The event types some enabled endpoint wants.
pub async fn wanted_event_types(conn: &mut AsyncPgConnection) -> QueryResult<Vec<String>> {
    let rows: Vec<Name> =
        diesel::sql_query("SELECT DISTINCT unnest(event_types) AS name FROM webhook_endpoints WHERE enabled")
            .load(conn)
            .await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// One outbox row per event and enabled endpoint that wants it, in the events' order (the
/// serial ids the worker orders by follow it). The endpoints are locked as the foreign key's
/// check would lock them, but before the rows are made: an endpoint deleted meanwhile is waited
/// for and then left out, where the check would have failed the change it reports.
pub async fn enqueue(conn: &mut AsyncPgConnection, events: &[Event]) -> QueryResult<usize> {
    let ids: Vec<Uuid> =
        events.iter().map(|e| e.payload["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or_default()).collect();
    let types: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let rooms: Vec<Option<Uuid>> = events.iter().map(|e| e.room_id.map(|r| r.0)).collect();
    let payloads: Vec<&serde_json::Value> = events.iter().map(|e| &e.payload).collect();
    diesel::sql_query(
        "INSERT INTO webhook_outbox (endpoint_id, event_id, event_type, room_id, payload) \
         SELECT e.id, x.event_id, x.event_type, x.room_id, x.payload \
         FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::jsonb[]) WITH ORDINALITY \
              AS x(event_id, event_type, room_id, payload, ord) \
         JOIN webhook_endpoints e ON e.enabled AND x.event_type = ANY(e.event_types) \
              AND (e.room_id IS NULL OR e.room_id = x.room_id) \
         ORDER BY x.ord, e.id \
         FOR KEY SHARE OF e",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Text>, _>(types)
    .bind::<Array<Nullable<SqlUuid>>, _>(rooms)
    .bind::<Array<Jsonb>, _>(payloads)
    .execute(conn)
    .await
}

/// A delivery the worker claimed (leased until it records the outcome).
#[derive(Debug, QueryableByName)]
pub struct Due {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = SqlUuid)]
    pub endpoint_id: Uuid,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    /// The payload as it is sent (and signed).
    #[diesel(sql_type = Text)]
    pub body: String,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Text)]
    pub secret: String,
    /// The lease: the row's `next_attempt_at` as this claim set it. A failure is recorded only
    /// while it is unchanged (see [`mark_failed`]).
    #[diesel(sql_type = Timestamptz)]
    pub leased_until: DateTime<Utc>,
}

/// Claims up to `limit` deliveries that are due, oldest first: of each endpoint and room only the
/// oldest pending one (so a room's events reach an endpoint in order, a retry holding back the
/// ones after it), skipping rows another worker is claiming. Each is leased for `lease_ms`: its
/// next attempt is pushed out that far, in this one statement (committed on its own), so no
/// worker takes it again while it is being posted, and it comes due again should the worker die
/// before recording the outcome.
pub async fn claim_due(conn: &mut AsyncPgConnection, limit: i64, lease_ms: i64) -> QueryResult<Vec<Due>> {
    let mut due: Vec<Due> = diesel::sql_query(
        "WITH due AS ( \
           SELECT o.id FROM webhook_outbox o JOIN webhook_endpoints e ON e.id = o.endpoint_id \
           WHERE o.state = 'pending' AND e.enabled AND o.next_attempt_at <= now() \
             AND NOT EXISTS (SELECT 1 FROM webhook_outbox p \
                             WHERE p.endpoint_id = o.endpoint_id AND p.room_id IS NOT DISTINCT FROM o.room_id \
                               AND p.state = 'pending' AND p.id < o.id) \
           ORDER BY o.id LIMIT $1 \
           FOR UPDATE OF o SKIP LOCKED) \
         UPDATE webhook_outbox o SET next_attempt_at = now() + $2::float8 * interval '1 millisecond' \
         FROM due, webhook_endpoints e \
         WHERE o.id = due.id AND e.id = o.endpoint_id \
         RETURNING o.id, o.endpoint_id, o.attempts, o.payload::text AS body, e.url, e.secret, \
                   o.next_attempt_at AS leased_until",
    )
    .bind::<BigInt, _>(limit)
    .bind::<BigInt, _>(lease_ms)
    .load(conn)
    .await?;
    // RETURNING keeps no order.
    due.sort_by_key(|d| d.id);
    Ok(due)
}

/// An admin who can get mail.
#[derive(Debug, QueryableByName)]
pub struct AdminRecipient {
    #[diesel(sql_type = Text)]
    pub username: String,
    #[diesel(sql_type = Text)]
    pub email: String,
    #[diesel(sql_type = Text)]
    pub language: String,
}

/// Every admin with an address, not banned and not being deleted, with the language of their mails:
/// who hears of a disabled endpoint (admins alone manage webhooks).
pub async fn admin_recipients(conn: &mut AsyncPgConnection) -> QueryResult<Vec<AdminRecipient>> {
    diesel::sql_query(
        "SELECT u.username, u.email, COALESCE(p.language, 'en') AS language \
         FROM users u LEFT JOIN user_preferences p ON p.user_id = u.id \
         WHERE u.role = 'admin' AND u.banned_at IS NULL AND u.deleting_since IS NULL \
           AND u.email IS NOT NULL AND NOT u.is_bot \
         ORDER BY u.username LIMIT 1000",
    )
    .load(conn)
    .await
}

/// Logs an attempt.
pub async fn record_attempt(
    conn: &mut AsyncPgConnection,
    outbox_id: i64,
    status_code: Option<i32>,
    latency_ms: i32,
    error: Option<&str>,
) -> QueryResult<usize> {
    diesel::insert_into(webhook_attempts::table)
        .values((
            webhook_attempts::outbox_id.eq(outbox_id),
            webhook_attempts::status_code.eq(status_code),
            webhook_attempts::latency_ms.eq(latency_ms),
            webhook_attempts::error.eq(error),
        ))
        .execute(conn)
        .await
}

/// Locks an endpoint's row (`FOR NO KEY UPDATE`: its deletion waits, sends that queue for it do
/// not) until the transaction ends; whether it exists.
pub async fn lock_endpoint(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    let found: Option<Uuid> = webhook_endpoints::table
        .find(id)
        .select(webhook_endpoints::id)
        .for_no_key_update()
        .first(conn)
        .await
        .optional()?;
    Ok(found.is_some())
}

/// A delivery that succeeded: the row is done (even if its lease ran out and another worker has
/// it: that worker's failure then changes nothing, see [`mark_failed`]), and its endpoint's
/// failure run ends.
pub async fn mark_delivered(conn: &mut AsyncPgConnection, outbox_id: i64, endpoint_id: Uuid) -> QueryResult<()> {
    diesel::update(webhook_outbox::table.find(outbox_id).filter(webhook_outbox::state.eq("pending")))
        .set((
            webhook_outbox::state.eq("delivered"),
            webhook_outbox::attempts.eq(webhook_outbox::attempts + 1),
            webhook_outbox::delivered_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    diesel::update(webhook_endpoints::table.find(endpoint_id))
        .set(webhook_endpoints::consecutive_failures.eq(0))
        .execute(conn)
        .await?;
    Ok(())
}

/// A delivery that failed: retried at `retry_at`, or without one given up, marked `failed` (it no
/// longer holds back its room's later events); the endpoint's failure run grows, and at
/// `max_failures` the endpoint is disabled. Returns whether this failure disabled it, or `None`
/// if the claim was no longer the row's and nothing changed.
///
/// Only while the claim's lease `leased_until` is still the row's, and its count of attempts
/// `attempts` as claimed: a worker that recorded too late (its lease ran out, another worker
/// claimed the row again, or delivered it; or the endpoint was re-enabled meanwhile, which
/// started the count anew) changes neither the row's next attempt (which would cut the new lease
/// short and let the row go out a third time) nor its state nor the endpoint's failure run.
pub async fn mark_failed(
    conn: &mut AsyncPgConnection,
    claimed: &Due,
    retry_at: Option<DateTime<Utc>>,
    max_failures: i32,
    reason: &str,
) -> QueryResult<Option<bool>> {
    let still_ours = diesel::update(
        webhook_outbox::table
            .find(claimed.id)
            .filter(webhook_outbox::state.eq("pending"))
            .filter(webhook_outbox::next_attempt_at.eq(claimed.leased_until))
            .filter(webhook_outbox::attempts.eq(claimed.attempts)),
    )
    .set((
        webhook_outbox::attempts.eq(webhook_outbox::attempts + 1),
        webhook_outbox::next_attempt_at.eq(retry_at.unwrap_or_else(Utc::now)),
        webhook_outbox::state.eq(if retry_at.is_some() { "pending" } else { "failed" }),
    ))
    .execute(conn)
    .await?;
    if still_ours == 0 {
        return Ok(None);
    }
    let run: Option<Run> = diesel::sql_query(
        "UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1, \
             enabled = enabled AND consecutive_failures + 1 < $2, \
             disabled_at = CASE WHEN enabled AND consecutive_failures + 1 >= $2 THEN now() ELSE disabled_at END, \
             disabled_reason = CASE WHEN enabled AND consecutive_failures + 1 >= $2 THEN $3 ELSE disabled_reason END \
         WHERE id = $1 RETURNING consecutive_failures, enabled",
    )
    .bind::<SqlUuid, _>(claimed.endpoint_id)
    .bind::<Integer, _>(max_failures)
    .bind::<Text, _>(reason)
    .get_result(conn)
    .await
    .optional()?;
    // The worker only takes rows of enabled endpoints, so the run reaches the bound exactly once.
    Ok(Some(run.is_some_and(|r| !r.enabled && r.consecutive_failures == max_failures)))
}

#[derive(QueryableByName)]
struct Run {
    #[diesel(sql_type = Integer)]
    consecutive_failures: i32,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    enabled: bool,
}

pub async fn insert_endpoint(
    conn: &mut AsyncPgConnection,
    new: &NewWebhookEndpoint<'_>,
) -> QueryResult<WebhookEndpoint> {
    diesel::insert_into(webhook_endpoints::table)
        .values(new)
        .returning(WebhookEndpoint::as_returning())
        .get_result(conn)
        .await
}

pub async fn list_endpoints(conn: &mut AsyncPgConnection) -> QueryResult<Vec<WebhookEndpoint>> {
    webhook_endpoints::table
        .order((webhook_endpoints::created_at, webhook_endpoints::id))
        .select(WebhookEndpoint::as_select())
        .load(conn)
        .await
}

pub async fn find_endpoint(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<WebhookEndpoint>> {
    webhook_endpoints::table.find(id).select(WebhookEndpoint::as_select()).first(conn).await.optional()
}

/// Enables (ending the failure run) or disables an endpoint by hand. `lease`: how long a
/// delivery under way holds its row (`webhooks::deliver::lease`).
pub async fn set_enabled(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    enabled: bool,
    lease: std::time::Duration,
) -> QueryResult<Option<WebhookEndpoint>> {
    let target = webhook_endpoints::table.find(id);
    if enabled {
        // The events that waited out the failures are due at once, not after their back-off
        // (up to an hour and a half): an admin turns an endpoint back on when it works again.
        // Only when it was off, and only rows due later than a lease from now: a delivery still
        // under way (its lease is its next_attempt_at) is not taken again. Their count of
        // attempts starts anew with the endpoint's run of failures, so that an event is given up
        // (`webhooks.max_attempts`) for failing while the receiver takes others, not because the
        // receiver was down across a re-enabling; the attempt log keeps every attempt.
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        diesel::sql_query(
            "UPDATE webhook_outbox SET attempts = 0, \
                 next_attempt_at = CASE WHEN next_attempt_at > now() + $2::float8 * interval '1 millisecond' \
                                        THEN now() ELSE next_attempt_at END \
             WHERE endpoint_id = $1 AND state = 'pending' \
               AND EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = $1 AND NOT enabled)",
        )
        .bind::<diesel::sql_types::Uuid, _>(id)
        .bind::<BigInt, _>(lease_ms)
        .execute(conn)
        .await?;
    }
    let query = if enabled {
        diesel::update(target)
            .set((
                webhook_endpoints::enabled.eq(true),
                webhook_endpoints::consecutive_failures.eq(0),
                webhook_endpoints::disabled_at.eq(None::<DateTime<Utc>>),
                webhook_endpoints::disabled_reason.eq(None::<String>),
            ))
            .returning(WebhookEndpoint::as_returning())
            .get_result(conn)
            .await
    } else {
        diesel::update(target)
            .set((
                webhook_endpoints::enabled.eq(false),
                webhook_endpoints::disabled_at.eq(diesel::dsl::now),
                webhook_endpoints::disabled_reason.eq("disabled by an admin"),
            ))
            .returning(WebhookEndpoint::as_returning())
            .get_result(conn)
            .await
    };
    query.optional()
}

/// The endpoints scoped to one of `rooms` (id and URL): they go with their room (a foreign key's
/// cascade).
pub async fn endpoints_of_rooms(conn: &mut AsyncPgConnection, rooms: &[RoomId]) -> QueryResult<Vec<(Uuid, String)>> {
    webhook_endpoints::table
        .filter(webhook_endpoints::room_id.eq_any(rooms))
        .select((webhook_endpoints::id, webhook_endpoints::url))
        .load(conn)
        .await
}

pub async fn delete_endpoint(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
    diesel::delete(webhook_endpoints::table.find(id)).execute(conn).await
}

/// An endpoint's latest deliveries, newest first, with their attempts.
pub async fn deliveries(
    conn: &mut AsyncPgConnection,
    endpoint_id: Uuid,
    limit: i64,
) -> QueryResult<Vec<(OutboxRow, Vec<Attempt>)>> {
    let rows: Vec<OutboxRow> = webhook_outbox::table
        .filter(webhook_outbox::endpoint_id.eq(endpoint_id))
        .order(webhook_outbox::id.desc())
        .limit(limit)
        .select(OutboxRow::as_select())
        .load(conn)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let attempts: Vec<Attempt> = webhook_attempts::table
        .filter(webhook_attempts::outbox_id.eq_any(&ids))
        .order(webhook_attempts::id)
        .select(Attempt::as_select())
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mine = attempts.iter().filter(|a| a.outbox_id == r.id).cloned().collect();
            (r, mine)
        })
        .collect())
}

/// "Send again": a new pending copy of a delivery (same event id, so receivers can tell), queued
/// behind the endpoint's other pending events of its room. `None` when there is no such delivery.
pub async fn redeliver(conn: &mut AsyncPgConnection, outbox_id: i64) -> QueryResult<Option<i64>> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let row: Option<Id> = diesel::sql_query(
        "INSERT INTO webhook_outbox (endpoint_id, event_id, event_type, room_id, payload) \
         SELECT endpoint_id, event_id, event_type, room_id, payload FROM webhook_outbox WHERE id = $1 \
         RETURNING id",
    )
    .bind::<BigInt, _>(outbox_id)
    .get_result(conn)
    .await
    .optional()?;
    Ok(row.map(|r| r.id))
}

/// The endpoint a delivery belongs to.
pub async fn endpoint_of(conn: &mut AsyncPgConnection, outbox_id: i64) -> QueryResult<Option<Uuid>> {
    webhook_outbox::table.find(outbox_id).select(webhook_outbox::endpoint_id).first(conn).await.optional()
}
