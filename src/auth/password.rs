//! Argon2id password hashing, run on the blocking pool: a hash costs tens of milliseconds of CPU
//! by design, which must not stall an actix worker that serves other requests meanwhile.
//!
//! Bounded: each hash also holds `auth.argon2_memory_kib` of memory while it runs, and the blocking
//! pool would run hundreds at once, so at most `auth.password_hash_max_concurrent` run (default one
//! per core), at most `auth.password_hash_max_queued` more wait for a slot, and any beyond that are
//! refused at once with 503 `unavailable` and Retry-After ([`ApiError::Busy`]). Memory for hashing
//! is therefore bounded by the concurrency, whatever the request rate.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
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
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let dummy_hash = argon
            .hash_password(b"plauder timing equaliser")
            .map_err(|e| anyhow::anyhow!("hashing the dummy password: {e}"))?
            .to_string();
        let concurrent = settings.password_hash_concurrency();
        Ok(Self {
            params,
            dummy_hash,
            running: Arc::new(Semaphore::new(concurrent)),
            admitted: Arc::new(Semaphore::new(concurrent.saturating_add(settings.password_hash_max_queued))),
        })
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
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
        let argon = self.argon();
        tokio::task::spawn_blocking(move || {
            let _slots = slots;
            argon
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing a password: {e}")))
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("password hashing task: {e}")))?
    }

    /// Whether `password` matches `stored`; with no stored hash (unknown user, guest) it still does
    /// the work and answers false.
    ///
    /// # Errors
    /// `unavailable` (busy) when the queue is full; `internal` if the blocking pool is gone.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let slots = self.slots().await?;
        let argon = self.argon();
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy_hash.clone());
        tokio::task::spawn_blocking(move || {
            let _slots = slots;
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return false;
            };
            argon.verify_password(password.as_bytes(), &parsed).is_ok() && known
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("password verification task: {e}")))
    }
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
}
