//! What reaches a user who is not connected, and where: the per-room notification settings
//! (level `all` | `mentions` | `none`, muted until a time) and the user's Web Push subscriptions
//! (one per browser). Sending is `crate::push`'s business; this is the REST side's rules.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use serde::Serialize;

use crate::auth::Caller;
use crate::db::models::{NewPushSubscription, NotifyLevel, PushSubscription, RoomKind, RoomNotificationSetting};
use crate::db::queries::{push as q, refresh_tokens, rooms};
use crate::error::{ApiError, ApiResult};
use crate::ids::{PushSubscriptionId, RoomId};
use crate::state::AppState;
use crate::views::format_time;

/// Longest endpoint URL accepted (real ones are a few hundred characters).
pub const MAX_ENDPOINT_CHARS: usize = 2048;

/// A room's notification setting as the caller has it (their own or the default).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationSettingView {
    pub room_id: RoomId,
    /// `all`, `mentions` or `none`.
    pub level: NotifyLevel,
    /// No notifications until then; null: not muted.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub muted_until: Option<String>,
    /// True when no setting is stored and the room kind's default applies (`all` in a direct
    /// room, `mentions` elsewhere).
    pub is_default: bool,
}

/// The level a room has for someone who never chose one.
pub fn default_level(kind: RoomKind) -> NotifyLevel {
    match kind {
        RoomKind::Direct => NotifyLevel::All,
        RoomKind::Group | RoomKind::Support => NotifyLevel::Mentions,
    }
}

/// The room's kind, if the caller is a member; otherwise `not_found` (whether the room exists
/// is none of a non-member's business here).
async fn member_room_kind(state: &AppState, caller: &Caller, room_id: RoomId) -> ApiResult<RoomKind> {
    let mut conn = state.db().await?;
    match rooms::find_with_membership(&mut conn, room_id, caller.id).await? {
        Some((room, Some(_))) => Ok(room.kind),
        _ => Err(crate::service::access::no_such_room()),
    }
}

fn view_of(room_id: RoomId, kind: RoomKind, row: Option<RoomNotificationSetting>) -> NotificationSettingView {
    match row {
        Some(row) => NotificationSettingView {
            room_id,
            level: row.level,
            // A mute that has run out shows as none (the row stays until changed).
            muted_until: row.muted_until.filter(|t| *t > chrono::Utc::now()).as_ref().map(format_time),
            is_default: false,
        },
        None => NotificationSettingView { room_id, level: default_level(kind), muted_until: None, is_default: true },
    }
}

/// `GET /rooms/{id}/notifications`.
///
/// # Errors
/// `not_found` unless the caller is a member of the room.
pub async fn get_setting(state: &AppState, caller: &Caller, room_id: RoomId) -> ApiResult<NotificationSettingView> {
    let kind = member_room_kind(state, caller, room_id).await?;
    let mut conn = state.db().await?;
    let row = q::setting(&mut conn, caller.id, room_id).await?;
    Ok(view_of(room_id, kind, row))
}

/// `PUT /rooms/{id}/notifications`: `level` as text (checked here, for a clear error), and
/// `muted_until` an RFC 3339 time in the future or null.
///
/// # Errors
/// `not_found` unless a member; `validation_failed` for an unknown level or a `muted_until` that
/// is malformed or not in the future.
pub async fn put_setting(
    state: &AppState,
    caller: &Caller,
    room_id: RoomId,
    level: &str,
    muted_until: Option<&str>,
) -> ApiResult<NotificationSettingView> {
    let level: NotifyLevel =
        level.parse().map_err(|_| ApiError::validation("level", "level must be all, mentions or none."))?;
    let muted_until = match muted_until {
        None => None,
        Some(text) => {
            let at = DateTime::parse_from_rfc3339(text)
                .map_err(|_| ApiError::validation("muted_until", "muted_until must be an RFC 3339 time or null."))?
                .with_timezone(&Utc);
            if at <= Utc::now() {
                return Err(ApiError::validation("muted_until", "muted_until must be in the future."));
            }
            Some(at)
        }
    };
    let kind = member_room_kind(state, caller, room_id).await?;
    let mut conn = state.db().await?;
    let row = RoomNotificationSetting { user_id: caller.id, room_id, level, muted_until };
    let stored = q::put_setting(&mut conn, &row).await?;
    Ok(view_of(room_id, kind, Some(stored)))
}

/// `DELETE /rooms/{id}/notifications`: back to the room kind's default.
///
/// # Errors
/// `not_found` unless a member.
pub async fn reset_setting(state: &AppState, caller: &Caller, room_id: RoomId) -> ApiResult<NotificationSettingView> {
    let kind = member_room_kind(state, caller, room_id).await?;
    let mut conn = state.db().await?;
    q::delete_setting(&mut conn, caller.id, room_id).await?;
    Ok(view_of(room_id, kind, None))
}

/// A subscription as its owner sees it (the keys stay with the server).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    pub id: PushSubscriptionId,
    pub endpoint: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
}

