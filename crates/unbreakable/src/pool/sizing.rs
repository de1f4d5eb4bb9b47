//! Pool sizing from Little's law and Erlang C (Poisson arrivals, exponential hold times,
//! first-come first-served: the M/M/c queue). Pure functions of rates and times.

use std::time::Duration;

use crate::error::ConfigError;

/// Little's law: the connections busy on average when `per_second` queries arrive and
/// each holds a connection for `hold` (L = λW). A pool smaller than this cannot keep up,
/// whatever the distribution of hold times.
pub fn busy_connections(per_second: f64, hold: Duration) -> f64 {
    per_second * hold.as_secs_f64()
}

/// What Erlang C predicts for one pool size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErlangC {
    /// The share of requests that find every connection busy and wait.
    pub p_wait: f64,
    /// The mean wait for a connection over all requests (those that wait none included).
    pub mean_wait: Duration,
    /// The share of time a connection is busy (ρ = λ / (c μ)).
    pub utilisation: f64,
}

/// Erlang C for `connections` connections, `per_second` arrivals and a mean hold of
/// `hold`. `None` when the pool is saturated (arrivals at or above what it can serve) or an
/// input is not a positive finite number; it never panics.
///
/// It runs Erlang B's recursion, B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1)), whose terms
/// stay in [0, 1], then C = c B / (c - a (1 - B)): exact to about one rounding error per
/// connection, for any pool size (a running a^k / k! would overflow near 170 connections
/// of load). It takes `connections` steps. A mean wait too long for a [`Duration`] (a pool
/// a hair above saturation) is reported as [`Duration::MAX`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::pool::erlang_c;
/// // 2 connections, 1 query per second holding one for 1 s: a third of queries wait.
/// let e = erlang_c(1.0, Duration::from_secs(1), 2).unwrap();
/// assert!((e.p_wait - 1.0 / 3.0).abs() < 1e-12);
/// assert!(erlang_c(2.0, Duration::from_secs(1), 2).is_none()); // saturated
/// ```
pub fn erlang_c(per_second: f64, hold: Duration, connections: u32) -> Option<ErlangC> {
    let a = valid_load(per_second, hold)?;
    let mut b = 1.0f64;
    for k in 1..=connections {
        b = erlang_b_step(a, k, b);
        if b == 0.0 {
            break; // it stays 0 (underflow): C is 0 too
        }
    }
    from_erlang_b(a, hold, connections, b)
}

/// The offered load a = λ h, if the inputs are a positive finite rate, a non-zero hold and
/// give a finite load.
fn valid_load(per_second: f64, hold: Duration) -> Option<f64> {
    let a = busy_connections(per_second, hold);
    (per_second.is_finite() && per_second > 0.0 && !hold.is_zero() && a.is_finite() && a > 0.0).then_some(a)
}

/// Erlang B for `k` connections from Erlang B for `k - 1`.
fn erlang_b_step(a: f64, k: u32, b: f64) -> f64 {
    let ab = a * b;
    ab / (f64::from(k) + ab)
}

/// Erlang C (and the mean wait) from Erlang B `b` for `connections` connections at load `a`.
fn from_erlang_b(a: f64, hold: Duration, connections: u32, b: f64) -> Option<ErlangC> {
    let c = f64::from(connections);
    if connections == 0 || a >= c {
        return None;
    }
    let p_wait = (c * b / (c - a * (1.0 - b))).clamp(0.0, 1.0);
    // Wq = C / (c μ - λ) = C h / (c - a): no cancellation between two large rates.
    let mean_wait = p_wait * hold.as_secs_f64() / (c - a);
    let mean_wait = Duration::try_from_secs_f64(mean_wait).unwrap_or(Duration::MAX);
    Some(ErlangC { p_wait, mean_wait, utilisation: a / c })
}

