//! PROTOCOL.md's objects as they go on the wire, shared by REST responses and (later) WebSocket
//! events so both halves of the contract serialise a user or a message identically.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::db::models::{Role, User};

/// The protocol's time format: RFC 3339, UTC, milliseconds.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ser_time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(t))
}

/// The `user` object.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub bio: Option<String>,
    pub role: Role,
    #[serde(serialize_with = "ser_time")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// Only in the caller's own profile (`GET /users/me` and auth responses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl UserView {
    /// The user as anyone may see them.
    pub fn public(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            avatar_url: u.avatar_url.clone(),
            bio: u.bio.clone(),
            role: u.role(),
            created_at: u.created_at,
            email: None,
        }
    }

    /// The user as they see themselves.
    pub fn own(u: &User) -> Self {
        Self { email: u.email.clone(), ..Self::public(u) }
    }
}
