//! Hand-written SQL that diesel may keep as a prepared statement.
//!
//! diesel never caches the statements of `sql_query` (it marks them unsafe to cache), so
//! PostgreSQL parses and plans them on every call: for the CTEs on the hot paths that cost more
//! than running them (the send path went from 22k to 32k deliveries/s when it stopped). A
//! [`Prepared`] is the same SQL written as fragments around its parameters; it is cached by its
//! text like any other diesel query.

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Untyped, Uuid as SqlUuid};
use uuid::Uuid;

/// One parameter.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Uuid(Uuid),
    OptUuid(Option<Uuid>),
    Text(&'a str),
    OptText(Option<&'a str>),
    BigInt(i64),
    Int(i32),
    /// Arrays, for statements that take a whole batch of rows through `unnest`.
    UuidArray(&'a [Uuid]),
    TextArray(&'a [&'a str]),
    OptTextArray(&'a [Option<&'a str>]),
    /// A nullable array (a message's mentions: NULL when there are none).
    OptUuidArray(Option<&'a [Uuid]>),
}

/// SQL as `parts[0] $1 parts[1] $2 … parts[n]`: one more part than parameters.
pub struct Prepared<'a> {
    parts: &'a [&'static str],
    params: Vec<Param<'a>>,
}

impl<'a> Prepared<'a> {
    pub fn new(parts: &'a [&'static str], params: Vec<Param<'a>>) -> Self {
        debug_assert_eq!(parts.len(), params.len() + 1, "one more SQL part than parameters");
        Self { parts, params }
    }
}

impl QueryId for Prepared<'_> {
    type QueryId = ();
    // No type-level id: the statement cache keys on the SQL text instead.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

impl QueryFragment<Pg> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        for (i, part) in self.parts.iter().enumerate() {
            out.push_sql(part);
            match self.params.get(i) {
                None => {}
                Some(Param::Uuid(v)) => out.push_bind_param::<SqlUuid, _>(v)?,
                Some(Param::OptUuid(v)) => out.push_bind_param::<Nullable<SqlUuid>, _>(v)?,
                Some(Param::Text(v)) => out.push_bind_param::<Text, _>(*v)?,
                Some(Param::OptText(v)) => out.push_bind_param::<Nullable<Text>, _>(v)?,
                Some(Param::BigInt(v)) => out.push_bind_param::<BigInt, _>(v)?,
                Some(Param::Int(v)) => out.push_bind_param::<Integer, _>(v)?,
                Some(Param::UuidArray(v)) => out.push_bind_param::<Array<SqlUuid>, [Uuid]>(*v)?,
                Some(Param::TextArray(v)) => out.push_bind_param::<Array<Text>, [&str]>(*v)?,
                Some(Param::OptTextArray(v)) => out.push_bind_param::<Array<Nullable<Text>>, [Option<&str>]>(*v)?,
                Some(Param::OptUuidArray(v)) => out.push_bind_param::<Nullable<Array<SqlUuid>>, _>(v)?,
            }
        }
        Ok(())
    }
}
