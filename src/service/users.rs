//! Profiles: reading and updating one's own, finding others.

use diesel_async::AsyncConnection;

use crate::auth::Caller;
use crate::db::models::{PresenceVisibility, Role, UserChanges};
use crate::db::queries::users;
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;
use crate::service::validate;
use crate::state::AppState;
use crate::views::UserView;

/// A profile update as the client sent it: absent fields stay, `null` clears bio and avatar
/// (an uploaded avatar too).
#[derive(Debug, Default)]
pub struct ProfileUpdate {
    pub display_name: Option<String>,
    pub bio: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    pub presence_visibility: Option<PresenceVisibility>,
}

/// `PATCH /users/me`.
///
/// # Errors
/// `validation_failed` naming the bad field.
pub async fn update_profile(state: &AppState, user_id: UserId, update: ProfileUpdate) -> ApiResult<UserView> {
    let display_name = update.display_name.as_deref().map(validate::display_name).transpose()?;
    if let Some(Some(bio)) = &update.bio {
        validate::bio(bio)?;
    }
    if let Some(Some(url)) = &update.avatar_url {
        validate::avatar_url(url)?;
    }
    // An external avatar (or clearing it) replaces an uploaded one: a user has one avatar. The
    // uploaded picture's blob is left to the retention sweep.
    let clear_uploaded = update.avatar_url.as_ref().map(|_| None);
    let changes = UserChanges {
        display_name,
        bio: update.bio,
        avatar_url: update.avatar_url,
        presence_visibility: update.presence_visibility,
        avatar_sha256: clear_uploaded.clone(),
        avatar_content_type: clear_uploaded,
    };
    let mut conn = state.db().await?;
    let nothing = changes.display_name.is_none()
        && changes.bio.is_none()
        && changes.avatar_url.is_none()
        && changes.presence_visibility.is_none();
    let user = if nothing {
        users::find(&mut conn, user_id).await?.ok_or_else(|| ApiError::NotFound("No such user.".into()))?
    } else {
        users::update_profile(&mut conn, user_id, &changes).await?
    };
    Ok(UserView::own(&user))
}

/// `GET /users?q=&limit=`: at most 100, default 20.
///
/// # Errors
/// `validation_failed` for an empty query or a limit out of range.
pub async fn search(state: &AppState, q: &str, limit: Option<i64>) -> ApiResult<Vec<UserView>> {
    crate::service::validate::text("q", q)?;
    let q = q.trim();
    if q.is_empty() || q.chars().count() > 64 {
        return Err(ApiError::validation("q", "Search text must be 1 to 64 characters."));
    }
    let limit = limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::validation("limit", "limit must be between 1 and 100."));
    }
    let mut conn = state.db().await?;
    let timeout_ms = state.settings.database.search_statement_timeout_ms;
    let found = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            crate::db::set_local_statement_timeout(conn, timeout_ms).await?;
            Ok(users::search(conn, q, limit).await?)
        })
        .await
        .map_err(ApiError::as_search_timeout)?;
    Ok(found.iter().map(UserView::public).collect())
}

/// `GET /users/{id}`: any user for a signed-in account; for a guest (a support visitor), only
/// staff (who answer it, so the widget can show their name and avatar) and itself.
///
/// # Errors
/// `not_found` for an unknown id, and for a guest asking about anyone else.
pub async fn get(state: &AppState, caller: &Caller, id: UserId) -> ApiResult<UserView> {
    let mut conn = state.db().await?;
    let user = users::find(&mut conn, id).await?.ok_or_else(|| ApiError::NotFound("No such user.".into()))?;
    if caller.role == Role::Guest && !(user.role.is_staff() || user.id == caller.id) {
        return Err(ApiError::NotFound("No such user.".into()));
    }
    Ok(UserView::public(&user))
}
