// Exercise 03.5: the SRE retry ratio.
//
// What to do: write `retries_allowed(first_tries, ratio)`: with a `RetryRatio` of
// `ratio` over a minute, record `first_tries` first tries at one instant, then ask for
// retries at that instant until one is refused; return how many were allowed. Then
// write `bound(ratio)`, the most retries per first try such a budget lets through in the
// long run.
// Why it matters: Google's SRE book caps retries at about 10% of a client's requests.
// Because retries count as requests too, the real cap is a little above 10%: knowing
// the exact figure is what lets you add it up across layers.
// Chapter: 03-circuit-breakers-and-budgets, "Retry budgets".
// Hint: if retries are at most a share r of all requests, and all requests are first
//   tries plus retries, how many retries per first try is that?

use std::time::Duration;
use unbreakable::retry::RetryRatio;

pub fn retries_allowed(first_tries: u32, ratio: f64) -> u32 {
    let mut budget = RetryRatio::new(ratio, Duration::from_secs(60)).expect("a valid ratio");
    let now = Duration::ZERO;
    for _ in 0..first_tries {
        budget.record_request(now);
    }
    let mut n = 0;
    while budget.try_retry(now) {
        n += 1;
    }
    n
}

pub fn bound(ratio: f64) -> f64 {
    ratio / (1.0 - ratio)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_one_retry_in_ten() {
        assert_eq!(retries_allowed(20, 0.1), 2);
        assert_eq!(retries_allowed(900, 0.1), 100);
        assert_eq!(retries_allowed(0, 0.1), 0);
        assert_eq!(retries_allowed(100, 0.2), 25);
        assert_eq!(retries_allowed(10, 0.5), 10);
    }

    #[test]
    fn the_long_run_bound() {
        // r / (1 - r), worked by hand at several ratios.
        for &(r, want) in &[(0.1, 1.0 / 9.0), (0.2, 0.25), (0.5, 1.0), (0.0, 0.0), (0.25, 1.0 / 3.0)] {
            assert!((bound(r) - want).abs() < 1e-12, "ratio {r}: {}, want {want}", bound(r));
        }
        let n = 9000;
        let allowed = f64::from(retries_allowed(n, 0.1));
        assert!((allowed / f64::from(n) - bound(0.1)).abs() < 1e-3, "{allowed}");
        let allowed = f64::from(retries_allowed(n, 0.2));
        assert!((allowed / f64::from(n) - bound(0.2)).abs() < 1e-3, "{allowed}");
    }
}
