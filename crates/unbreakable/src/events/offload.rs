//! The async edge of a blocking event store: each call runs on tokio's blocking pool
//! (`spawn_blocking`), so a locked SQLite file or a slow fsync never stalls the runtime's
//! worker threads (features `sqlite`, `postgres`). [`Offloaded`] is an
//! [`AsyncEventStore`], like the PostgreSQL store.

use std::ops::RangeInclusive;
use std::sync::Arc;

use tokio::sync::Mutex;

use super::{Appended, AsyncEventStore, EventStore, EventStoreError, Expected, Recorded};

/// A blocking [`EventStore`] as an [`AsyncEventStore`]: the store (such as
/// `sqlite::SqliteEventStore`) behind an async mutex ([`tokio::sync::Mutex`]), each call
/// moved to tokio's blocking thread pool with `tokio::task::spawn_blocking` once it holds
/// the store. Calls run one at a time, in the order they asked for the store (the mutex
/// is fair). Cheap to clone (the clones share the store).
///
/// # Resources
/// A call waiting for the store is a suspended future, not a thread: however many
/// requests queue behind a slow or locked database, this store occupies at most one
/// thread of the blocking pool. Bound the number of waiting requests upstream (a
/// concurrency limit or a timeout) if they must not pile up in memory.
///
/// # Cancellation
/// * Dropped **before** it got the store (still waiting behind another call), a call
///   never starts: nothing is read or written.
/// * Dropped **after** (its blocking part is running), the call does not stop: it runs
///   to its end on the blocking pool. An append dropped then (a request timed out) may
///   still commit, so treat it as an unknown outcome: reload the stream and look before
///   deciding again.
///
/// # Examples
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use unbreakable::events::{AsyncEventStore, Expected, MemoryEventStore};
/// use unbreakable::events::offload::Offloaded;
///
/// let store = Offloaded::new(MemoryEventStore::new());
/// store.append("cart-1", Expected::Exactly(0), vec!["added"], 10).await.unwrap();
/// assert_eq!(store.version("cart-1").await.unwrap(), 1);
/// # }
/// ```
#[derive(Debug)]
pub struct Offloaded<S> {
    inner: Arc<Mutex<S>>,
}

impl<S> Clone for Offloaded<S> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<S: Send + 'static> Offloaded<S> {
    /// Wraps `store`.
    pub fn new(store: S) -> Self {
        Self { inner: Arc::new(Mutex::new(store)) }
    }

    /// Runs `f` on the store on tokio's blocking pool (for anything the methods below do
    /// not cover, such as a `visit_stream` fold or a snapshot).
    ///
    /// # Errors
    /// [`EventStoreError::Storage`] if `f` panicked (the store is still usable).
    pub async fn run<T, F>(&self, f: F) -> Result<T, EventStoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut S) -> T + Send + 'static,
    {
        // Wait for the store here, as a future (dropping it cancels cleanly); only the
        // call that holds the store takes a blocking thread, and the guard goes with it.
        let mut store = Arc::clone(&self.inner).lock_owned().await;
        tokio::task::spawn_blocking(move || f(&mut store))
            .await
            .map_err(|e| EventStoreError::Storage { source: Box::new(e) })
    }
}

