//! A blocking resource (a SQLite connection, a store that does file or network I/O) owned
//! by a thread of its own and called from async code through a bounded queue, so that its
//! blocking calls never run on a tokio worker. Needs no tokio runtime feature: a std
//! thread, a bounded std channel and a tokio oneshot per call.
//!
//! The queue is bounded twice: by the number of calls waiting ([`Refused::Full`] at
//! once past it) and by how long a call may wait for the thread ([`Refused::Expired`] when
//! it reaches the thread after [`MAX_WAIT`], or the handle's own bound). A call whose
//! caller has gone by the time it reaches the thread is skipped.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

type Job<S> = Box<dyn FnOnce(&mut S) + Send>;

/// How long a call may wait in the queue for the thread, by default: one that reaches the
/// thread later is refused ([`Refused::Expired`]) instead of run for a caller that has
/// most likely given up.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(5);

/// Why a call did not run, or did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    /// The queue holds its bound of calls already: nothing was done.
    #[error("{0} calls already wait for the store's thread; try again later")]
    Full(usize),
    /// The call waited longer than the queue's bound for the thread: nothing was done.
    /// Transient (the thread is overloaded or a call before it is slow).
    #[error(
        "the call waited {waited:?} for the store's thread, more than its bound of {bound:?}; nothing was done"
    )]
    Expired {
        /// How long it waited.
        waited: Duration,
        /// The bound.
        bound: Duration,
    },
    /// The call panicked (a bug in the call or the store; the thread goes on). Not
    /// transient: the same call panics again.
    #[error("the call panicked on the store's thread")]
    Panicked,
    /// The thread has stopped.
    #[error("the store's thread stopped before answering")]
    Stopped,
}

/// A handle on the thread that owns an `S`; clones share the thread, which ends when the
/// last handle is dropped (after the calls already queued).
pub(crate) struct Worker<S> {
    jobs: mpsc::SyncSender<Job<S>>,
    queue: usize,
    max_wait: Duration,
}

impl<S> Clone for Worker<S> {
    fn clone(&self) -> Self {
        Self { jobs: self.jobs.clone(), queue: self.queue, max_wait: self.max_wait }
    }
}

impl<S> fmt::Debug for Worker<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("queue", &self.queue)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

/// Runs `f` on `s`, catching a panic.
fn guarded<S, T>(s: &mut S, f: impl FnOnce(&mut S) -> T) -> Result<T, Refused> {
    std::panic::catch_unwind(AssertUnwindSafe(|| f(s))).map_err(|_| Refused::Panicked)
}

