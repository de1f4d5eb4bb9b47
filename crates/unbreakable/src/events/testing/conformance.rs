//! A conformance suite for [`EventStore`] and [`AsyncEventStore`] back ends, and the bank
//! account it runs on.
//!
//! ```
//! use unbreakable::events::MemoryEventStore;
//! use unbreakable::events::testing::conformance::contract;
//!
//! contract(MemoryEventStore::new());
//! ```

use serde::{Deserialize, Serialize};

use crate::events::{
    Aggregate, Appended, AsyncEventStore, EventStore, EventStoreError, EventType, Expected, Recorded, replay,
};

/// A bank account: balance in dollars, no overdraft.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankAccount {
    /// The balance, in dollars.
    pub balance: i64,
    /// How many events were applied.
    pub movements: u64,
}

/// What happened to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BankEvent {
    /// Money came in.
    Deposited(i64),
    /// Money went out.
    Withdrawn(i64),
}

impl EventType for BankEvent {
    fn event_type(&self) -> &'static str {
        match self {
            BankEvent::Deposited(_) => "Deposited",
            BankEvent::Withdrawn(_) => "Withdrawn",
        }
    }
}

/// What a client asks for.
#[derive(Debug, Clone, Copy)]
pub enum BankCommand {
    /// Put money in.
    Deposit(i64),
    /// Take money out (refused beyond the balance).
    Withdraw(i64),
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The amount was zero or negative.
    NotPositive,
    /// Not enough money.
    Insufficient {
        /// The balance the withdrawal was checked against.
        balance: i64,
    },
}

impl Aggregate for BankAccount {
    type Command = BankCommand;
    type Event = BankEvent;
    type Error = Refused;
    fn handle(&self, c: &BankCommand) -> Result<Vec<BankEvent>, Refused> {
        match *c {
            BankCommand::Deposit(n) | BankCommand::Withdraw(n) if n <= 0 => Err(Refused::NotPositive),
            BankCommand::Deposit(n) => Ok(vec![BankEvent::Deposited(n)]),
            BankCommand::Withdraw(n) if n > self.balance => {
                Err(Refused::Insufficient { balance: self.balance })
            }
            BankCommand::Withdraw(n) => Ok(vec![BankEvent::Withdrawn(n)]),
        }
    }
    fn apply(&mut self, e: &BankEvent) {
        self.movements += 1;
        match e {
            BankEvent::Deposited(n) => self.balance += n,
            BankEvent::Withdrawn(n) => self.balance -= n,
        }
    }
}

/// Checks that a fresh, empty store keeps every promise of [`EventStore`]: versions,
/// conflicts, global order, paging, partial reads and name checks. Panics with the
/// first broken promise. Run it on your own back end, as this crate runs it on the
/// memory, SQLite and PostgreSQL stores.
pub fn contract<S: EventStore<BankEvent>>(mut store: S) {
    // A new stream: version 0; an append expecting 0 creates it.
    assert_eq!(store.version("a").unwrap(), 0);
    let first = store
        .append("a", Expected::Exactly(0), vec![BankEvent::Deposited(1000), BankEvent::Deposited(2000)], 10)
        .unwrap();
    let err = store.append("a", Expected::Exactly(1), vec![BankEvent::Withdrawn(500)], 11).unwrap_err();
    check_first_append(first, &err);
    assert_eq!(store.version("a").unwrap(), 2);
    // Another stream interleaves in the global order.
    store.append("b", Expected::Exactly(0), vec![BankEvent::Deposited(7)], 12).unwrap();
    store
        .append("a", Expected::Exactly(2), vec![BankEvent::Withdrawn(500), BankEvent::Deposited(1500)], 13)
        .unwrap();
    store.append("a", Expected::Any, vec![], 14).unwrap();
    // Reading a stream: versions 1.. without gaps, positions increasing.
    let a = store.read_stream("a", 1).unwrap();
    assert_eq!(store.read_stream("a", 3).unwrap().len(), 2);
    assert_eq!(store.read_stream("nobody", 1).unwrap().len(), 0);
    // Reading everything from a position, in pages.
    let all = store.read_all(1, 100).unwrap();
    check_reads(&a, &all);
    let page = store.read_all(all[2].position, 2).unwrap();
    assert_eq!(page, all[2..4].to_vec());
    assert!(store.read_all(all[4].position + 1, 10).unwrap().is_empty());
    // A partial range visits only those versions.
    let mut seen = Vec::new();
    assert_eq!(store.visit_stream("a", 2..=3, |r| seen.push(r.version)).unwrap(), 2);
    assert_eq!(seen, vec![2, 3]);
    // Bad names are refused.
    for name in bad_names() {
        let refused = store.append(&name, Expected::Any, vec![BankEvent::Deposited(1)], 0);
        assert!(matches!(refused, Err(EventStoreError::InvalidStream { .. })), "{name:?}");
    }
}

