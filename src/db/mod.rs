//! PostgreSQL access: the connection pool and the embedded migrations. Queries live in
//! `queries/` (one file per table) and take `&mut AsyncPgConnection`, so that services can compose
//! them inside one transaction.

pub mod instrumentation;
pub mod models;
pub mod prepared;
pub mod queries;
pub mod send_batch;

use std::time::Duration;

use anyhow::Context;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseSettings;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type PgPool = Pool<AsyncPgConnection>;
pub type PgConn = Object<AsyncPgConnection>;
pub use diesel_async::pooled_connection::deadpool::PoolError;

/// Builds the pool. Connections are opened lazily, so this succeeds while PostgreSQL is down and
/// requests fail with `unavailable` until it is back.
///
/// # Errors
/// Only an invalid pool configuration.
pub fn build_pool(settings: &DatabaseSettings, url: &str) -> anyhow::Result<PgPool> {
    // Fast recycling skips a `SELECT 1` on every checkout, a round trip per request. A connection
    // that died meanwhile fails its first query instead (503, and the pool discards it); the
    // readiness probe and clients' retries cover that window.
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    // Every connection of the pool carries a statement_timeout: without one, a few slow
    // statements (a heavy search, a lock held elsewhere) keep their connections for as long as
    // they take, and everyone else waits for the pool and gets 503. With it PostgreSQL cancels
    // the statement and the request gets `unavailable` saying why (ApiError::TimedOut). Set once
    // per connection, when it is opened; it applies to everything that uses the pool (requests,
    // WebSocket commands, the send writers), not to migrations, which open their own.
    let statement_timeout_ms = settings.statement_timeout_ms;
    config.custom_setup = Box::new(move |url| {
        Box::pin(async move {
            use diesel_async::{AsyncConnection, SimpleAsyncConnection};
            let mut conn = AsyncPgConnection::establish(url).await?;
            conn.batch_execute(&format!("SET statement_timeout = {statement_timeout_ms}"))
                .await
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        })
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    let timeout = Some(Duration::from_millis(settings.pool_timeout_ms));
    Pool::builder(manager)
        .max_size(settings.pool_max_size)
        .wait_timeout(timeout)
        .create_timeout(timeout)
        .recycle_timeout(timeout)
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .context("building the database pool")
}

/// Applies pending migrations. diesel's migration harness is synchronous and starts its own
/// runtime, which must not happen on an async worker thread: hence `spawn_blocking`.
///
/// # Errors
/// PostgreSQL unreachable, or a migration failed (its message is included).
pub async fn run_migrations(url: String) -> anyhow::Result<Vec<String>> {
    tokio::task::spawn_blocking(move || {
        use diesel::Connection;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .context("connecting to PostgreSQL to migrate")?;
        let applied =
            conn.run_pending_migrations(MIGRATIONS).map_err(|e| anyhow::anyhow!("running migrations: {e}"))?;
        Ok(applied.iter().map(ToString::to_string).collect())
    })
    .await
    .context("migration task")?
}
