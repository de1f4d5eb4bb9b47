//! The async edge of a blocking event store: each call runs on tokio's blocking pool
//! (`spawn_blocking`), so a locked SQLite file or a slow fsync never stalls the runtime's
//! worker threads (features `sqlite`, `postgres`).

use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, PoisonError};

use super::{Appended, EventStore, EventStoreError, Expected, Recorded};

/// An [`EventStore`] for async code: a blocking store (such as
/// `sqlite::SqliteEventStore`) behind a mutex, each call moved to tokio's blocking thread
/// pool with `tokio::task::spawn_blocking`. Calls run one at a time, in the order they
/// take the mutex. Cheap to clone (the clones share the store).
///
/// # Cancellation
/// Dropping a call's future does not stop the call: it runs to its end on the blocking
/// pool. An append whose future was dropped (a request timed out) may still commit, so
/// treat it as an unknown outcome: reload the stream and look before deciding again.
///
/// # Examples
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use unbreakable::events::{Expected, MemoryEventStore};
/// use unbreakable::events::offload::AsyncEventStore;
///
/// let store = AsyncEventStore::new(MemoryEventStore::new());
/// store.append("cart-1", Expected::Exactly(0), vec!["added"], 10).await.unwrap();
/// assert_eq!(store.version("cart-1").await.unwrap(), 1);
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncEventStore<S> {
    inner: Arc<Mutex<S>>,
}

impl<S> Clone for AsyncEventStore<S> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<S: Send + 'static> AsyncEventStore<S> {
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
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&mut inner.lock().unwrap_or_else(PoisonError::into_inner)))
            .await
            .map_err(|e| EventStoreError::Storage { source: Box::new(e) })
    }

    /// [`EventStore::append`], off the runtime's workers.
    ///
    /// # Errors
    /// As [`EventStore::append`].
    pub async fn append<E>(
        &self,
        stream: &str,
        expected: Expected,
        events: Vec<E>,
        at_ms: u64,
    ) -> Result<Appended, EventStoreError>
    where
        S: EventStore<E>,
        E: Send + 'static,
    {
        let stream = stream.to_string();
        self.run(move |s| s.append(&stream, expected, events, at_ms)).await?
    }

    /// [`EventStore::version`], off the runtime's workers.
    ///
    /// # Errors
    /// As [`EventStore::version`].
    pub async fn version<E>(&self, stream: &str) -> Result<u64, EventStoreError>
    where
        S: EventStore<E>,
    {
        let stream = stream.to_string();
        self.run(move |s| s.version(&stream)).await?
    }

    /// The events of `stream` whose versions are in `versions`, off the runtime's workers.
    ///
    /// # Errors
    /// As [`EventStore::visit_stream`].
    pub async fn read_stream<E>(
        &self,
        stream: &str,
        versions: RangeInclusive<u64>,
    ) -> Result<Vec<Recorded<E>>, EventStoreError>
    where
        S: EventStore<E>,
        E: Clone + Send + 'static,
    {
        let stream = stream.to_string();
        self.run(move |s| {
            let mut out = Vec::new();
            s.visit_stream(&stream, versions, |r| out.push(r.clone())).map(|_| out)
        })
        .await?
    }

    /// [`EventStore::read_all`], off the runtime's workers.
    ///
    /// # Errors
    /// As [`EventStore::read_all`].
    pub async fn read_all<E>(&self, from: u64, limit: usize) -> Result<Vec<Recorded<E>>, EventStoreError>
    where
        S: EventStore<E>,
        E: Send + 'static,
    {
        self.run(move |s| s.read_all(from, limit)).await?
    }
}
