// Exercise 04.7: a bulkhead that sheds load instead of queueing it.
//
// What to do: a dependency can serve `limit` calls at a time. Write `Bulkhead::call(op)`:
// run `op` if fewer than `limit` calls are in flight; otherwise wait for a free slot, but
// only for `max_wait`, and then refuse with `Shed::Full` without calling. A slot must be
// given back however the call ends: success, error, or the caller dropping the future.
// Why it matters: without a bound, a slow dependency collects every request the service
// receives, each holding memory, a connection and the user's patience, until the whole
// service is stuck behind one bad dependency (the thread-pool exhaustion of chapter 04).
// A bulkhead keeps the damage to that dependency's share, and a refusal after a short
// wait is an answer the caller can act on (a fallback, a 503 with Retry-After).
// Chapter: 04-timeouts-and-deadlines, "A hanging dependency exhausts the thread pool".
// Hint: `tokio::sync::Semaphore::acquire` waits for a permit, and a permit gives itself
//   back when dropped. What bounds the wait? Where must the permit live so that it is
//   dropped when `op` is?

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

#[derive(Debug, PartialEq, Eq)]
pub enum Shed<E> {
    /// Every slot stayed busy for `max_wait`: the call was not made.
    Full,
    /// The call was made and failed.
    Failed(E),
}

#[derive(Clone)]
pub struct Bulkhead {
    slots: Arc<Semaphore>,
    limit: usize,
    max_wait: Duration,
}

impl Bulkhead {
    pub fn new(limit: usize, max_wait: Duration) -> Self {
        Bulkhead { slots: Arc::new(Semaphore::new(limit)), limit, max_wait }
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.limit - self.slots.available_permits()
    }

    pub async fn call<T, E, Fut>(&self, op: Fut) -> Result<T, Shed<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = match tokio::time::timeout(self.max_wait, self.slots.acquire()).await {
            Ok(Ok(permit)) => permit,
            // Timed out, or the semaphore was closed: either way, no slot.
            Ok(Err(_)) | Err(_) => return Err(Shed::Full),
        };
        // The permit lives until `op` ends, or until this future is dropped with it.
        let result = op.await.map_err(Shed::Failed);
        drop(permit);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::time::{Instant, sleep};

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// A dependency that takes `took` per call and counts the calls it saw at once.
    #[derive(Default)]
    struct Dependency {
        now: AtomicUsize,
        most: AtomicUsize,
        calls: AtomicUsize,
    }

    impl Dependency {
        async fn call(&self, took: Duration) -> Result<(), &'static str> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(n, Ordering::SeqCst);
            sleep(took).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            Err("503")
        }
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_limit_at_once_and_the_rest_shed_after_max_wait() {
        let dep = Arc::new(Dependency::default());
        let b = Bulkhead::new(3, ms(50));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (b, dep) = (b.clone(), dep.clone());
            tasks.push(tokio::spawn(async move { (b.call(dep.call(ms(200))).await, Instant::now()) }));
        }
        let mut full = 0;
        for t in tasks {
            let (r, at) = t.await.unwrap();
            if r == Err(Shed::Full) {
                full += 1;
                assert_eq!(at - start, ms(50), "shed after waiting max_wait");
            } else {
                assert_eq!(r, Err(Shed::Failed("503")));
            }
        }
        assert_eq!(dep.most.load(Ordering::SeqCst), 3, "never more than the limit at once");
        assert_eq!((full, dep.calls.load(Ordering::SeqCst)), (7, 3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_queue_is_waited_out() {
        // Calls of 30 ms: a waiter gets a slot within its 50 ms.
        let dep = Arc::new(Dependency::default());
        let b = Bulkhead::new(2, ms(50));
        let calls = (0..4).map(|_| b.call(dep.call(ms(30))));
        let results = futures_join(calls.collect()).await;
        assert!(results.iter().all(|r| *r == Err(Shed::Failed("503"))), "{results:?}");
        assert_eq!(dep.most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_call_gives_its_slot_back() {
        let dep = Arc::new(Dependency::default());
        let b = Bulkhead::new(1, ms(50));
        let cut = tokio::time::timeout(ms(10), b.call(dep.call(Duration::from_secs(3600)))).await;
        assert!(cut.is_err(), "the caller gave up");
        assert_eq!(b.in_flight(), 0, "its slot is free");
        assert_eq!(b.call(dep.call(ms(5))).await, Err(Shed::Failed("503")));
    }

    /// Runs the futures concurrently on this task (as `join_all`, without another crate).
    async fn futures_join<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
        let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
        let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (f, o) in pinned.iter_mut().zip(out.iter_mut()) {
                if o.is_none() {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(v) => *o = Some(v),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
        })
        .await;
        out.into_iter().map(Option::unwrap).collect()
    }
}
