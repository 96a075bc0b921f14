//! Outgoing webhook endpoints as admins manage them (`/admin/webhooks`): register (the signing
//! secret is shown once), list, enable or disable, delete, read the delivery log, send a delivery
//! again. Each change is audited and re-reads which events are wanted at once on this instance.
//! Delivery itself is `crate::webhooks`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::models::{Attempt, NewWebhookEndpoint, OutboxRow, WebhookEndpoint};
use crate::db::queries::{rooms, webhooks as q};
use crate::error::{ApiError, ApiResult};
use crate::ids::RoomId;
use crate::service::audit;
use crate::state::AppState;
use crate::views::format_time;
use crate::webhooks::EventType;

/// Longest endpoint URL.
pub const MAX_URL_CHARS: usize = 2000;
/// Most deliveries one log page shows.
pub const MAX_LOG: i64 = 200;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub room_id: Option<RoomId>,
    pub enabled: bool,
    pub consecutive_failures: i32,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disabled_at: Option<String>,
    pub disabled_reason: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
}

impl EndpointView {
    fn new(e: &WebhookEndpoint) -> Self {
        Self {
            id: e.id,
            url: e.url.clone(),
            event_types: e.event_types.clone(),
            room_id: e.room_id,
            enabled: e.enabled,
            consecutive_failures: e.consecutive_failures,
            disabled_at: e.disabled_at.as_ref().map(format_time),
            disabled_reason: e.disabled_reason.clone(),
            created_at: format_time(&e.created_at),
        }
    }
}

/// A new endpoint, with its signing secret this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// The HMAC-SHA256 key of the `Plauder-Signature` header; shown only now.
    pub secret: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    #[schema(value_type = String, format = DateTime)]
    pub attempted_at: String,
    /// The receiver's HTTP status; null when no answer came.
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub room_id: Option<Uuid>,
    /// `pending` (queued or being retried), `delivered`, or `failed` (given up after
    /// `webhooks.max_attempts`).
    pub state: String,
    /// Failed attempts since the endpoint was last re-enabled (`attempt_log` has them all).
    pub attempts: i32,
    #[schema(value_type = String, format = DateTime)]
    pub next_attempt_at: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub attempt_log: Vec<AttemptView>,
}

impl DeliveryView {
    fn new(row: OutboxRow, attempts: Vec<Attempt>) -> Self {
        Self {
            id: row.id,
            event_id: row.event_id,
            event_type: row.event_type,
            room_id: row.room_id,
            state: row.state,
            attempts: row.attempts,
            next_attempt_at: format_time(&row.next_attempt_at),
            delivered_at: row.delivered_at.as_ref().map(format_time),
            created_at: format_time(&row.created_at),
            payload: row.payload,
            attempt_log: attempts
                .into_iter()
                .map(|a| AttemptView {
                    attempted_at: format_time(&a.attempted_at),
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    error: a.error,
                })
                .collect(),
        }
    }
}

pub struct EndpointRequest {
    pub url: String,
    pub event_types: Vec<String>,
    pub room_id: Option<RoomId>,
}

fn not_found() -> ApiError {
    ApiError::NotFound("No such webhook endpoint.".into())
}

/// Re-reads the wanted events on this instance (others within `webhooks.refresh_interval_ms`).
async fn refresh(state: &AppState) -> ApiResult<()> {
    let mut conn = state.db().await?;
    state.webhooks.refresh(&mut conn).await?;
    Ok(())
}

/// Checks an endpoint URL: http or https, a host, and (unless allowed) no internal address.
async fn check_url(state: &AppState, url: &str) -> ApiResult<String> {
    let url = url.trim();
    if url.is_empty() || url.chars().count() > MAX_URL_CHARS {
        return Err(ApiError::validation("url", format!("url must be 1 to {MAX_URL_CHARS} characters.")));
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|e| ApiError::validation("url", format!("url is not a URL: {e}.")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ApiError::validation("url", "url must be http:// or https://."));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ApiError::validation("url", "url must not carry credentials; receivers check the signature."));
    }
    let host = parsed.host_str().ok_or_else(|| ApiError::validation("url", "url has no host."))?;
    let port = parsed.port_or_known_default().unwrap_or(443);
    state
        .webhook_guard
        .resolve(host, port)
        .await
        .map_err(|why| ApiError::validation("url", format!("url refused: {why}.")))?;
    Ok(parsed.to_string())
}

fn check_events(names: &[String]) -> ApiResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let kind = EventType::parse(name).ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            ApiError::validation("event_types", format!("Unknown event type '{name}'; known: {}.", known.join(", ")))
        })?;
        if !out.iter().any(|n| n == kind.as_str()) {
            out.push(kind.as_str().to_owned());
        }
    }
    if out.is_empty() {
        return Err(ApiError::validation("event_types", "Give at least one event type."));
    }
    Ok(out)
}

