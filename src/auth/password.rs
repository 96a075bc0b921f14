//! Argon2id password hashing, run on the blocking pool: a hash costs tens of milliseconds of CPU
//! by design, which must not stall an actix worker that serves other requests meanwhile.

use anyhow::Context;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::AuthSettings;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// Verified against when the account does not exist, so that an unknown login costs as much
    /// time as a wrong password and response timing does not reveal which usernames exist.
    dummy_hash: String,
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
        Ok(Self { params, dummy_hash })
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// # Errors
    /// Only if the blocking pool is gone or Argon2 fails internally.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let argon = self.argon();
        tokio::task::spawn_blocking(move || {
            argon
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
        })
        .await
        .context("password hashing task")?
    }

    /// Whether `password` matches `stored`; with no stored hash (unknown user, guest) it still does
    /// the work and answers false.
    ///
    /// # Errors
    /// Only if the blocking pool is gone.
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        let argon = self.argon();
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy_hash.clone());
        tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return false;
            };
            argon.verify_password(password.as_bytes(), &parsed).is_ok() && known
        })
        .await
        .context("password verification task")
    }
}
