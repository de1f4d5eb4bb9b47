// Exercise 10.4: correct a mistake with a compensating event, not an edit.
//
// What to do: a clerk recorded a deposit of 10,000.00 that was really 1,000.00. Write
// `correct_deposit(store, account, seen, version, right_cents, at_ms)`: the clerk read the
// stream when it was at version `seen` and decided on the correction from that. Check
// that the event at `version` is a deposit, then append one `Corrected` event that brings
// the balance right, so that the append fails if anyone appended after the clerk read
// (the clerk must look again). Nothing already stored may change. It is shipped doing
// nothing.
// Why it matters: the event log is the record of what happened, and others have read it
// (projections, auditors, other services). Editing an event would make the past say
// something it never said. A compensating event keeps the mistake and its correction,
// and the state as of any earlier moment still shows what everyone saw then.
// Chapter: 10-event-sourcing, "Compensating events instead of edits".
// Hint: how far off was the deposit, and which `Expected` makes the append fail if
//   someone else appended after the clerk read the stream at version `seen`?

use unbreakable::events::{EventStore, Expected, MemoryEventStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    Deposited(i64),
    Withdrawn(i64),
    /// A correction of the event at `of_version` by `delta` cents.
    Corrected {
        of_version: u64,
        delta: i64,
    },
}

pub fn balance(events: impl IntoIterator<Item = Movement>) -> i64 {
    events
        .into_iter()
        .map(|m| match m {
            Movement::Deposited(n) => n,
            Movement::Withdrawn(n) => -n,
            Movement::Corrected { delta, .. } => delta,
        })
        .sum()
}

pub fn correct_deposit(
    store: &mut MemoryEventStore<Movement>,
    account: &str,
    seen: u64,
    version: u64,
    right_cents: i64,
    at_ms: u64,
) -> Result<(), String> {
    // TODO: find the deposit at `version`, then append one `Corrected` event.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger() -> MemoryEventStore<Movement> {
        let mut s = MemoryEventStore::new();
        let history =
            vec![Movement::Deposited(50_000), Movement::Deposited(1_000_000), Movement::Withdrawn(20_000)];
        s.append("alice", Expected::Exactly(0), history, 1_000).unwrap();
        s
    }

    fn events(s: &MemoryEventStore<Movement>) -> Vec<Movement> {
        s.stream("alice").iter().map(|r| r.event).collect()
    }

    #[test]
    fn the_balance_is_right_and_the_mistake_stays_on_record() {
        let mut s = ledger();
        let before = events(&s);
        correct_deposit(&mut s, "alice", 3, 2, 100_000, 2_000).unwrap();
        let after = events(&s);
        assert_eq!(balance(after.iter().copied()), 50_000 + 100_000 - 20_000);
        assert_eq!(after.len(), before.len() + 1, "one event appended");
        assert_eq!(after[..3], before[..], "stored events are never changed");
        assert_eq!(after[3], Movement::Corrected { of_version: 2, delta: -900_000 });
        // What everyone saw before the correction can still be rebuilt.
        assert_eq!(balance(after[..3].iter().copied()), 1_030_000);
    }

    #[test]
    fn only_deposits_that_exist_are_corrected() {
        let mut s = ledger();
        assert!(correct_deposit(&mut s, "alice", 3, 3, 100, 2_000).is_err(), "event 3 is a withdrawal");
        assert!(correct_deposit(&mut s, "alice", 3, 9, 100, 2_000).is_err(), "there is no event 9");
        assert!(correct_deposit(&mut s, "bob", 0, 1, 100, 2_000).is_err(), "bob has no events");
        assert_eq!(events(&s).len(), 3);
    }

    #[test]
    fn the_correction_is_appended_at_the_stream_s_version() {
        let mut s = ledger();
        correct_deposit(&mut s, "alice", 3, 1, 60_000, 2_000).unwrap();
        let r = &s.stream("alice")[3];
        assert_eq!((r.version, r.at_ms), (4, 2_000));
        assert_eq!(balance(events(&s)), 60_000 + 1_000_000 - 20_000);
    }

    #[test]
    fn a_writer_after_the_clerk_read_is_noticed() {
        let mut s = ledger();
        // The clerk reads at version 3; meanwhile a withdrawal lands as version 4.
        s.append("alice", Expected::Exactly(3), vec![Movement::Withdrawn(5_000)], 1_500).unwrap();
        assert!(correct_deposit(&mut s, "alice", 3, 2, 100_000, 2_000).is_err(), "decided on a stale read");
        assert_eq!(events(&s).len(), 4, "nothing appended");
        // Having looked again, the clerk corrects it.
        correct_deposit(&mut s, "alice", 4, 2, 100_000, 2_000).unwrap();
        assert_eq!(balance(events(&s)), 50_000 + 100_000 - 20_000 - 5_000);
    }
}
