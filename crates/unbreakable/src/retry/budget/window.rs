use std::collections::VecDeque;
use std::time::Duration;

/// The most buckets a [`WindowedCount`] keeps: a bound on its memory (and on the
/// division that sizes a bucket, which a huge count would otherwise turn into a division
/// by zero).
pub const MAX_BUCKETS: usize = 10_000;

/// A count of events over a sliding window, kept in a fixed number of buckets so its
/// memory is bounded whatever the traffic.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::retry::budget::WindowedCount;
///
/// let mut c = WindowedCount::new(Duration::from_secs(10), 10);
/// c.add(Duration::from_secs(0), 5);
/// c.add(Duration::from_secs(9), 1);
/// assert_eq!(c.total(Duration::from_secs(9)), 6);
/// assert_eq!(c.total(Duration::from_secs(10)), 1); // the first bucket has slid out
/// ```
#[derive(Debug, Clone)]
pub struct WindowedCount {
    bucket: Duration,
    buckets: usize,
    /// (bucket index, count), oldest first, at most `buckets` entries.
    counts: VecDeque<(u64, u64)>,
}

impl WindowedCount {
    /// A window of `window`, split into `buckets` buckets (clamped to
    /// `1..=`[`MAX_BUCKETS`]; the window is rounded to a whole number of nanoseconds per
    /// bucket, at least one).
    pub fn new(window: Duration, buckets: usize) -> Self {
        let buckets = buckets.clamp(1, MAX_BUCKETS);
        // `buckets` fits a u32 and is at least 1: the division cannot panic.
        let bucket = (window / buckets as u32).max(Duration::from_nanos(1));
        Self { bucket, buckets, counts: VecDeque::with_capacity(buckets + 1) }
    }

    fn index(&self, t: Duration) -> u64 {
        u64::try_from(t.as_nanos() / self.bucket.as_nanos()).unwrap_or(u64::MAX)
    }

    fn expire(&mut self, now_idx: u64) {
        while let Some(&(i, _)) = self.counts.front() {
            if i.saturating_add(self.buckets as u64) <= now_idx {
                self.counts.pop_front();
            } else {
                break;
            }
        }
    }

    /// Adds `n` events at `now` (times must not run backwards by more than a bucket).
    /// Counts saturate at `u64::MAX` rather than overflow.
    pub fn add(&mut self, now: Duration, n: u64) {
        let idx = self.index(now);
        self.expire(idx);
        match self.counts.back_mut() {
            Some((i, c)) if *i >= idx => *c = c.saturating_add(n),
            _ => self.counts.push_back((idx, n)),
        }
    }

    /// Events within the window ending at `now`.
    pub fn total(&mut self, now: Duration) -> u64 {
        let idx = self.index(now);
        self.expire(idx);
        self.counts.iter().fold(0u64, |sum, &(_, c)| sum.saturating_add(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bug: `add` and `total` summed with `+`, so counts near `u64::MAX` overflowed (a
    /// panic in debug builds, a wrapped, tiny count in release).
    #[test]
    fn huge_counts_saturate_instead_of_overflowing() {
        let mut c = WindowedCount::new(Duration::from_secs(10), 10);
        c.add(Duration::ZERO, u64::MAX - 1);
        c.add(Duration::ZERO, 5);
        assert_eq!(c.total(Duration::ZERO), u64::MAX);
        c.add(Duration::from_secs(1), u64::MAX);
        assert_eq!(c.total(Duration::from_secs(1)), u64::MAX, "the sum over buckets saturates too");
        assert_eq!(c.total(Duration::from_secs(10)), u64::MAX, "the second bucket alone");
        assert_eq!(c.total(Duration::from_secs(30)), 0);
    }
}
