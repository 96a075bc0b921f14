//! Queries on `audit_log`. Append-only: there is deliberately no update or delete here.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::{AuditEntry, NewAuditEntry};
use crate::ids::AuditEntryId;
use crate::schema::audit_log;

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewAuditEntry<'_>) -> QueryResult<AuditEntry> {
    diesel::insert_into(audit_log::table).values(new).returning(AuditEntry::as_returning()).get_result(conn).await
}

/// Newest first (by creation, then by insertion for entries of one transaction); after
/// `before_id` when given (the id of the last entry of the previous page). An unknown `before_id`
/// gives an empty page.
pub async fn list(
    conn: &mut AsyncPgConnection,
    limit: i64,
    before_id: Option<AuditEntryId>,
) -> QueryResult<Vec<AuditEntry>> {
    let mut query = audit_log::table.into_boxed();
    if let Some(before) = before_id {
        let cursor = audit_log::table
            .filter(audit_log::id.eq(before))
            .select((audit_log::created_at, audit_log::seq))
            .first::<(chrono::DateTime<chrono::Utc>, i64)>(conn)
            .await
            .optional()?;
        let Some((created_at, seq)) = cursor else { return Ok(Vec::new()) };
        query = query.filter(
            audit_log::created_at.lt(created_at).or(audit_log::created_at.eq(created_at).and(audit_log::seq.lt(seq))),
        );
    }
    query
        .order((audit_log::created_at.desc(), audit_log::seq.desc()))
        .limit(limit)
        .select(AuditEntry::as_select())
        .load(conn)
        .await
}
