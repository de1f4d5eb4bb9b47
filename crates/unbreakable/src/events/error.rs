//! Why an event store refused or failed an operation.

use crate::idempotency::BoxError;

/// An append named a version the stream is no longer at: another writer appended first.
///
/// ### Handling
/// Nothing was written. Reload the aggregate (its state now includes the other writer's
/// events), decide the command again, and append with the new version. Do not append
/// with [`Expected::Any`](super::Expected::Any) to get past it: that is the silent
/// overwrite this error exists to prevent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "stream `{stream}` is at version {actual}, not {expected}: another writer appended first; reload and decide again"
)]
pub struct Conflict {
    /// The stream.
    pub stream: String,
    /// The version the append expected.
    pub expected: u64,
    /// The version the stream is at.
    pub actual: u64,
}

/// Why an [`EventStore`](super::EventStore) operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventStoreError {
    /// Optimistic concurrency: see [`Conflict`].
    ///
    /// ### Handling
    /// Reload and decide again (see [`Conflict`]).
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// A stream name that is empty or longer than [`MAX_STREAM_LEN`](super::recorded::MAX_STREAM_LEN) bytes.
    ///
    /// ### Handling
    /// A caller bug: name streams like `account-42`.
    #[error("stream name {name:?} is not valid: use 1 to 200 bytes, such as `account-42`")]
    InvalidStream {
        /// The name given.
        name: String,
    },
    /// The store was locked by another connection for longer than its busy timeout.
    ///
    /// ### Handling
    /// Transient: retry with backoff.
    #[error("the event store is busy (locked by another writer)")]
    Busy {
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// The store could not be reached: no connection could be made (server down,
    /// restarting, refused), a connection broke during the call, or none came free within
    /// the pool's wait timeout.
    ///
    /// ### Handling
    /// Transient: retry with backoff. An append that failed this way after its commit was
    /// sent may have been written (an unknown outcome): retry it with the same
    /// [`Expected::Exactly`](super::Expected::Exactly) version, so that a repeat of an
    /// append that did commit is refused as a [`Conflict`] instead of written twice, and
    /// reload the stream to see which it was.
    #[error("the event store is unavailable: {source}")]
    Unavailable {
        /// The client's or the pool's error.
        #[source]
        source: BoxError,
    },
    /// A stored event could not be decoded into the event type (after upcasting), or an
    /// event could not be encoded.
    ///
    /// ### Handling
    /// A schema change without an upcaster: register one for the old type and schema
    /// version (see `sqlite::SqliteEventStore::with_upcaster`).
    #[error("event at position {position} (type `{event_type}`, schema {schema}) does not decode: {source}")]
    Codec {
        /// Its global position (0 when encoding a new event).
        position: u64,
        /// Its stored type.
        event_type: String,
        /// Its stored schema version.
        schema: u32,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The backend failed (disk full, file not writable, corrupt file).
    ///
    /// ### Handling
    /// Not transient as a rule: check the storage.
    #[error("the event store failed: {source}")]
    Storage {
        /// The backend's error.
        #[source]
        source: BoxError,
    },
}

impl EventStoreError {
    /// `true` for errors a retry may get past ([`Busy`](Self::Busy),
    /// [`Unavailable`](Self::Unavailable), and a [`Conflict`](Self::Conflict) after
    /// reloading).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Busy { .. } | Self::Unavailable { .. } | Self::Conflict(_))
    }
}
