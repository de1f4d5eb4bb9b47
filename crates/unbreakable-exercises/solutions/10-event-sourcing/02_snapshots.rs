// Exercise 10.2: add snapshots to an aggregate's load and execute.
//
// What to do: `load` rebuilds a stream's state and `execute` decides a command and
// appends its events. Both are shipped without snapshots: `load` replays every event from
// the first. Make `load` start from the latest snapshot and replay only the events after
// it (and report how many it applied), and make `execute` save a snapshot of the new
// state whenever the append passed a snapshot point of `policy`.
// Why it matters: a rebuild that replays the whole stream gets slower with every event
// (an account with ten years of card payments). A snapshot every N events caps the replay
// below N, whatever the stream's length; the state is the same either way, only the work
// changes.
// Chapter: 10-event-sourcing, "Replay at scale: the work" and "Which snapshot interval?".
// Hint: which `SnapshotStore` method gives the latest snapshot at or before a version
//   (saved with `Counter::SNAPSHOT_VERSION`), which versions does `visit_stream` then need, and which `SnapshotPolicy` method says
//   that an append from `before` to `after` passed a snapshot point?

use unbreakable::events::{
    Aggregate, EventStore, EventStoreError, Expected, MemoryEventStore, MemorySnapshots, SnapshotPolicy,
    SnapshotStore,
};

/// A counter: each command adds its number (0 is refused).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counter(pub u64);

impl Aggregate for Counter {
    type Command = u64;
    type Event = u64;
    type Error = String;
    fn handle(&self, add: &u64) -> Result<Vec<u64>, String> {
        if *add == 0 { Err("nothing to add".into()) } else { Ok(vec![*add]) }
    }
    fn apply(&mut self, e: &u64) {
        self.0 += e;
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub state: Counter,
    /// The stream version the state reflects.
    pub version: u64,
    /// How many events were applied to build it.
    pub applied: u64,
}

pub fn load(
    store: &MemoryEventStore<u64>,
    snapshots: &MemorySnapshots<Counter>,
    stream: &str,
) -> Result<Loaded, EventStoreError> {
    let (start, mut state) =
        snapshots.load(stream, u64::MAX, Counter::SNAPSHOT_VERSION)?.unwrap_or((0, Counter::default()));
    let mut version = start;
    let applied = store.visit_stream(stream, start + 1..=u64::MAX, |r| {
        state.apply(&r.event);
        version = r.version;
    })?;
    Ok(Loaded { state, version, applied })
}

pub fn execute(
    store: &mut MemoryEventStore<u64>,
    snapshots: &mut MemorySnapshots<Counter>,
    policy: SnapshotPolicy,
    stream: &str,
    add: u64,
) -> Result<u64, String> {
    let Loaded { mut state, version, .. } = load(store, snapshots, stream).map_err(|e| e.to_string())?;
    let events = state.handle(&add)?;
    let appended =
        store.append(stream, Expected::Exactly(version), events.clone(), 0).map_err(|e| e.to_string())?;
    if policy.due(version, appended.version) {
        for e in &events {
            state.apply(e);
        }
        // The append has committed: a snapshot that fails to save is only a cache
        // missed, never an error (a caller would retry and append twice).
        let _ = snapshots.save(stream, appended.version, Counter::SNAPSHOT_VERSION, &state);
    }
    Ok(appended.version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::events::{Repository, replay};

    fn run(every: u64, commands: u64) -> (MemoryEventStore<u64>, MemorySnapshots<Counter>) {
        let (mut store, mut snaps) = (MemoryEventStore::new(), MemorySnapshots::new());
        let policy = SnapshotPolicy::every(every).unwrap();
        for i in 1..=commands {
            assert_eq!(execute(&mut store, &mut snaps, policy, "c", i).unwrap(), i);
        }
        (store, snaps)
    }

    #[test]
    fn a_snapshot_every_ten_events() {
        let (store, snaps) = run(10, 25);
        assert_eq!(snaps.len(), 2, "snapshots at versions 10 and 20");
        let loaded = load(&store, &snaps, "c").unwrap();
        assert_eq!(loaded, Loaded { state: Counter(325), version: 25, applied: 5 });
    }

    #[test]
    fn the_state_is_the_full_replay() {
        for (every, n) in [(1, 7), (3, 10), (10, 10), (100, 42)] {
            let (store, snaps) = run(every, n);
            let events: Vec<u64> = store.stream("c").iter().map(|r| r.event).collect();
            let loaded = load(&store, &snaps, "c").unwrap();
            assert_eq!(loaded.state, replay::<Counter>(&events), "every {every}, {n} events");
            assert!(loaded.applied < every, "every {every}: replayed {} events", loaded.applied);
        }
    }

    #[test]
    fn agrees_with_the_crate_repository() {
        let mut repo = Repository::<Counter, _, _>::new(
            MemoryEventStore::new(),
            MemorySnapshots::new(),
            SnapshotPolicy::every(4).unwrap(),
        );
        for i in 1..=11 {
            repo.execute("c", &i, 0).unwrap();
        }
        let (store, snaps) = run(4, 11);
        let mine = load(&store, &snaps, "c").unwrap();
        let theirs = repo.load("c").unwrap();
        assert_eq!(
            (mine.state, mine.version, mine.applied),
            (theirs.state, theirs.version, theirs.events_applied)
        );
        assert_eq!(snaps.len(), repo.snapshots().len());
    }

    #[test]
    fn an_empty_stream_and_a_refusal() {
        let (mut store, mut snaps) = (MemoryEventStore::new(), MemorySnapshots::new());
        assert_eq!(load(&store, &snaps, "c").unwrap(), Loaded { state: Counter(0), version: 0, applied: 0 });
        assert!(execute(&mut store, &mut snaps, SnapshotPolicy::every(1).unwrap(), "c", 0).is_err());
        assert!(snaps.is_empty());
    }
}
