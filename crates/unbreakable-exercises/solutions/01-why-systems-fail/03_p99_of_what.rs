// Exercise 01.3: a p99 can improve during an outage.
//
// What to do: write `percentile(samples, q)` (nearest rank: the smallest sample with at
// least a share `q` of the samples at or below it), then `p99_split(records)`, the p99
// latency of all requests and of the successful ones only.
// Why it matters: a failure that answers in 1 ms is a "fast request". Mixed in, fast
// failures pull the p99 down just as users are hurt; track success latency apart.
// Chapter: 01-why-systems-fail, "Each kind of failure" (the p99 lesson).
// Hint: for n sorted samples, which index holds the nearest-rank q-th percentile:
//   ceil(q * n) - 1, or something else? And what should an empty list give?

use std::time::Duration;

/// The nearest-rank percentile `q` in (0, 1] of `samples` (None if empty).
pub fn percentile(samples: &[Duration], q: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort();
    let rank = (q * s.len() as f64).ceil() as usize;
    Some(s[rank.clamp(1, s.len()) - 1])
}

/// (p99 of every request, p99 of the successful ones), from (latency, succeeded) records.
pub fn p99_split(records: &[(Duration, bool)]) -> (Option<Duration>, Option<Duration>) {
    let all: Vec<Duration> = records.iter().map(|r| r.0).collect();
    let ok: Vec<Duration> = records.iter().filter(|r| r.1).map(|r| r.0).collect();
    (percentile(&all, 0.99), percentile(&ok, 0.99))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn nearest_rank() {
        let s: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&s, 0.99), Some(ms(99)));
        assert_eq!(percentile(&s, 0.5), Some(ms(50)));
        assert_eq!(percentile(&s, 1.0), Some(ms(100)));
        assert_eq!(percentile(&[ms(5)], 0.99), Some(ms(5)));
        assert_eq!(percentile(&[], 0.99), None);
        // Order does not matter.
        let rev: Vec<Duration> = (1..=100).rev().map(ms).collect();
        assert_eq!(percentile(&rev, 0.99), Some(ms(99)));
    }

    #[test]
    fn fast_failures_flatter_the_p99() {
        // 900 successes from 10 ms to 189 ms, then 600 failures that answer in 1 ms.
        let mut records: Vec<(Duration, bool)> = (0..900).map(|i| (ms(10 + i / 5), true)).collect();
        let (all_before, _) = p99_split(&records);
        records.extend((0..600).map(|_| (ms(1), false)));
        let (all, ok) = p99_split(&records);
        assert!(all < all_before, "the p99 of all requests went down during the outage");
        assert_eq!(ok, Some(ms(188)));
    }
}
