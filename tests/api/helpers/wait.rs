//! Waiting for conditions, not for time. A test that needs the server to have done something
//! (a metric moved, a connection closed, a membership reached the registry) polls for exactly
//! that with [`eventually`], which returns as soon as it holds and fails the test, naming what it
//! waited for and what it saw last, when it does not hold in time. A fixed sleep is either too
//! short on a loaded machine (a flaky test) or longer than needed everywhere else.
//!
//! Only a check that something does *not* happen needs a window, since no observation says "it
//! never will"; the WebSocket client's `no_event` keeps those explicit.

use std::fmt::Debug;
use std::time::Duration;

use tokio::time::Instant;

/// How long [`eventually`] waits before failing: long enough for a loaded machine, and the same
/// as the WebSocket client's time-out for a frame.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// How often a condition is polled.
pub const POLL: Duration = Duration::from_millis(20);

/// Polls `probe` every [`POLL`] until it returns `Ok`, and returns that value. The probe's `Err`
/// is what it observed instead (a value, a status, an error); after [`DEADLINE`] the test fails
/// with `what` and the last of them. See [`check`] for the common "until this value is right".
pub async fn eventually<T, E: Debug>(what: &str, probe: impl AsyncFnMut() -> Result<T, E>) -> T {
    eventually_within(DEADLINE, what, probe).await
}

/// [`eventually`] with a deadline of its own, for conditions that legitimately take longer (a
/// process starting).
pub async fn eventually_within<T, E: Debug>(
    deadline: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    let start = Instant::now();
    let mut tries = 0u32;
    let mut last = None;
    loop {
        tries += 1;
        // A probe that hangs (a request nobody answers) must not stretch the deadline; one cut
        // off by it reports what the tries before it saw.
        match tokio::time::timeout_at(start + deadline, probe()).await {
            Ok(Ok(value)) => return value,
            Ok(Err(observed)) => last = Some(observed),
            Err(_) if last.is_none() => {
                panic!("timed out after {deadline:?} waiting for {what}: the probe itself did not finish")
            }
            Err(_) => {}
        }
        if start.elapsed() >= deadline {
            let last = last.expect("a probe finished");
            panic!("timed out after {deadline:?} ({tries} tries) waiting for {what}; last observed: {last:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `Ok(value)` when `holds(&value)`, else `Err(value)`: a probe for [`eventually`] that waits
/// until a value is right and reports the last wrong one, e.g.
/// `eventually("no connection left", async || check(app.metric("ws_connections").await, |n| *n == 0.0))`.
pub fn check<T>(value: T, holds: impl FnOnce(&T) -> bool) -> Result<T, T> {
    if holds(&value) { Ok(value) } else { Err(value) }
}
