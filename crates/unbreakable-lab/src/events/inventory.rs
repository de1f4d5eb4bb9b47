//! The article's inventory: the stock of one item as a fold over its movements.
//!
//! [`Stock`] is the corrected model; [`BuggyStock`] is the same aggregate with a bug in
//! its `apply` (a return counted as a sale, a copy-paste slip). Both read the same
//! events, so the bug is fixed by replaying the unchanged history through the corrected
//! code, and the event that exposed it is found by replaying both side by side
//! ([`first_divergence`]).

use serde::{Deserialize, Serialize};

use super::calendar::date;
use super::{Aggregate, EventType};

/// What happened to the stock of an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StockEvent {
    /// Units arrived from a supplier.
    ItemReceived(u32),
    /// Units were sold.
    ItemSold(u32),
    /// Units came back from a customer, to be sold again.
    ItemReturned(u32),
    /// A compensating event: a correction of units on hand, with its reason. Old events
    /// are never edited; a mistake is corrected by a new event that says so.
    Adjusted {
        /// Units added (negative: removed).
        delta: i64,
        /// Why, for the audit trail.
        reason: String,
    },
}

impl EventType for StockEvent {
    fn event_type(&self) -> &'static str {
        match self {
            StockEvent::ItemReceived(_) => "ItemReceived",
            StockEvent::ItemSold(_) => "ItemSold",
            StockEvent::ItemReturned(_) => "ItemReturned",
            StockEvent::Adjusted { .. } => "Adjusted",
        }
    }

    /// `Adjusted` is at schema 2: version 1 was `Corrected { units }`, with no reason
    /// (chapter 10 reads one through an upcaster). The others are at 1.
    fn schema_version(&self) -> u32 {
        match self {
            StockEvent::Adjusted { .. } => 2,
            _ => 1,
        }
    }
}

/// What the shop asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockCommand {
    /// Book in a delivery.
    Receive(u32),
    /// Sell units.
    Sell(u32),
    /// Take back units a customer returns.
    Return(u32),
    /// Correct the count, with a reason (a compensating event).
    Adjust(i64, String),
}

/// Why a stock command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StockError {
    /// Quantities must be positive.
    #[error("a quantity of 0 means nothing happened")]
    Zero,
    /// Not enough on hand.
    #[error("only {on_hand} on hand, cannot sell {wanted}")]
    NotEnough {
        /// On hand.
        on_hand: i64,
        /// Asked for.
        wanted: u32,
    },
    /// More returned than were ever sold.
    #[error("{wanted} returned, but only {returnable} were sold and not yet returned")]
    NeverSold {
        /// Sold minus returned so far.
        returnable: u64,
        /// Returned now.
        wanted: u32,
    },
    /// A correction needs a reason, and may not leave the stock negative.
    #[error("an adjustment needs a reason and must leave the stock at 0 or more")]
    BadAdjustment,
}

/// The stock of one item.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stock {
    /// Units on hand.
    pub on_hand: i64,
    /// Units sold in all.
    pub sold: u64,
    /// Units returned in all.
    pub returned: u64,
}

fn decide(on_hand: i64, sold: u64, returned: u64, c: &StockCommand) -> Result<Vec<StockEvent>, StockError> {
    use StockCommand::*;
    match c {
        Receive(0) | Sell(0) | Return(0) => Err(StockError::Zero),
        Receive(n) => Ok(vec![StockEvent::ItemReceived(*n)]),
        Sell(n) if i64::from(*n) > on_hand => Err(StockError::NotEnough { on_hand, wanted: *n }),
        Sell(n) => Ok(vec![StockEvent::ItemSold(*n)]),
        Return(n) if u64::from(*n) > sold - returned => {
            Err(StockError::NeverSold { returnable: sold - returned, wanted: *n })
        }
        Return(n) => Ok(vec![StockEvent::ItemReturned(*n)]),
        Adjust(d, reason) if reason.trim().is_empty() || *d == 0 || on_hand + d < 0 => {
            Err(StockError::BadAdjustment)
        }
        Adjust(d, reason) => Ok(vec![StockEvent::Adjusted { delta: *d, reason: reason.clone() }]),
    }
}

