//! A blocking resource (a SQLite connection, a store that does file or network I/O) owned
//! by a thread of its own and called from async code through a bounded queue, so that its
//! blocking calls never run on a tokio worker. Needs no tokio runtime feature: a std
//! thread, a bounded std channel and a tokio oneshot per call.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use tokio::sync::oneshot;

type Job<S> = Box<dyn FnOnce(&mut S) + Send>;

/// Why a call did not run, or did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    /// The queue holds its bound of calls already: nothing was done.
    #[error("{0} calls already wait for the store's thread; try again later")]
    Full(usize),
    /// The thread has stopped (or a call panicked before answering).
    #[error("the store's thread stopped before answering")]
    Stopped,
}

/// A handle on the thread that owns an `S`; clones share the thread, which ends when the
/// last handle is dropped (after the calls already queued).
pub(crate) struct Worker<S> {
    jobs: mpsc::SyncSender<Job<S>>,
    queue: usize,
}

impl<S> Clone for Worker<S> {
    fn clone(&self) -> Self {
        Self { jobs: self.jobs.clone(), queue: self.queue }
    }
}

impl<S> fmt::Debug for Worker<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker").field("queue", &self.queue).finish_non_exhaustive()
    }
}

impl<S: Send + 'static> Worker<S> {
    /// Moves `state` to a new thread named `name`, which runs up to `queue` waiting calls
    /// (at least one) in order.
    ///
    /// # Errors
    /// The operating system's, if it cannot start a thread.
    pub(crate) fn spawn(name: &str, mut state: S, queue: usize) -> std::io::Result<Self> {
        let queue = queue.max(1);
        let (jobs, waiting) = mpsc::sync_channel::<Job<S>>(queue);
        std::thread::Builder::new().name(name.to_string()).spawn(move || {
            for job in waiting {
                // A call that panics drops its reply (its caller is told the thread
                // stopped); the state is still owned here, and later calls go on.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut state)));
            }
        })?;
        Ok(Self { jobs, queue })
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
    /// caller went away (its future was dropped) before taking it: a call that acquired
    /// something gives it back there.
    ///
    /// # Cancellation
    /// Dropped before the call ran, the call still runs, and its result goes to
    /// `undelivered`; dropped after the result arrived but before it was read, the result
    /// goes to `undelivered` too (queued as a call of its own).
    pub(crate) async fn call_or<T, F, U>(&self, f: F, undelivered: U) -> Result<T, Refused>
    where
        T: Send + 'static,
        F: FnOnce(&mut S) -> T + Send + 'static,
        U: FnOnce(&mut S, T) + Clone + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let give_back = undelivered.clone();
        self.submit(move |s| {
            if let Err(t) = reply.send(f(s)) {
                give_back(s, t);
            }
        })?;
        let mut pending = Pending { answer, undelivered: Some(undelivered), worker: self.clone() };
        let answer = (&mut pending.answer).await.map_err(|_| Refused::Stopped);
        pending.undelivered = None;
        answer
    }
}

/// The caller's side of a call in flight: dropped before it read the answer, it closes
/// the channel (so the thread's send fails and the thread hands the result back itself),
/// or, if the answer already arrived, queues its hand-back.
struct Pending<S: Send + 'static, T: Send + 'static, U: FnOnce(&mut S, T) + Send + 'static> {
    answer: oneshot::Receiver<T>,
    undelivered: Option<U>,
    worker: Worker<S>,
}

impl<S: Send + 'static, T: Send + 'static, U: FnOnce(&mut S, T) + Send + 'static> Drop for Pending<S, T, U> {
    fn drop(&mut self) {
        let Some(undelivered) = self.undelivered.take() else { return };
        self.answer.close();
        if let Ok(t) = self.answer.try_recv() {
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
            assert_eq!(w.call(|_| panic!("a call that panics")).await, Err::<(), _>(Refused::Stopped));
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
            let w = Worker::spawn("test-worker", (), 4).unwrap();
            w.submit(move |_| gate.recv().unwrap()).unwrap();
            let back = Arc::clone(&handed_back);
            let call = w.call_or(
                |_| 7u32,
                move |_, t| {
                    back.fetch_add(t, Ordering::SeqCst);
                },
            );
            assert!(tokio::time::timeout(std::time::Duration::from_millis(5), call).await.is_err());
            open.send(()).unwrap();
            w.call(|_| ()).await.unwrap(); // after the dropped call
        });
        assert_eq!(handed_back.load(Ordering::SeqCst), 7);
    }
}
