//! Queries on `canned_replies` and `support_blocks`: the support inbox's ready-made answers and
//! its blocks of visitors.

use diesel::dsl::now;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::{CannedReply, CannedReplyChanges, NewCannedReply, NewSupportBlock, SupportBlock};
use crate::ids::{CannedReplyId, SupportBlockId};
use crate::schema::{canned_replies, support_blocks};

/// Every canned reply, by title.
pub async fn canned_list(conn: &mut AsyncPgConnection) -> QueryResult<Vec<CannedReply>> {
    canned_replies::table
        .order((diesel::dsl::sql::<diesel::sql_types::Text>("lower(title)"), canned_replies::id))
        .select(CannedReply::as_select())
        .load(conn)
        .await
}

pub async fn canned_count(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    canned_replies::table.count().get_result(conn).await
}

pub async fn canned_insert(conn: &mut AsyncPgConnection, new: &NewCannedReply<'_>) -> QueryResult<CannedReply> {
    diesel::insert_into(canned_replies::table).values(new).returning(CannedReply::as_returning()).get_result(conn).await
}

/// Changes a reply; `None` when there is no such reply.
pub async fn canned_update(
    conn: &mut AsyncPgConnection,
    id: CannedReplyId,
    changes: &CannedReplyChanges,
) -> QueryResult<Option<CannedReply>> {
    diesel::update(canned_replies::table.find(id))
        .set((changes, canned_replies::updated_at.eq(now)))
        .returning(CannedReply::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn canned_find(conn: &mut AsyncPgConnection, id: CannedReplyId) -> QueryResult<Option<CannedReply>> {
    canned_replies::table.find(id).select(CannedReply::as_select()).first(conn).await.optional()
}

pub async fn canned_delete(conn: &mut AsyncPgConnection, id: CannedReplyId) -> QueryResult<usize> {
    diesel::delete(canned_replies::table.find(id)).execute(conn).await
}

pub async fn block_insert(conn: &mut AsyncPgConnection, new: &NewSupportBlock<'_>) -> QueryResult<SupportBlock> {
    diesel::insert_into(support_blocks::table)
        .values(new)
        .returning(SupportBlock::as_returning())
        .get_result(conn)
        .await
}

/// A block in force (not expired, not lifted) of this address (by its key, or by the address
/// itself for a block whose key the migration wrote in PostgreSQL's spelling) or this browser
/// id, the one running longest.
pub async fn block_matching(
    conn: &mut AsyncPgConnection,
    address: Option<(&str, &str)>,
    browser_id: Option<&str>,
) -> QueryResult<Option<SupportBlock>> {
    if address.is_none() && browser_id.is_none() {
        return Ok(None);
    }
    let (address, key) = (address.map(|a| a.0), address.map(|a| a.1));
    // A NULL on one side matches nothing there (NULL = NULL is not true).
    support_blocks::table
        .filter(support_blocks::lifted_at.is_null())
        .filter(support_blocks::expires_at.gt(now))
        .filter(
            support_blocks::address_key
                .eq(key)
                .or(support_blocks::address.eq(address))
                .or(support_blocks::browser_id.eq(browser_id)),
        )
        .order(support_blocks::expires_at.desc())
        .select(SupportBlock::as_select())
        .first(conn)
        .await
        .optional()
}

/// The blocks in force, ending soonest first.
pub async fn blocks_active(conn: &mut AsyncPgConnection) -> QueryResult<Vec<SupportBlock>> {
    support_blocks::table
        .filter(support_blocks::lifted_at.is_null())
        .filter(support_blocks::expires_at.gt(now))
        .order((support_blocks::expires_at, support_blocks::id))
        .select(SupportBlock::as_select())
        .load(conn)
        .await
}

/// Lifts a block in force; `None` when there is none with this id (or it ended already).
pub async fn block_lift(conn: &mut AsyncPgConnection, id: SupportBlockId) -> QueryResult<Option<SupportBlock>> {
    diesel::update(
        support_blocks::table
            .find(id)
            .filter(support_blocks::lifted_at.is_null())
            .filter(support_blocks::expires_at.gt(now)),
    )
    .set(support_blocks::lifted_at.eq(now))
    .returning(SupportBlock::as_returning())
    .get_result(conn)
    .await
    .optional()
}
