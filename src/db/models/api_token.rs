//! The `api_tokens` row: a personal API token, stored as the SHA-256 of its value.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::ids::{ApiTokenId, UserId};
use crate::schema::api_tokens;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = api_tokens, check_for_backend(diesel::pg::Pg))]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub user_id: UserId,
    pub name: String,
    pub token_hash: Vec<u8>,
    pub hint: String,
    /// `read`, `write`, `admin` (a CHECK constraint keeps out anything else).
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct NewApiToken<'a> {
    pub id: ApiTokenId,
    pub user_id: UserId,
    pub name: &'a str,
    pub token_hash: &'a [u8],
    pub hint: &'a str,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}
