//! Simulations checked against published results and closed-form formulas.

use unbreakable_lab::scenarios::contention::{sweep, Algorithm};
use unbreakable_lab::scenarios::expectation;

/// The AWS Architecture Blog's "Exponential Backoff And Jitter" (2015): at 100 contending
/// clients, full jitter needs less than half the calls of un-jittered exponential backoff,
/// equal and full jitter are close, and un-jittered exponential is by far the slowest to
/// complete.
#[test]
fn contention_has_the_shape_of_the_blog() {
    let points = sweep(&[100], 100, 2015).unwrap();
    let at = |a: Algorithm| points.iter().find(|p| p.algorithm == a).unwrap();
    let (exp, full, equal, decorr, none) = (
        at(Algorithm::Exponential),
        at(Algorithm::FullJitter),
        at(Algorithm::EqualJitter),
        at(Algorithm::Decorrelated),
        at(Algorithm::NoBackoff),
    );
    assert!(full.calls < 0.5 * exp.calls, "full {} vs exponential {}", full.calls, exp.calls);
    assert!((equal.calls - full.calls).abs() < 0.15 * full.calls, "equal {} vs full {}", equal.calls, full.calls);
    assert!(none.calls > exp.calls, "no backoff does the most work");
    for other in [full, equal, decorr, none] {
        assert!(exp.time_ms > 2.0 * other.time_ms, "exponential {} ms vs {} {} ms", exp.time_ms, other.algorithm.name(), other.time_ms);
    }
}

/// E[attempts] = (1 - p^(n+1)) / (1 - p) for independent failures and n retries.
/// Tolerance: 4 standard errors of the simulated mean (a false alarm about once in 16,000
/// checks), plus 1e-9 for the cases with no variance.
#[test]
fn expected_attempts_match_the_formula() {
    for n in [0, 1, 3, 5] {
        for p in [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0] {
            let c = expectation::check(p, n, 20_000, 99).unwrap();
            assert!(
                (c.simulated - c.predicted).abs() <= 4.0 * c.std_error + 1e-9,
                "p {p}, n {n}: simulated {} ± {}, formula {}",
                c.simulated,
                c.std_error,
                c.predicted
            );
        }
    }
}

/// Chapter 08: a connection pool under Poisson arrivals and exponential hold times is an
/// M/M/c queue. The simulated share that waits and the mean wait match Erlang C, and the
/// time-averaged queue length matches Little's law (Lq = λ Wq) with λ counted from the
/// run. 20,000 s at 40 req/s (800,000 requests) per size; waits are autocorrelated, so the
/// tolerances are 4% (share) and 8% (mean wait, at 80% utilisation the noisiest) and 3%
/// for Little's law (which holds exactly up to the 5 ms sampling and the edges).
#[test]
fn connection_pool_matches_erlang_c_and_littles_law() {
    use std::time::Duration;
    use unbreakable_lab::scenarios::conn_pool::ConnPool;
    let x = ConnPool { per_second: 40.0, burst_per_second: 0.0, horizon: Duration::from_secs(20_000), ..ConnPool::widget() };
    for size in [5, 6, 8] {
        let run = ConnPool { size, ..x.clone() }.run(808).unwrap();
        let p = &x.sweep(&[size], 808).unwrap()[0];
        let (ep, ew) = (p.erlang_p_wait.unwrap(), p.erlang_wait_ms.unwrap());
        assert!((p.p_wait - ep).abs() < 0.04 * ep, "{size}: P(wait) {} vs Erlang C {ep}", p.p_wait);
        assert!((p.mean_wait_ms - ew).abs() < 0.08 * ew, "{size}: mean wait {} ms vs Erlang C {ew} ms", p.mean_wait_ms);
        let lambda = run.requests.len() as f64 / x.horizon.as_secs_f64();
        let little = lambda * p.mean_wait_ms / 1e3;
        assert!((p.mean_queue - little).abs() < 0.03 * little, "{size}: Lq {} vs λW {little}", p.mean_queue);
    }
}
