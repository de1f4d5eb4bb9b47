use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::{SimTime, nanos};

/// A discrete-event queue: events come out in time order, ties in the order they were
/// scheduled, so a run is a pure function of its seed.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable_lab::sim::EventQueue;
///
/// let mut q = EventQueue::new();
/// q.schedule(Duration::from_millis(20), "second");
/// q.schedule(Duration::from_millis(10), "first");
/// assert_eq!(q.pop(), Some((Duration::from_millis(10), "first")));
/// assert_eq!(q.now(), Duration::from_millis(10));
/// ```
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    seq: u64,
    now: u64,
    processed: u64,
}

/// An event with its key: time in nanoseconds in the high 64 bits, the scheduling
/// sequence number in the low 64, so one integer comparison orders by time, then FIFO.
#[derive(Debug)]
struct Entry<E> {
    key: u128,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest (then first scheduled) wins.
        other.key.cmp(&self.key)
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue at time zero.
    pub fn new() -> Self {
        Self { heap: BinaryHeap::new(), seq: 0, now: 0, processed: 0 }
    }

    /// Schedules `event` at absolute time `at`. A time in the past is moved to `now`
    /// (time never runs backwards).
    pub fn schedule(&mut self, at: SimTime, event: E) {
        let at = nanos(at).max(self.now);
        self.heap.push(Entry { key: (u128::from(at) << 64) | u128::from(self.seq), event });
        self.seq += 1;
    }

    /// Schedules `event` `delay` after now.
    pub fn schedule_in(&mut self, delay: SimTime, event: E) {
        self.schedule(self.now().saturating_add(delay), event);
    }

    /// Takes the next event and advances the clock to it.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let Entry { key, event } = self.heap.pop()?;
        let at = (key >> 64) as u64;
        debug_assert!(at >= self.now, "time ran backwards");
        self.now = at;
        self.processed += 1;
        Some((SimTime::from_nanos(at), event))
    }

    /// The current virtual time: the time of the last event taken.
    pub fn now(&self) -> SimTime {
        SimTime::from_nanos(self.now)
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Events taken so far (the simulator's unit of work in benchmarks).
    pub fn processed(&self) -> u64 {
        self.processed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ties_keep_scheduling_order_and_past_times_are_clamped() {
        let mut q = EventQueue::new();
        let t = Duration::from_secs(1);
        q.schedule(t, 1);
        q.schedule(t, 2);
        q.schedule(t, 3);
        assert_eq!(q.pop(), Some((t, 1)));
        q.schedule(Duration::ZERO, 4); // in the past: runs "now"
        assert_eq!(q.pop(), Some((t, 2)));
        assert_eq!(q.pop(), Some((t, 3)));
        assert_eq!(q.pop(), Some((t, 4)));
        assert_eq!(q.pop(), None);
        assert_eq!(q.processed(), 4);
    }
}
