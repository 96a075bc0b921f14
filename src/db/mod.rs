//! PostgreSQL access: the connection pool and the embedded migrations. Queries live in
//! `queries/` (one file per table) and take `&mut AsyncPgConnection`, so that services can compose
//! them inside one transaction.

pub mod account_reads;
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
        .max_size(settings.pool_max_size.saturating_sub(own_connections(settings)).max(1))
        .wait_timeout(timeout)
        .create_timeout(timeout)
        .recycle_timeout(timeout)
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .context("building the database pool")
}

/// Connections an instance opens outside its pool, each for one task's own use
/// ([`own_connection`]): one per send writer and the account reader's. They count against
/// `database.pool_max_size`, which bounds the instance's connections to PostgreSQL; the pool holds
/// the rest.
pub fn own_connections(settings: &DatabaseSettings) -> usize {
    settings.send_writers + 1
}

/// A connection of its own for a long-lived task that runs one statement over and over (a send
/// writer, the upgrades' account reader), opened on the calling thread (whose runtime then reads
/// its socket) with the pool's set-up, statement_timeout included. It is not the pool's: its
/// session plans statements once (`plan_cache_mode = force_generic_plan`), and no other statement
/// should inherit that. Left to choose, PostgreSQL's plan cache compares the generic plan, costed
/// for an array of unknown length, with plans made for each call's arrays; with the small batches
/// of a quiet server those look cheaper, so it planned the send writers' six-part statement again
/// for every batch, which doubled PostgreSQL's CPU per send (docs/benchmarks.md,
/// `scripts/explain-send-batch.sh`). The statements run on these connections look every row up by
/// key, so their generic plans cannot go bad with the tables' sizes.
///
/// # Errors
/// `unavailable` when the connection cannot be opened or the setting cannot be made.
pub async fn own_connection(pool: &PgPool) -> Result<AsyncPgConnection, ApiError> {
    use deadpool::managed::Manager;
    use diesel_async::SimpleAsyncConnection;
    // Bounded as the pool bounds its own connects: with PostgreSQL unreachable, everything
    // queued behind this task gets its 503 at once instead of after the system's TCP time-out.
    let failed = |why: String| ApiError::Unavailable(anyhow::anyhow!("opening a connection of its own: {why}"));
    let create = pool.manager().create();
    let opened = match pool.timeouts().create {
        Some(limit) => {
            tokio::time::timeout(limit, create).await.map_err(|_| failed(format!("no answer in {limit:?}")))?
        }
        None => create.await,
    };
    let mut conn = opened.map_err(|e| failed(e.to_string()))?;
    conn.batch_execute("SET plan_cache_mode = force_generic_plan").await?;
    Ok(conn)
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

/// `SET LOCAL` for a deletion that takes a room's or an account's data in one transaction (and
/// each transaction of an account's messages losing their sender before it):
/// `statement_timeout` to `timeout_ms` (`database.erase_statement_timeout_ms`), and a check every
/// second that the client is still there, so that a deletion whose server stopped (a restart)
/// rolls back at once instead of holding its rows until the timeout.
///
/// # Errors
/// A lost connection.
pub async fn set_local_erase_limits(conn: &mut AsyncPgConnection, timeout_ms: u64) -> Result<(), ApiError> {
    use diesel_async::SimpleAsyncConnection;
    let limits =
        format!("SET LOCAL statement_timeout = {timeout_ms}; SET LOCAL client_connection_check_interval = 1000");
    Ok(conn.batch_execute(&limits).await?)
}

/// The key of the session-level advisory lock migrations run under. Any fixed number works as long
/// as nothing else in the database uses it; this one spells "plauder" in the first bytes.
const MIGRATION_LOCK_KEY: i64 = 0x706c_6175_6465_7201;

/// Whether PostgreSQL writes its messages in a language plauder reads. It tells a statement
/// timeout and a deadlock's victim by their text (diesel-async passes no SQLSTATE on, see
/// `ApiError::from`), in English or German; in another language those answer 500 instead of 503
/// and are not tried again. Asked of PostgreSQL itself rather than read from `lc_messages` (whose
/// value may be empty, a Windows name, or a language the server has no catalogue for): one
/// statement is made to time out, and its error read as a request's would be.
///
/// # Errors
/// No connection from the pool.
pub async fn reads_messages(pool: &PgPool) -> Result<bool, ApiError> {
    use diesel_async::{AsyncConnection, RunQueryDsl};
    let mut conn = pool.get().await.map_err(|e| ApiError::Unavailable(anyhow::anyhow!("{e}")))?;
    let probe = conn
        .transaction::<_, ApiError, _>(async |conn| {
            diesel::sql_query("SET LOCAL statement_timeout = 1").execute(conn).await?;
            diesel::sql_query("SELECT pg_sleep(0.05)").execute(conn).await?;
            Ok(())
        })
        .await;
    Ok(matches!(probe, Err(ApiError::TimedOut(_))))
}

/// [`reads_messages`] at start, with a warning that says what to do when it is false; a failing
/// check is only logged.
pub async fn check_message_language(pool: &PgPool) {
    match reads_messages(pool).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "PostgreSQL writes its messages in a language plauder does not read (its lc_messages): \
             statement timeouts and deadlocks will answer 500 instead of 503. As a superuser: \
             ALTER ROLE <plauder's role> SET lc_messages = 'C'"
        ),
        Err(e) => tracing::warn!(error = %e, "checking PostgreSQL's message language"),
    }
}

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
