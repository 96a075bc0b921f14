//! Field rules for account data and list paging, each returning `validation_failed` naming the
//! field; and the rule every text field shares, that it holds only what PostgreSQL can store
//! (`protocol::text`, re-exported: [`text`] for one field, [`json_text`] applied to whole request
//! bodies and command data where they enter).

use crate::error::{ApiError, ApiResult};
pub use crate::protocol::text::{json_text, text};

/// 3–32 characters of ASCII letters, digits, `_`, `.` and `-`, starting with a letter or digit:
/// usernames appear in mentions and URLs, where anything else needs escaping.
pub fn username(s: &str) -> ApiResult<()> {
    let len = s.chars().count();
    if !(3..=32).contains(&len) {
        return Err(ApiError::validation("username", "Username must be 3 to 32 characters."));
    }
    let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok {
        return Err(ApiError::validation(
            "username",
            "Username may hold letters, digits, '_', '.' and '-', and must start with a letter or digit.",
        ));
    }
    Ok(())
}

/// A page size `limit` (default `default`, at most `max`) and a non-negative `offset` (default 0).
pub fn page(limit: Option<i64>, offset: Option<i64>, default: i64, max: i64) -> ApiResult<(i64, i64)> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::validation("limit", format!("limit must be between 1 and {max}.")));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::validation("offset", "offset must not be negative."));
    }
    Ok((limit, offset))
}

/// A plausible address: one `@`, something before it, a dotted domain after, no spaces, at most
/// 254 bytes (RFC 5321). Deliverability is not ours to judge.
pub fn email(s: &str) -> ApiResult<()> {
    let bad = || ApiError::validation("email", "Email address is not valid.");
    if s.len() > 254 || s.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let (local, domain) = s.split_once('@').ok_or_else(bad)?;
    let domain_ok = domain.contains('.') && !domain.contains('@') && domain.split('.').all(|part| !part.is_empty());
    if local.is_empty() || !domain_ok {
        return Err(bad());
    }
    Ok(())
}

const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password123",
    "12345678",
    "123456789",
    "1234567890",
    "qwerty123",
    "qwertyuiop",
    "iloveyou",
    "11111111",
    "00000000",
    "abc12345",
    "letmein1",
    "welcome1",
    "passw0rd",
    "admin123",
    "changeme",
    "sunshine",
    "football",
    "baseball",
    "trustno1",
];

/// At least 8 and at most 256 characters, not a well-known password, not the username, and not
/// one or two characters repeated.
pub fn password(pw: &str, username: &str) -> ApiResult<()> {
    let weak = |msg: &str| Err(ApiError::validation("password", msg));
    let len = pw.chars().count();
    if len < 8 {
        return weak("Password must be at least 8 characters.");
    }
    if len > 256 {
        return weak("Password must be at most 256 characters.");
    }
    let lower = pw.to_lowercase();
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return weak("Password is too common.");
    }
    if !username.is_empty() && lower.contains(&username.to_lowercase()) {
        return weak("Password must not contain the username.");
    }
    let mut distinct: Vec<char> = pw.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 4 {
        return weak("Password is too repetitive.");
    }
    Ok(())
}

/// Trimmed, 1–64 characters, no control characters.
pub fn display_name(s: &str) -> ApiResult<String> {
    let trimmed = s.trim();
    let len = trimmed.chars().count();
    if len == 0 || len > 64 || trimmed.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "display_name",
            "Display name must be 1 to 64 characters without control characters.",
        ));
    }
    Ok(trimmed.to_owned())
}

/// At most 500 characters.
pub fn bio(s: &str) -> ApiResult<()> {
    if s.chars().count() > 500 {
        return Err(ApiError::validation("bio", "Bio must be at most 500 characters."));
    }
    Ok(())
}

/// An http(s) URL of at most 2048 bytes without spaces: it ends up in `<img src>`, where
/// `javascript:` and friends must not.
pub fn avatar_url(s: &str) -> ApiResult<()> {
    let lower = s.to_ascii_lowercase();
    let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
    let host_ok = s.split_once("://").is_some_and(|(_, rest)| !rest.is_empty());
    if s.len() > 2048 || !scheme_ok || !host_ok || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::validation("avatar_url", "Avatar URL must be an http(s) URL."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(username("ada").is_ok());
        assert!(username("ada.lovelace-1_x").is_ok());
        assert!(username("ab").is_err());
        assert!(username("_ada").is_err());
        assert!(username("ada lovelace").is_err());
        assert!(username("adä").is_err());
        assert!(username(&"a".repeat(33)).is_err());
    }

    #[test]
    fn emails() {
        assert!(email("ada@example.org").is_ok());
        assert!(email("ada@localhost").is_err());
        assert!(email("@example.org").is_err());
        assert!(email("ada@@example.org").is_err());
        assert!(email("ada @example.org").is_err());
        assert!(email("ada@example..org").is_err());
    }

    #[test]
    fn passwords() {
        assert!(password("correct horse battery", "ada").is_ok());
        assert!(password("short", "ada").is_err());
        assert!(password("Password123", "ada").is_err());
        assert!(password("ada-is-my-name", "ada").is_err());
        assert!(password("abababababab", "ada").is_err());
    }

    #[test]
    fn avatar_urls() {
        assert!(avatar_url("https://example.org/a.png").is_ok());
        assert!(avatar_url("javascript:alert(1)").is_err());
        assert!(avatar_url("https://").is_err());
    }
}