impl<E, S> AsyncEventStore<E> for Offloaded<S>
where
    S: EventStore<E> + Send + 'static,
    E: Clone + Send + 'static,
{
    /// [`EventStore::append`] on the blocking pool. Dropped once its blocking part has
    /// started, the append still runs to its end (see the type's `# Cancellation`).
    async fn append(
        &self,
        stream: &str,
        expected: Expected,
        events: Vec<E>,
        at_ms: u64,
    ) -> Result<Appended, EventStoreError> {
        let stream = stream.to_string();
        self.run(move |s| s.append(&stream, expected, events, at_ms)).await?
    }

    async fn version(&self, stream: &str) -> Result<u64, EventStoreError> {
        let stream = stream.to_string();
        self.run(move |s| s.version(&stream)).await?
    }

    async fn read_stream(
        &self,
        stream: &str,
        versions: RangeInclusive<u64>,
    ) -> Result<Vec<Recorded<E>>, EventStoreError> {
        let stream = stream.to_string();
        self.run(move |s| {
            let mut out = Vec::new();
            s.visit_stream(&stream, versions, |r| out.push(r.clone())).map(|_| out)
        })
        .await?
    }

    async fn read_all(&self, from: u64, limit: usize) -> Result<Vec<Recorded<E>>, EventStoreError> {
        self.run(move |s| s.read_all(from, limit)).await?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::events::MemoryEventStore;

    /// A gate a blocking-pool thread waits at until the test opens it.
    fn gate() -> (mpsc::Sender<()>, mpsc::Receiver<()>) {
        mpsc::channel()
    }

    fn runtime(blocking_threads: usize) -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().max_blocking_threads(blocking_threads).build().unwrap()
    }

    #[test]
    fn calls_waiting_for_the_store_hold_no_blocking_thread() {
        // A pool of two blocking threads: one is held by a call inside the store (a
        // locked database), eight more calls wait for the store. If each waiting call
        // parked a blocking thread, the pool would be full and an unrelated blocking
        // task (which opens the gate) could never run.
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let rt = runtime(2);
            let appended = rt.block_on(async {
                let store = Offloaded::new(MemoryEventStore::<u32>::new());
                let (open, wait) = gate();
                let holder = tokio::spawn({
                    let store = store.clone();
                    async move { store.run(move |_| wait.recv().unwrap()).await }
                });
                tokio::task::yield_now().await;
                let waiting: Vec<_> = (0..8u32)
                    .map(|i| {
                        let store = store.clone();
                        tokio::spawn(async move { store.append("s", Expected::Any, vec![i], 0).await })
                    })
                    .collect();
                for _ in 0..10 {
                    tokio::task::yield_now().await;
                }
                tokio::task::spawn_blocking(move || open.send(()).unwrap()).await.unwrap();
                holder.await.unwrap().unwrap();
                for w in waiting {
                    w.await.unwrap().unwrap();
                }
                AsyncEventStore::<u32>::version(&store, "s").await.unwrap()
            });
            done_tx.send(appended).unwrap();
        });
        // A guard against the deadlock the test looks for, not a timing assumption: the
        // passing run does not wait on it.
        let appended =
            done_rx.recv_timeout(Duration::from_secs(20)).expect("the blocking pool was exhausted");
        assert_eq!(appended, 8);
    }

    #[test]
    fn keeps_the_async_contract() {
        use crate::events::testing::conformance::{BankEvent, contract_async};
        runtime(2).block_on(contract_async(&Offloaded::new(MemoryEventStore::<BankEvent>::new())));
    }

    #[test]
    fn a_call_dropped_while_waiting_for_the_store_never_appends() {
        let store = Offloaded::new(MemoryEventStore::<u32>::new());
        let rt = runtime(4);
        rt.block_on(async {
            let (open, wait) = gate();
            let holder = tokio::spawn({
                let store = store.clone();
                async move { store.run(move |_| wait.recv().unwrap()).await }
            });
            tokio::task::yield_now().await;
            let late = tokio::spawn({
                let store = store.clone();
                async move { store.append("s", Expected::Any, vec![1], 0).await }
            });
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            late.abort(); // the request timed out before it got the store
            assert!(late.await.unwrap_err().is_cancelled());
            open.send(()).unwrap();
            holder.await.unwrap().unwrap();
        });
        drop(rt); // waits for every blocking task still running
        let rt = runtime(1);
        assert_eq!(
            rt.block_on(AsyncEventStore::<u32>::version(&store, "s")).unwrap(),
            0,
            "a dropped call appended"
        );
    }
}