impl SubscriptionView {
    fn new(s: &PushSubscription) -> Self {
        Self { id: s.id, endpoint: s.endpoint.clone(), created_at: format_time(&s.created_at) }
    }
}

/// Checks a subscription's endpoint: an `https://` URL with a host, or with
/// `push.allow_insecure_endpoints` an `http://` one on the loopback; an address as host must be
/// one pushes may reach (never the deployment's own network).
fn check_endpoint(state: &AppState, endpoint: &str) -> ApiResult<()> {
    let bad = |why: &str| ApiError::validation("endpoint", why.to_owned());
    if endpoint.len() > MAX_ENDPOINT_CHARS {
        return Err(bad("endpoint is too long."));
    }
    let url = reqwest::Url::parse(endpoint).map_err(|_| bad("endpoint must be an absolute https:// URL."))?;
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("endpoint must name a host."))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("endpoint must not carry credentials."));
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare == "localhost" || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if state.push.settings().allow_insecure_endpoints && loopback => {}
        _ => return Err(bad("endpoint must be an https:// URL.")),
    }
    if let Ok(ip) = bare.parse::<std::net::IpAddr>()
        && !state.push.permits(ip)
    {
        return Err(bad("endpoint must not be an internal address."));
    }
    Ok(())
}

/// Decodes a base64url key of the Push API (padding tolerated).
fn key_bytes(field: &str, text: &str, len: usize) -> ApiResult<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok().filter(|b| b.len() == len);
    bytes.ok_or_else(|| ApiError::validation(field, format!("{field} must be {len} bytes, base64url-encoded.")))
}

/// `POST /push/subscriptions`: stores (or, for a known endpoint, takes over) the browser's
/// subscription, tied to the login session of the caller's access token: its logout deletes the
/// subscription. An access token outlives its session by minutes, so the session is checked
/// (and held against a concurrent logout) in the insert's transaction: a device that signed out
/// must not be tied to pushes no later logout would end.
///
/// # Errors
/// `unauthorized` when `session` has ended (signed out, or signed out elsewhere), or the API token
/// the caller used was revoked; `forbidden` for an account banned meanwhile.
/// `validation_failed` for an endpoint that is not an https URL (see [`check_endpoint`]), a
/// `p256dh` that is not a 65-byte uncompressed P-256 point or an `auth` that is not 16 bytes.
pub async fn subscribe(
    state: &AppState,
    caller: &Caller,
    endpoint: &str,
    p256dh: &str,
    auth: &str,
) -> ApiResult<SubscriptionView> {
    check_endpoint(state, endpoint)?;
    let p256dh = key_bytes("keys.p256dh", p256dh, 65)?;
    if p256dh[0] != 4 || p256::PublicKey::from_sec1_bytes(&p256dh).is_err() {
        return Err(ApiError::validation("keys.p256dh", "keys.p256dh must be an uncompressed P-256 public key."));
    }
    let auth = key_bytes("keys.auth", auth, 16)?;
    let mut conn = state.db().await?;
    let session = caller.login_session;
    let new = NewPushSubscription {
        id: PushSubscriptionId::new(),
        user_id: caller.id,
        session_id: session,
        endpoint,
        p256dh: &p256dh,
        auth: &auth,
    };
    let max = state.push.settings().subscriptions_per_user_max;
    let row = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let ended = || ApiError::Unauthorized("This session has ended; sign in again.".into());
            match (session, caller.api_token) {
                (Some(session), _) => {
                    if !refresh_tokens::lock_unrevoked_family(conn, caller.id, session).await? {
                        return Err(ended());
                    }
                }
                // An API token's subscription, held the same way against what deletes an
                // account's token-made subscriptions: a ban, and an unconfirmed account's reset
                // (which revokes the tokens too). One made meanwhile must not outlast them.
                (None, Some(_)) => {
                    crate::service::accounts::lock_unrevoked_caller(conn, caller).await?;
                }
                // An access token without a session (none is issued so) would tie the device to
                // no sign-out.
                (None, None) => return Err(ended()),
            }
            Ok(q::subscribe(conn, &new, max).await?)
        })
        .await?;
    state.push.note_subscribed();
    Ok(SubscriptionView::new(&row))
}

/// `GET /push/subscriptions`: the caller's devices, newest first.
///
/// # Errors
/// Database failures only.
pub async fn subscriptions(state: &AppState, caller: &Caller) -> ApiResult<Vec<SubscriptionView>> {
    let mut conn = state.db().await?;
    Ok(q::subscriptions_of(&mut conn, caller.id).await?.iter().map(SubscriptionView::new).collect())
}

/// `DELETE /push/subscriptions`: the caller's subscription with this endpoint.
///
/// # Errors
/// `not_found` when the caller has none with it.
pub async fn unsubscribe(state: &AppState, caller: &Caller, endpoint: &str) -> ApiResult<()> {
    let mut conn = state.db().await?;
    if q::unsubscribe(&mut conn, caller.id, endpoint).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound("No such push subscription.".into()))
    }
}
