//! Projections: read models built from events, applied at most once per position.

/// A read model: folds events into a shape made for queries.
///
/// Like an aggregate's `apply`, it holds no rules and never fails: the write side
/// decided, the projection only records. It must accept every event ever written.
pub trait Projection {
    /// The events it reads.
    type Event;
    /// Folds one event in.
    fn apply(&mut self, event: &Self::Event);
}

/// What a projector did with one delivered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Delivery {
    /// Above the stored position: applied, and the position moved to it.
    Applied,
    /// At or below the stored position: already applied (a redelivery), skipped.
    Skipped,
    /// Beyond the next position: an event in between has not been applied yet (a broker
    /// delivered out of order, or a projector restored from an older checkpoint got a
    /// later event first). Not applied; read on from the outbox at the stored position.
    Early,
}

/// The idempotence rule, pure: the event at `position` is applied only if it is the
/// next one after the `stored` position of the last event applied; at or below it is a
/// repeat, beyond the next one is [`Delivery::Early`].
///
/// Positions come from the outbox in commit order and have no gaps (SQLite's
/// `AUTOINCREMENT` gives a new row the highest number ever issued plus one, writers commit
/// one at a time, a rolled-back insert leaves no hole, and `outbox::prune` removes only
/// rows every relay has passed). Applying anything "above the stored position" would not
/// be enough: a projector restored from an old checkpoint that is handed a later event
/// first would apply it and skip the ones in between for ever (a property test of this
/// rule found exactly that). With an outbox whose positions can have gaps (a PostgreSQL
/// sequence), read the outbox in order instead of trusting delivery order.
///
/// # Examples
/// ```
/// use unbreakable::cqrs::{decide, Delivery};
/// assert_eq!(decide(0, 1), Delivery::Applied);
/// assert_eq!(decide(7, 7), Delivery::Skipped);
/// assert_eq!(decide(7, 3), Delivery::Skipped);
/// assert_eq!(decide(7, 8), Delivery::Applied);
/// assert_eq!(decide(7, 9), Delivery::Early);
/// ```
pub fn decide(stored: u64, position: u64) -> Delivery {
    if position <= stored {
        Delivery::Skipped
    } else if position == stored + 1 {
        Delivery::Applied
    } else {
        Delivery::Early
    }
}

/// A projection and the position of the last event it applied, kept as one value so
/// they are saved and restored together: a copy of a `Projector` is a consistent
/// checkpoint, and a projector restored from it resumes exactly where that copy was.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Projector<P> {
    state: P,
    position: u64,
}

impl<P: Projection> Projector<P> {
    /// A projector that has applied nothing (position 0).
    pub fn new(state: P) -> Self {
        Self { state, position: 0 }
    }

    /// A projector resumed from a saved state and the position saved with it.
    pub fn resume(state: P, position: u64) -> Self {
        Self { state, position }
    }

    /// The position of the last event applied (0: none).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The read model.
    pub fn state(&self) -> &P {
        &self.state
    }

    /// The read model and its position.
    pub fn into_parts(self) -> (P, u64) {
        (self.state, self.position)
    }

    /// Delivers the event at `position`: applied if it is the next one ([`decide`]),
    /// skipped if it was applied before, refused as [`Delivery::Early`] if one in
    /// between is missing.
    pub fn deliver(&mut self, position: u64, event: &P::Event) -> Delivery {
        let d = decide(self.position, position);
        if d == Delivery::Applied {
            self.state.apply(event);
            self.position = position;
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Default, Clone, PartialEq)]
    struct Log(Vec<u32>);
    impl Projection for Log {
        type Event = u32;
        fn apply(&mut self, e: &u32) {
            self.0.push(*e);
        }
    }

    proptest! {
        /// Any redelivery schedule (each delivery goes back to some earlier position and
        /// delivers onward from there) gives the same log as delivering each event once,
        /// and an event delivered ahead of its turn changes nothing.
        #[test]
        fn redelivery_changes_nothing(events in proptest::collection::vec(any::<u32>(), 0..40), rewinds in proptest::collection::vec(any::<prop::sample::Index>(), 0..10)) {
            let mut once = Projector::new(Log::default());
            for (i, e) in events.iter().enumerate() { once.deliver(i as u64 + 1, e); }
            let mut p = Projector::new(Log::default());
            let mut next = 0usize;
            for r in &rewinds {
                if events.is_empty() { break; }
                let upto = r.index(events.len() + 1);
                for (i, e) in events.iter().enumerate().take(upto).skip(next) { p.deliver(i as u64 + 1, e); }
                next = r.index(upto + 1); // go back: redeliver from an earlier position
            }
            if !events.is_empty() {
                let before = p.clone();
                let ahead = p.position() + 2;
                if ahead as usize <= events.len() {
                    prop_assert_eq!(p.deliver(ahead, &events[ahead as usize - 1]), Delivery::Early);
                    prop_assert_eq!(&p, &before);
                }
            }
            for (i, e) in events.iter().enumerate().skip(next) { p.deliver(i as u64 + 1, e); }
            prop_assert_eq!(p, once);
        }
    }
}
