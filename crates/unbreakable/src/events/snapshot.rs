//! Snapshots: a saved state, so a rebuild replays only the events after it.

use std::collections::{BTreeMap, HashMap};

use crate::error::ConfigError;

use super::EventStoreError;

/// The default snapshot interval: every 100 events.
///
/// A rebuild replays on average about N / 2 events after the latest snapshot, and each
/// snapshot costs one durable write, so the cost per command is least near
/// N = sqrt(2 × snapshot write / event replay). Measured with SQLite on one virtual
/// machine (0.4 us per event replayed, 70 us per snapshot commit) that is about 19; on a
/// disk whose flush takes 2 ms it is 100. The cost curve is flat near its minimum, and
/// too few snapshots cost less than too many slow flushes, so the default takes the
/// slower disk; frameworks default to 10-100.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 100;

/// When to take snapshots.
///
/// # Default
/// | setting | default |
/// |---|---|
/// | `every` | [`DEFAULT_SNAPSHOT_EVERY`] (100) events |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    every: Option<u64>,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        Self { every: Some(DEFAULT_SNAPSHOT_EVERY) }
    }
}

impl SnapshotPolicy {
    /// The most events between snapshots that [`every`](Self::every) accepts.
    pub const MAX_EVERY: u64 = 1 << 40;

    /// A snapshot each time a stream's version reaches a multiple of `n`.
    ///
    /// # Errors
    /// `n` = 0 (use [`never`](Self::never) for no snapshots) or above
    /// [`MAX_EVERY`](Self::MAX_EVERY).
    pub fn every(n: u64) -> Result<Self, ConfigError> {
        if n == 0 {
            return Err(ConfigError::new(
                "every",
                "a snapshot every 0 events is not possible; use at least 1, or SnapshotPolicy::never() for no snapshots",
            ));
        }
        if n > Self::MAX_EVERY {
            return Err(ConfigError::new(
                "every",
                format!(
                    "{n} events between snapshots is more than {}; use SnapshotPolicy::never() for no snapshots",
                    Self::MAX_EVERY
                ),
            ));
        }
        Ok(Self { every: Some(n) })
    }

    /// No snapshots: every rebuild replays the whole stream.
    pub const fn never() -> Self {
        Self { every: None }
    }

    /// The interval, if any.
    pub const fn interval(&self) -> Option<u64> {
        self.every
    }

    /// Whether an append that took a stream from version `before` to `after` passed a
    /// snapshot point (then snapshot the state at `after`).
    pub fn due(&self, before: u64, after: u64) -> bool {
        self.every.is_some_and(|n| after / n > before / n)
    }
}

/// Where snapshots are kept.
///
/// Each snapshot carries the `snapshot_version` of the fold that produced it
/// ([`Aggregate::SNAPSHOT_VERSION`](super::Aggregate::SNAPSHOT_VERSION)); a load asks for
/// one version and never returns a snapshot of another.
pub trait SnapshotStore<S> {
    /// Saves `state` as the state of `stream` at `version`, produced by the fold of
    /// version `snapshot_version` (replacing any snapshot of `stream` at `version`).
    ///
    /// # Errors
    /// Storage errors.
    fn save(
        &mut self,
        stream: &str,
        version: u64,
        snapshot_version: u32,
        state: &S,
    ) -> Result<(), EventStoreError>;

    /// The latest snapshot of `stream` at a version no later than `at_most` saved with
    /// `snapshot_version`, with its version.
    ///
    /// # Errors
    /// Storage errors; [`EventStoreError::Codec`] for a snapshot that does not decode (a
    /// [`Repository`](super::Repository) then ignores it and replays).
    fn load(
        &self,
        stream: &str,
        at_most: u64,
        snapshot_version: u32,
    ) -> Result<Option<(u64, S)>, EventStoreError>;
}

/// Snapshots in memory: all of them, so time travel can start from any.
#[derive(Debug, Clone)]
pub struct MemorySnapshots<S> {
    by_stream: HashMap<String, BTreeMap<u64, (u32, S)>>,
}

impl<S> Default for MemorySnapshots<S> {
    fn default() -> Self {
        Self { by_stream: HashMap::new() }
    }
}

impl<S> MemorySnapshots<S> {
    /// No snapshots yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many it holds.
    pub fn len(&self) -> usize {
        self.by_stream.values().map(BTreeMap::len).sum()
    }

    /// `true` if it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<S: Clone> SnapshotStore<S> for MemorySnapshots<S> {
    fn save(
        &mut self,
        stream: &str,
        version: u64,
        snapshot_version: u32,
        state: &S,
    ) -> Result<(), EventStoreError> {
        self.by_stream
            .entry(stream.to_string())
            .or_default()
            .insert(version, (snapshot_version, state.clone()));
        Ok(())
    }

    fn load(
        &self,
        stream: &str,
        at_most: u64,
        snapshot_version: u32,
    ) -> Result<Option<(u64, S)>, EventStoreError> {
        Ok(self.by_stream.get(stream).and_then(|m| {
            m.range(..=at_most)
                .rev()
                .find(|(_, (sv, _))| *sv == snapshot_version)
                .map(|(v, (_, s))| (*v, s.clone()))
        }))
    }
}
