//! Argon2id password hashing, run on the blocking pool: a hash costs tens of milliseconds of CPU
//! by design, which must not stall an actix worker that serves other requests meanwhile.
//!
//! Bounded: each hash also holds `auth.argon2_memory_kib` of memory while it runs, and the blocking
//! pool would run hundreds at once, so at most `auth.password_hash_max_concurrent` run (default one
//! per core), at most `auth.password_hash_max_queued` more wait for a slot, and any beyond that are
//! refused at once with 503 `unavailable` and Retry-After ([`ApiError::Busy`]). Memory for hashing
//! is therefore bounded by the concurrency, whatever the request rate.
//!
//! The working memory is reused while hashes follow each other ([`WorkingMemory`]): taking a fresh
//! 19 MiB buffer from the kernel for every hash and handing it back (glibc maps allocations that
//! size, see `main.rs`) spent the time in page faults: 2,000 registrations took 44 s instead of
//! 28 s (docs/benchmarks.md). Hashing with the crate's
//! `hash_password_into_with_memory` means building and checking the PHC string here, the way the
//! crate's own `PasswordHasher` and `PasswordVerifier` do.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::AuthSettings;
use crate::error::ApiError;

/// What a refused hash tells the client to wait: about the time a full queue takes to drain at
/// the default cost, rounded up to the header's whole second.
const BUSY_RETRY_AFTER_MS: u64 = 1000;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// Verified against when the account does not exist, so that an unknown login costs as much
    /// time as a wrong password and response timing does not reveal which usernames exist.
    dummy_hash: String,
    /// Slots for hashes running on the blocking pool.
    running: Arc<Semaphore>,
    /// Slots for hashes running or waiting; a hash that finds none is refused.
    admitted: Arc<Semaphore>,
    /// `admitted`'s size: fewer free slots than this, less one's own, means other hashes wait.
    admitted_max: usize,
    memory: Arc<WorkingMemory>,
}

/// Argon2's working memory (`auth.argon2_memory_kib` per buffer), handed from one hash to the next.
/// A hash takes a buffer from here (or allocates one) and gives it back when it ends, but only
/// while other hashes are admitted; the last hash of a burst frees every buffer, so an idle server
/// holds none. At most as many buffers as running slots exist at once.
#[derive(Default)]
struct WorkingMemory {
    pool: Mutex<Vec<Vec<Block>>>,
    /// Buffers allocated so far (read by the tests).
    allocated: AtomicUsize,
}

impl WorkingMemory {
    fn take(&self, blocks: usize) -> Vec<Block> {
        let kept = self.pool.lock().ok().and_then(|mut pool| pool.pop());
        match kept {
            Some(memory) if memory.len() >= blocks => memory,
            _ => {
                self.allocated.fetch_add(1, Ordering::Relaxed);
                vec![Block::new(); blocks]
            }
        }
    }

    /// Keeps `memory` for the next hash; a poisoned lock only loses the reuse.
    fn give_back(&self, memory: Vec<Block>) {
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(memory);
        }
    }

    fn free_all(&self) {
        if let Ok(mut pool) = self.pool.lock() {
            pool.clear();
        }
    }
}

/// Both slots of an admitted hash, held until its blocking task ends (not until the request ends:
/// a cancelled request's hash still runs to completion and still counts).
struct Slots {
    _admitted: OwnedSemaphorePermit,
    _running: OwnedSemaphorePermit,
}

