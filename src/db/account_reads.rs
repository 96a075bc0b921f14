//! Group reads for WebSocket upgrades: every upgrade reads its account, room ids and friend ids
//! (`queries::social::users_with_rooms`). Concurrent upgrades queue their user ids to one reader,
//! which reads whatever has queued while its previous statement ran with one statement. A statement this small costs PostgreSQL several times more in its round trip than in
//! its execution (22 µs of execution against about 100 µs of CPU per upgrade, docs/benchmarks.md),
//! so a reconnect storm (a deploy, a network blip) costs the database a fraction of what one
//! statement per upgrade did; with a single upgrade a batch is one read and nothing waits.
//!
//! The reader runs on a thread of its own (`crate::own_thread`) with a connection of its own
//! (`db::own_connection`), so the answers are read as soon as they come rather than when a busy
//! HTTP worker or the actors' thread gets to them. It only reads: each upgrade still subscribes
//! first and reads afterwards (its read is queued after its subscription, and a statement reads
//! only what was queued before it started).

use std::collections::HashMap;

use diesel_async::AsyncPgConnection;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::db::PgPool;
use crate::db::queries::social::{self, UserWithRooms};
use crate::error::ApiError;
use crate::ids::UserId;

/// Most accounts one statement reads.
pub const MAX_BATCH: usize = 128;

type Answer = Result<Option<UserWithRooms>, ApiError>;

struct Job {
    user: UserId,
    reply: oneshot::Sender<Answer>,
}

/// Reads the accounts of WebSocket upgrades, many per statement.
#[derive(Clone)]
pub struct AccountReader {
    jobs: mpsc::Sender<Job>,
}

impl AccountReader {
    /// Starts the reader on its own thread, reading at most `max_batch` accounts per statement.
    /// The thread ends when every `AccountReader` is dropped.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start(pool: PgPool, max_batch: usize) -> std::io::Result<Self> {
        let max_batch = max_batch.max(1);
        let (jobs, rx) = mpsc::channel(max_batch * 4);
        crate::own_thread::spawn("plauder-account-reads", move || run(pool, rx, max_batch))?;
        Ok(Self { jobs })
    }

    /// Reads queued and not yet taken into a statement.
    pub fn queued(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    /// The account `user` with its room ids and friend ids, read by a statement that started after
    /// this call; `None` when there is no such account.
    ///
    /// # Errors
    /// `unavailable` when the database cannot be reached or the reader has stopped.
    pub async fn read(&self, user: UserId) -> Answer {
        let stopped = || ApiError::Unavailable(anyhow::anyhow!("the account reader stopped"));
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { user, reply }).await.map_err(|_| stopped())?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

async fn run(pool: PgPool, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut jobs = Vec::with_capacity(max_batch);
    let mut own: Option<AsyncPgConnection> = None;
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        metrics::histogram!("db_account_read_batch_size").record(jobs.len() as f64);
        // Two upgrades of one user may both be here: `= ANY` returns the row once all the same.
        let ids: Vec<Uuid> = jobs.iter().map(|j| j.user.into()).collect();
        let result = match &mut own {
            Some(conn) => social::users_with_rooms(conn, &ids).await.map_err(ApiError::from),
            None => match crate::db::own_connection(&pool).await {
                Ok(conn) => social::users_with_rooms(own.insert(conn), &ids).await.map_err(ApiError::from),
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(rows) => {
                let found: HashMap<UserId, UserWithRooms> = rows.into_iter().map(|r| (r.user.id, r)).collect();
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Ok(found.get(&job.user).cloned()));
                }
            }
            Err(error) => {
                // The connection may be broken: the next batch opens a new one.
                own = None;
                tracing::error!(error = ?error, size = jobs.len(), "reading the accounts of upgrades failed");
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(error.same_for_another()));
                }
            }
        }
    }
}
