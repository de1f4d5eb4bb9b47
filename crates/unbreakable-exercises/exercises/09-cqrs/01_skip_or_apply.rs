// Exercise 09.1: skip repeats, hold early arrivals, refuse when the buffer is full.
//
// What to do: a projector has applied every event up to `applied`; events arrive from the
// outbox with their positions, at least once and not always in order. Write
// `Reorder::arrive(position)`: it returns the positions to apply now, in order. A repeat
// (at or below `applied`, or already held) gives nothing. The next position is applied at
// once, together with any held ones that now follow without a gap. A later position is
// held, but at most `capacity` of them: when the buffer is full, an early arrival is
// refused with `Err(position)` (the relay will send it again).
// Why it matters: delivery from an outbox is at least once, so repeats are normal; and a
// consumer reading several partitions can see a later event first. Refusing every early
// event wastes a round trip; holding every one is a memory leak. You decide the bound.
// Chapter: 09-cqrs, "Idempotent projections: repeats skipped, early arrivals refused".
// Hint: outbox positions have no gaps, so "the next one" is `applied + 1`. A `BTreeSet`
//   keeps the held positions sorted: after applying one, is `applied + 1` in it?

use std::collections::BTreeSet;

#[derive(Debug)]
pub struct Reorder {
    /// Every position up to this one has been applied.
    pub applied: u64,
    /// Early arrivals waiting for the gap before them to fill.
    pub held: BTreeSet<u64>,
    /// The most early arrivals held at once.
    pub capacity: usize,
}

impl Reorder {
    pub fn new(applied: u64, capacity: usize) -> Self {
        Reorder { applied, held: BTreeSet::new(), capacity }
    }

    /// The positions to apply now, in order; `Err(position)` for an early arrival that
    /// does not fit in the buffer.
    pub fn arrive(&mut self, position: u64) -> Result<Vec<u64>, u64> {
        // TODO: this applies everything, repeats and early arrivals included.
        self.applied = self.applied.max(position);
        Ok(vec![position])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_and_repeats() {
        let mut r = Reorder::new(0, 4);
        assert_eq!(r.arrive(1), Ok(vec![1]));
        assert_eq!(r.arrive(2), Ok(vec![2]));
        assert_eq!(r.arrive(2), Ok(vec![]), "a repeat of the last one");
        assert_eq!(r.arrive(1), Ok(vec![]), "an old repeat");
        assert_eq!(r.applied, 2);
    }

    #[test]
    fn early_arrivals_wait_for_the_gap() {
        let mut r = Reorder::new(5, 4);
        assert_eq!(r.arrive(8), Ok(vec![]));
        assert_eq!(r.arrive(7), Ok(vec![]));
        assert_eq!(r.arrive(8), Ok(vec![]), "held already: a repeat");
        assert_eq!(r.arrive(6), Ok(vec![6, 7, 8]));
        assert_eq!(r.applied, 8);
        assert!(r.held.is_empty());
        // A gap that stays: 10 and 12 held, 9 releases only 10.
        assert_eq!(r.arrive(12), Ok(vec![]));
        assert_eq!(r.arrive(10), Ok(vec![]));
        assert_eq!(r.arrive(9), Ok(vec![9, 10]));
        assert_eq!(r.held, BTreeSet::from([12]));
        assert_eq!(r.arrive(11), Ok(vec![11, 12]));
    }

    #[test]
    fn a_full_buffer_refuses() {
        let mut r = Reorder::new(0, 2);
        assert_eq!(r.arrive(3), Ok(vec![]));
        assert_eq!(r.arrive(4), Ok(vec![]));
        assert_eq!(r.arrive(5), Err(5), "the buffer holds two");
        assert_eq!(r.arrive(3), Ok(vec![]), "a repeat of a held one is not refused");
        assert_eq!(r.arrive(1), Ok(vec![1]), "the next one is always taken");
        assert_eq!(r.arrive(2), Ok(vec![2, 3, 4]));
        assert_eq!(r.arrive(5), Ok(vec![5]), "sent again, now it is the next one");
        let mut none = Reorder::new(0, 0);
        assert_eq!(none.arrive(2), Err(2), "no buffer: refuse every early arrival");
    }

    #[test]
    fn any_order_of_a_shuffled_batch_applies_each_once_in_order() {
        // Positions 1..=50, each sent twice, in a scrambled order; refused ones are resent
        // at the end, as a relay would.
        let mut queue: Vec<u64> = (1..=50).flat_map(|p| [p, p]).collect();
        let mut x = 7u64;
        for i in (1..queue.len()).rev() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            queue.swap(i, (x >> 33) as usize % (i + 1));
        }
        let mut r = Reorder::new(0, 8);
        let mut applied = Vec::new();
        let mut i = 0;
        while i < queue.len() {
            match r.arrive(queue[i]) {
                Ok(now) => applied.extend(now),
                Err(p) => queue.push(p),
            }
            assert!(r.held.len() <= 8, "the buffer is bounded");
            i += 1;
        }
        assert_eq!(applied, (1..=50).collect::<Vec<u64>>());
    }
}
