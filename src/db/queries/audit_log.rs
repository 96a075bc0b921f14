//! Queries on `audit_log`. Append-only: there is deliberately no update or delete here.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::{AuditEntry, NewAuditEntry};
use crate::schema::audit_log;

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewAuditEntry<'_>) -> QueryResult<AuditEntry> {
    diesel::insert_into(audit_log::table).values(new).returning(AuditEntry::as_returning()).get_result(conn).await
}

/// Newest first; below `before_id` when given (the id of the last entry of the previous page).
pub async fn list(conn: &mut AsyncPgConnection, limit: i64, before_id: Option<i64>) -> QueryResult<Vec<AuditEntry>> {
    let mut query = audit_log::table.into_boxed();
    if let Some(before) = before_id {
        query = query.filter(audit_log::id.lt(before));
    }
    query.order(audit_log::id.desc()).limit(limit).select(AuditEntry::as_select()).load(conn).await
}
