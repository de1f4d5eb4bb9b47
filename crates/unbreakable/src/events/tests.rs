//! The contract every event store keeps (run on each back end), and the property tests.

use proptest::prelude::*;

use super::testing::given;
use super::*;

pub(crate) use super::testing::conformance::{
    BankAccount as Account, BankCommand as Cmd, BankEvent as Ev, Refused, contract,
};

#[test]
fn memory_store_keeps_the_contract() {
    contract(MemoryEventStore::new());
}

#[test]
fn the_article_ledger_sums_to_4000() {
    given::<Account>(vec![Ev::Deposited(1000), Ev::Deposited(2000), Ev::Withdrawn(500), Ev::Deposited(1500)])
        .when(&Cmd::Withdraw(4001))
        .then_expect_error(Refused::Insufficient { balance: 4000 });
    given::<Account>(vec![Ev::Deposited(1000)])
        .when(&Cmd::Withdraw(1000))
        .then_expect(vec![Ev::Withdrawn(1000)]);
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
    let mut repo = Repository::<Account, _, _>::new(
        MemoryEventStore::new(),
        MemorySnapshots::new(),
        SnapshotPolicy::every(2).unwrap(),
    );
    for (t, c) in
        [Cmd::Deposit(1000), Cmd::Deposit(2000), Cmd::Withdraw(500), Cmd::Deposit(1500)].iter().enumerate()
    {
        repo.execute("alice", c, 1000 * t as u64).unwrap();
    }
    assert!(matches!(
        repo.execute("alice", &Cmd::Withdraw(5000), 9000),
        Err(ExecuteError::Rejected(Refused::Insufficient { balance: 4000 }))
    ));
    assert_eq!(repo.store().version("alice").unwrap(), 4, "a refused command records nothing");
    let now = repo.load("alice").unwrap();
    assert_eq!(
        (now.state.balance, now.version, now.from_snapshot, now.events_applied),
        (4000, 4, Some(4), 0)
    );
    assert_eq!(repo.snapshots().len(), 2);
    let at3 = repo.state_at("alice", 3).unwrap();
    assert_eq!((at3.state.balance, at3.from_snapshot, at3.events_applied), (2500, Some(2), 1));
    assert_eq!(repo.state_as_of("alice", 1500).unwrap().state.balance, 3000);
    assert_eq!(repo.state_as_of("alice", 0).unwrap().version, 1);
}

/// Snapshots that cannot be saved (a full disk), and count the attempts.
#[derive(Default)]
struct BrokenSnapshots {
    attempts: u64,
}

impl SnapshotStore<Account> for BrokenSnapshots {
    fn save(&mut self, _: &str, _: u64, _: u32, _: &Account) -> Result<(), EventStoreError> {
        self.attempts += 1;
        Err(EventStoreError::Busy { source: "database is locked".into() })
    }
    fn load(&self, _: &str, _: u64, _: u32) -> Result<Option<(u64, Account)>, EventStoreError> {
        Ok(None)
    }
}

#[test]
fn a_snapshot_that_fails_after_the_commit_does_not_fail_the_command() {
    let mut repo = Repository::<Account, _, _>::new(
        MemoryEventStore::new(),
        BrokenSnapshots::default(),
        SnapshotPolicy::every(1).unwrap(),
    );
    // The events are committed: an Err here would make the caller retry and append twice.
    let done = repo.execute("a", &Cmd::Deposit(10), 0);
    assert!(done.is_ok(), "{done:?}");
    assert_eq!(repo.store().version("a").unwrap(), 1);
    assert_eq!(repo.snapshots().attempts, 1);
    let done = done.unwrap();
    assert!(matches!(&done.snapshot, SnapshotSave::Failed(m) if m.contains("busy")), "{:?}", done.snapshot);
    assert_eq!(repo.snapshot_failures(), 1);
    // The next command is decided on the right state, from a replay.
    assert!(repo.execute("a", &Cmd::Withdraw(10), 1).is_ok());
    assert_eq!((repo.load("a").unwrap().state.balance, repo.snapshot_failures()), (0, 2));
}