impl Aggregate for Stock {
    type Command = StockCommand;
    type Event = StockEvent;
    type Error = StockError;
    /// 2: the fold as fixed after [`BuggyStock`]'s release (version 1). Snapshots the
    /// buggy fold saved hold its wrong counts: under another version they are ignored,
    /// and the fixed `apply` replays the history.
    const SNAPSHOT_VERSION: u32 = 2;

    fn handle(&self, c: &StockCommand) -> Result<Vec<StockEvent>, StockError> {
        decide(self.on_hand, self.sold, self.returned, c)
    }

    fn apply(&mut self, e: &StockEvent) {
        match e {
            StockEvent::ItemReceived(n) => self.on_hand += i64::from(*n),
            StockEvent::ItemSold(n) => {
                self.on_hand -= i64::from(*n);
                self.sold += u64::from(*n);
            }
            StockEvent::ItemReturned(n) => {
                self.on_hand += i64::from(*n);
                self.returned += u64::from(*n);
            }
            StockEvent::Adjusted { delta, .. } => self.on_hand += delta,
        }
    }
}

/// [`Stock`] with the bug of the first release: `apply` subtracts a return, as if it
/// were a sale. Its rules (`handle`) are the same.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuggyStock(pub Stock);

impl Aggregate for BuggyStock {
    type Command = StockCommand;
    type Event = StockEvent;
    type Error = StockError;

    fn handle(&self, c: &StockCommand) -> Result<Vec<StockEvent>, StockError> {
        self.0.handle(c)
    }

    fn apply(&mut self, e: &StockEvent) {
        match e {
            // The bug: copied from the ItemSold arm.
            StockEvent::ItemReturned(n) => {
                self.0.on_hand -= i64::from(*n);
                self.0.returned += u64::from(*n);
            }
            other => self.0.apply(other),
        }
    }
}

/// [`Stock`]'s corrected `apply`, released the wrong way: its `SNAPSHOT_VERSION` was not
/// raised and is still [`BuggyStock`]'s (1), so it starts from the snapshots the buggy fold
/// saved and keeps their wrong counts until those snapshots are discarded.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HotfixedStock(pub Stock);

impl Aggregate for HotfixedStock {
    type Command = StockCommand;
    type Event = StockEvent;
    type Error = StockError;

    fn handle(&self, c: &StockCommand) -> Result<Vec<StockEvent>, StockError> {
        self.0.handle(c)
    }

    fn apply(&mut self, e: &StockEvent) {
        self.0.apply(e);
    }
}

/// The article's history, with dates: `(at_ms, event)`. Received 50 on 26 February
/// 2026, sold 3 on the 27th, sold 1 on 1 March, 1 returned on 2 March.
pub fn article_history() -> Vec<(u64, StockEvent)> {
    vec![
        (date(2026, 2, 26) + 9 * 3_600_000, StockEvent::ItemReceived(50)),
        (date(2026, 2, 27) + 14 * 3_600_000, StockEvent::ItemSold(3)),
        (date(2026, 3, 1) + 11 * 3_600_000, StockEvent::ItemSold(1)),
        (date(2026, 3, 2) + 16 * 3_600_000, StockEvent::ItemReturned(1)),
    ]
}

