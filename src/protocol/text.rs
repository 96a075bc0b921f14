//! Text the protocol carries into storage: every string a client sends, over REST or WebSocket,
//! must be storable in PostgreSQL. Checked where text enters (`api::extract::parse_json` for
//! request bodies, `commands::parse` for command data, the services for query strings), so a bad
//! character is a `validation_failed` naming the field and never a failed statement.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// Characters no text field may hold. PostgreSQL's `text` cannot store U+0000 (it rejects the
/// whole statement, which for a group-committed send is every send in the batch); every other
/// Unicode scalar value is storable and travels in JSON, and lone surrogates never reach a Rust
/// string (serde rejects them as malformed JSON).
fn unstorable(c: char) -> bool {
    c == '\0'
}

/// `validation_failed` naming `field` when `s` holds a character PostgreSQL cannot store.
pub fn text(field: &str, s: &str) -> ApiResult<()> {
    if s.chars().any(unstorable) {
        return Err(ApiError::validation(field, format!("{field} must not contain NUL (U+0000) characters.")));
    }
    Ok(())
}

/// Whether a JSON text can hold U+0000 at all: JSON carries it only as the escape `\u0000` (a raw
/// control byte is malformed), so text without that escape needs no walk. Keeps the check off the
/// hot path: almost no frame or body contains it.
pub fn may_hold_nul(json: &[u8]) -> bool {
    json.windows(6).any(|w| w == b"\\u0000")
}

/// [`text`] for every string in a parsed request body or command's data, so no field (present or
/// added later) can carry an unstorable character to the database. The field is named by its path
/// of keys (`body`, `profile.bio`); array elements take their array's name.
pub fn json_text(value: &Value) -> ApiResult<()> {
    fn walk(value: &Value, path: &mut Vec<String>) -> ApiResult<()> {
        match value {
            Value::String(s) => {
                let field = if path.is_empty() { "body".to_owned() } else { path.join(".") };
                text(&field, s)
            }
            Value::Array(items) => items.iter().try_for_each(|v| walk(v, path)),
            Value::Object(map) => map.iter().try_for_each(|(k, v)| {
                path.push(k.replace(unstorable, "\u{FFFD}"));
                let r = walk(v, path);
                path.pop();
                r
            }),
            Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
        }
    }
    walk(value, &mut Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unstorable_text_is_named() {
        assert!(text("name", "caf\u{e9} \u{1F600}\t\n").is_ok());
        let err = text("name", "a\0b").unwrap_err();
        assert!(err.body().error.details.unwrap()["fields"]["name"].is_string());
        let body = serde_json::json!({"body": "ok", "profile": {"bio": ["fine", "bad\0"]}});
        let err = json_text(&body).unwrap_err();
        assert!(err.body().error.details.unwrap()["fields"].get("profile.bio").is_some());
        assert!(json_text(&serde_json::json!({"a": [1, null, "x"]})).is_ok());
    }
}
