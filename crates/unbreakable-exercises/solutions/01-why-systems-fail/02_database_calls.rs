// Exercise 01.2: what one retry costs the database.
//
// What to do: fill in `one_retry()`: the share of requests that still fail when a
// database call that fails 5% of the time is retried once, and the mean number of
// database calls per request. Compute them from the formulas (not by hand-typed numbers),
// then check them against a seeded simulation of 20,000 requests.
// Why it matters: a retry hides most of a dependency's failures from users, but each one
// is an extra call the dependency must serve, at the moment it is struggling.
// Chapter: 01-why-systems-fail, exercise 1.
// Hint: which of `p^(n+1)` and `(1 - p^(n+1)) / (1 - p)` is the share failing, and which
//   the calls per request? Does the crate already have one of them?

use rand::Rng;

/// (share still failing, mean database calls per request) for p = 0.05, one retry.
pub fn one_retry() -> (f64, f64) {
    let (p, n) = (0.05_f64, 1_u32);
    let still_failing = p.powi(n as i32 + 1);
    let calls = unbreakable::retry::expected_attempts(p, n);
    let _ = (p, n);
    (still_failing, calls)
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
    fn the_formulas() {
        let (f, c) = one_retry();
        assert!((f - 0.0025).abs() < 1e-12, "still failing: {f}");
        assert!((c - 1.05).abs() < 1e-12, "calls: {c}");
    }

    #[test]
    fn the_simulation_agrees() {
        let (f, c) = one_retry();
        let (sf, sc) = simulate(0.05, 1, 20_000, 7);
        assert!((sf - f).abs() < 0.0015, "simulated {sf} against {f}");
        assert!((sc - c).abs() < 0.01, "simulated {sc} against {c}");
    }
}
