//! Queries, one file per table. Each takes `&mut AsyncPgConnection` so services can run several in
//! one transaction; none knows about HTTP or the protocol's errors.

pub mod refresh_tokens;
pub mod users;
