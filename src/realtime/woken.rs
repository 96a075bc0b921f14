//! A future its owner polls again only after it was woken: for the commands a connection runs
//! off its mailbox, and for its token's expiry timer.
//!
//! An actix context polls every future spawned into it each time anything wakes the context: a
//! delivery in its inbox, a frame from the client, another command's reply. A connection that
//! pipelines sends has several in flight (a sender at 100 messages a second keeps four or five
//! waiting for their commit), and each of its hundreds of wake-ups a second polled every one of
//! them down through the tracing span, the command's state machine and the join handle of its
//! write, only for each to answer "pending" again. In `perf` at 10,000 sends a second that was
//! about a tenth of the server's CPU (docs/benchmarks.md).
//!
//! [`Woken`] gives the inner future a waker of its own that records the wake-up before it wakes
//! the context: a poll without one returns at once. What `FuturesUnordered` does for its set, for
//! one future; hand-written because neither futures nor actix has it for a future that must stay
//! in the actor's context (its result is applied to the actor when it completes).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_util::task::{ArcWake, AtomicWaker, waker_ref};

pin_project_lite::pin_project! {
    /// `inner`, polled only on its first poll and after its own waker fired.
    pub struct Woken<F> {
        #[pin]
        inner: F,
        wake: Arc<Wake>,
    }
}

impl<F> Woken<F> {
    pub fn new(inner: F) -> Self {
        // Starts as woken: the first poll reaches the inner future.
        Self { inner, wake: Arc::new(Wake { woken: AtomicBool::new(true), owner: AtomicWaker::new() }) }
    }
}

/// The inner future's waker: records that it was woken, then wakes whoever polls the wrapper.
struct Wake {
    woken: AtomicBool,
    owner: AtomicWaker,
}

impl ArcWake for Wake {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.woken.store(true, Ordering::Release);
        arc_self.owner.wake();
    }
}

impl<F: Future> Future for Woken<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // Registered before the flag is read: a wake-up after the read still reaches this owner.
        this.wake.owner.register(cx.waker());
        // Cleared before the inner poll: a wake-up during it is kept for the next.
        if !this.wake.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = waker_ref(this.wake);
        this.inner.poll(&mut Context::from_waker(&waker))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    /// Counts its polls; pending until `ready` is set, then woken through the waker it kept.
    struct Probe {
        polls: Rc<Cell<usize>>,
        ready: Rc<Cell<bool>>,
        waker: Rc<std::cell::RefCell<Option<std::task::Waker>>>,
    }

    impl Future for Probe {
        type Output = usize;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.polls.set(self.polls.get() + 1);
            if self.ready.get() {
                return Poll::Ready(self.polls.get());
            }
            *self.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[test]
    fn polls_the_inner_future_only_when_it_was_woken() {
        let (polls, ready, waker) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)), Rc::default());
        let probe = Probe { polls: polls.clone(), ready: ready.clone(), waker: Rc::clone(&waker) };
        let mut fut = std::pin::pin!(Woken::new(probe));
        let owner_woken = Arc::new(Counter::default());
        let owner = futures_util::task::waker(owner_woken.clone());
        let mut cx = Context::from_waker(&owner);

        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(polls.get(), 1, "the first poll reaches the inner future");
        // The owner is woken for something else: the inner future is not polled.
        for _ in 0..5 {
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(polls.get(), 1);

        // The inner future's own wake-up reaches the owner and lets the next poll through.
        ready.set(true);
        waker.borrow_mut().take().expect("the inner future kept a waker").wake();
        assert_eq!(owner_woken.0.load(Ordering::Acquire), 1);
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(2));
    }

    #[test]
    fn a_wake_up_during_the_inner_poll_is_kept_for_the_next() {
        // Wakes itself on its first poll (as a future that yields does), ready on its second.
        let polls = Rc::new(Cell::new(0));
        let counted = polls.clone();
        let inner = std::future::poll_fn(move |cx| {
            counted.set(counted.get() + 1);
            if counted.get() == 1 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        });
        let mut fut = std::pin::pin!(Woken::new(inner));
        let owner_woken = Arc::new(Counter::default());
        let owner = futures_util::task::waker(owner_woken.clone());
        let mut cx = Context::from_waker(&owner);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(owner_woken.0.load(Ordering::Acquire), 1, "the owner is woken");
        assert!(fut.as_mut().poll(&mut cx).is_ready());
        assert_eq!(polls.get(), 2);
    }

    #[derive(Default)]
    struct Counter(std::sync::atomic::AtomicUsize);

    impl ArcWake for Counter {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.fetch_add(1, Ordering::AcqRel);
        }
    }
}