/// The first append of the contract, and the stale append after it: a typed conflict.
fn check_first_append(first: Appended, stale: &EventStoreError) {
    assert_eq!((first.version, first.count), (2, 2));
    assert_eq!(first.first_position, 1);
    // A stale version is a typed conflict and writes nothing.
    assert!(
        matches!(stale, EventStoreError::Conflict(c) if c.expected == 1 && c.actual == 2 && c.stream == "a"),
        "{stale}"
    );
    assert!(stale.is_transient());
}

/// Stream `a` and everything, as the contract leaves them.
fn check_reads(a: &[Recorded<BankEvent>], all: &[Recorded<BankEvent>]) {
    // Reading a stream: versions 1.. without gaps, positions increasing.
    assert_eq!(a.iter().map(|r| r.version).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert!(a.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(a.iter().map(|r| r.at_ms).collect::<Vec<_>>(), vec![10, 10, 13, 13]);
    assert_eq!(replay::<BankAccount>(a.iter().map(|r| &r.event)).balance, 4000);
    assert_eq!(all.len(), 5);
    assert_eq!(
        all.iter().map(|r| (&*r.stream, r.version)).collect::<Vec<_>>(),
        vec![("a", 1), ("a", 2), ("b", 1), ("a", 3), ("a", 4)]
    );
}

fn bad_names() -> [String; 2] {
    [String::new(), "x".repeat(201)]
}

/// [`contract`] for an [`AsyncEventStore`]: the same promises, checked through the async
/// methods on a fresh, empty store.
pub async fn contract_async<S: AsyncEventStore<BankEvent>>(store: &S) {
    assert_eq!(store.version("a").await.unwrap(), 0);
    let first = store
        .append("a", Expected::Exactly(0), vec![BankEvent::Deposited(1000), BankEvent::Deposited(2000)], 10)
        .await
        .unwrap();
    let err = store.append("a", Expected::Exactly(1), vec![BankEvent::Withdrawn(500)], 11).await.unwrap_err();
    check_first_append(first, &err);
    assert_eq!(store.version("a").await.unwrap(), 2);
    store.append("b", Expected::Exactly(0), vec![BankEvent::Deposited(7)], 12).await.unwrap();
    store
        .append("a", Expected::Exactly(2), vec![BankEvent::Withdrawn(500), BankEvent::Deposited(1500)], 13)
        .await
        .unwrap();
    let empty = store.append("a", Expected::Any, vec![], 14).await.unwrap();
    assert_eq!((empty.version, empty.count, empty.first_position), (4, 0, 0));
    let a = store.read_stream("a", 1..=u64::MAX).await.unwrap();
    assert_eq!(store.read_stream("a", 2..=3).await.unwrap(), a[1..3].to_vec());
    assert!(store.read_stream("nobody", 1..=u64::MAX).await.unwrap().is_empty());
    let all = store.read_all(1, 100).await.unwrap();
    check_reads(&a, &all);
    assert_eq!(store.read_all(all[2].position, 2).await.unwrap(), all[2..4].to_vec());
    assert!(store.read_all(all[4].position + 1, 10).await.unwrap().is_empty());
    for name in bad_names() {
        let refused = store.append(&name, Expected::Any, vec![BankEvent::Deposited(1)], 0).await;
        assert!(matches!(refused, Err(EventStoreError::InvalidStream { .. })), "{name:?}");
    }
}