/// Replays `events` through two models side by side and returns the index of the first
/// event after which `view(a)` and `view(b)` disagree, with both values: the event that
/// exposes a difference between the two. `None` if they agree throughout.
pub fn first_divergence<A, B, V: PartialEq>(
    events: &[A::Event],
    view_a: impl Fn(&A) -> V,
    view_b: impl Fn(&B) -> V,
) -> Option<(usize, V, V)>
where
    A: Aggregate,
    B: Aggregate<Event = A::Event>,
{
    let (mut a, mut b) = (A::default(), B::default());
    for (i, e) in events.iter().enumerate() {
        a.apply(e);
        b.apply(e);
        let (x, y) = (view_a(&a), view_b(&b));
        if x != y {
            return Some((i, x, y));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::calendar::end_of;
    use crate::events::testing::given;
    use crate::events::{
        EventStore, Expected, MemoryEventStore, MemorySnapshots, Repository, SnapshotPolicy, replay,
    };

    fn events() -> Vec<StockEvent> {
        article_history().into_iter().map(|(_, e)| e).collect()
    }

    #[test]
    fn the_article_stock_is_47_and_46_at_the_end_of_march_1() {
        let mut store = MemoryEventStore::new();
        for (i, (t, e)) in article_history().into_iter().enumerate() {
            store.append("keyboard", Expected::Exactly(i as u64), vec![e], t).unwrap();
        }
        let repo = Repository::<Stock, _, _>::new(store, MemorySnapshots::new(), SnapshotPolicy::never());
        assert_eq!(repo.load("keyboard").unwrap().state.on_hand, 47);
        assert_eq!(repo.state_as_of("keyboard", end_of(2026, 3, 1)).unwrap().state.on_hand, 46);
        assert_eq!(repo.state_as_of("keyboard", date(2026, 3, 1)).unwrap().state.on_hand, 47);
    }

    #[test]
    fn the_bug_shows_at_the_return_and_replay_fixes_it() {
        let evs = events();
        assert_eq!(replay::<BuggyStock>(&evs).0.on_hand, 45);
        assert_eq!(replay::<Stock>(&evs).on_hand, 47);
        assert_eq!(
            first_divergence::<Stock, BuggyStock, _>(&evs, |s| s.on_hand, |b| b.0.on_hand),
            Some((3, 47, 45))
        );
    }

    /// Snapshots saved by the buggy fold keep its count for a fix that keeps the snapshot
    /// version, and are ignored by the fix that raises it.
    #[test]
    fn a_fix_must_raise_the_snapshot_version_or_it_keeps_the_bug() {
        use crate::events::sqlite::{SqliteEventStore, SqliteSnapshots};
        let dir = std::env::temp_dir().join(format!("unbreakable-hotfix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stock.db");
        let every2 = SnapshotPolicy::every(2).unwrap();
        {
            let (store, snaps) =
                (SqliteEventStore::open(&path).unwrap(), SqliteSnapshots::open(&path).unwrap());
            let mut buggy = Repository::<BuggyStock, _, _>::new(store, snaps, every2);
            for c in [
                StockCommand::Receive(50),
                StockCommand::Sell(3),
                StockCommand::Sell(1),
                StockCommand::Return(1),
            ] {
                buggy.execute("keyboard", &c, 0).unwrap();
            }
            assert_eq!(buggy.load("keyboard").unwrap().state.0.on_hand, 45);
        }
        let (store, snaps) = (SqliteEventStore::open(&path).unwrap(), SqliteSnapshots::open(&path).unwrap());
        let hotfix = Repository::<HotfixedStock, _, _>::new(store, snaps, every2).load("keyboard").unwrap();
        assert_eq!((hotfix.state.0.on_hand, hotfix.from_snapshot), (45, Some(4)));
        let (store, snaps) = (SqliteEventStore::open(&path).unwrap(), SqliteSnapshots::open(&path).unwrap());
        let fixed = Repository::<Stock, _, _>::new(store, snaps, every2).load("keyboard").unwrap();
        assert_eq!((fixed.state.on_hand, fixed.from_snapshot, fixed.events_applied), (47, None, 4));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rules() {
        given::<Stock>(events())
            .when(&StockCommand::Sell(48))
            .then_expect_error(StockError::NotEnough { on_hand: 47, wanted: 48 });
        given::<Stock>(events())
            .when(&StockCommand::Return(4))
            .then_expect_error(StockError::NeverSold { returnable: 3, wanted: 4 });
        given::<Stock>(events())
            .when(&StockCommand::Adjust(-1, "".into()))
            .then_expect_error(StockError::BadAdjustment);
        given::<Stock>(events())
            .when(&StockCommand::Adjust(-1, "count found 46".into()))
            .then_expect(vec![StockEvent::Adjusted { delta: -1, reason: "count found 46".into() }]);
    }
}
