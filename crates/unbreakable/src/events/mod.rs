//! Event sourcing: state as a fold over an append-only log of events.
//!
//! Nothing is updated in place. A command is checked against the current state, which is
//! rebuilt by replaying the stream's events; if it is allowed, it produces new events,
//! appended under optimistic concurrency: the append names the version the writer saw,
//! and a store that has moved on answers [`Conflict`] instead of overwriting anything.
//!
//! | item | what it is |
//! |---|---|
//! | [`Aggregate`] | the pure core: `handle(command) -> events` holds every rule, `apply(event)` holds none |
//! | [`replay`], [`replay_counted`] | state from events |
//! | [`EventStore`] | what any store offers: append with an expected version, per-stream versions, a global position, reads by stream and in global order |
//! | [`AsyncEventStore`] | the same for async code, implemented by `offload::Offloaded` and the PostgreSQL store: a service generic over it runs on either |
//! | [`MemoryEventStore`] | in memory, for simulations and tests |
//! | `sqlite::SqliteEventStore` | (feature `sqlite`) durable: WAL, `synchronous = FULL`, a batch of events in one transaction, serde JSON with a type and a schema version, and upcasters for old events |
//! | `offload::Offloaded` | (features `sqlite`, `postgres`) any blocking store as an [`AsyncEventStore`]: each call on tokio's blocking pool, never on a runtime worker |
//! | [`SnapshotPolicy`], [`SnapshotStore`], [`MemorySnapshots`] | snapshots every N events (each with the aggregate's [`Aggregate::SNAPSHOT_VERSION`]), so a rebuild replays at most N - 1 events after the latest |
//! | [`Repository`] | load (snapshot + tail), execute a command, time travel (state as of a version or a timestamp) |
//! | `postgres::PostgresEventStore` | (feature `postgres`) an [`AsyncEventStore`] on a PostgreSQL server, for a team that outgrows one machine: a bounded connection pool that reconnects, an explicit `migrate`, each append one statement in a `READ COMMITTED` transaction serialised by an advisory lock so global positions become visible in order |
//! | [`testing`] | a given / when / then harness for aggregates, and [`testing::conformance`], the contract every store passes |
//!
//! Every method of the trait is a read or one transaction, so each back end keeps the
//! same promises; [`testing::conformance::contract`] checks them.
//!
//! # Examples
//! A bank ledger: the store keeps the four movements, not a balance.
//! ```
//! use unbreakable::events::{replay, Aggregate, EventStore, Expected, MemoryEventStore};
//!
//! #[derive(Default)]
//! struct Account { cents: i64 }
//! enum Command { Deposit(i64), Withdraw(i64) }
//! #[derive(Clone, Debug, PartialEq)]
//! enum Event { Deposited(i64), Withdrawn(i64) }
//!
//! impl Aggregate for Account {
//!     type Command = Command;
//!     type Event = Event;
//!     type Error = String;
//!     fn handle(&self, c: &Command) -> Result<Vec<Event>, String> {
//!         match *c {
//!             Command::Deposit(n) if n > 0 => Ok(vec![Event::Deposited(n)]),
//!             Command::Withdraw(n) if n > 0 && n <= self.cents => Ok(vec![Event::Withdrawn(n)]),
//!             _ => Err("refused".into()),
//!         }
//!     }
//!     fn apply(&mut self, e: &Event) {
//!         match e { Event::Deposited(n) => self.cents += n, Event::Withdrawn(n) => self.cents -= n }
//!     }
//! }
//!
//! let mut store = MemoryEventStore::new();
//! let history = [Event::Deposited(1000), Event::Deposited(2000), Event::Withdrawn(500), Event::Deposited(1500)];
//! store.append("alice", Expected::Exactly(0), history.to_vec(), 0).unwrap();
//! let events: Vec<Event> = store.read_stream("alice", 1).unwrap().into_iter().map(|r| r.event).collect();
//! assert_eq!(replay::<Account>(&events).cents, 4000);
//! // A second writer that read version 3 is refused, not silently merged.
//! assert!(store.append("alice", Expected::Exactly(3), vec![Event::Withdrawn(4000)], 0).is_err());
//! ```

pub mod aggregate;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod codec;
pub mod error;
pub mod memory;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod offload;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod recorded;
pub mod repository;
pub mod snapshot;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod store;
pub mod testing;

pub use aggregate::{Aggregate, replay, replay_counted};
pub use error::{Conflict, EventStoreError};
pub use memory::MemoryEventStore;
pub use recorded::{Appended, EventType, Expected, Recorded};
pub use repository::{ExecuteError, Executed, Loaded, Repository, SnapshotSave};
pub use snapshot::{DEFAULT_SNAPSHOT_EVERY, MemorySnapshots, SnapshotPolicy, SnapshotStore};
pub use store::{AsyncEventStore, EventStore};

#[cfg(test)]
mod tests;
