//! Queries on `kb_entries` and `kb_passages`, the assistant's knowledge base. Hand-written SQL:
//! the passages' search vector is a generated `tsvector`, and retrieval scores passages by how many
//! of the question's terms they hold, which diesel's builder cannot say.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Float4, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::ids::UserId;

/// An entry as stored.
#[derive(Debug, Clone, QueryableByName)]
pub struct Entry {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Text)]
    pub body: String,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
}

const ENTRY_COLUMNS: &str = "id, kind, title, body, created_at, updated_at";

/// Inserts an entry with its passages.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    kind: &str,
    title: &str,
    body: &str,
    created_by: UserId,
    passages: &[String],
) -> QueryResult<Entry> {
    let entry: Entry = diesel::sql_query(format!(
        "INSERT INTO kb_entries (id, kind, title, body, created_by) VALUES ($1, $2, $3, $4, $5) \
         RETURNING {ENTRY_COLUMNS}"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(kind)
    .bind::<Text, _>(title)
    .bind::<Text, _>(body)
    .bind::<SqlUuid, _>(Uuid::from(created_by))
    .get_result(conn)
    .await?;
    replace_passages(conn, id, title, passages).await?;
    Ok(entry)
}

/// Changes an entry's title and body (its kind stays) and rewrites its passages; `None` when
/// there is no such entry.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    title: &str,
    body: &str,
    passages: &[String],
) -> QueryResult<Option<Entry>> {
    let entry: Option<Entry> = diesel::sql_query(format!(
        "UPDATE kb_entries SET title = $2, body = $3, updated_at = now() WHERE id = $1 RETURNING {ENTRY_COLUMNS}"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(title)
    .bind::<Text, _>(body)
    .get_result(conn)
    .await
    .optional()?;
    if entry.is_some() {
        replace_passages(conn, id, title, passages).await?;
    }
    Ok(entry)
}

async fn replace_passages(conn: &mut AsyncPgConnection, id: Uuid, title: &str, passages: &[String]) -> QueryResult<()> {
    diesel::sql_query("DELETE FROM kb_passages WHERE entry_id = $1").bind::<SqlUuid, _>(id).execute(conn).await?;
    let ords: Vec<i32> = (0..passages.len()).map(|i| i32::try_from(i).unwrap_or(i32::MAX)).collect();
    diesel::sql_query(
        "INSERT INTO kb_passages (entry_id, ord, title, content) \
         SELECT $1, x.ord, $2, x.content FROM unnest($3::int[], $4::text[]) AS x(ord, content)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(title)
    .bind::<Array<Integer>, _>(ords)
    .bind::<Array<Text>, _>(passages)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
    diesel::sql_query("DELETE FROM kb_entries WHERE id = $1").bind::<SqlUuid, _>(id).execute(conn).await
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Entry>> {
    diesel::sql_query(format!("SELECT {ENTRY_COLUMNS} FROM kb_entries WHERE id = $1"))
        .bind::<SqlUuid, _>(id)
        .get_result(conn)
        .await
        .optional()
}

/// Entries of `kind` (all kinds when `None`), most recently changed first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    kind: Option<&str>,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<Entry>> {
    diesel::sql_query(format!(
        "SELECT {ENTRY_COLUMNS} FROM kb_entries WHERE $1::text IS NULL OR kind = $1 \
         ORDER BY updated_at DESC, id LIMIT $2 OFFSET $3"
    ))
    .bind::<Nullable<Text>, _>(kind)
    .bind::<BigInt, _>(limit)
    .bind::<BigInt, _>(offset)
    .load(conn)
    .await
}

/// A passage found for a question.
#[derive(Debug, Clone, QueryableByName)]
pub struct Hit {
    #[diesel(sql_type = SqlUuid)]
    pub entry_id: Uuid,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Text)]
    pub content: String,
    /// The entry's whole body (an FAQ entry's answer).
    #[diesel(sql_type = Text)]
    pub body: String,
    /// The share of the question's terms the passage holds, 0 to 1.
    #[diesel(sql_type = Double)]
    pub coverage: f64,
    #[diesel(sql_type = Float4)]
    pub rank: f32,
}

/// The passages that best answer `question`, of `kind` (all kinds when `None`), best first; only
/// those holding at least one of its terms.
///
/// The question is stemmed in English and in German; the language whose stop words removed more
/// of it is taken as the question's (its terms are the ones that carry meaning), both on a tie. A
/// passage's `coverage` is the share of those terms it holds, which is what says whether the
/// knowledge base knows the answer at all; `ts_rank` orders passages of equal coverage. The GIN
/// index finds the candidates: passages holding any term of either stemming. `<`, `>` and `&` are
/// read as spaces, as in the passages' search column (the parser would take `<details>` for a tag).
pub async fn search(
    conn: &mut AsyncPgConnection,
    question: &str,
    kind: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<Hit>> {
    let hits: Vec<Hit> = diesel::sql_query(
        "WITH asked AS (SELECT translate($1, '<>&', '   ') AS question), q AS ( \
             SELECT tsvector_to_array(to_tsvector('english', question)) AS en, \
                    tsvector_to_array(to_tsvector('german', question)) AS de, \
                    replace(plainto_tsquery('english', question)::text, ' & ', ' | ')::tsquery \
                      || replace(plainto_tsquery('german', question)::text, ' & ', ' | ')::tsquery AS any_term \
             FROM asked \
         ), t AS ( \
             SELECT any_term, CASE WHEN cardinality(en) < cardinality(de) THEN en \
                                   WHEN cardinality(de) < cardinality(en) THEN de \
                                   ELSE ARRAY(SELECT DISTINCT unnest(en || de)) END AS terms \
             FROM q \
         ) \
         SELECT p.entry_id, e.kind, p.title, p.content, e.body, \
                (SELECT count(*) FROM unnest(t.terms) AS x(term) \
                  WHERE p.search @@ plainto_tsquery('simple', x.term))::float8 \
                  / greatest(cardinality(t.terms), 1) AS coverage, \
                ts_rank(p.search, t.any_term) AS rank \
         FROM t, kb_passages p JOIN kb_entries e ON e.id = p.entry_id \
         WHERE p.search @@ t.any_term AND ($2::text IS NULL OR e.kind = $2) \
         ORDER BY coverage DESC, rank DESC, e.updated_at DESC, p.ord \
         LIMIT $3",
    )
    .bind::<Text, _>(question)
    .bind::<Nullable<Text>, _>(kind)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    // A candidate may share only a stop word of the other language with the question (the index
    // looks for terms of both stemmings); best first, so these are the tail.
    Ok(hits.into_iter().filter(|h| h.coverage > 0.0).collect())
}
