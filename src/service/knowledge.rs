//! The assistant's knowledge base: FAQ entries (a question and the answer the assistant gives
//! when it has no model, or puts into the model's prompt) and documents (longer text the model
//! reads passages of). Admins manage it (`/admin/knowledge`); an entry is cut into passages when
//! it is saved, and retrieval is PostgreSQL full-text search over them in English and German
//! (`db::queries::knowledge::search`).

use diesel_async::AsyncConnection;
use serde::Serialize;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::queries::knowledge::{self as q, Entry, Hit};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::views::format_time;

/// Longest title or question, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest FAQ answer: it is sent as a message as it stands, so a message's limit.
pub const MAX_ANSWER_CHARS: usize = crate::service::messages::MAX_BODY_CHARS;
/// Longest document (request bodies are bounded by `server.max_json_body_bytes` as well).
pub const MAX_DOCUMENT_CHARS: usize = 200_000;
/// A passage's target length: a few paragraphs, so the prompt gets focused text rather than a
/// whole document.
const PASSAGE_CHARS: usize = 1200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Faq,
    Document,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Faq => "faq",
            Kind::Document => "document",
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntryView {
    pub id: Uuid,
    pub kind: Kind,
    /// An FAQ entry's question, a document's title.
    pub title: String,
    /// An FAQ entry's answer, a document's text.
    pub body: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: String,
}

impl EntryView {
    fn new(e: Entry) -> Self {
        Self {
            id: e.id,
            kind: if e.kind == "faq" { Kind::Faq } else { Kind::Document },
            title: e.title,
            body: e.body,
            created_at: format_time(&e.created_at),
            updated_at: format_time(&e.updated_at),
        }
    }
}

/// A passage found by `GET /admin/knowledge/search` (what the assistant would read).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HitView {
    pub entry_id: Uuid,
    pub kind: Kind,
    pub title: String,
    pub passage: String,
    /// The share of the question's terms the passage holds, 0 to 1.
    pub coverage: f64,
}

impl HitView {
    pub fn new(h: Hit) -> Self {
        Self {
            entry_id: h.entry_id,
            kind: if h.kind == "faq" { Kind::Faq } else { Kind::Document },
            title: h.title,
            passage: h.content,
            coverage: h.coverage,
        }
    }
}

fn check(kind: Kind, title: &str, body: &str) -> ApiResult<(String, String)> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS || title.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "title",
            format!("title must be 1 to {MAX_TITLE_CHARS} characters without control characters."),
        ));
    }
    let body = body.trim();
    let max = if kind == Kind::Faq { MAX_ANSWER_CHARS } else { MAX_DOCUMENT_CHARS };
    if body.is_empty() || body.chars().count() > max {
        return Err(ApiError::validation("body", format!("body must be 1 to {max} characters.")));
    }
    Ok((title.to_owned(), body.to_owned()))
}