impl<S: Send + 'static> Worker<S> {
    /// Moves `state` to a new thread named `name`, which runs up to `queue` waiting calls
    /// (at least one) in order, each waiting at most [`MAX_WAIT`].
    ///
    /// # Errors
    /// The operating system's, if it cannot start a thread.
    pub(crate) fn spawn(name: &str, mut state: S, queue: usize) -> std::io::Result<Self> {
        let queue = queue.max(1);
        let (jobs, waiting) = mpsc::sync_channel::<Job<S>>(queue);
        std::thread::Builder::new().name(name.to_string()).spawn(move || {
            for job in waiting {
                // Calls catch their own panics (`guarded`); this one is for `submit`'s.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut state)));
            }
        })?;
        Ok(Self { jobs, queue, max_wait: MAX_WAIT })
    }

    /// The same thread, with calls made through this handle (and its clones) refused once
    /// they have waited `max_wait` for it.
    pub(crate) fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Queues `job` without waiting for it.
    pub(crate) fn submit(&self, job: impl FnOnce(&mut S) + Send + 'static) -> Result<(), Refused> {
        self.jobs.try_send(Box::new(job)).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => Refused::Full(self.queue),
            mpsc::TrySendError::Disconnected(_) => Refused::Stopped,
        })
    }

    /// Runs `f` on the thread and answers its result.
    // Used by the SQLite token source (feature `sqlite`) and the tests.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T, Refused>
    where
        T: Send + 'static,
        F: FnOnce(&mut S) -> T + Send + 'static,
    {
        self.call_or(f, |_: &mut S, _: T| {}).await
    }

    /// [`call`](Self::call), with `undelivered` run on the thread with the result if the
    /// caller went away (its future was dropped) while the call ran: a call that acquired
    /// something gives it back there.
    ///
    /// # Errors
    /// [`Refused::Full`] at once if the queue is full; [`Refused::Expired`] if the call
    /// reached the thread after waiting longer than the handle's bound (it is not run);
    /// [`Refused::Panicked`] if `f` panicked; [`Refused::Stopped`] if the thread stopped.
    ///
    /// # Cancellation
    /// Dropped before the call reached the thread, the call is skipped; dropped while it
    /// ran, or after the result arrived but before it was read, the result goes to
    /// `undelivered` (queued as a call of its own in the second case).
    pub(crate) async fn call_or<T, F, U>(&self, f: F, undelivered: U) -> Result<T, Refused>
    where
        T: Send + 'static,
        F: FnOnce(&mut S) -> T + Send + 'static,
        U: FnOnce(&mut S, T) + Clone + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let give_back = undelivered.clone();
        let (asked, bound) = (Instant::now(), self.max_wait);
        self.submit(move |s| {
            if reply.is_closed() {
                return; // its caller has gone: nobody wants it done
            }
            let waited = asked.elapsed();
            if waited > bound {
                let _ = reply.send(Err(Refused::Expired { waited, bound }));
                return;
            }
            if let Err(Ok(t)) = reply.send(guarded(s, f)) {
                give_back(s, t);
            }
        })?;
        let mut pending = Pending { answer, undelivered: Some(undelivered), worker: self.clone() };
        let answer = (&mut pending.answer).await;
        pending.undelivered = None;
        answer.unwrap_or(Err(Refused::Stopped))
    }

    /// Runs `f` on the thread however long it waited, and whether or not the caller is
    /// still there when it gets there: for a call whose effect must happen (storing a
    /// result, giving back a key).
    ///
    /// # Errors
    /// [`Refused::Full`] at once if the queue is full (nothing is queued);
    /// [`Refused::Panicked`] if `f` panicked; [`Refused::Stopped`] if the thread stopped.
    pub(crate) async fn call_always<T, F>(&self, f: F) -> Result<T, Refused>
    where
        T: Send + 'static,
        F: FnOnce(&mut S) -> T + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.submit(move |s| {
            let _ = reply.send(guarded(s, f));
        })?;
        answer.await.unwrap_or(Err(Refused::Stopped))
    }
}

/// The caller's side of a call in flight: dropped before it read the answer, it closes
/// the channel (so the thread skips the call, or its send fails and the thread hands the
/// result back itself), or, if the answer already arrived, queues its hand-back.
struct Pending<S: Send + 'static, T: Send + 'static, U: FnOnce(&mut S, T) + Send + 'static> {
    answer: oneshot::Receiver<Result<T, Refused>>,
    undelivered: Option<U>,
    worker: Worker<S>,
}

