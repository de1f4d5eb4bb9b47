//! Loading aggregates (snapshot + tail), executing commands, time travel.

use std::marker::PhantomData;

use super::{Aggregate, EventStore, EventStoreError, Expected, SnapshotPolicy, SnapshotStore};

/// An aggregate rebuilt from a store, and what the rebuild cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded<A> {
    /// The state.
    pub state: A,
    /// The stream version it reflects.
    pub version: u64,
    /// The version of the snapshot it started from, if any.
    pub from_snapshot: Option<u64>,
    /// How many events were applied on top of it.
    pub events_applied: u64,
    /// Whether a snapshot was found but ignored because it does not decode (the state was
    /// then rebuilt by replay). Snapshots of another
    /// [`SNAPSHOT_VERSION`](Aggregate::SNAPSHOT_VERSION) are never found, so they do not
    /// count here.
    pub snapshot_ignored: bool,
}

/// What [`Repository::execute`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed<E> {
    /// The new events.
    pub events: Vec<E>,
    /// The stream's version after them.
    pub version: u64,
    /// Whether a snapshot was saved after the append. The append is committed whatever
    /// this says.
    pub snapshot: SnapshotSave,
}

/// Whether [`Repository::execute`] saved a snapshot after its (committed) append.
///
/// A snapshot is a cache: a failed save loses nothing, the next load replays a few more
/// events. It is reported here, never as an error, because an error after the commit
/// would make the caller retry a command that is already recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotSave {
    /// The append passed no snapshot point.
    NotDue,
    /// A snapshot of the new version was saved.
    Saved,
    /// Saving it failed (the store's error message); see also
    /// [`Repository::snapshot_failures`].
    Failed(String),
}

/// Why [`Repository::execute`] recorded nothing.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError<R> {
    /// The aggregate refused the command (a business rule).
    ///
    /// ### Handling
    /// Tell the caller; retrying the same command on the same state is refused again.
    #[error("the command was refused: {0}")]
    Rejected(R),
    /// The store failed, or another writer appended first
    /// ([`EventStoreError::Conflict`]).
    ///
    /// ### Handling
    /// On a conflict, execute again: the command is decided afresh on the new state.
    #[error(transparent)]
    Store(#[from] EventStoreError),
}

/// An aggregate's event store and snapshots, with the snapshot policy.
///
/// # Examples
/// ```
/// use unbreakable::events::{Aggregate, MemoryEventStore, MemorySnapshots, Repository, SnapshotPolicy};
///
/// #[derive(Default, Clone)]
/// struct Counter(u64);
/// impl Aggregate for Counter {
///     type Command = u64;
///     type Event = u64;
///     type Error = &'static str;
///     fn handle(&self, add: &u64) -> Result<Vec<u64>, Self::Error> {
///         if *add == 0 { Err("nothing to add") } else { Ok(vec![*add]) }
///     }
///     fn apply(&mut self, e: &u64) { self.0 += e }
/// }
///
/// let mut repo = Repository::<Counter, _, _>::new(MemoryEventStore::new(), MemorySnapshots::new(), SnapshotPolicy::every(10).unwrap());
/// for t in 0..25 {
///     repo.execute("c", &1, t).unwrap();
/// }
/// let now = repo.load("c").unwrap();
/// assert_eq!((now.state.0, now.from_snapshot, now.events_applied), (25, Some(20), 5));
/// assert_eq!(repo.state_at("c", 7).unwrap().state.0, 7); // time travel
/// ```
#[derive(Debug)]
pub struct Repository<A, St, Sn> {
    store: St,
    snapshots: Sn,
    policy: SnapshotPolicy,
    snapshot_failures: u64,
    aggregate: PhantomData<fn() -> A>,
}

