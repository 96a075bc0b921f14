//! How many of an instance's pool connections may wait for one room.
//!
//! A room's message writes outside the group-commit writer (a send on the checked path, an edit,
//! a deletion, a reaction) take the room's row (`rooms.last_seq`) and hold it until they commit;
//! a join of a public room waits for that row too. When another transaction holds it for long
//! (the room being deleted with its messages, a transaction of another instance), each of those
//! writes used to wait on a pool connection of its own: a busy room could take the whole pool, and
//! every other request of the instance then waited for a connection and failed at
//! `database.pool_timeout_ms`. Now at most [`PER_ROOM`] of a room's writes hold a connection; the
//! others wait here, in arrival order, holding none, for at most `database.pool_timeout_ms`, like
//! a wait for the pool itself.
//!
//! Two rather than one: a room's writes commit one after another anyway (its row's lock), and with
//! two in flight one makes its checks while the other commits. The sends of the group-commit
//! writer do not pass here: its statement skips a held room row (`db::send_batch`) and hands those
//! sends to the checked path, which does. Nor do the room's rare writers (members added or
//! removed by its owner, a rename, the room's deletion) or the assistant's answers, which have a
//! rate and a budget of their own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, ApiResult};
use crate::ids::RoomId;

/// Writes of one room that may hold a pool connection at once, on one instance.
pub const PER_ROOM: usize = 2;

/// What a writer that found no place in time is told to wait before trying again.
const RETRY_AFTER_MS: u64 = 1_000;

/// The gates of the rooms written to right now (a room's entry goes with its last writer).
#[derive(Debug)]
pub struct RoomGates {
    rooms: Mutex<HashMap<RoomId, Gate>>,
    max_wait: Duration,
}

/// One room's places, and how many writers hold or await one (the entry's life).
#[derive(Debug)]
struct Gate {
    places: Arc<Semaphore>,
    writers: usize,
}

/// A room write's place: held until the write has committed (or failed) and given back its
/// connection.
#[derive(Debug)]
pub struct RoomGate {
    gates: Arc<RoomGates>,
    room: RoomId,
    permit: Option<OwnedSemaphorePermit>,
}

impl RoomGates {
    /// Gates whose writers wait at most `max_wait` for a place.
    pub fn new(max_wait: Duration) -> Arc<Self> {
        Arc::new(Self { rooms: Mutex::new(HashMap::new()), max_wait })
    }

    /// Counts a writer in at `room` (until its [`RoomGate`] is dropped) and gives its places.
    fn join(self: &Arc<Self>, room: RoomId) -> (RoomGate, Arc<Semaphore>) {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let gate = rooms.entry(room).or_insert_with(|| Gate { places: Arc::new(Semaphore::new(PER_ROOM)), writers: 0 });
        gate.writers += 1;
        (RoomGate { gates: self.clone(), room, permit: None }, gate.places.clone())
    }

    /// A place among `room`'s writers, if one is free now.
    pub fn try_enter(self: &Arc<Self>, room: RoomId) -> Option<RoomGate> {
        let (mut entered, places) = self.join(room);
        entered.permit = Some(places.try_acquire_owned().ok()?);
        Some(entered)
    }

    /// A place among `room`'s writers, after the writes ahead of this one.
    ///
    /// # Errors
    /// `unavailable` (busy, with a time to retry) when none was free within
    /// `database.pool_timeout_ms`.
    pub async fn enter(self: &Arc<Self>, room: RoomId) -> ApiResult<RoomGate> {
        let (mut entered, places) = self.join(room);
        let waiting = Waiting::start();
        let permit = tokio::time::timeout(self.max_wait, places.acquire_owned()).await;
        drop(waiting);
        match permit {
            Ok(Ok(permit)) => {
                entered.permit = Some(permit);
                Ok(entered)
            }
            // The semaphore is never closed; a timeout is the only way here.
            _ => {
                metrics::counter!("room_write_gate_timeouts_total").increment(1);
                tracing::warn!(room_id = %room, waited_ms = self.max_wait.as_millis(), "no place among a room's writers");
                Err(ApiError::Busy { retry_after_ms: RETRY_AFTER_MS })
            }
        }
    }

    /// Rooms with a gate: written to, or waited for, right now (for the tests of the map's cleanup).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// One writer counted in `plauder_room_write_waiting` while it waits, however the wait ends (a
/// client gone mid-request drops it).
struct Waiting;

impl Waiting {
    fn start() -> Self {
        metrics::gauge!("room_write_waiting").increment(1.0);
        Self
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        metrics::gauge!("room_write_waiting").decrement(1.0);
    }
}

impl Drop for RoomGate {
    /// Gives the place back (if it got one), and forgets the room after its last writer.
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut rooms = self.gates.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(gate) = rooms.get_mut(&self.room) {
            gate.writers -= 1;
            if gate.writers == 0 {
                rooms.remove(&self.room);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_rooms_third_writer_waits_for_a_place_and_the_room_is_forgotten_after_its_last() {
        let gates = RoomGates::new(Duration::from_secs(5));
        let (a, b) = (RoomId::from(uuid::Uuid::new_v4()), RoomId::from(uuid::Uuid::new_v4()));
        let first = gates.enter(a).await.expect("a place");
        let second = gates.try_enter(a).expect("a second place");
        assert!(gates.try_enter(a).is_none(), "two places per room");
        let other = gates.try_enter(b).expect("another room has its own places");
        let third = tokio::spawn({
            let gates = gates.clone();
            async move { gates.enter(a).await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        assert!(!third.is_finished(), "the third waits");
        drop(first);
        third.await.expect("joined").expect("the third got the place given back");
        drop((second, other));
        assert_eq!(gates.len(), 0, "no room left once its writers have gone");
    }

    #[tokio::test]
    async fn a_writer_that_finds_no_place_in_time_is_told_to_retry_and_leaves_no_trace() {
        let gates = RoomGates::new(Duration::from_millis(20));
        let room = RoomId::from(uuid::Uuid::new_v4());
        let held = [gates.enter(room).await.expect("one"), gates.enter(room).await.expect("two")];
        let late = gates.enter(room).await;
        assert!(matches!(late, Err(ApiError::Busy { .. })), "{late:?}");
        assert_eq!(gates.len(), 1);
        drop(held);
        assert_eq!(gates.len(), 0);
    }
}
