//! Why an outbox, relay or projection operation failed.

use crate::idempotency::BoxError;

/// Why an outbox, relay or projection operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CqrsError {
    /// The database was locked by another connection for longer than its busy timeout.
    ///
    /// ### Handling
    /// Transient: retry with backoff. Nothing was committed.
    #[error("the database is busy (locked by another writer)")]
    Busy {
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// An event could not be encoded, or a stored one does not decode into the event type.
    ///
    /// ### Handling
    /// A schema change without a migration: the relay stops at this position (it never
    /// skips an event it cannot read); deploy a reader that understands it.
    #[error("outbox event at position {position} (type `{event_type}`) does not decode: {source}")]
    Codec {
        /// Its position (0 when encoding a new event).
        position: u64,
        /// Its stored type.
        event_type: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The sink refused an event while the relay was publishing (the broker was down, or
    /// an injected crash in a test).
    ///
    /// ### Handling
    /// Transient: run the relay again. It resumes from its stored position, so events
    /// published before the failure in the same batch are published again (at least
    /// once); consumers skip them by position.
    #[error("publishing the event at position {position} failed: {source}")]
    Publish {
        /// The position of the event that was not published.
        position: u64,
        /// The sink's error.
        #[source]
        source: BoxError,
    },
    /// The backend failed (disk full, file not writable, corrupt file).
    ///
    /// ### Handling
    /// Not transient as a rule: check the storage.
    #[error("the outbox store failed: {source}")]
    Storage {
        /// The backend's error.
        #[source]
        source: BoxError,
    },
}

impl CqrsError {
    /// `true` for errors a retry may get past ([`Busy`](Self::Busy), [`Publish`](Self::Publish)).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Busy { .. } | Self::Publish { .. })
    }
}
