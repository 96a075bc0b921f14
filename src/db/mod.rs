//! PostgreSQL access: the connection pool and the embedded migrations. Queries live in
//! `queries/` (one file per table) and take `&mut AsyncPgConnection`, so that services can compose
//! them inside one transaction.

pub mod instrumentation;
pub mod models;
pub mod prepared;
pub mod queries;
pub mod send_batch;
pub mod tls;

use std::time::Duration;

use anyhow::Context;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseSettings;
use crate::error::ApiError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type PgPool = Pool<AsyncPgConnection>;
pub type PgConn = Object<AsyncPgConnection>;
pub use diesel_async::pooled_connection::deadpool::PoolError;

/// One connection to `target`: TLS as its sslmode and certificates say (see [`tls`]).
///
/// # Errors
/// PostgreSQL unreachable, the TLS handshake or certificate refused, or authentication failed.
pub async fn connect(target: &tls::PgTarget) -> diesel::ConnectionResult<AsyncPgConnection> {
    use diesel_async::AsyncConnection;
    let Some(config) = &target.tls else {
        return AsyncPgConnection::establish(&target.url).await;
    };
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(config.as_ref().clone());
    let (client, conn) = tokio_postgres::connect(&target.url, tls)
        .await
        .map_err(|e| diesel::ConnectionError::BadConnection(crate::error::error_chain(&e)))?;
    AsyncPgConnection::try_from_client_and_connection(client, conn).await
}

/// Builds the pool. Connections are opened lazily, so this succeeds while PostgreSQL is down and
/// requests fail with `unavailable` until it is back.
///
/// # Errors
/// An invalid pool configuration, or TLS settings that cannot be read (see [`tls::pg_target`]).
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
    let target = tls::pg_target(settings, url)?;
    config.custom_setup = Box::new(move |_| {
        let target = target.clone();
        Box::pin(async move {
            use diesel_async::SimpleAsyncConnection;
            let mut conn = connect(&target).await?;
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

/// Gives the statements of the current transaction their own statement_timeout (`SET LOCAL`, so
/// the connection goes back to the pool with its usual one). The searches use it: the client's
/// text decides what they cost. Map the result's error with [`ApiError::as_search_timeout`].
///
/// # Errors
/// Database failures.
pub async fn set_local_statement_timeout(conn: &mut AsyncPgConnection, timeout_ms: u64) -> Result<(), ApiError> {
    use diesel_async::SimpleAsyncConnection;
    Ok(conn.batch_execute(&format!("SET LOCAL statement_timeout = {timeout_ms}")).await?)
}

/// The key of the session-level advisory lock migrations run under. Any fixed number works as long
/// as nothing else in the database uses it; this one spells "plauder" in the first bytes.
const MIGRATION_LOCK_KEY: i64 = 0x706c_6175_6465_7201;

/// Applies pending migrations. diesel's migration harness is synchronous and starts its own
/// runtime, which must not happen on an async worker thread: hence `spawn_blocking`.
///
/// Several replicas starting together all call this. Without coordination each would see the same
/// pending migrations and run them concurrently: one wins, the others fail on objects that already
/// exist (or on creating diesel's own bookkeeping table) and the replica does not start. So the
/// run holds a PostgreSQL advisory lock: the others wait for it, then find nothing pending. The
/// lock is per session, so a process that dies while migrating releases it with its connection.
///
/// # Errors
/// PostgreSQL unreachable, or a migration failed (its message is included).
pub async fn run_migrations(settings: &DatabaseSettings, url: &str) -> anyhow::Result<Vec<String>> {
    let target = tls::pg_target(settings, url)?;
    // Connected here, on the runtime that drives the connection; the harness then blocks on it.
    let conn = connect(&target).await.context("connecting to PostgreSQL to migrate")?;
    tokio::task::spawn_blocking(move || {
        use diesel::sql_types::BigInt;
        use diesel::{RunQueryDsl, sql_query};
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
        sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
            .execute(&mut conn)
            .context("taking the migration lock")?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|applied| applied.iter().map(ToString::to_string).collect())
            .map_err(|e| anyhow::anyhow!("running migrations: {e}"));
        // Released explicitly so a waiting replica goes on at once; if this fails, closing the
        // connection (dropped below) releases it anyway.
        if let Err(e) =
            sql_query("SELECT pg_advisory_unlock($1)").bind::<BigInt, _>(MIGRATION_LOCK_KEY).execute(&mut conn)
        {
            tracing::warn!(error = %e, "releasing the migration lock; the connection's close releases it");
        }
        applied
    })
    .await
    .context("migration task")?
}
