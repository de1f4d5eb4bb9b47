//! Choosing a timeout from a latency distribution.
//!
//! A timeout too short cuts off requests that would have succeeded (*false timeouts*);
//! one too long lets hung requests hold threads and connections. The usual rule: set it
//! at a high percentile of the observed latency (p99.9 gives 0.1% false timeouts), plus
//! a margin.

use std::time::Duration;

use crate::error::{ConfigError, check_probability};
use crate::sim::Latency;

/// The standard normal CDF, from the crate's latency module.
use crate::sim::latency_normal_cdf as phi;

/// `P(latency > timeout)` for a latency distribution: the share of requests a timeout of
/// `timeout` would cut off although they would have answered.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable_lab::deadline::choice::false_timeout_rate;
/// use unbreakable_lab::sim::Latency;
///
/// let exp = Latency::Exponential { mean: Duration::from_millis(100) };
/// // e^(-3): a timeout at 3 means cuts off 5% of requests.
/// assert!((false_timeout_rate(&exp, Duration::from_millis(300)) - (-3.0f64).exp()).abs() < 1e-12);
/// ```
pub fn false_timeout_rate(latency: &Latency, timeout: Duration) -> f64 {
    let t = timeout.as_secs_f64();
    match *latency {
        Latency::Fixed(d) => f64::from(u8::from(d > timeout)),
        Latency::Uniform { lo, hi } => {
            let (lo, hi) = (lo.as_secs_f64(), hi.as_secs_f64());
            if hi <= lo { f64::from(u8::from(lo > t)) } else { ((hi - t) / (hi - lo)).clamp(0.0, 1.0) }
        }
        Latency::Normal { mean, sd } => {
            // |X| > t  <=>  X > t or X < -t.
            let (m, s) = (mean.as_secs_f64(), sd.as_secs_f64());
            if s == 0.0 {
                return f64::from(u8::from(m.abs() > t));
            }
            (1.0 - phi((t - m) / s)) + phi((-t - m) / s)
        }
        Latency::LogNormal { median, sigma } => {
            if t <= 0.0 {
                return 1.0;
            }
            if sigma == 0.0 {
                return f64::from(u8::from(median > timeout));
            }
            1.0 - phi((t.ln() - median.as_secs_f64().ln()) / sigma)
        }
        Latency::Exponential { mean } => (-t / mean.as_secs_f64()).exp().min(1.0),
    }
}

/// The share of `samples` longer than `timeout`.
pub fn empirical_false_timeout_rate(samples: &[Duration], timeout: Duration) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.iter().filter(|&&s| s > timeout).count() as f64 / samples.len() as f64
}

/// The smallest timeout whose false-timeout rate is at most `1 - q` for the
/// distribution: its `q`-quantile (`q` = 0.999 for p99.9), found by bisection on
/// [`false_timeout_rate`] to within a microsecond.
///
/// # Errors
/// `q` outside `0..1` (a timeout at p100 would be infinite for most distributions).
pub fn timeout_at(latency: &Latency, q: f64) -> Result<Duration, ConfigError> {
    check_probability("q", q)?;
    if q >= 1.0 {
        return Err(ConfigError::new("q", "p100 has no finite timeout; use 0.999 (p99.9) or similar"));
    }
    let (mut lo, mut hi) = (Duration::ZERO, Duration::from_millis(1));
    while false_timeout_rate(latency, hi) > 1.0 - q {
        hi *= 2;
        if hi > Duration::from_secs(86_400 * 365) {
            return Err(ConfigError::new("q", "no timeout under a year reaches that percentile"));
        }
    }
    while hi - lo > Duration::from_micros(1) {
        let mid = lo + (hi - lo) / 2;
        if false_timeout_rate(latency, mid) > 1.0 - q { lo = mid } else { hi = mid }
    }
    Ok(hi)
}

/// The `q`-quantile of observed `samples` (nearest rank): the timeout that would have
/// cut off at most a `1 - q` share of them.
///
/// # Errors
/// No samples, or `q` outside `0..=1`.
pub fn empirical_timeout_at(samples: &[Duration], q: f64) -> Result<Duration, ConfigError> {
    check_probability("q", q)?;
    if samples.is_empty() {
        return Err(ConfigError::new(
            "samples",
            "a percentile of no samples is undefined; record some latencies first",
        ));
    }
    let mut s = samples.to_vec();
    s.sort_unstable();
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    Ok(s[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng;

    fn cases() -> Vec<Latency> {
        let ms = Duration::from_millis;
        vec![
            Latency::Uniform { lo: ms(10), hi: ms(30) },
            Latency::Normal { mean: ms(10), sd: ms(2) },
            Latency::Normal { mean: ms(1), sd: ms(3) },
            Latency::LogNormal { median: ms(50), sigma: 0.8 },
            Latency::Exponential { mean: ms(20) },
        ]
    }

    #[test]
    fn closed_form_matches_samples() {
        for l in cases() {
            let mut r = rng(4);
            let samples: Vec<Duration> = (0..200_000).map(|_| l.sample(&mut r)).collect();
            for q in [0.5, 0.9, 0.99] {
                let t = empirical_timeout_at(&samples, q).unwrap();
                let formula = false_timeout_rate(&l, t);
                // Binomial standard error of a share near 1-q over 200k samples, times 5,
                // plus 0.002 for the normal CDF's approximation.
                let tol = 5.0 * ((1.0 - q) * q / 200_000.0).sqrt() + 0.002;
                assert!((formula - (1.0 - q)).abs() < tol, "{l:?} q {q}: formula {formula}");
                assert!((empirical_false_timeout_rate(&samples, t) - (1.0 - q)).abs() < 1e-3);
            }
        }
    }

    #[test]
    fn p999_timeout_cuts_off_one_in_a_thousand() {
        for l in cases() {
            let t = timeout_at(&l, 0.999).unwrap();
            let rate = false_timeout_rate(&l, t);
            assert!(rate <= 0.001 + 1e-9 && rate > 0.0009, "{l:?}: {t:?} cuts {rate}");
        }
        let exp = Latency::Exponential { mean: Duration::from_millis(100) };
        // -mean * ln(0.001) = 690.8 ms.
        let t = timeout_at(&exp, 0.999).unwrap().as_secs_f64();
        assert!((t - 0.1 * 1000f64.ln()).abs() < 1e-5, "{t}");
        assert!(timeout_at(&exp, 1.0).is_err());
        assert!(empirical_timeout_at(&[], 0.5).is_err());
    }
}
