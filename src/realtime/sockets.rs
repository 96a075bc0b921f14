//! Sockets per user and per client address, counted on this instance: each open socket holds a
//! `SocketSlot`, and an upgrade that would pass either bound is refused with 429 before the
//! connection actor exists. Without it one account (or one address, with many guest accounts)
//! could hold sockets until the instance runs out of memory or file descriptors.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::ApiError;
use crate::ids::UserId;

/// What a client is told to wait before trying again: sockets free up as others close, not on a
/// clock, so this is only a polite pace for reconnect loops.
const RETRY_AFTER_MS: u64 = 5000;

pub struct SocketCounts {
    open: Mutex<Open>,
    per_user_max: usize,
    per_address_max: usize,
}

#[derive(Default)]
struct Open {
    by_user: HashMap<UserId, usize>,
    by_address: HashMap<IpAddr, usize>,
}

/// One open socket's place in the counts; given back when dropped (with the connection actor).
pub struct SocketSlot {
    counts: Arc<SocketCounts>,
    user: UserId,
    address: IpAddr,
}

impl SocketCounts {
    pub fn new(per_user_max: usize, per_address_max: usize) -> Arc<Self> {
        Arc::new(Self { open: Mutex::new(Open::default()), per_user_max, per_address_max })
    }

    fn open(&self) -> MutexGuard<'_, Open> {
        // Nothing panics while holding the lock; the counts stay usable if something ever did.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a slot for a socket of `user` from `address`.
    ///
    /// # Errors
    /// `rate_limited` (429) naming the bound that is full.
    pub fn acquire(self: &Arc<Self>, user: UserId, address: IpAddr) -> Result<SocketSlot, ApiError> {
        let mut open = self.open();
        let by_user = open.by_user.get(&user).copied().unwrap_or(0);
        if by_user >= self.per_user_max {
            let max = self.per_user_max;
            return Err(ApiError::QuotaExceeded {
                message: format!("This account already has {max} open sockets; close one first."),
                retry_after_ms: RETRY_AFTER_MS,
                reason: None,
            });
        }
        let by_address = open.by_address.get(&address).copied().unwrap_or(0);
        if by_address >= self.per_address_max {
            let max = self.per_address_max;
            return Err(ApiError::QuotaExceeded {
                message: format!("This address already has {max} open sockets; close one first."),
                retry_after_ms: RETRY_AFTER_MS,
                reason: None,
            });
        }
        *open.by_user.entry(user).or_default() += 1;
        *open.by_address.entry(address).or_default() += 1;
        Ok(SocketSlot { counts: self.clone(), user, address })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.counts.open();
        // Entries at zero are removed, so the maps hold only users and addresses with sockets.
        if let Some(n) = open.by_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                open.by_user.remove(&self.user);
            }
        }
        if let Some(n) = open.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.address);
            }
        }
    }
}
