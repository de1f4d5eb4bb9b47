// Exercise 01.2: how many retries the database can afford.
//
// What to do: write `retry_cost(p, retries)`: the share of requests that still fail when
// a database call that fails with probability `p` is retried up to `retries` times, and
// the mean number of database calls per request. Then decide: `choose_retries(p,
// max_failing, max_calls)` is the fewest retries that bring the failing share to at most
// `max_failing`, or None when that takes more than `max_calls` calls per request on
// average (or more than 100 retries). The tests check your formulas against a seeded
// simulation.
// Why it matters: a retry hides most of a dependency's failures from users, but each one
// is an extra call the dependency must serve, at the moment it is struggling. At 5%
// failures one retry is nearly free; at 50% the same goal doubles the database's load.
// Chapter: 01-why-systems-fail, exercise 1.
// Hint: a request still fails only if every one of its `retries + 1` calls fails; the
//   k-th call happens only if the k - 1 before it failed (1 + p + p^2 + ...). Watch for
//   `retries as i32 + 1` when retries = u32::MAX.

use rand::Rng;

/// (share still failing, mean database calls per request) for failure probability `p`
/// and at most `retries` retries.
pub fn retry_cost(p: f64, retries: u32) -> (f64, f64) {
    // TODO: formulas in p and retries.
    todo!("p = {p}, retries = {retries}")
}

/// The fewest retries that keep the failing share at or below `max_failing` without more
/// than `max_calls` database calls per request; None if there is no such number up to 100.
pub fn choose_retries(p: f64, max_failing: f64, max_calls: f64) -> Option<u32> {
    // TODO: decide, using `retry_cost`.
    todo!("p = {p}, max_failing = {max_failing}, max_calls = {max_calls}")
}

/// A seeded simulation: `requests` requests, each retried up to `retries` times.
fn simulate(p: f64, retries: u32, requests: u32, seed: u64) -> (f64, f64) {
    let mut rng = unbreakable::retry::seeded_rng(seed, 0);
    let (mut failed, mut calls) = (0u32, 0u32);
    for _ in 0..requests {
        let mut ok = false;
        for _ in 0..=retries {
            calls += 1;
            if rng.random::<f64>() >= p {
                ok = true;
                break;
            }
        }
        failed += u32::from(!ok);
    }
    (f64::from(failed) / f64::from(requests), f64::from(calls) / f64::from(requests))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formulas_at_several_points() {
        // Worked by hand: 0.05^2 and 1 + 0.05; 0.5^3 and 1 + 0.5 + 0.25; 0.3 and 1 call.
        for &(p, n, fail, calls) in
            &[(0.05, 1, 0.0025, 1.05), (0.5, 2, 0.125, 1.75), (0.3, 0, 0.3, 1.0), (1.0, 3, 1.0, 4.0)]
        {
            let (f, c) = retry_cost(p, n);
            assert!((f - fail).abs() < 1e-12, "p = {p}, retries = {n}: still failing {f}, want {fail}");
            assert!((c - calls).abs() < 1e-12, "p = {p}, retries = {n}: calls {c}, want {calls}");
        }
    }

    #[test]
    fn the_simulation_agrees() {
        for &(p, n, seed) in &[(0.05, 1, 7), (0.4, 3, 8), (0.7, 2, 9)] {
            let (f, c) = retry_cost(p, n);
            let (sf, sc) = simulate(p, n, 20_000, seed);
            assert!((sf - f).abs() < 0.01, "p = {p}, retries = {n}: simulated {sf} against {f}");
            assert!((sc - c).abs() < 0.03, "p = {p}, retries = {n}: simulated {sc} against {c}");
        }
    }

    #[test]
    fn huge_retry_counts_do_not_overflow() {
        let (f, c) = retry_cost(0.5, u32::MAX);
        assert!(f.abs() < 1e-12 && (c - 2.0).abs() < 1e-12, "({f}, {c})");
    }

    #[test]
    fn the_decision() {
        // 5%: two retries bring failures to 0.0125% for 1.0525 calls a request.
        assert_eq!(choose_retries(0.05, 0.001, 1.1), Some(2));
        // 50%: six retries are needed, at 1.98 calls a request: too much for a 1.5 budget.
        assert_eq!(choose_retries(0.5, 0.01, 1.5), None);
        assert_eq!(choose_retries(0.5, 0.01, 2.0), Some(6));
        assert_eq!(choose_retries(0.3, 0.001, 1.5), Some(5));
        assert_eq!(choose_retries(0.3, 0.001, 1.42), None);
        assert_eq!(choose_retries(0.0, 0.0, 1.0), Some(0));
        assert_eq!(choose_retries(1.0, 0.01, 1000.0), None, "a database that is down never meets the goal");
    }
}