/// The conformance account with a bug in `apply` (a withdrawal is not subtracted), as it
/// was before a fix: its snapshots hold the buggy fold's result.
#[derive(Debug, Default, Clone, PartialEq)]
struct BuggyAccount(Account);

impl Aggregate for BuggyAccount {
    type Command = Cmd;
    type Event = Ev;
    type Error = Refused;
    fn handle(&self, c: &Cmd) -> Result<Vec<Ev>, Refused> {
        self.0.handle(c)
    }
    fn apply(&mut self, e: &Ev) {
        if let Ev::Deposited(_) = e {
            self.0.apply(e);
        }
    }
}

#[test]
fn a_snapshot_of_another_fold_version_is_ignored_and_the_fix_replayed() {
    // Version 1 of the fold, with the bug, snapshots every 2 events.
    let mut buggy = Repository::<BuggyAccount, _, _>::new(
        MemoryEventStore::new(),
        MemorySnapshots::new(),
        SnapshotPolicy::every(2).unwrap(),
    );
    for c in [Cmd::Deposit(100), Cmd::Withdraw(30), Cmd::Deposit(5)] {
        buggy.execute("a", &c, 0).unwrap();
    }
    assert_eq!(buggy.load("a").unwrap().state.0.balance, 105, "the bug");
    // The fixed fold declares version 2 (Account's is 1: use a wrapper that raises it).
    #[derive(Debug, Default, Clone, PartialEq)]
    struct Fixed(Account);
    impl Aggregate for Fixed {
        type Command = Cmd;
        type Event = Ev;
        type Error = Refused;
        const SNAPSHOT_VERSION: u32 = 2;
        fn handle(&self, c: &Cmd) -> Result<Vec<Ev>, Refused> {
            self.0.handle(c)
        }
        fn apply(&mut self, e: &Ev) {
            self.0.apply(e);
        }
    }
    let (store, old) = (buggy.store().clone(), buggy.snapshots().clone());
    let snaps: MemorySnapshots<Fixed> = {
        // The same stored snapshots, read by the fixed aggregate's state type.
        let mut s = MemorySnapshots::new();
        for v in 0..=3 {
            if let Some((at, b)) = old.load("a", v, 1).unwrap() {
                s.save("a", at, 1, &Fixed(b.0)).unwrap();
            }
        }
        s
    };
    let mut fixed = Repository::<Fixed, _, _>::new(store, snaps, SnapshotPolicy::every(2).unwrap());
    let now = fixed.load("a").unwrap();
    assert_eq!((now.state.0.balance, now.from_snapshot, now.events_applied), (75, None, 3));
    // New snapshots are saved under version 2 and used from then on.
    fixed.execute("a", &Cmd::Deposit(1), 0).unwrap();
    let now = fixed.load("a").unwrap();
    assert_eq!((now.state.0.balance, now.from_snapshot, now.events_applied), (76, Some(4), 0));
}

/// Two writers race through one shared store with the same expected version.
fn race(store: &std::sync::Mutex<MemoryEventStore<Ev>>, expected: u64) -> [bool; 2] {
    std::thread::scope(|s| {
        let h: Vec<_> = (0..2)
            .map(|i| {
                s.spawn(move || {
                    store
                        .lock()
                        .unwrap()
                        .append("s", Expected::Exactly(expected), vec![Ev::Deposited(i + 1)], 0)
                        .is_ok()
                })
            })
            .collect();
        let r: Vec<bool> = h.into_iter().map(|h| h.join().unwrap()).collect();
        [r[0], r[1]]
    })
}

fn events() -> impl Strategy<Value = Vec<Ev>> {
    prop::collection::vec(
        prop_oneof![(1..1000i64).prop_map(Ev::Deposited), (1..1000i64).prop_map(Ev::Withdrawn)],
        0..60,
    )
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
                snaps.save("s", after, Account::SNAPSHOT_VERSION, &state).unwrap();
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