impl PasswordHasher {
    /// # Errors
    /// Argon2 parameters out of range.
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let params =
            Params::new(settings.argon2_memory_kib, settings.argon2_iterations, settings.argon2_parallelism, None)
                .map_err(|e| anyhow::anyhow!("configuration: auth.argon2_* out of range: {e}"))?;
        let mut memory = vec![Block::new(); params.block_count()];
        let dummy_hash = hash_with(&params, b"plauder timing equaliser", &mut memory)
            .map_err(|e| anyhow::anyhow!("hashing the dummy password: {e}"))?;
        let concurrent = settings.password_hash_concurrency();
        let admitted_max = concurrent.saturating_add(settings.password_hash_max_queued);
        Ok(Self {
            params,
            dummy_hash,
            running: Arc::new(Semaphore::new(concurrent)),
            admitted: Arc::new(Semaphore::new(admitted_max)),
            admitted_max,
            memory: Arc::default(),
        })
    }

    /// Runs `work` on the blocking pool with working memory of at least `blocks` blocks, holding
    /// `slots` until it ends.
    async fn run<T: Send + 'static>(
        &self,
        slots: Slots,
        blocks: usize,
        work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (memory, admitted, admitted_max) = (self.memory.clone(), self.admitted.clone(), self.admitted_max);
        tokio::task::spawn_blocking(move || {
            let mut buffer = memory.take(blocks);
            let result = work(&mut buffer);
            // Kept before the slots go, so the hash they let run finds it. This hash's own slot
            // is still held: another hash admitted leaves fewer free.
            if admitted.available_permits().saturating_add(1) < admitted_max {
                memory.give_back(buffer);
            }
            drop(slots);
            // Whichever hash of a burst lets go of its slot last finds every slot free here, after
            // the others gave their buffers back: nothing stays allocated on an idle server.
            if admitted.available_permits() == admitted_max {
                memory.free_all();
            }
            result
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("password hashing task: {e}")))
    }

    /// Takes a place in the queue at once or refuses, then waits for a running slot.
    async fn slots(&self) -> Result<Slots, ApiError> {
        let Ok(admitted) = self.admitted.clone().try_acquire_owned() else {
            metrics::counter!("password_hashes_refused_total").increment(1);
            return Err(ApiError::Busy { retry_after_ms: BUSY_RETRY_AFTER_MS });
        };
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("password hashing slots closed: {e}")))?;
        Ok(Slots { _admitted: admitted, _running: running })
    }

    /// # Errors
    /// `unavailable` (busy) when the queue is full; `internal` if the blocking pool is gone or
    /// Argon2 fails internally.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let slots = self.slots().await?;
        let params = self.params.clone();
        self.run(slots, params.block_count(), move |memory| hash_with(&params, password.as_bytes(), memory))
            .await?
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing a password: {e}")))
    }

    /// Whether `password` matches `stored`; with no stored hash (unknown user, guest) it still does
    /// the work and answers false.
    ///
    /// # Errors
    /// `unavailable` (busy) when the queue is full; `internal` if the blocking pool is gone.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let slots = self.slots().await?;
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy_hash.clone());
        // A hash stored under other parameters (an older cost) says how much memory it needs.
        let Ok(parsed) = PasswordHash::new(&phc) else { return Ok(false) };
        let Ok(params) = Params::try_from(&parsed) else { return Ok(false) };
        // At least the current size, so that the buffer is worth keeping for the next hash.
        let blocks = self.params.block_count().max(params.block_count());
        let matches = move |memory: &mut [Block]| verify_with(&parsed, params, password.as_bytes(), memory);
        Ok(self.run(slots, blocks, matches).await? && known)
    }
}

