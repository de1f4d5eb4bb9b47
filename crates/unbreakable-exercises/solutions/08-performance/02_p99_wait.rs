// Exercise 08.2: size a pool for the 99th percentile of the wait, not its mean.
//
// What to do: in the M/M/c queue a request waits at all with probability C (Erlang C's
// `p_wait`), and a request that waits, waits an exponential time with rate c·μ - λ
// (μ = 1 / hold). So P(wait > t) = C · e^-(cμ - λ)t. Write `wait_quantile`: the wait that
// a share `q` of requests stays within (zero if at least that share never waits; None if
// the pool is saturated), and `smallest_pool_for`: the fewest connections whose
// q-quantile wait is at most `target`.
// Why it matters: a mean hides the tail. The chapter's exercise asks whether the pool
// that keeps the mean wait under 1 ms keeps the 99th percentile under it too; this is the
// formula that answers without a simulation.
// Chapter: 08-performance, "How big should a pool be? Erlang C".
// Hint: for which t is C · e^-(cμ - λ)t equal to 1 - q? When is that t below zero, and
//   what does that mean for the request?

use std::time::Duration;
use unbreakable::pool::erlang_c;

pub fn wait_quantile(per_second: f64, hold: Duration, connections: u32, q: f64) -> Option<Duration> {
    let e = erlang_c(per_second, hold, connections)?;
    let tail = 1.0 - q;
    if e.p_wait <= tail {
        return Some(Duration::ZERO);
    }
    let rate = f64::from(connections) / hold.as_secs_f64() - per_second;
    Some(Duration::from_secs_f64((e.p_wait / tail).ln() / rate))
}

pub fn smallest_pool_for(per_second: f64, hold: Duration, q: f64, target: Duration, max: u32) -> Option<u32> {
    (1..=max).find(|&c| wait_quantile(per_second, hold, c, q).is_some_and(|w| w <= target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::pool::smallest_pool;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn one_connection_by_hand() {
        // M/M/1 at half load: half the requests wait, with rate μ - λ = 0.5/s, so the
        // 99th percentile is ln(0.5 / 0.01) / 0.5 = 2 ln 50 s.
        let w = wait_quantile(0.5, Duration::from_secs(1), 1, 0.99).unwrap();
        assert!((w.as_secs_f64() - 2.0 * 50f64.ln()).abs() < 1e-9, "{w:?}");
        // The median request does not wait at all.
        assert_eq!(wait_quantile(0.5, Duration::from_secs(1), 1, 0.5), Some(Duration::ZERO));
        assert_eq!(wait_quantile(1.0, Duration::from_secs(1), 1, 0.99), None);
    }

    #[test]
    fn the_tail_needs_more_than_the_mean() {
        // The notebook's exercise: 400 queries/s of 20 ms, 1 ms.
        let mean = smallest_pool(400.0, ms(20), ms(1), 100).unwrap();
        let p99 = smallest_pool_for(400.0, ms(20), 0.99, ms(1), 100).unwrap();
        assert!(p99 > mean, "p99 pool {p99}, mean pool {mean}");
        let at_mean = wait_quantile(400.0, ms(20), mean, 0.99).unwrap();
        assert!(at_mean > ms(1), "{at_mean:?}");
        assert!(wait_quantile(400.0, ms(20), p99, 0.99).unwrap() <= ms(1));
        assert!(wait_quantile(400.0, ms(20), p99 - 1, 0.99).unwrap() > ms(1));
    }

    #[test]
    fn quantiles_grow_with_q_and_shrink_with_the_pool() {
        let w = |c, q| wait_quantile(400.0, ms(20), c, q).unwrap();
        assert!(w(9, 0.999) > w(9, 0.99) && w(9, 0.99) > w(9, 0.9));
        assert!(w(9, 0.99) > w(10, 0.99) && w(10, 0.99) >= w(11, 0.99));
    }
}
