// Exercise 01.3: a p99 can improve during an outage.
//
// What to do: write `percentile(samples, q)` (nearest rank: the smallest sample with at
// least a share `q` of the samples at or below it), then `p99_split(records)`, the p99
// latency of all requests and of the successful ones only.
// Why it matters: a failure that answers in 1 ms is a "fast request". Mixed in, fast
// failures pull the p99 down just as users are hurt; track success latency apart.
// Chapter: 01-why-systems-fail, "Each kind of failure" (the p99 lesson).
// Hint: for n sorted samples, which index holds the nearest-rank q-th percentile:
//   ceil(q * n) - 1 in exact arithmetic; but in f64, 0.07 * 100.0 is 7.000000000000001.
//   How do you keep that from picking the 8th sample? And what should an empty list give?

use std::time::Duration;

/// The nearest-rank percentile `q` in (0, 1] of `samples` (None if empty).
pub fn percentile(samples: &[Duration], q: f64) -> Option<Duration> {
    // TODO
    todo!("{} samples, q = {q}", samples.len())
}

/// (p99 of every request, p99 of the successful ones), from (latency, succeeded) records.
pub fn p99_split(records: &[(Duration, bool)]) -> (Option<Duration>, Option<Duration>) {
    // TODO
    todo!("{} records", records.len())
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
        // 0.07 * 100.0 is 7.000000000000001 in f64: the 7th sample, not the 8th.
        assert_eq!(percentile(&s, 0.07), Some(ms(7)));
    }

    #[test]
    fn nearest_rank_against_integer_arithmetic() {
        // q = a / 1000: the rank is ceil(a * n / 1000), computed here in integers.
        for n in 1..=200u64 {
            let s: Vec<Duration> = (1..=n).rev().map(ms).collect();
            for a in [1u64, 7, 70, 250, 290, 500, 570, 900, 990, 999, 1000] {
                let rank = (a * n).div_ceil(1000).max(1);
                let q = a as f64 / 1000.0;
                assert_eq!(percentile(&s, q), Some(ms(rank)), "q = {q}, n = {n}");
            }
        }
    }

    #[test]
    fn fast_failures_flatter_the_p99() {
        // 900 successes from 10 ms to 189 ms, then 600 failures that answer in 1 ms.
        let mut records: Vec<(Duration, bool)> = (0..900).map(|i| (ms(10 + i / 5), true)).collect();
        let (all_before, _) = p99_split(&records);
        records.extend((0..600).map(|_| (ms(1), false)));
        let (all, ok) = p99_split(&records);
        assert_eq!(all_before, Some(ms(188)), "the 891st of 900 successes");
        // The 1485th of 1500: 600 failures at 1 ms, then the 885th success.
        assert_eq!(all, Some(ms(186)), "the p99 of all requests went down during the outage");
        assert_eq!(ok, Some(ms(188)));
        // Only failures, or only successes: the split still answers.
        let failures: Vec<(Duration, bool)> = (0..10).map(|_| (ms(1), false)).collect();
        assert_eq!(p99_split(&failures), (Some(ms(1)), None));
        assert_eq!(p99_split(&[]), (None, None));
    }
}
