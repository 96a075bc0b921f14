//! Personal API tokens: their values (`plt_` and 256 random bits, stored only as SHA-256) and
//! their scopes. A token stands in for the login's access token on REST and the WebSocket, with
//! no refresh; what it may reach is its scopes:
//!
//! - `read`: REST `GET` routes, and opening a WebSocket (receiving events, `sync`, presence);
//! - `write`: every other REST method and WebSocket command (sending, editing, reacting, typing,
//!   marking read, choosing a status);
//! - `admin`: the staff routes (`/admin/...`), on top of `read` or `write` for the method;
//!   granted only to admins and moderators.
//!
//! A session (login access token) holds every scope; its role still decides the rest.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What every API token starts with: it tells one apart from a JWT at a glance (and in code), and
/// secret scanners can recognise a leaked one.
pub const PREFIX: &str = "plt_";

/// How many characters of the value (prefix included) are kept to tell tokens apart in a list.
const HINT_CHARS: usize = 10;

/// A new token value for the client, and the hint kept with it.
///
/// # Errors
/// The operating system's random source failed.
pub fn generate() -> anyhow::Result<(String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hint = token.chars().take(HINT_CHARS).collect();
    Ok((token, hint))
}

/// What is stored and looked up: the value's SHA-256 (enough for 256 random bits).
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether a bearer value is an API token rather than a JWT access token.
pub fn is_api_token(token: &str) -> bool {
    token.starts_with(PREFIX)
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, strum::EnumString, strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The scopes a caller holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scopes {
    pub read: bool,
    pub write: bool,
    pub admin: bool,
}

impl Scopes {
    /// A login session: everything its role allows.
    pub const FULL: Scopes = Scopes { read: true, write: true, admin: true };

    /// From the stored names; unknown names (the CHECK constraint keeps them out) grant nothing.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Self {
        let mut scopes = Scopes { read: false, write: false, admin: false };
        for name in names {
            match name.as_ref().parse::<Scope>() {
                Ok(Scope::Read) => scopes.read = true,
                Ok(Scope::Write) => scopes.write = true,
                Ok(Scope::Admin) => scopes.admin = true,
                Err(_) => {}
            }
        }
        scopes
    }

    pub fn allows(self, scope: Scope) -> bool {
        match scope {
            Scope::Read => self.read,
            Scope::Write => self.write,
            Scope::Admin => self.admin,
        }
    }
}

/// The `forbidden` error of a token whose scopes do not reach.
pub fn missing(scope: Scope) -> crate::error::ApiError {
    crate::error::ApiError::Forbidden(format!("This API token lacks the '{}' scope.", scope.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_distinct_and_hinted() {
        let (a, hint) = generate().unwrap();
        let (b, _) = generate().unwrap();
        assert!(is_api_token(&a) && a != b && a.len() == PREFIX.len() + 43);
        assert!(a.starts_with(&hint) && hint.len() == HINT_CHARS);
        assert_eq!(hash(&a).len(), 32);
    }

    #[test]
    fn scopes_parse_from_names() {
        let s = Scopes::from_names(&["read", "admin", "bogus"]);
        assert!(s.allows(Scope::Read) && s.allows(Scope::Admin) && !s.allows(Scope::Write));
    }
}
