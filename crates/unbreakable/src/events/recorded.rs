//! Events as stored: with their stream, version, global position and time.

use std::sync::Arc;

use super::EventStoreError;

/// The longest stream name a store accepts, in bytes.
pub const MAX_STREAM_LEN: usize = 200;

/// Checks a stream name: 1 to [`MAX_STREAM_LEN`] bytes.
///
/// # Errors
/// [`EventStoreError::InvalidStream`].
pub fn check_stream(name: &str) -> Result<(), EventStoreError> {
    if name.is_empty() || name.len() > MAX_STREAM_LEN {
        return Err(EventStoreError::InvalidStream { name: name.chars().take(MAX_STREAM_LEN).collect() });
    }
    Ok(())
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded<E> {
    /// Its stream.
    pub stream: Arc<str>,
    /// Its version in the stream: the stream's first event is 1, and versions have no gaps.
    pub version: u64,
    /// Its position in the whole store: increasing in commit order, starting at 1 (a
    /// durable store may skip numbers after a rolled-back transaction).
    pub position: u64,
    /// When it was appended, in milliseconds since the UNIX epoch (given by the writer).
    pub at_ms: u64,
    /// The event.
    pub event: E,
}

/// The version an append expects the stream to be at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Exactly this version; `Exactly(0)` means the stream must not exist yet.
    Exactly(u64),
    /// Whatever it is: no concurrency check. Only for streams where every event stands
    /// alone (a log of readings), never for decisions made on a loaded state.
    Any,
}

/// What an append wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append (the last event's version).
    pub version: u64,
    /// The global position of the first event written (0 if none were).
    pub first_position: u64,
    /// How many events were written.
    pub count: u64,
}

/// The name and schema version an event is stored under, so a durable store can record
/// them beside the payload and upcast old ones.
pub trait EventType {
    /// The event's type, such as `"ItemSold"` (stable: renaming it is a schema change).
    fn event_type(&self) -> &'static str;
    /// Its schema version: raise it when the payload's shape changes, and register an
    /// upcaster from the old version.
    fn schema_version(&self) -> u32 {
        1
    }
}
