//! The contract every event store keeps (run on each back end), and the property tests.

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::testing::given;
use super::*;

/// The article's bank account: balance in dollars, no overdraft.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Account {
    pub balance: i64,
    pub movements: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Ev {
    Deposited(i64),
    Withdrawn(i64),
}

impl EventType for Ev {
    fn event_type(&self) -> &'static str {
        match self {
            Ev::Deposited(_) => "Deposited",
            Ev::Withdrawn(_) => "Withdrawn",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Cmd {
    Deposit(i64),
    Withdraw(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    NotPositive,
    Insufficient { balance: i64 },
}

impl Aggregate for Account {
    type Command = Cmd;
    type Event = Ev;
    type Error = Refused;
    fn handle(&self, c: &Cmd) -> Result<Vec<Ev>, Refused> {
        match *c {
            Cmd::Deposit(n) | Cmd::Withdraw(n) if n <= 0 => Err(Refused::NotPositive),
            Cmd::Deposit(n) => Ok(vec![Ev::Deposited(n)]),
            Cmd::Withdraw(n) if n > self.balance => Err(Refused::Insufficient { balance: self.balance }),
            Cmd::Withdraw(n) => Ok(vec![Ev::Withdrawn(n)]),
        }
    }
    fn apply(&mut self, e: &Ev) {
        self.movements += 1;
        match e {
            Ev::Deposited(n) => self.balance += n,
            Ev::Withdrawn(n) => self.balance -= n,
        }
    }
}

/// The contract: run on a fresh store of each back end.
pub(crate) fn contract<S: EventStore<Ev>>(mut store: S) {
    // A new stream: version 0; an append expecting 0 creates it.
    assert_eq!(store.version("a").unwrap(), 0);
    let first = store.append("a", Expected::Exactly(0), vec![Ev::Deposited(1000), Ev::Deposited(2000)], 10).unwrap();
    assert_eq!((first.version, first.count), (2, 2));
    assert_eq!(first.first_position, 1);
    // A stale version is a typed conflict and writes nothing.
    let err = store.append("a", Expected::Exactly(1), vec![Ev::Withdrawn(500)], 11).unwrap_err();
    assert!(matches!(&err, EventStoreError::Conflict(c) if c.expected == 1 && c.actual == 2 && c.stream == "a"), "{err}");
    assert!(err.is_transient());
    assert_eq!(store.version("a").unwrap(), 2);
    // Another stream interleaves in the global order.
    store.append("b", Expected::Exactly(0), vec![Ev::Deposited(7)], 12).unwrap();
    store.append("a", Expected::Exactly(2), vec![Ev::Withdrawn(500), Ev::Deposited(1500)], 13).unwrap();
    store.append("a", Expected::Any, vec![], 14).unwrap();
    // Reading a stream: versions 1.. without gaps, positions increasing.
    let a = store.read_stream("a", 1).unwrap();
    assert_eq!(a.iter().map(|r| r.version).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert!(a.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(a.iter().map(|r| r.at_ms).collect::<Vec<_>>(), vec![10, 10, 13, 13]);
    assert_eq!(replay::<Account>(a.iter().map(|r| &r.event)).balance, 4000);
    assert_eq!(store.read_stream("a", 3).unwrap().len(), 2);
    assert_eq!(store.read_stream("nobody", 1).unwrap().len(), 0);
    // Reading everything from a position, in pages.
    let all = store.read_all(1, 100).unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all.iter().map(|r| (&*r.stream, r.version)).collect::<Vec<_>>(), vec![("a", 1), ("a", 2), ("b", 1), ("a", 3), ("a", 4)]);
    let page = store.read_all(all[2].position, 2).unwrap();
    assert_eq!(page, all[2..4].to_vec());
    assert!(store.read_all(all[4].position + 1, 10).unwrap().is_empty());
    // A partial range visits only those versions.
    let mut seen = Vec::new();
    assert_eq!(store.visit_stream("a", 2..=3, |r| seen.push(r.version)).unwrap(), 2);
    assert_eq!(seen, vec![2, 3]);
    // Bad names are refused.
    assert!(matches!(store.append("", Expected::Any, vec![Ev::Deposited(1)], 0), Err(EventStoreError::InvalidStream { .. })));
    assert!(matches!(store.append(&"x".repeat(201), Expected::Any, vec![Ev::Deposited(1)], 0), Err(EventStoreError::InvalidStream { .. })));
}

#[test]
fn memory_store_keeps_the_contract() {
    contract(MemoryEventStore::new());
}

#[test]
fn the_article_ledger_sums_to_4000() {
    given::<Account>(vec![Ev::Deposited(1000), Ev::Deposited(2000), Ev::Withdrawn(500), Ev::Deposited(1500)])
        .when(&Cmd::Withdraw(4001))
        .then_expect_error(Refused::Insufficient { balance: 4000 });
    given::<Account>(vec![Ev::Deposited(1000)]).when(&Cmd::Withdraw(1000)).then_expect(vec![Ev::Withdrawn(1000)]);
    given::<Account>(vec![]).when(&Cmd::Deposit(0)).then_expect_error(Refused::NotPositive);
}

#[test]
#[should_panic(expected = "refused")]
fn the_harness_fails_a_refused_command_that_should_pass() {
    given::<Account>(vec![]).when(&Cmd::Withdraw(1)).then_expect(vec![Ev::Withdrawn(1)]);
}

#[test]
fn snapshot_policy_is_validated_and_due_at_multiples() {
    assert!(SnapshotPolicy::every(0).unwrap_err().to_string().contains("never()"));
    assert!(SnapshotPolicy::every(SnapshotPolicy::MAX_EVERY + 1).is_err());
    let p = SnapshotPolicy::every(10).unwrap();
    assert!(!p.due(0, 9) && p.due(9, 10) && p.due(5, 25) && !p.due(10, 19));
    assert!(!SnapshotPolicy::never().due(0, 1_000_000));
    assert_eq!(SnapshotPolicy::default().interval(), Some(DEFAULT_SNAPSHOT_EVERY));
}

#[test]
fn repository_executes_refuses_and_travels_in_time() {
    let mut repo = Repository::<Account, _, _>::new(MemoryEventStore::new(), MemorySnapshots::new(), SnapshotPolicy::every(2).unwrap());
    for (t, c) in [Cmd::Deposit(1000), Cmd::Deposit(2000), Cmd::Withdraw(500), Cmd::Deposit(1500)].iter().enumerate() {
        repo.execute("alice", c, 1000 * t as u64).unwrap();
    }
    assert!(matches!(repo.execute("alice", &Cmd::Withdraw(5000), 9000), Err(ExecuteError::Rejected(Refused::Insufficient { balance: 4000 }))));
    assert_eq!(repo.store().version("alice").unwrap(), 4, "a refused command records nothing");
    let now = repo.load("alice").unwrap();
    assert_eq!((now.state.balance, now.version, now.from_snapshot, now.events_applied), (4000, 4, Some(4), 0));
    assert_eq!(repo.snapshots().len(), 2);
    let at3 = repo.state_at("alice", 3).unwrap();
    assert_eq!((at3.state.balance, at3.from_snapshot, at3.events_applied), (2500, Some(2), 1));
    assert_eq!(repo.state_as_of("alice", 1500).unwrap().state.balance, 3000);
    assert_eq!(repo.state_as_of("alice", 0).unwrap().version, 1);
}

/// Two writers race through one shared store with the same expected version.
fn race(store: &std::sync::Mutex<MemoryEventStore<Ev>>, expected: u64) -> [bool; 2] {
    std::thread::scope(|s| {
        let h: Vec<_> = (0..2)
            .map(|i| s.spawn(move || store.lock().unwrap().append("s", Expected::Exactly(expected), vec![Ev::Deposited(i + 1)], 0).is_ok()))
            .collect();
        let r: Vec<bool> = h.into_iter().map(|h| h.join().unwrap()).collect();
        [r[0], r[1]]
    })
}

fn events() -> impl Strategy<Value = Vec<Ev>> {
    prop::collection::vec(prop_oneof![(1..1000i64).prop_map(Ev::Deposited), (1..1000i64).prop_map(Ev::Withdrawn)], 0..60)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    /// Replaying any prefix from the store equals applying those events one by one.
    #[test]
    fn replaying_a_prefix_equals_applying_one_by_one(evs in events(), cut in 0usize..80) {
        let k = cut.min(evs.len());
        let mut store = MemoryEventStore::new();
        store.append("s", Expected::Exactly(0), evs.clone(), 0).unwrap();
        let repo = Repository::<Account, _, _>::new(store, MemorySnapshots::new(), SnapshotPolicy::never());
        let mut by_hand = Account::default();
        for e in &evs[..k] {
            by_hand.apply(e);
        }
        let loaded = repo.state_at("s", k as u64).unwrap();
        prop_assert_eq!(&loaded.state, &by_hand);
        prop_assert_eq!(loaded.events_applied, k as u64);
        prop_assert_eq!(replay::<Account>(&evs[..k]), by_hand);
    }

    /// A snapshot plus the events after it equals a full replay, for any interval and
    /// any way the events were split into appends.
    #[test]
    fn snapshot_plus_tail_equals_full_replay(evs in events(), every in 1u64..20, batch in 1usize..5) {
        let policy = SnapshotPolicy::every(every).unwrap();
        let (mut store, mut snaps, mut state) = (MemoryEventStore::new(), MemorySnapshots::new(), Account::default());
        for chunk in evs.chunks(batch) {
            let v = store.version("s").unwrap();
            let after = store.append("s", Expected::Exactly(v), chunk.to_vec(), 0).unwrap().version;
            state = super::replay_counted(state, chunk).0;
            if policy.due(v, after) {
                snaps.save("s", after, &state).unwrap();
            }
        }
        let repo = Repository::<Account, _, _>::new(store, snaps, policy);
        let full = replay::<Account>(&evs);
        let loaded = repo.load("s").unwrap();
        prop_assert_eq!(&loaded.state, &full);
        prop_assert!(loaded.events_applied < every, "{} events after the latest snapshot", loaded.events_applied);
        for v in 0..=evs.len() as u64 {
            prop_assert_eq!(repo.state_at("s", v).unwrap().state, replay::<Account>(&evs[..v as usize]));
        }
    }

    /// Two appends with the same expected version: exactly one succeeds.
    #[test]
    fn same_expected_version_never_both_succeed(pre in 0u64..5) {
        let store = std::sync::Mutex::new(MemoryEventStore::new());
        if pre > 0 {
            store.lock().unwrap().append("s", Expected::Exactly(0), vec![Ev::Deposited(1); pre as usize], 0).unwrap();
        }
        let [a, b] = race(&store, pre);
        prop_assert!(a ^ b, "exactly one of the racing appends succeeds: {} {}", a, b);
        prop_assert_eq!(store.lock().unwrap().version("s").unwrap(), pre + 1);
    }
}