impl<S: Send + 'static, T: Send + 'static, U: FnOnce(&mut S, T) + Send + 'static> Drop for Pending<S, T, U> {
    fn drop(&mut self) {
        let Some(undelivered) = self.undelivered.take() else { return };
        self.answer.close();
        if let Ok(Ok(t)) = self.answer.try_recv() {
            // If the queue is full or the thread gone, whatever `t` held is reclaimed by
            // its own expiry (a lease by its lock timeout).
            let _ = self.worker.submit(move |s| undelivered(s, t));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, mpsc as std_mpsc};

    #[test]
    fn calls_run_in_order_and_a_full_queue_refuses_at_once() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let (open, gate) = std_mpsc::channel::<()>();
            let (started, busy) = std_mpsc::channel::<()>();
            let w = Worker::spawn("test-worker", 0u32, 1).unwrap();
            w.submit(move |_| {
                started.send(()).unwrap();
                gate.recv().unwrap();
            })
            .unwrap();
            busy.recv().unwrap(); // the thread is busy
            w.submit(|n| *n += 1).unwrap(); // one waits
            assert_eq!(w.submit(|n| *n += 1), Err(Refused::Full(1)));
            open.send(()).unwrap();
            let read = loop {
                match w.call(|n| *n).await {
                    Err(Refused::Full(_)) => std::thread::yield_now(), // not drained yet
                    read => break read,
                }
            };
            assert_eq!(read, Ok(1));
            assert_eq!(w.call(|_| panic!("a call that panics")).await, Err::<(), _>(Refused::Panicked));
            assert_eq!(w.call(|n| *n).await, Ok(1), "the thread survives a panicking call");
        });
    }

    #[test]
    fn a_result_nobody_reads_is_handed_back() {
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let handed_back = Arc::new(AtomicU32::new(0));
        rt.block_on(async {
            let (open, gate) = std_mpsc::channel::<()>();
            let (started, running) = std_mpsc::channel::<()>();
            let w = Worker::spawn("test-worker", (), 4).unwrap();
            let back = Arc::clone(&handed_back);
            let call = w.call_or(
                move |_| {
                    started.send(()).unwrap();
                    gate.recv().unwrap();
                    7u32
                },
                move |_, t| {
                    back.fetch_add(t, Ordering::SeqCst);
                },
            );
            let mut call = Box::pin(call);
            assert!(tokio::time::timeout(std::time::Duration::from_millis(5), call.as_mut()).await.is_err());
            running.recv().unwrap(); // it runs
            drop(call); // and its caller goes away
            open.send(()).unwrap();
            w.call(|_| ()).await.unwrap(); // after the dropped call
        });
        assert_eq!(handed_back.load(Ordering::SeqCst), 7);
    }

    /// Pins the call run for nobody: a call whose caller had gone (a request dropped
    /// while its `begin` waited in the queue) still ran when it reached the thread,
    /// doing work (taking a key, writing a row) no one would read. It is now skipped.
    #[test]
    fn a_call_whose_caller_left_while_it_waited_is_skipped() {
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let ran = rt.block_on(async {
            let (open, gate) = std_mpsc::channel::<()>();
            let w = Worker::spawn("test-worker", 0u32, 4).unwrap();
            w.submit(move |_| gate.recv().unwrap()).unwrap(); // the thread is busy
            let call = w.call(|n| *n += 1);
            assert!(tokio::time::timeout(std::time::Duration::from_millis(5), call).await.is_err());
            open.send(()).unwrap();
            w.call(|n| *n).await.unwrap()
        });
        assert_eq!(ran, 0, "the call ran after its caller had gone");
    }

    /// Pins the unbounded wait: a call sat in the queue behind a slow one for as long as
    /// that took, and then ran, however late. One that waited past its bound is now
    /// refused, with a transient error, and not run.
    #[test]
    fn a_call_that_waited_past_its_bound_is_refused_and_not_run() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (late, ran) = rt.block_on(async {
            let (open, gate) = std_mpsc::channel::<()>();
            let w = Worker::spawn("test-worker", 0u32, 4).unwrap().with_max_wait(Duration::from_millis(1));
            w.submit(move |_| gate.recv().unwrap()).unwrap(); // the thread is busy
            use std::future::Future as _;
            let mut late = std::pin::pin!(w.call(|n| *n += 1));
            let queued =
                std::future::poll_fn(|cx| std::task::Poll::Ready(late.as_mut().poll(cx).is_pending()));
            assert!(queued.await, "the call answered while the thread was busy");
            // Real time, twice the bound, passes before the thread is free.
            std::thread::sleep(Duration::from_millis(2));
            open.send(()).unwrap();
            let late = late.await;
            (late, w.clone().with_max_wait(MAX_WAIT).call(|n| *n).await.unwrap())
        });
        assert!(matches!(late, Err(Refused::Expired { .. })), "{late:?}");
        assert_eq!(ran, 0, "the expired call ran");
    }
}
