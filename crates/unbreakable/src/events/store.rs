//! The event-store trait.

use std::ops::RangeInclusive;

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
/// A PostgreSQL back end fits the same trait: one table with `UNIQUE (stream, version)`,
/// positions from a sequence taken under a transaction-scoped advisory lock (so they
/// become visible in order), and an append as one transaction.
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