fn new_secret() -> ApiResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(anyhow::anyhow!("random source: {e}")))?;
    Ok(format!("whsec_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// `POST /admin/webhooks`.
///
/// # Errors
/// `validation_failed` for a bad or internal URL, unknown event types or an unknown room.
pub async fn create(state: &AppState, caller: &Caller, req: EndpointRequest) -> ApiResult<CreatedEndpoint> {
    let url = check_url(state, &req.url).await?;
    let event_types = check_events(&req.event_types)?;
    let secret = new_secret()?;
    let mut conn = state.db().await?;
    if let Some(room_id) = req.room_id
        && rooms::find(&mut conn, room_id).await?.is_none()
    {
        return Err(ApiError::validation("room_id", "No such room."));
    }
    let endpoint = {
        use diesel_async::AsyncConnection;
        let (actor, secret) = (caller.id, secret.clone());
        conn.transaction::<_, ApiError, _>(async move |conn| {
            let new = NewWebhookEndpoint {
                id: Uuid::new_v4(),
                url: &url,
                event_types,
                room_id: req.room_id,
                secret: &secret,
                created_by: Some(actor),
            };
            let endpoint = q::insert_endpoint(conn, &new).await?;
            let details = json!({ "url": endpoint.url, "event_types": endpoint.event_types });
            audit::record(conn, actor, audit::Action::WebhookCreated, endpoint.id, details).await?;
            Ok(endpoint)
        })
        .await?
    };
    refresh(state).await?;
    Ok(CreatedEndpoint { endpoint: EndpointView::new(&endpoint), secret })
}

/// `GET /admin/webhooks`.
///
/// # Errors
/// Database failures.
pub async fn list(state: &AppState) -> ApiResult<Vec<EndpointView>> {
    let mut conn = state.db().await?;
    Ok(q::list_endpoints(&mut conn).await?.iter().map(EndpointView::new).collect())
}

/// `PATCH /admin/webhooks/{id}`: enable (ending the failure run; queued events go out) or disable.
///
/// # Errors
/// `not_found`.
pub async fn set_enabled(state: &AppState, caller: &Caller, id: Uuid, enabled: bool) -> ApiResult<EndpointView> {
    let mut conn = state.db().await?;
    let lease = crate::webhooks::deliver::lease(&state.settings.webhooks);
    let endpoint = q::set_enabled(&mut conn, id, enabled, lease).await?.ok_or_else(not_found)?;
    audit::record(&mut conn, caller.id, audit::Action::WebhookUpdated, id, json!({ "enabled": enabled })).await?;
    drop(conn);
    refresh(state).await?;
    Ok(EndpointView::new(&endpoint))
}

/// `DELETE /admin/webhooks/{id}`: the endpoint and its queued and logged deliveries.
///
/// # Errors
/// `not_found`.
pub async fn delete(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<()> {
    let mut conn = state.db().await?;
    let endpoint = q::find_endpoint(&mut conn, id).await?.ok_or_else(not_found)?;
    q::delete_endpoint(&mut conn, id).await?;
    audit::record(&mut conn, caller.id, audit::Action::WebhookDeleted, id, json!({ "url": endpoint.url })).await?;
    drop(conn);
    refresh(state).await
}

/// Records `webhook.deleted` for each endpoint scoped to one of `rooms`, which are being deleted
/// (the endpoints and what they had queued go with them, by foreign key), by `actor` (none: the
/// retention job). In the deletion's transaction, with the rooms' rows locked `FOR UPDATE` first,
/// so that no endpoint is added to them unrecorded.
///
/// # Errors
/// Database failures.
pub async fn record_going_with_rooms(
    conn: &mut diesel_async::AsyncPgConnection,
    actor: Option<crate::ids::UserId>,
    rooms: &[RoomId],
) -> ApiResult<()> {
    for (id, url) in q::endpoints_of_rooms(conn, rooms).await? {
        let details = json!({ "url": url, "reason": "its room was deleted" });
        audit::record_by(conn, actor, audit::Action::WebhookDeleted, id, details).await?;
    }
    Ok(())
}

/// `GET /admin/webhooks/{id}/deliveries?limit=`: newest first, each with its attempts.
///
/// # Errors
/// `not_found`; `validation_failed` for a bad limit.
pub async fn deliveries(state: &AppState, id: Uuid, limit: Option<i64>) -> ApiResult<Vec<DeliveryView>> {
    let (limit, _) = crate::service::validate::page(limit, None, 50, MAX_LOG)?;
    let mut conn = state.db().await?;
    q::find_endpoint(&mut conn, id).await?.ok_or_else(not_found)?;
    Ok(q::deliveries(&mut conn, id, limit).await?.into_iter().map(|(r, a)| DeliveryView::new(r, a)).collect())
}

/// `POST /admin/webhooks/deliveries/{id}/redeliver`: queues the delivery's event again (same event
/// id) for its endpoint. Returns the new delivery's id.
///
/// # Errors
/// `not_found`.
pub async fn redeliver(state: &AppState, caller: &Caller, delivery_id: i64) -> ApiResult<i64> {
    let mut conn = state.db().await?;
    let endpoint =
        q::endpoint_of(&mut conn, delivery_id).await?.ok_or_else(|| ApiError::NotFound("No such delivery.".into()))?;
    let new_id =
        q::redeliver(&mut conn, delivery_id).await?.ok_or_else(|| ApiError::NotFound("No such delivery.".into()))?;
    let details = json!({ "redelivered": delivery_id, "delivery": new_id });
    audit::record(&mut conn, caller.id, audit::Action::WebhookUpdated, endpoint, details).await?;
    Ok(new_id)
}
