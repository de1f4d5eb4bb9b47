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
/// input is not a positive finite number.
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
    let a = busy_connections(per_second, hold);
    let c = f64::from(connections);
    if !(per_second.is_finite() && per_second > 0.0 && !hold.is_zero() && connections > 0 && a < c) {
        return None;
    }
    // a^k / k! summed for k < c, as a running product (stable for thousands).
    let (mut term, mut sum) = (1.0f64, 0.0f64);
    for k in 0..connections {
        if k > 0 {
            term *= a / f64::from(k);
        }
        sum += term;
    }
    let tail = term * a / c * c / (c - a);
    let p_wait = tail / (sum + tail);
    let mu = 1.0 / hold.as_secs_f64();
    let mean_wait = p_wait / (c * mu - per_second);
    Some(ErlangC { p_wait, mean_wait: Duration::from_secs_f64(mean_wait), utilisation: a / c })
}

/// The smallest pool whose mean wait for a connection (Erlang C) is at most `target`, up to
/// `max` connections.
///
/// # Errors
/// A rate that is not a positive number, a zero hold time, or no pool up to `max` that
/// meets the target (the message gives the load in connections, from Little's law).
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
    let busy = busy_connections(per_second, hold);
    (1..=max)
        .find(|&c| erlang_c(per_second, hold, c).is_some_and(|e| e.mean_wait <= target))
        .ok_or_else(|| {
            ConfigError::new(
                "max",
                format!("no pool up to {max} connections keeps the mean wait under {target:?}; the load alone keeps {busy:.1} busy"),
            )
        })
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
