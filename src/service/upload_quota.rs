//! The attachment quota while uploads are in progress: the bytes of each owner's uploads that
//! this instance is receiving, counted with what the owner has stored before a body is stored.
//!
//! The quota's binding check runs at the end of an upload, under the owner's row lock, with the
//! sum of the owner's stored attachments (`service::attachments::upload`). Before this count,
//! uploads started together each passed the early check with the sum read before any of them,
//! then streamed, scanned and stored their whole file, and only that last check refused all but
//! what fit: the refused ones had cost their bandwidth, the scanner and a store's PUT for nothing.
//! Now an upload holds its declared size (or, without a Content-Length, what it has read so far)
//! from its start, and one that would pass the quota with the others is refused before its body is
//! read further. The binding check stays: uploads on other instances are not counted here.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::ApiError;
use crate::ids::UserId;

/// How long a client refused for uploads still in progress is told to wait: they finish (or fail,
/// giving their share back) within an upload's time, not the minute a full quota asks for.
const IN_PROGRESS_RETRY_MS: u64 = 5_000;

/// The bytes held by each owner's uploads in progress on this instance.
#[derive(Debug, Default)]
pub struct InFlight(Mutex<HashMap<UserId, u64>>);

/// One upload's share of [`InFlight`], given back when the upload ends, however it ends.
#[derive(Debug)]
pub struct Reserved<'a> {
    all: &'a InFlight,
    owner: UserId,
    bytes: u64,
}

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, HashMap<UserId, u64>> {
        // A panic while holding it cannot leave a count half-written: each is one assignment.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds `bytes` for an upload of `owner`'s, unless with `used` (what the owner's stored
    /// attachments take) and their other uploads in progress that passes `quota`.
    ///
    /// # Errors
    /// `rate_limited` (the quota's refusal) when it would pass.
    pub fn reserve(&self, owner: UserId, used: u64, bytes: u64, quota: u64) -> Result<Reserved<'_>, ApiError> {
        let mut held = self.lock();
        let others = held.get(&owner).copied().unwrap_or(0);
        check(used, others, bytes, quota)?;
        *held.entry(owner).or_default() += bytes;
        Ok(Reserved { all: self, owner, bytes })
    }

    /// The bytes `owner`'s uploads in progress on this instance hold now.
    pub fn held_by(&self, owner: UserId) -> u64 {
        self.lock().get(&owner).copied().unwrap_or(0)
    }
}

impl Reserved<'_> {
    /// The bytes this upload holds.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Holds `bytes` instead (the size read so far, or the size as stored), with the same check
    /// against `used` and the owner's other uploads; on refusal the share is unchanged.
    ///
    /// # Errors
    /// `rate_limited` (the quota's refusal) when it would pass.
    pub fn resize(&mut self, used: u64, bytes: u64, quota: u64) -> Result<(), ApiError> {
        let mut held = self.all.lock();
        let all = held.entry(self.owner).or_default();
        let others = all.saturating_sub(self.bytes);
        check(used, others, bytes, quota)?;
        *all = others + bytes;
        self.bytes = bytes;
        Ok(())
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        let mut held = self.all.lock();
        if let Some(all) = held.get_mut(&self.owner) {
            *all = all.saturating_sub(self.bytes);
            if *all == 0 {
                held.remove(&self.owner);
            }
        }
    }
}

fn check(used: u64, others: u64, bytes: u64, quota: u64) -> Result<(), ApiError> {
    if used.saturating_add(bytes) > quota {
        return Err(over_quota(quota));
    }
    if used.saturating_add(others).saturating_add(bytes) > quota {
        return Err(ApiError::QuotaExceeded {
            message: format!(
                "With your uploads still in progress, your attachments would pass your quota of {quota} bytes; \
                 wait for them to finish."
            ),
            retry_after_ms: IN_PROGRESS_RETRY_MS,
            reason: Some("uploads_in_progress"),
        });
    }
    Ok(())
}

/// The refusal of an upload that the owner's stored attachments leave no room for.
pub fn over_quota(quota: u64) -> ApiError {
    ApiError::QuotaExceeded {
        message: format!("Your attachments would pass your quota of {quota} bytes; delete some first."),
        retry_after_ms: 60_000,
        reason: Some("attachment_quota"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> UserId {
        UserId(uuid::Uuid::new_v4())
    }

    #[test]
    fn uploads_in_progress_count_against_the_quota_until_they_end() {
        let all = InFlight::default();
        let (ada, bob) = (owner(), owner());
        let first = all.reserve(ada, 100, 500, 1000).expect("fits");
        assert!(matches!(all.reserve(ada, 100, 500, 1000), Err(ApiError::QuotaExceeded { retry_after_ms: 5_000, .. })));
        // Another owner's uploads are their own.
        let bobs = all.reserve(bob, 0, 900, 1000).expect("bob's fit");
        let second = all.reserve(ada, 100, 400, 1000).expect("fits beside the first");
        assert_eq!(all.held_by(ada), 900);
        drop(first);
        assert_eq!(all.held_by(ada), 400);
        drop((second, bobs));
        assert_eq!(all.held_by(ada), 0);
        assert!(all.0.lock().expect("lock").is_empty(), "nothing left behind");
    }

    #[test]
    fn a_resize_past_the_quota_is_refused_and_keeps_the_share() {
        let all = InFlight::default();
        let ada = owner();
        let _other = all.reserve(ada, 0, 300, 1000).expect("fits");
        let mut this = all.reserve(ada, 0, 0, 1000).expect("an unknown size holds nothing yet");
        this.resize(0, 600, 1000).expect("600 beside 300");
        assert!(this.resize(0, 800, 1000).is_err());
        assert_eq!((this.bytes(), all.held_by(ada)), (600, 900));
        // Stored attachments alone: the quota's own refusal, with its longer wait.
        assert!(matches!(this.resize(950, 100, 1000), Err(ApiError::QuotaExceeded { retry_after_ms: 60_000, .. })));
        this.resize(0, 200, 1000).expect("smaller, as a processed image may be");
        assert_eq!(all.held_by(ada), 500);
    }
}
