//! Queries on `contacts`: the contact form's entries.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::models::{Contact, NewContact};
use crate::ids::ContactId;
use crate::schema::contacts;

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewContact<'_>) -> QueryResult<Contact> {
    diesel::insert_into(contacts::table).values(new).returning(Contact::as_returning()).get_result(conn).await
}

/// Newest first.
pub async fn list(conn: &mut AsyncPgConnection, limit: i64, offset: i64) -> QueryResult<Vec<Contact>> {
    contacts::table
        .order((contacts::created_at.desc(), contacts::id))
        .limit(limit)
        .offset(offset)
        .select(Contact::as_select())
        .load(conn)
        .await
}

/// The entry removed, if it existed.
pub async fn delete(conn: &mut AsyncPgConnection, id: ContactId) -> QueryResult<Option<Contact>> {
    diesel::delete(contacts::table.find(id)).returning(Contact::as_returning()).get_result(conn).await.optional()
}
