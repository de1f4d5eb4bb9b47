// Exercise 09.1: the idempotence rule of a projection.
//
// What to do: write `outcome(stored, position)`: a projector that has applied every event
// up to `stored` receives the event at `position`. Say whether it applies it, skips it
// as a repeat, or refuses it as early (an event in between is missing).
// Why it matters: delivery from an outbox is at least once, so repeats are normal; and a
// projector restored from an old checkpoint can be handed a later event first.
// Chapter: 09-cqrs, "Idempotent projections: repeats skipped, early arrivals refused".
// Hint: outbox positions have no gaps. Which single position is "the next one"?

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Apply,
    Skip,
    Early,
}

pub fn outcome(stored: u64, position: u64) -> Outcome {
    // TODO: this applies everything, repeats included.
    let _ = (stored, position);
    Outcome::Apply
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::cqrs::{Delivery, decide};

    #[test]
    fn the_rule() {
        assert_eq!(outcome(0, 1), Outcome::Apply);
        assert_eq!(outcome(5, 5), Outcome::Skip);
        assert_eq!(outcome(5, 2), Outcome::Skip);
        assert_eq!(outcome(5, 6), Outcome::Apply);
        assert_eq!(outcome(5, 7), Outcome::Early);
    }

    #[test]
    fn agrees_with_the_crate() {
        for stored in 0..20 {
            for position in 0..25 {
                let want = match decide(stored, position) {
                    Delivery::Applied => Outcome::Apply,
                    Delivery::Skipped => Outcome::Skip,
                    _ => Outcome::Early,
                };
                assert_eq!(outcome(stored, position), want, "stored {stored}, position {position}");
            }
        }
    }
}
