//! The order of one client's writes, kept without holding a lock through their commits.
//!
//! A WebSocket connection may pipeline writes: its messages must still land in the order sent
//! (seqs in a room follow the sends) and be acknowledged in that order. A lock held from a send
//! until its commit did that, but let a connection commit at most one send per commit latency.
//! Instead each write takes a [`Turn`] when it arrives, and the turns pass in two stages:
//!
//! - *queued*: a fast-path send waits until every earlier write of the connection is queued at
//!   the group-commit writer, queues itself and lets the next one queue. The writer keeps a room's
//!   sends in queue order (`db::send_batch`), so many sends can be in flight while their commit
//!   order, and so their seqs, follow the order they were sent in.
//! - *done*: every write finishes (and is answered) only after every earlier one finished. A send
//!   the writer hands back for the checked path, and any write that does not go through the writer
//!   (a reply, an edit, a reaction), runs only once the earlier writes are done; such a write
//!   holds its turn through its commit, so later writes neither queue nor commit before it. Later
//!   sends to the same room that reach the writer while one it handed back is on the checked path
//!   wait in the writer until it has finished (`db::send_batch`, `HandedBack`).
//!
//! Each stage is a one-shot channel from a turn to the next; dropping the turn (done, failed, or
//! cancelled with its connection) releases both, so one write's error never blocks the next. A
//! turn dropped before the writes ahead of it got that far (a write refused at once: too many in
//! flight, a rate limit) passes its waits on to the next instead, so the writes behind it still
//! come after those ahead of it.

use tokio::sync::oneshot;

/// Hands out the turns of one client's writes in the order they arrive.
#[derive(Debug, Default)]
pub struct WriteOrder {
    queued: Option<oneshot::Receiver<()>>,
    done: Option<oneshot::Receiver<()>>,
}

impl WriteOrder {
    /// The next write's turn: after every turn handed out before.
    pub fn take_turn(&mut self) -> Turn {
        let (queued_tx, queued_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        Turn {
            after_queued: self.queued.replace(queued_rx),
            queued: Some(queued_tx),
            after_done: self.done.replace(done_rx),
            done: Some(done_tx),
        }
    }
}

/// One write's place in its client's order. Dropping it lets the later writes go.
#[derive(Debug)]
pub struct Turn {
    after_queued: Option<oneshot::Receiver<()>>,
    queued: Option<oneshot::Sender<()>>,
    after_done: Option<oneshot::Receiver<()>>,
    /// Never sent on: the next turn's `after_done` resolves when this is dropped with the turn.
    done: Option<oneshot::Sender<()>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if self.after_queued.is_none() && self.after_done.is_none() {
            // The common case: this turn waited for the writes ahead of it; the next one goes.
            return;
        }
        let (after_queued, queued) = (self.after_queued.take(), self.queued.take());
        let (after_done, done) = (self.after_done.take(), self.done.take());
        let forward = async move {
            if let Some(earlier) = after_queued {
                let _ = earlier.await;
            }
            drop(queued);
            if let Some(earlier) = after_done {
                let _ = earlier.await;
            }
            drop(done);
        };
        // Without a runtime (its shutdown), nothing behind this turn is left to run.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(forward);
        }
    }
}

impl Turn {
    /// A turn that waits for nothing: a write with no order to keep (a REST request).
    pub fn unordered() -> Self {
        Self { after_queued: None, queued: None, after_done: None, done: None }
    }

    /// Waits until every earlier write is queued (or done, for one that is not queued).
    pub async fn earlier_queued(&mut self) {
        if let Some(earlier) = self.after_queued.take() {
            // An error is the earlier turn dropped: that releases it just the same.
            let _ = earlier.await;
        }
    }

    /// This write is queued: later writes may queue behind it.
    pub fn queued(&mut self) {
        self.queued.take();
    }

    /// Waits until every earlier write is done.
    pub async fn earlier_done(&mut self) {
        if let Some(earlier) = self.after_done.take() {
            let _ = earlier.await;
        }
    }

    /// Waits until every earlier write is done, keeping later ones from queueing until this turn
    /// is dropped: for a write that commits outside the group-commit writer.
    pub async fn exclusive(&mut self) {
        self.earlier_queued().await;
        self.earlier_done().await;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    use super::*;

    /// Later writes that are ready first still finish after the earlier ones, and an exclusive
    /// write keeps later ones from queueing until it is done.
    #[tokio::test(flavor = "current_thread")]
    async fn turns_finish_in_order_and_an_exclusive_turn_holds_back_queueing() {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let mut order = WriteOrder::default();
                let log = Rc::new(RefCell::new(Vec::new()));
                let mut tasks = Vec::new();
                // 0: a slow fast-path write; 1: exclusive; 2: a quick fast-path write.
                let (mut t0, mut t1, mut t2) = (order.take_turn(), order.take_turn(), order.take_turn());
                let l = log.clone();
                tasks.push(tokio::task::spawn_local(async move {
                    t0.earlier_queued().await;
                    l.borrow_mut().push("queued 0");
                    t0.queued();
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    t0.earlier_done().await;
                    l.borrow_mut().push("done 0");
                }));
                let l = log.clone();
                tasks.push(tokio::task::spawn_local(async move {
                    t1.exclusive().await;
                    l.borrow_mut().push("exclusive 1");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    l.borrow_mut().push("done 1");
                }));
                let l = log.clone();
                tasks.push(tokio::task::spawn_local(async move {
                    t2.earlier_queued().await;
                    l.borrow_mut().push("queued 2");
                    t2.queued();
                    t2.earlier_done().await;
                    l.borrow_mut().push("done 2");
                }));
                for t in tasks {
                    t.await.expect("task");
                }
                assert_eq!(*log.borrow(), ["queued 0", "done 0", "exclusive 1", "done 1", "queued 2", "done 2"]);
            })
            .await;
    }

    /// A turn dropped before the turns ahead of it went (its write refused at once) does not let
    /// the next one overtake them.
    #[tokio::test(flavor = "current_thread")]
    async fn a_turn_dropped_early_passes_its_waits_on() {
        let mut order = WriteOrder::default();
        let mut first = order.take_turn();
        drop(order.take_turn());
        let mut third = order.take_turn();
        let wait = Duration::from_millis(50);
        assert!(tokio::time::timeout(wait, third.earlier_queued()).await.is_err(), "the first is not queued yet");
        first.earlier_queued().await;
        first.queued();
        tokio::time::timeout(Duration::from_secs(1), third.earlier_queued()).await.expect("released once queued");
        assert!(tokio::time::timeout(wait, third.earlier_done()).await.is_err(), "the first is not done yet");
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), third.earlier_done()).await.expect("released once done");
    }

    /// A turn dropped without finishing (its write failed or was cancelled) releases the next.
    #[tokio::test(flavor = "current_thread")]
    async fn a_dropped_turn_releases_the_next() {
        let mut order = WriteOrder::default();
        let first = order.take_turn();
        let mut second = order.take_turn();
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), second.exclusive()).await.expect("released");
    }
}