/// An Argon2id PHC string for `password` under `params` and a fresh salt, as the crate's
/// `PasswordHasher::hash_password` makes it.
fn hash_with(params: &Params, password: &[u8], memory: &mut [Block]) -> anyhow::Result<String> {
    let salt = argon2::password_hash::try_generate_salt()?;
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = out
        .get_mut(..params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN))
        .ok_or_else(|| anyhow::anyhow!("output length"))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, &salt, out, memory)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(Salt::new(&salt)?),
        hash: Some(Output::new(out)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the stored hash, as the crate's `PasswordVerifier` decides it: the
/// stored algorithm, version and parameters, and `Output`'s constant-time comparison.
fn verify_with(stored: &PasswordHash, params: Params, password: &[u8], memory: &mut [Block]) -> bool {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm.as_str()) else { return false };
    let Ok(version) = stored.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
    let mut out = [0u8; Output::MAX_LENGTH];
    let Some(out) = out.get_mut(..expected.len()) else { return false };
    let argon = Argon2::new(algorithm, version, params);
    argon.hash_password_into_with_memory(password, salt, out, memory).is_ok()
        && Output::new(out).is_ok_and(|computed| computed == *expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(concurrent: usize, queued: usize) -> PasswordHasher {
        let settings = AuthSettings {
            jwt_secret: String::new().into(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_days: 30,
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            password_hash_max_concurrent: concurrent,
            password_hash_max_queued: queued,
        };
        PasswordHasher::new(&settings).expect("hasher")
    }

    #[tokio::test]
    async fn hashes_past_the_running_and_queued_slots_are_refused_as_busy() {
        let h = hasher(1, 1);
        let pw = || "correct horse".to_owned();
        // join! polls in order: the first takes the running slot, the second the queue's, the third
        // finds neither.
        let (a, b, c) = tokio::join!(h.hash(pw()), h.hash(pw()), h.verify(pw(), None));
        assert!(a.is_ok() && b.is_ok());
        assert!(matches!(c, Err(ApiError::Busy { retry_after_ms }) if retry_after_ms > 0));
        // Slots come back when the hashes end.
        let stored = h.hash(pw()).await.expect("hash after the burst");
        assert!(h.verify(pw(), Some(stored)).await.expect("verify"));
    }

    /// The PHC strings built here are the crate's own, both ways, including a hash stored under
    /// other parameters than the current ones.
    #[tokio::test]
    async fn hashes_read_and_written_here_are_the_crates_own() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let h = hasher(2, 4);
        let ours = h.hash("correct horse".to_owned()).await.expect("hash");
        assert!(ours.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).expect("our PHC string parses");
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"correct horsf", &parsed).is_err());

        let older = Params::new(2048, 2, 1, None).expect("params");
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, older)
            .hash_password(b"battery staple")
            .expect("crate's hash")
            .to_string();
        assert!(h.verify("battery staple".to_owned(), Some(theirs.clone())).await.expect("verify"));
        assert!(!h.verify("battery stapler".to_owned(), Some(theirs)).await.expect("verify"));
        assert!(!h.verify("battery staple".to_owned(), Some("$argon2id$v=19$garbage".into())).await.expect("verify"));
    }

    /// Buffers are kept only while other hashes are admitted: after a burst the pool is empty.
    #[tokio::test]
    async fn working_memory_is_reused_within_a_burst_and_freed_after_it() {
        let h = hasher(1, 8);
        let pool_len = || h.memory.pool.lock().map(|p| p.len()).unwrap_or(usize::MAX);
        let allocated = || h.memory.allocated.load(Ordering::Relaxed);
        let pw = || "correct horse".to_owned();
        let stored = h.hash(pw()).await.expect("hash");
        assert_eq!((pool_len(), allocated()), (0, 1), "a lone hash keeps nothing");
        // The one running slot held here until all four are admitted (on a busy machine the first
        // could otherwise finish before the others ask); then they run one after another, each
        // handing its buffer to the next.
        let held = h.running.clone().acquire_owned().await.expect("running slot");
        let burst: Vec<_> = (0..4)
            .map(|_| {
                let (h, stored) = (h.clone(), stored.clone());
                tokio::spawn(async move { h.verify(pw(), Some(stored)).await })
            })
            .collect();
        while h.admitted.available_permits() > 9 - 4 {
            tokio::task::yield_now().await;
        }
        drop(held);
        for verified in futures_util::future::join_all(burst).await {
            assert!(verified.expect("task").expect("verify"));
        }
        assert_eq!(allocated(), 2, "one buffer for the whole burst");
        assert_eq!(pool_len(), 0, "the burst's last hash frees the buffer");
    }
}
