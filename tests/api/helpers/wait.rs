//! Waiting for conditions, not for time. A test that needs the server to have done something
//! (a metric moved, a connection closed, a membership reached the registry) polls for exactly
//! that with [`eventually`], which returns as soon as it holds and fails the test, naming what it
//! waited for and what it saw last, when it does not hold in time. A fixed sleep is either too
//! short on a loaded machine (a flaky test) or longer than needed everywhere else.
//!
//! Only a check that something does *not* happen needs a window, since no observation says "it
//! never will"; [`holds_throughout`] (and the WebSocket client's `no_event`) keep those explicit.

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
    probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    match poll_within(deadline, probe).await {
        Ok(value) => value,
        Err((tries, Some(last))) => {
            panic!("timed out after {deadline:?} ({tries} tries) waiting for {what}; last observed: {last:?}")
        }
        Err((_, None)) => {
            panic!("timed out after {deadline:?} waiting for {what}: the probe itself did not finish")
        }
    }
}

/// Polls `probe` every [`POLL`] until it returns `Ok` or `deadline` passes; on time-out, the
/// number of tries and the last observation (none if the only probe was cut off). For a test that
/// acts again when a wait runs out; others want [`eventually`].
pub async fn poll_within<T, E>(
    deadline: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, (u32, Option<E>)> {
    let start = Instant::now();
    let mut tries = 0u32;
    let mut last = None;
    loop {
        tries += 1;
        // A probe that hangs (a request nobody answers) must not stretch the deadline; one cut
        // off by it reports what the tries before it saw.
        match tokio::time::timeout_at(start + deadline, probe()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(observed)) => last = Some(observed),
            Err(_) => return Err((tries, last)),
        }
        if start.elapsed() >= deadline {
            return Err((tries, last));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `Ok(value)` when `holds(&value)`, else `Err(value)`: a probe for [`eventually`] that waits
/// until a value is right and reports the last wrong one, e.g.
/// `eventually("no connection left", async || check(app.metric("plauder_ws_connections").await, |n| *n == 0.0))`.
pub fn check<T>(value: T, holds: impl FnOnce(&T) -> bool) -> Result<T, T> {
    if holds(&value) { Ok(value) } else { Err(value) }
}

/// Asserts that `probe` stays `Ok` for the whole `window`, polling it every [`POLL`] (at the
/// start and at the end included) and failing at the first `Err`, named with `what`.
///
/// For absence only ("no duplicate appears", "nothing reaches an offline client"): that cannot be
/// awaited, so a window is unavoidable. Keep it short, and put it after a positive wait that shows
/// the thing would have happened by now if it were going to.
pub async fn holds_throughout<E: Debug>(what: &str, window: Duration, mut probe: impl AsyncFnMut() -> Result<(), E>) {
    let end = Instant::now() + window;
    loop {
        if let Err(observed) = probe().await {
            panic!("{what} stopped holding within {window:?}: {observed:?}");
        }
        let now = Instant::now();
        if now >= end {
            return;
        }
        tokio::time::sleep(POLL.min(end - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{check, eventually, eventually_within, holds_throughout};

    #[actix_web::test]
    async fn eventually_returns_the_value_once_the_condition_holds() {
        let mut polls = 0;
        let n = eventually("the third poll", async || {
            polls += 1;
            check(polls, |&n| n == 3)
        })
        .await;
        assert_eq!(n, 3);
    }

    #[actix_web::test]
    #[should_panic(expected = "waiting for a condition that never holds; last observed: 41")]
    async fn eventually_fails_naming_what_it_waited_for_and_the_last_value_seen() {
        eventually_within(Duration::from_millis(100), "a condition that never holds", async || check(41, |&n| n == 42))
            .await;
    }

    #[actix_web::test]
    #[should_panic(expected = "waiting for a probe that hangs: the probe itself did not finish")]
    async fn eventually_is_bounded_even_when_the_probe_hangs() {
        eventually_within(Duration::from_millis(100), "a probe that hangs", async || {
            std::future::pending::<Result<(), ()>>().await
        })
        .await;
    }

    #[actix_web::test]
    #[should_panic(expected = "waiting for a slow probe; last observed: \"still wrong\"")]
    async fn eventually_cut_off_mid_probe_reports_what_the_tries_before_saw() {
        eventually_within(Duration::from_millis(100), "a slow probe", async || {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Err::<(), _>("still wrong")
        })
        .await;
    }

    #[actix_web::test]
    #[should_panic(expected = "nothing odd stopped holding")]
    async fn holds_throughout_fails_at_the_first_break() {
        let mut polls = 0;
        holds_throughout("nothing odd", Duration::from_secs(5), async || {
            polls += 1;
            check(polls, |&n| n < 3).map(drop)
        })
        .await;
    }
}
