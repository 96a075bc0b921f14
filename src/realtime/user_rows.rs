//! The account rows a worker's sockets hold, shared between the sockets of one user that read the
//! same row. Every socket keeps its user's row for its life (the services its commands run read
//! the caller's name and badges from it); a user with ten tabs open kept ten copies, about 500
//! bytes each with their strings. A socket still holds exactly the row its upgrade (or its last
//! `auth.refresh`) read: a row that differs in anything (a new name, a new token version) is kept
//! on its own, and becomes the one later sockets of that user share.
//!
//! Per worker thread, as the sockets are: no lock, and a socket is made and refreshed on its
//! worker.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use crate::db::models::User;
use crate::ids::UserId;

thread_local! {
    static ROWS: RefCell<Rows> = RefCell::new(Rows::default());
}

/// Replaces a socket's row with one already held by another socket of this worker when the two
/// are equal; else later sockets of the user share this one.
pub fn share(user: &mut Arc<User>) {
    *user = ROWS.with_borrow_mut(|rows| rows.share(user.clone()));
}

#[derive(Default)]
struct Rows {
    /// Weak: the rows live as long as their sockets. An entry whose sockets all closed still holds
    /// its row's allocation (not its strings) until the next sweep.
    by_user: HashMap<UserId, Weak<User>>,
    /// The number of entries after the last sweep. Sweeping once the map has doubled since keeps
    /// the dead entries at most about half of it, at a constant cost per socket on average.
    swept_len: usize,
}

/// Below this many entries the map is not swept.
const SWEEP_FLOOR: usize = 256;

impl Rows {
    fn share(&mut self, user: Arc<User>) -> Arc<User> {
        if let Some(held) = self.by_user.get(&user.id).and_then(Weak::upgrade)
            && *held == *user
        {
            return held;
        }
        self.by_user.insert(user.id, Arc::downgrade(&user));
        if self.by_user.len() > SWEEP_FLOOR.max(2 * self.swept_len) {
            self.by_user.retain(|_, row| row.strong_count() > 0);
            self.swept_len = self.by_user.len();
        }
        user
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::models::{ChosenStatus, PresenceVisibility, Role};
    use chrono::Utc;
    use uuid::Uuid;

    fn row(name: &str) -> User {
        let now = Utc::now();
        User {
            id: UserId(Uuid::new_v4()),
            username: name.into(),
            email: Some(format!("{name}@example.com")),
            display_name: name.into(),
            avatar_url: None,
            bio: None,
            role: Role::User,
            password_hash: None,
            token_version: 0,
            banned_at: None,
            ban_reason: None,
            last_seen_at: None,
            created_at: now,
            updated_at: now,
            presence_status: ChosenStatus::Online,
            presence_visibility: PresenceVisibility::Contacts,
            is_bot: false,
            avatar_sha256: None,
            avatar_content_type: None,
            email_verified_at: None,
            deleting_since: None,
        }
    }

    #[test]
    fn equal_rows_are_shared_and_a_changed_row_is_not() {
        let mut rows = Rows::default();
        let first = rows.share(Arc::new(row("anna")));
        let again = rows.share(Arc::new((*first).clone()));
        assert!(Arc::ptr_eq(&first, &again), "the same row read twice is kept once");

        let mut renamed = (*first).clone();
        renamed.display_name = "Anna B.".into();
        let renamed = rows.share(Arc::new(renamed));
        assert!(!Arc::ptr_eq(&first, &renamed), "a socket keeps the row it read");
        assert_eq!(first.display_name, "anna");
        let later = rows.share(Arc::new((*renamed).clone()));
        assert!(Arc::ptr_eq(&renamed, &later), "later sockets share the newest row");
    }

    #[test]
    fn a_row_whose_sockets_closed_is_not_kept() {
        let mut rows = Rows::default();
        let first = rows.share(Arc::new(row("bea")));
        let copy = (*first).clone();
        drop(first);
        let again = rows.share(Arc::new(copy));
        assert_eq!(Arc::strong_count(&again), 1);
    }

    #[test]
    fn dead_entries_are_swept() {
        let mut rows = Rows::default();
        let kept: Vec<_> = (0..10).map(|i| rows.share(Arc::new(row(&format!("kept{i}"))))).collect();
        for i in 0..10 * SWEEP_FLOOR {
            drop(rows.share(Arc::new(row(&format!("gone{i}")))));
            assert!(rows.by_user.len() <= SWEEP_FLOOR, "swept: {} entries", rows.by_user.len());
        }
        for k in &kept {
            let held = rows.by_user.get(&k.id).and_then(Weak::upgrade);
            assert!(held.is_some_and(|h| Arc::ptr_eq(&h, k)), "a live row stays");
        }
    }
}
