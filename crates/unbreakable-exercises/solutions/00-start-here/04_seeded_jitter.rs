// Exercise 00.4: the same seed gives the same numbers.
//
// What to do: make `jittered_delays(seed)` return the first five full-jitter delays of
// an exponential backoff (base 100 ms, cap 2 s), drawing the jitter from a generator
// seeded with `seed`, so that a run can be repeated exactly.
// Why it matters: a simulation or a test that draws from an unseeded generator gives
// different numbers each run, and a failure you cannot reproduce you cannot debug. (A
// service, in contrast, must NOT share a seed: replicas would retry in step.)
// Chapter: 00-start-here, "The same seed gives the same numbers".
// Hint: which function in `unbreakable::retry` makes a generator from a seed, and which
//   one reads the operating system's randomness?

use std::time::Duration;
use unbreakable::retry::{Backoff, Jitter};

pub fn jittered_delays(seed: u64) -> Vec<Duration> {
    let backoff = Backoff::exponential(Duration::from_millis(100))
        .with_cap(Duration::from_secs(2))
        .with_jitter(Jitter::Full)
        .build()
        .expect("a valid backoff");
    let rng = unbreakable::retry::seeded_rng(seed, 0);
    backoff.delays(rng).take(5).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_delays() {
        assert_eq!(jittered_delays(7), jittered_delays(7));
        assert_eq!(jittered_delays(8), jittered_delays(8));
    }

    #[test]
    fn different_seeds_differ() {
        assert_ne!(jittered_delays(7), jittered_delays(8));
    }

    #[test]
    fn every_delay_is_within_full_jitters_bounds() {
        let d = jittered_delays(42);
        assert_eq!(d.len(), 5);
        for (n, delay) in d.iter().enumerate() {
            let t = Duration::from_millis(100 * (1 << n)).min(Duration::from_secs(2));
            assert!(*delay <= t, "retry {n}: {delay:?} > {t:?}");
        }
    }

    #[test]
    fn over_many_seeds_the_delays_spread_like_full_jitter() {
        // Full jitter draws uniformly from [0, t]: over 400 seeds the mean of retry n is
        // close to t/2 and the draws reach near both ends. Constants cannot do that.
        let runs: Vec<Vec<Duration>> = (0..400).map(jittered_delays).collect();
        for n in 0..5 {
            let t = Duration::from_millis(100 * (1 << n)).min(Duration::from_secs(2)).as_secs_f64();
            let draws: Vec<f64> = runs.iter().map(|r| r[n].as_secs_f64() / t).collect();
            let mean = draws.iter().sum::<f64>() / draws.len() as f64;
            let (lo, hi) = draws.iter().fold((1.0_f64, 0.0_f64), |(lo, hi), &d| (lo.min(d), hi.max(d)));
            assert!((mean - 0.5).abs() < 0.05, "retry {n}: mean {mean:.3} of t, want about 0.5");
            assert!(lo < 0.05 && hi > 0.95, "retry {n}: draws span [{lo:.3}, {hi:.3}] of t");
        }
    }
}
