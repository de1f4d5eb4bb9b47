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