impl<A, St, Sn> Repository<A, St, Sn>
where
    A: Aggregate,
    A::Event: Clone,
    St: EventStore<A::Event>,
    Sn: SnapshotStore<A>,
{
    /// A repository over `store`, keeping snapshots in `snapshots` as `policy` says.
    pub fn new(store: St, snapshots: Sn, policy: SnapshotPolicy) -> Self {
        Self { store, snapshots, policy, snapshot_failures: 0, aggregate: PhantomData }
    }

    /// The event store.
    pub fn store(&self) -> &St {
        &self.store
    }

    /// The event store, mutably (to append events decided elsewhere, such as imports).
    pub fn store_mut(&mut self) -> &mut St {
        &mut self.store
    }

    /// The snapshots.
    pub fn snapshots(&self) -> &Sn {
        &self.snapshots
    }

    /// The snapshot policy.
    pub fn policy(&self) -> SnapshotPolicy {
        self.policy
    }

    /// How many snapshot saves have failed since this repository was made (each after a
    /// committed append, reported as [`SnapshotSave::Failed`]): a number to export as a
    /// metric, since a store that never saves makes every load replay the whole stream.
    pub fn snapshot_failures(&self) -> u64 {
        self.snapshot_failures
    }

    /// The current state of `stream`: the latest snapshot, then the events after it.
    ///
    /// # Errors
    /// Storage or decoding errors.
    pub fn load(&self, stream: &str) -> Result<Loaded<A>, EventStoreError> {
        self.state_at(stream, u64::MAX)
    }

    /// Time travel: the state of `stream` as of version `version` (its first `version`
    /// events), from the latest snapshot at or before it saved with the aggregate's
    /// [`SNAPSHOT_VERSION`](Aggregate::SNAPSHOT_VERSION). A snapshot that does not decode
    /// is ignored ([`Loaded::snapshot_ignored`]) and the state replayed from the start.
    ///
    /// # Errors
    /// Storage errors, and events that do not decode.
    pub fn state_at(&self, stream: &str, version: u64) -> Result<Loaded<A>, EventStoreError> {
        let (from_snapshot, mut state, snapshot_ignored) =
            match self.snapshots.load(stream, version, A::SNAPSHOT_VERSION) {
                Ok(Some((v, s))) => (Some(v), s, false),
                Ok(None) => (None, A::default(), false),
                Err(EventStoreError::Codec { .. }) => (None, A::default(), true),
                Err(e) => return Err(e),
            };
        let start = from_snapshot.unwrap_or(0);
        let mut last = start;
        let n = self.store.visit_stream(stream, start + 1..=version, |r| {
            state.apply(&r.event);
            last = r.version;
        })?;
        Ok(Loaded { state, version: last, from_snapshot, events_applied: n, snapshot_ignored })
    }

    /// Time travel by the clock: the state of `stream` after the events appended at or
    /// before `at_ms`, and the version that is. Replays from the start (timestamps are
    /// the writers' clocks; events stamped later than one after them are left out too,
    /// so the state is always a prefix of the stream).
    ///
    /// # Errors
    /// Storage or decoding errors.
    pub fn state_as_of(&self, stream: &str, at_ms: u64) -> Result<Loaded<A>, EventStoreError> {
        let mut state = A::default();
        let (mut version, mut applied, mut stopped) = (0, 0, false);
        self.store.visit_stream(stream, 1..=u64::MAX, |r| {
            stopped |= r.at_ms > at_ms;
            if !stopped {
                state.apply(&r.event);
                version = r.version;
                applied += 1;
            }
        })?;
        Ok(Loaded { state, version, from_snapshot: None, events_applied: applied, snapshot_ignored: false })
    }

    /// Executes `command` on `stream`: loads the state, lets the aggregate decide, appends
    /// the events expecting the version it loaded, and saves a snapshot if the append
    /// passed a snapshot point.
    ///
    /// Once the append has committed, it returns `Ok`: a snapshot that fails to save is
    /// reported in [`Executed::snapshot`], never as an error (a caller retrying on an
    /// error would record the command twice).
    ///
    /// # Errors
    /// Only before anything is recorded: [`ExecuteError::Rejected`];
    /// [`ExecuteError::Store`], including a [`Conflict`](super::Conflict) when another
    /// writer appended in between (execute again).
    pub fn execute(
        &mut self,
        stream: &str,
        command: &A::Command,
        at_ms: u64,
    ) -> Result<Executed<A::Event>, ExecuteError<A::Error>> {
        let Loaded { mut state, version, .. } = self.load(stream)?;
        let events = state.handle(command).map_err(ExecuteError::Rejected)?;
        let appended = self.store.append(stream, Expected::Exactly(version), events.clone(), at_ms)?;
        // Committed: from here on, nothing is an error.
        let mut snapshot = SnapshotSave::NotDue;
        if self.policy.due(version, appended.version) {
            for e in &events {
                state.apply(e);
            }
            snapshot = match self.snapshots.save(stream, appended.version, A::SNAPSHOT_VERSION, &state) {
                Ok(()) => SnapshotSave::Saved,
                Err(e) => {
                    #[cfg(feature = "mutants")]
                    if crate::mutants::active(crate::mutants::Mutant::ErrorAfterCommit) {
                        return Err(ExecuteError::Store(e));
                    }
                    self.snapshot_failures += 1;
                    SnapshotSave::Failed(e.to_string())
                }
            };
        }
        Ok(Executed { events, version: appended.version, snapshot })
    }
}