/// The smallest pool whose mean wait for a connection (Erlang C) is at most `target`, up to
/// `max` connections. One pass of Erlang B's recursion: `max` steps at most.
///
/// # Errors
/// A rate that is not a positive finite number, a zero hold time, a load too large to
/// represent, or no pool up to `max` that meets the target (the message gives the load in
/// connections, from Little's law).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::pool::smallest_pool;
/// // 200 queries/s of 20 ms each keep 4 connections busy; 1 ms mean wait needs 7.
/// assert_eq!(smallest_pool(200.0, Duration::from_millis(20), Duration::from_millis(1), 100).unwrap(), 7);
/// ```
pub fn smallest_pool(
    per_second: f64,
    hold: Duration,
    target: Duration,
    max: u32,
) -> Result<u32, ConfigError> {
    if !(per_second.is_finite() && per_second > 0.0) {
        return Err(ConfigError::new(
            "per_second",
            format!("{per_second} is not an arrival rate; give queries per second above 0"),
        ));
    }
    if hold.is_zero() {
        return Err(ConfigError::new(
            "hold",
            "a zero hold time needs no pool; give the mean time a query holds a connection",
        ));
    }
    let Some(a) = valid_load(per_second, hold) else {
        return Err(ConfigError::new(
            "per_second",
            format!("{per_second}/s held {hold:?} each is a load too large to size a pool for"),
        ));
    };
    let mut b = 1.0f64;
    for c in 1..=max {
        b = erlang_b_step(a, c, b);
        if from_erlang_b(a, hold, c, b).is_some_and(|e| e.mean_wait <= target) {
            return Ok(c);
        }
    }
    Err(ConfigError::new(
        "max",
        format!(
            "no pool up to {max} connections keeps the mean wait under {target:?}; the load alone keeps {a:.1} busy"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn littles_law_and_known_values() {
        assert!((busy_connections(200.0, Duration::from_millis(20)) - 4.0).abs() < 1e-12);
        // One connection (M/M/1): P(wait) = ρ, Wq = ρ / (μ - λ).
        let e = erlang_c(5.0, Duration::from_millis(100), 1).unwrap();
        assert!((e.p_wait - 0.5).abs() < 1e-12);
        assert!((e.mean_wait.as_secs_f64() - 0.1).abs() < 1e-9);
        assert!((e.utilisation - 0.5).abs() < 1e-12);
        assert!(erlang_c(f64::NAN, Duration::from_secs(1), 2).is_none());
        assert!(erlang_c(1.0, Duration::ZERO, 2).is_none());
    }

    #[test]
    fn smallest_pool_is_the_first_that_meets_the_target() {
        let (l, h, t) = (200.0, Duration::from_millis(20), Duration::from_millis(1));
        let c = smallest_pool(l, h, t, 100).unwrap();
        assert!(erlang_c(l, h, c).unwrap().mean_wait <= t);
        assert!(erlang_c(l, h, c - 1).is_none_or(|e| e.mean_wait > t));
        let e = smallest_pool(1000.0, Duration::from_secs(1), t, 50).unwrap_err();
        assert!(e.message.contains("1000.0 busy"), "{}", e.message);
        assert!(smallest_pool(-1.0, h, t, 10).is_err() && smallest_pool(1.0, Duration::ZERO, t, 10).is_err());
    }

    #[test]
    fn smallest_pool_near_saturation_answers_instead_of_panicking() {
        // 50/s of 580 ms keep 29 connections busy: at c = 29 the mean wait is unbounded
        // (or not representable), which must not panic.
        let c = smallest_pool(50.0, Duration::from_millis(580), Duration::from_millis(10), 100).unwrap();
        assert!(c > 29, "{c}");
        let e = erlang_c(50.0, Duration::from_millis(580), c).unwrap();
        assert!(e.mean_wait <= Duration::from_millis(10));
        for c in 28..=31 {
            let _ = erlang_c(50.0, Duration::from_millis(580), c);
        }
    }

    /// Erlang C from first principles in log space (ln k! summed term by term here, not
    /// through the recursion under test), with a log-sum-exp so nothing overflows.
    fn erlang_c_log_space(a: f64, c: u32) -> f64 {
        let mut ln_fact = 0.0f64; // ln k!
        let mut terms = Vec::with_capacity(c as usize + 1);
        for k in 0..c {
            if k > 0 {
                ln_fact += f64::from(k).ln();
            }
            terms.push(f64::from(k) * a.ln() - ln_fact);
        }
        let ln_fact_c = ln_fact + f64::from(c).ln();
        let c_f = f64::from(c);
        let ln_tail = c_f * a.ln() - ln_fact_c + (c_f / (c_f - a)).ln();
        let max = terms.iter().copied().fold(ln_tail, f64::max);
        let sum: f64 = terms.iter().map(|t| (t - max).exp()).sum::<f64>() + (ln_tail - max).exp();
        (ln_tail - max).exp() / sum
    }

    #[test]
    fn erlang_c_is_finite_and_right_for_thousands_of_connections() {
        // Against the log-space sum: 1e-8 relative, that reference's own error (ln k! summed
        // to about 1e6 at c = 100,000 keeps about 10 significant digits after exp).
        for (a, c) in [(1900.0, 2000u32), (1990.0, 2000), (4000.0, 5000), (99_000.0, 100_000), (10.0, 3000)] {
            let e = erlang_c(a, Duration::from_secs(1), c).unwrap_or_else(|| panic!("a={a} c={c}"));
            let want = erlang_c_log_space(a, c);
            assert!(
                e.p_wait.is_finite() && (e.p_wait - want).abs() <= 1e-8 * want.max(1e-300),
                "a={a} c={c}: {} vs {want}",
                e.p_wait
            );
            let wait = e.p_wait / (f64::from(c) - a);
            // A Duration keeps whole nanoseconds: 1 ns absolute on top of the relative bound.
            assert!((e.mean_wait.as_secs_f64() - wait).abs() <= 1e-9 + 1e-9 * wait, "a={a} c={c}");
        }
    }

    #[test]
    fn erlang_c_matches_40_digit_values() {
        // Computed with mpmath at 40 significant digits (written here to f64's 17); 1e-12
        // relative.
        for (a, c, want) in [
            (1900.0, 2000u32, 0.013_406_437_303_190_343),
            (1990.0, 2000, 0.748_142_935_941_284_3),
            (4000.0, 5000, 1.566_046_642_325_292e-52),
            (99_000.0, 100_000, 0.000_821_908_237_410_795_4),
        ] {
            let got = erlang_c(a, Duration::from_secs(1), c).unwrap().p_wait;
            assert!((got - want).abs() <= 1e-12 * want, "a={a} c={c}: {got} vs {want}");
        }
    }

    /// Erlang C as an exact fraction for small integer loads: P = N / D with
    /// N = a^c/c! * c/(c-a) and D = sum_{k<c} a^k/k! + N, all scaled by c! (c - a).
    fn erlang_c_exact(a: u128, c: u128) -> (u128, u128) {
        let fact = |n: u128| (1..=n).product::<u128>();
        let n = a.pow(c as u32) * c;
        let d: u128 = (0..c).map(|k| a.pow(k as u32) * (fact(c) / fact(k)) * (c - a)).sum::<u128>() + n;
        (n, d)
    }

    #[test]
    fn erlang_c_matches_exact_fractions_and_published_values() {
        for (a, c) in [(1u128, 2u128), (2, 3), (3, 5), (5, 8), (7, 10), (10, 12), (10, 15), (15, 20)] {
            let (n, d) = erlang_c_exact(a, c);
            let want = n as f64 / d as f64;
            let got = erlang_c(a as f64, Duration::from_secs(1), c as u32).unwrap().p_wait;
            assert!((got - want).abs() <= 1e-12 * want, "a={a} c={c}: {got} vs {want}");
        }
        // Published: 10 erlangs on 11 agents wait with probability 0.6821 (the classic
        // call-centre table; four decimals).
        let e = erlang_c(10.0, Duration::from_secs(1), 11).unwrap();
        assert!((e.p_wait - 0.6821).abs() < 5e-5, "{}", e.p_wait);
    }

    #[test]
    fn no_input_panics() {
        let rates = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            0.0,
            f64::MIN_POSITIVE,
            1e-300,
            1.0,
            1e300,
            f64::MAX,
        ];
        let holds = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_secs(1),
            Duration::from_secs(u64::MAX),
            Duration::MAX,
        ];
        for &r in &rates {
            for &h in &holds {
                let _ = busy_connections(r, h);
                for c in [0, 1, 2, 1000] {
                    if let Some(e) = erlang_c(r, h, c) {
                        assert!(e.p_wait.is_finite() && (0.0..=1.0).contains(&e.p_wait));
                    }
                }
                for t in [Duration::ZERO, Duration::from_millis(1), Duration::MAX] {
                    let _ = smallest_pool(r, h, t, 50);
                }
            }
        }
    }

    proptest::proptest! {
        /// More connections never make the wait longer.
        #[test]
        fn wait_falls_with_pool_size(rate in 0.1f64..500.0, hold_ms in 1u64..500, c in 1u32..60) {
            let h = Duration::from_millis(hold_ms);
            if let Some(a) = erlang_c(rate, h, c) {
                let b = erlang_c(rate, h, c + 1).unwrap();
                proptest::prop_assert!(b.p_wait <= a.p_wait + 1e-12 && b.mean_wait <= a.mean_wait);
            }
        }
    }
}
