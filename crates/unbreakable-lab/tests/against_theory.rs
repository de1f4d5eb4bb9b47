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
