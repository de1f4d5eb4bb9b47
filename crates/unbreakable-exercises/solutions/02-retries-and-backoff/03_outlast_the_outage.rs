// Exercise 02.3: a schedule long enough to outlast the outage.
//
// What to do: write `schedule_span(policy)`, the longest total time a policy can wait
// across all its retries (use `Backoff::bounds`), and `retries_to_outlast(base, cap,
// outage)`, the fewest retries of plain exponential backoff whose delays add up to at
// least `outage`.
// Why it matters: in the herd, clients whose retries were spent before the server came
// back were never served. Sum the delays before you pick `max_retries`.
// Chapter: 02-retries-and-backoff, "The thundering herd" and exercise 1.
// Hint: `bounds(n)` gives the range of retry n's delay; which end bounds the total? And
//   for the count, why not just keep adding delays until the sum is long enough?

use std::time::Duration;
use unbreakable::retry::{Backoff, RetryPolicy};

/// The longest a policy can wait in total.
pub fn schedule_span(policy: &RetryPolicy) -> Duration {
    (0..policy.max_retries()).map(|n| policy.backoff().bounds(n).1).sum()
}

/// The fewest retries of un-jittered exponential backoff that wait `outage` in total.
pub fn retries_to_outlast(base: Duration, cap: Duration, outage: Duration) -> u32 {
    let backoff = Backoff::exponential(base).with_cap(cap).build().expect("a valid backoff");
    let (mut total, mut n) = (Duration::ZERO, 0);
    while total < outage {
        total += backoff.bounds(n).1;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::retry::Jitter;

    fn s(v: u64) -> Duration {
        Duration::from_secs(v)
    }

    #[test]
    fn span_of_the_articles_widget() {
        let b = Backoff::exponential(s(1)).with_cap(s(30)).build().unwrap();
        assert_eq!(schedule_span(&RetryPolicy::new(b, 5).unwrap()), s(1 + 2 + 4 + 8 + 16));
        assert_eq!(schedule_span(&RetryPolicy::new(b, 7).unwrap()), s(31 + 30 + 30));
        assert_eq!(schedule_span(&RetryPolicy::no_retries()), Duration::ZERO);
    }

    #[test]
    fn full_jitter_spans_at_most_the_same() {
        let b = Backoff::exponential(s(1)).with_cap(s(30)).with_jitter(Jitter::Full).build().unwrap();
        assert_eq!(schedule_span(&RetryPolicy::new(b, 5).unwrap()), s(31));
    }

    #[test]
    fn outlasting_a_minute() {
        assert_eq!(retries_to_outlast(s(1), s(30), s(60)), 6); // 1+2+4+8+16+30 = 61
        assert_eq!(retries_to_outlast(s(1), s(30), s(61)), 6);
        assert_eq!(retries_to_outlast(s(1), s(30), s(62)), 7);
        assert_eq!(retries_to_outlast(s(1), s(30), Duration::ZERO), 0);
    }
}
