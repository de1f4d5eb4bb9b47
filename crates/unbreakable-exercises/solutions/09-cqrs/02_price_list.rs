// Exercise 09.2: a read model as a projection.
//
// What to do: implement `Projection::apply` for `PriceList`, the read model of a price
// page: a product added appears with its price, a price change updates it, a removed
// product disappears. `apply` holds no rules and never fails: an event about a product
// it does not know is ignored.
// Why it matters: the projection is the only code that writes the read model; delivered
// through a `Projector`, repeats are skipped before `apply` ever sees them.
// Chapter: 09-cqrs, "The read side: a projection into polars".
// Hint: a `BTreeMap<u32, u64>` from product id to price in cents is the whole state.

use std::collections::BTreeMap;
use unbreakable::cqrs::{Projection, Projector};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Added { id: u32, cents: u64 },
    PriceChanged { id: u32, cents: u64 },
    Removed { id: u32 },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceList {
    pub prices: BTreeMap<u32, u64>,
}

impl Projection for PriceList {
    type Event = Event;

    fn apply(&mut self, event: &Event) {
        match *event {
            Event::Added { id, cents } => {
                self.prices.insert(id, cents);
            }
            Event::PriceChanged { id, cents } => {
                if let Some(p) = self.prices.get_mut(&id) {
                    *p = cents;
                }
            }
            Event::Removed { id } => {
                self.prices.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> Vec<Event> {
        vec![
            Event::Added { id: 1, cents: 14_900 },
            Event::Added { id: 2, cents: 7_900 },
            Event::PriceChanged { id: 1, cents: 12_900 },
            Event::Removed { id: 2 },
            Event::PriceChanged { id: 9, cents: 1 },
            Event::Added { id: 3, cents: 4_900 },
        ]
    }

    #[test]
    fn folds_the_history() {
        let mut p = Projector::new(PriceList::default());
        for (i, e) in history().iter().enumerate() {
            p.deliver(i as u64 + 1, e);
        }
        assert_eq!(p.state().prices, BTreeMap::from([(1, 12_900), (3, 4_900)]));
    }

    #[test]
    fn a_removed_product_stays_removed_until_added_again() {
        // Delivered twice each (as an at-least-once outbox does); the projector skips the
        // repeats, so what is checked here is `apply` itself, against the list worked by hand.
        let history = [
            Event::Added { id: 5, cents: 100 },
            Event::Added { id: 6, cents: 600 },
            Event::Removed { id: 5 },
            Event::PriceChanged { id: 5, cents: 200 },
            Event::Removed { id: 7 },
            Event::Added { id: 5, cents: 300 },
            Event::PriceChanged { id: 5, cents: 350 },
            Event::PriceChanged { id: 6, cents: 650 },
            Event::Removed { id: 6 },
        ];
        let mut p = Projector::new(PriceList::default());
        for (i, e) in history.iter().enumerate() {
            p.deliver(i as u64 + 1, e);
            p.deliver(i as u64 + 1, e);
            if i == 3 {
                assert_eq!(
                    p.state().prices,
                    BTreeMap::from([(6, 600)]),
                    "a price change for a removed product is ignored"
                );
            }
        }
        assert_eq!(p.state().prices, BTreeMap::from([(5, 350)]));
    }
}