/// An entry's passages: an FAQ entry is one (its answer); a document is cut at blank lines into
/// runs of paragraphs of about [`PASSAGE_CHARS`], a longer paragraph at spaces.
pub fn passages(kind: Kind, body: &str) -> Vec<String> {
    if kind == Kind::Faq {
        return vec![body.to_owned()];
    }
    let mut out = Vec::new();
    let mut current = String::new();
    for paragraph in body.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        for piece in pieces(paragraph) {
            if !current.is_empty() && current.chars().count() + piece.chars().count() > PASSAGE_CHARS {
                out.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push_str("\n\n");
            }
            current.push_str(piece);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A paragraph in pieces of at most [`PASSAGE_CHARS`], cut after a space where there is one.
fn pieces(paragraph: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = paragraph;
    while rest.chars().count() > PASSAGE_CHARS {
        let limit = rest.char_indices().nth(PASSAGE_CHARS).map_or(rest.len(), |(i, _)| i);
        let cut = rest[..limit].rfind(' ').filter(|&i| i > 0).unwrap_or(limit);
        out.push(rest[..cut].trim());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// `POST /admin/knowledge {kind, title, body}`.
///
/// # Errors
/// `validation_failed` for an empty or long title or body.
pub async fn create(state: &AppState, caller: &Caller, kind: Kind, title: &str, body: &str) -> ApiResult<EntryView> {
    let (title, body) = check(kind, title, body)?;
    let parts = passages(kind, &body);
    let mut conn = state.db().await?;
    let actor = caller.id;
    let entry = conn
        .transaction::<_, ApiError, _>(async |conn| {
            Ok(q::insert(conn, Uuid::new_v4(), kind.as_str(), &title, &body, actor, &parts).await?)
        })
        .await?;
    Ok(EntryView::new(entry))
}

/// `PATCH /admin/knowledge/{id} {title, body}`: both are replaced; the kind stays.
///
/// # Errors
/// `not_found`; `validation_failed` as for [`create`].
pub async fn update(state: &AppState, id: Uuid, title: &str, body: &str) -> ApiResult<EntryView> {
    let mut conn = state.db().await?;
    let existing = q::find(&mut conn, id).await?.ok_or_else(no_such_entry)?;
    let kind = if existing.kind == "faq" { Kind::Faq } else { Kind::Document };
    let (title, body) = check(kind, title, body)?;
    let parts = passages(kind, &body);
    let entry =
        conn.transaction::<_, ApiError, _>(async |conn| Ok(q::update(conn, id, &title, &body, &parts).await?)).await?;
    entry.map(EntryView::new).ok_or_else(no_such_entry)
}

fn no_such_entry() -> ApiError {
    ApiError::NotFound("No such knowledge base entry.".into())
}

/// `DELETE /admin/knowledge/{id}`.
///
/// # Errors
/// `not_found`.
pub async fn delete(state: &AppState, id: Uuid) -> ApiResult<()> {
    let mut conn = state.db().await?;
    if q::delete(&mut conn, id).await? == 0 {
        return Err(no_such_entry());
    }
    Ok(())
}

/// `GET /admin/knowledge/{id}`.
///
/// # Errors
/// `not_found`.
pub async fn get(state: &AppState, id: Uuid) -> ApiResult<EntryView> {
    let mut conn = state.db().await?;
    q::find(&mut conn, id).await?.map(EntryView::new).ok_or_else(no_such_entry)
}

/// `GET /admin/knowledge?kind=&limit=&offset=`.
///
/// # Errors
/// `validation_failed` for a bad kind, limit or offset.
pub async fn list(
    state: &AppState,
    kind: Option<&str>,
    limit: Option<i64>,
    offset: Option<i64>,
) -> ApiResult<Vec<EntryView>> {
    let kind = match kind {
        None => None,
        Some("faq") => Some("faq"),
        Some("document") => Some("document"),
        Some(_) => return Err(ApiError::validation("kind", "kind must be faq or document.")),
    };
    let (limit, offset) = crate::service::validate::page(limit, offset, 100, 500)?;
    let mut conn = state.db().await?;
    Ok(q::list(&mut conn, kind, limit, offset).await?.into_iter().map(EntryView::new).collect())
}

/// `GET /admin/knowledge/search?q=`: the passages the assistant would read for this question.
///
/// # Errors
/// `validation_failed` for an empty or long question.
pub async fn search(state: &AppState, question: &str) -> ApiResult<Vec<HitView>> {
    crate::protocol::text::text("q", question)?;
    let question = question.trim();
    if question.is_empty() || question.chars().count() > 500 {
        return Err(ApiError::validation("q", "q must be 1 to 500 characters."));
    }
    let mut conn = state.db().await?;
    Ok(q::search(&mut conn, question, None, 10).await?.into_iter().map(HitView::new).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_cut_at_paragraphs_into_bounded_passages() {
        let para = "word ".repeat(100);
        let body = format!("{para}\n\n{para}\n\n{para}\n\n{}", "x".repeat(3000));
        let parts = passages(Kind::Document, &body);
        assert!(parts.len() >= 4, "{}", parts.len());
        assert!(parts.iter().all(|p| p.chars().count() <= PASSAGE_CHARS + 2), "bounded");
        assert_eq!(passages(Kind::Faq, "answer"), vec!["answer".to_owned()]);
    }
}
