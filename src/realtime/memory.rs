//! Gives the memory of closed connections back to the system. glibc keeps what is freed inside its
//! arenas, and frees pages to the system only from an arena's top: after a wave of connections
//! closes, most of their memory sits free but resident between the allocations of the
//! connections that stayed (churn of 10 × 2,000 connections left the server 8.4 MB larger;
//! docs/benchmarks.md). `malloc_trim` also releases the free pages in the middle of the arenas.
//! It walks every arena under its lock, so it runs on a blocking thread, at most once per
//! `TRIM_EVERY`, and only after `TRIM_AFTER_CLOSES` connections closed since the last time: a
//! steady server never trims.
//!
//! Start-up is trimmed too: each HTTP worker once it has built its app ([`trim_after_build`]),
//! since building the routes and the OpenAPI document leaves about 10 MB per worker freed but
//! resident, and the whole process once more `TRIM_EVERY` after start. An idle server with two
//! workers went from 59.4 to ~40 MB RSS (docs/benchmarks.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const TRIM_EVERY: Duration = Duration::from_secs(5);
const TRIM_AFTER_CLOSES: usize = 500;

/// Counts closed connections and trims after enough of them.
#[derive(Default)]
pub struct Trimmer {
    closed: AtomicUsize,
}

impl Trimmer {
    /// Starts the check on the current arbiter.
    pub fn start() -> Arc<Self> {
        // Start-up counts as a wave of closes: the first round, `TRIM_EVERY` after start, gives
        // back what starting the server allocated and freed again (the HTTP workers trim their
        // own as they finish building, but the rest of the process's start-up goes on after).
        let trimmer = Arc::new(Self { closed: AtomicUsize::new(TRIM_AFTER_CLOSES) });
        let this = trimmer.clone();
        actix::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + TRIM_EVERY, TRIM_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if this.closed.load(Ordering::Relaxed) >= TRIM_AFTER_CLOSES {
                    this.closed.store(0, Ordering::Relaxed);
                    let _ = tokio::task::spawn_blocking(trim).await;
                }
            }
        });
        trimmer
    }

    pub fn connection_closed(&self) {
        self.closed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Trims right away on the calling thread: for a worker's start-up, before it serves anything.
pub fn trim_after_build() {
    trim();
}

fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only returns free memory of glibc's arenas to the system; it takes
        // each arena's lock, so it is safe while other threads allocate.
        unsafe {
            libc::malloc_trim(0);
        }
        metrics::counter!("malloc_trims_total").increment(1);
    }
}
