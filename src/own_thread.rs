//! Tasks that run on a thread of their own, with a single-threaded tokio runtime, instead of on the
//! actor system's thread or an HTTP worker: the Redis broker's publisher and subscriber, and the
//! WebSocket upgrades' account reader. Their work is short and waits on a socket; on a busy
//! thread each answer would wait until that thread polled it, and everything queued behind it too.

use std::future::Future;

/// Starts `make()`'s future on a new thread named `name`; the thread ends with the future.
///
/// # Errors
/// The thread cannot be started.
pub fn spawn<F, Fut>(name: &str, make: F) -> std::io::Result<()>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let thread = name.to_owned();
    std::thread::Builder::new().name(name.to_owned()).spawn(
        move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(make()),
            Err(e) => tracing::error!("the runtime of thread {thread} did not start: {e}"),
        },
    )?;
    Ok(())
}
