//! The contact form: anyone may leave a message; admins and moderators read and remove them.

use serde::Serialize;
use serde_json::json;

use crate::auth::Caller;
use crate::db::models::{Contact, NewContact};
use crate::db::queries::contacts;
use crate::error::{ApiError, ApiResult};
use crate::ids::ContactId;
use crate::service::{audit, validate};
use crate::state::AppState;
use crate::views::format_time;

/// Longest message, in Unicode code points.
pub const MAX_MESSAGE_CHARS: usize = 5000;
/// Largest page of `GET /admin/contacts`.
pub const MAX_PAGE: i64 = 100;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactView {
    pub id: ContactId,
    pub name: String,
    pub email: String,
    pub message: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
}

impl ContactView {
    fn new(c: Contact) -> Self {
        Self { id: c.id, name: c.name, email: c.email, message: c.message, created_at: format_time(&c.created_at) }
    }
}

/// `POST /contact`.
///
/// # Errors
/// `validation_failed` for a bad name or email or an empty message; `payload_too_large` for a
/// message over 5,000 characters.
pub async fn submit(state: &AppState, name: &str, email: &str, message: &str) -> ApiResult<ContactView> {
    let name = name.trim();
    let len = name.chars().count();
    if len == 0 || len > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::validation("name", "Name must be 1 to 100 characters without control characters."));
    }
    let email = email.trim();
    validate::email(email)?;
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::PayloadTooLarge(format!("A message may hold at most {MAX_MESSAGE_CHARS} characters.")));
    }
    if message.trim().is_empty() {
        return Err(ApiError::validation("message", "The message must not be empty."));
    }
    let mut conn = state.db().await?;
    let new = NewContact { id: ContactId::new(), name, email, message };
    let contact = contacts::insert(&mut conn, &new).await?;
    metrics::counter!("contacts_received_total").increment(1);
    Ok(ContactView::new(contact))
}

/// `GET /admin/contacts?limit=&offset=`: newest first.
///
/// # Errors
/// `validation_failed` for a bad limit or offset.
pub async fn list(state: &AppState, limit: Option<i64>, offset: Option<i64>) -> ApiResult<Vec<ContactView>> {
    let (limit, offset) = crate::service::validate::page(limit, offset, 50, MAX_PAGE)?;
    let mut conn = state.db().await?;
    Ok(contacts::list(&mut conn, limit, offset).await?.into_iter().map(ContactView::new).collect())
}

/// `DELETE /admin/contacts/{id}`, recorded in the audit log with the entry's sender.
///
/// # Errors
/// `not_found` for an unknown entry.
pub async fn delete(state: &AppState, caller: &Caller, id: ContactId) -> ApiResult<()> {
    use diesel_async::AsyncConnection;
    let mut conn = state.db().await?;
    let actor = caller.id;
    conn.transaction::<_, ApiError, _>(async move |conn| {
        let gone =
            contacts::delete(conn, id).await?.ok_or_else(|| ApiError::NotFound("No such contact entry.".into()))?;
        audit::record(conn, actor, audit::Action::ContactDeleted, id, json!({ "name": gone.name, "email": gone.email }))
            .await
    })
    .await
}
