//! The per-account bound on presence subscriptions over all of an account's connections on this
//! instance (`quota.presence_subscriptions_per_user_max`). Each connection counts the users it
//! named with `presence.subscribe` (the per-connection bound is checked by the connection itself)
//! and gives them back when it closes. A plain mutex over a map: it is touched once per
//! `presence.subscribe` and once per closing connection that subscribed, never per event.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::ids::UserId;

pub struct WatchQuota {
    max: usize,
    held: Mutex<HashMap<UserId, usize>>,
}

impl WatchQuota {
    pub fn new(max: usize) -> Self {
        Self { max, held: Mutex::new(HashMap::new()) }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Takes `n` more places for the user, all or none.
    ///
    /// # Errors
    /// The places the user already holds, when `n` more would pass the bound.
    pub fn take(&self, user_id: UserId, n: usize) -> Result<(), usize> {
        if n == 0 {
            return Ok(());
        }
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = held.get(&user_id).copied().unwrap_or(0);
        if now.saturating_add(n) > self.max {
            return Err(now);
        }
        held.insert(user_id, now + n);
        Ok(())
    }

    /// Gives back `n` places (a connection closed).
    pub fn give_back(&self, user_id: UserId, n: usize) {
        if n == 0 {
            return;
        }
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(now) = held.get_mut(&user_id) {
            *now = now.saturating_sub(n);
            if *now == 0 {
                held.remove(&user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_taken_all_or_none_and_given_back() {
        let q = WatchQuota::new(10);
        let (ada, bob) = (UserId::new(), UserId::new());
        assert_eq!(q.take(ada, 6), Ok(()));
        assert_eq!(q.take(ada, 5), Err(6), "refused whole");
        assert_eq!(q.take(bob, 10), Ok(()), "per user");
        assert_eq!(q.take(ada, 4), Ok(()));
        q.give_back(ada, 6);
        assert_eq!(q.take(ada, 6), Ok(()));
        assert_eq!(q.take(ada, 1), Err(10));
    }
}
