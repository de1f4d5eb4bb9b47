//! The event-store traits: [`EventStore`] for blocking stores, [`AsyncEventStore`] for
//! async code.

use std::future::Future;
use std::ops::RangeInclusive;
use std::sync::Arc;

use super::{Appended, EventStoreError, Expected, Recorded};

/// An append-only store of event streams: the in-memory
/// [`MemoryEventStore`](super::MemoryEventStore) or, with the `sqlite` feature, the
/// durable `SqliteEventStore`.
///
/// Every implementation keeps these promises, which the shared test suite checks:
///
/// * an append is all or nothing: its events get consecutive versions after the
///   stream's current one, or none is written;
/// * an append with [`Expected::Exactly`] a version the stream is not at writes nothing
///   and returns [`Conflict`](super::Conflict), also when two writers race;
/// * versions in a stream start at 1 and have no gaps; global positions increase in
///   commit order, so a subscriber reading from its last position misses nothing;
/// * nothing is ever updated or deleted.
///
/// Its calls block the calling thread (a file, a lock). In async code, use an
/// [`AsyncEventStore`]: `offload::Offloaded` moves a blocking store's calls to tokio's
/// blocking pool, and the PostgreSQL store (feature `postgres`) is async itself.
pub trait EventStore<E> {
    /// Appends `events` to `stream` if it is at the `expected` version, stamping them
    /// with `at_ms` (milliseconds since the UNIX epoch; the caller's clock, so
    /// simulations stay deterministic).
    ///
    /// # Errors
    /// [`EventStoreError::Conflict`] if the stream is at another version (nothing is
    /// written); [`EventStoreError::InvalidStream`]; storage errors.
    fn append(
        &mut self,
        stream: &str,
        expected: Expected,
        events: Vec<E>,
        at_ms: u64,
    ) -> Result<Appended, EventStoreError>;

    /// The stream's current version (0 if it has no events).
    ///
    /// # Errors
    /// Storage errors.
    fn version(&self, stream: &str) -> Result<u64, EventStoreError>;

    /// Calls `f` on each event of `stream` whose version is in `versions`, in order;
    /// returns how many. The fast path of a rebuild: nothing is collected.
    ///
    /// # Errors
    /// Storage or decoding errors (`f` has seen the events before the failing one).
    fn visit_stream<F: FnMut(&Recorded<E>)>(
        &self,
        stream: &str,
        versions: RangeInclusive<u64>,
        f: F,
    ) -> Result<u64, EventStoreError>;

    /// Up to `limit` events of any stream from global position `from` on, in order: what
    /// a projection or a subscriber reads, resuming from the position it stored.
    ///
    /// # Errors
    /// Storage or decoding errors.
    fn read_all(&self, from: u64, limit: usize) -> Result<Vec<Recorded<E>>, EventStoreError>;

    /// The events of `stream` from version `from` on.
    ///
    /// # Errors
    /// As [`visit_stream`](Self::visit_stream).
    fn read_stream(&self, stream: &str, from: u64) -> Result<Vec<Recorded<E>>, EventStoreError>
    where
        E: Clone,
    {
        let mut out = Vec::new();
        self.visit_stream(stream, from..=u64::MAX, |r| out.push(r.clone()))?;
        Ok(out)
    }
}

/// An event store for async code, with the promises of [`EventStore`]: an append is all
/// or nothing, is refused with [`Conflict`](super::Conflict) when the stream is not at the
/// expected version, and global positions increase in commit order.
///
/// Implemented by `offload::Offloaded` (any blocking [`EventStore`], such as the SQLite
/// store, with each call on tokio's blocking pool) and `postgres::PostgresEventStore`
/// (feature `postgres`, async over a connection pool), and by `Arc` of either, so a
/// service written against this trait runs on both and a test can hand it either. Every
/// method takes `&self`: a store is shared between tasks (behind an `Arc` or as a clone).
///
/// # Cancellation
/// Dropping a call's future never leaves half an append: the events of one append are
/// written together or not at all. An append dropped (or failed with
/// [`EventStoreError::Unavailable`]) after the store began to commit it may still be
/// written: treat it as an unknown outcome and reload the stream before deciding again.
/// Each implementation says when that point is.
///
/// # Examples
/// A service function that runs on any async store:
/// ```
/// use unbreakable::events::{AsyncEventStore, EventStoreError, Expected};
///
/// async fn record_sale(store: &impl AsyncEventStore<String>, order: u64) -> Result<u64, EventStoreError> {
///     let stream = format!("order-{order}");
///     let version = store.version(&stream).await?;
///     Ok(store.append(&stream, Expected::Exactly(version), vec!["sold".to_string()], 0).await?.version)
/// }
/// ```
pub trait AsyncEventStore<E>: Send + Sync {
    /// [`EventStore::append`]: appends `events` to `stream` if it is at the `expected`
    /// version.
    ///
    /// # Errors
    /// As [`EventStore::append`], and [`EventStoreError::Unavailable`].
    fn append(
        &self,
        stream: &str,
        expected: Expected,
        events: Vec<E>,
        at_ms: u64,
    ) -> impl Future<Output = Result<Appended, EventStoreError>> + Send;

    /// The stream's current version (0 if it has no events).
    ///
    /// # Errors
    /// Storage errors, [`EventStoreError::Unavailable`].
    fn version(&self, stream: &str) -> impl Future<Output = Result<u64, EventStoreError>> + Send;

    /// The events of `stream` whose versions are in `versions`, in order: all of them (a
    /// store may fetch a long range in pages, but returns it whole). A caller that cannot
    /// hold a long stream in memory asks for a shorter range and reads on from the last
    /// version + 1.
    ///
    /// # Errors
    /// Storage or decoding errors, [`EventStoreError::Unavailable`].
    fn read_stream(
        &self,
        stream: &str,
        versions: RangeInclusive<u64>,
    ) -> impl Future<Output = Result<Vec<Recorded<E>>, EventStoreError>> + Send;

    /// Up to `limit` events of any stream from global position `from` on, in order: fewer
    /// only when there are no more. Read on from the last position + 1.
    ///
    /// # Errors
    /// Storage or decoding errors, [`EventStoreError::Unavailable`].
    fn read_all(
        &self,
        from: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Recorded<E>>, EventStoreError>> + Send;
}

impl<E, S: AsyncEventStore<E> + ?Sized> AsyncEventStore<E> for Arc<S> {
    fn append(
        &self,
        stream: &str,
        expected: Expected,
        events: Vec<E>,
        at_ms: u64,
    ) -> impl Future<Output = Result<Appended, EventStoreError>> + Send {
        (**self).append(stream, expected, events, at_ms)
    }

    fn version(&self, stream: &str) -> impl Future<Output = Result<u64, EventStoreError>> + Send {
        (**self).version(stream)
    }

    fn read_stream(
        &self,
        stream: &str,
        versions: RangeInclusive<u64>,
    ) -> impl Future<Output = Result<Vec<Recorded<E>>, EventStoreError>> + Send {
        (**self).read_stream(stream, versions)
    }

    fn read_all(
        &self,
        from: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Recorded<E>>, EventStoreError>> + Send {
        (**self).read_all(from, limit)
    }
}
