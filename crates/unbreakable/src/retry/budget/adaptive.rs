use std::time::Duration;

use super::WindowedCount;
use crate::error::ConfigError;

/// Client-side adaptive throttling (Google SRE, "Handling Overload").
///
/// The client counts, over the last `window`, the `requests` it attempted and the
/// `accepts` the backend served. It then drops new requests locally with probability
///
/// ```text
/// P(reject) = max(0, (requests - K * accepts) / (requests + 1))
/// ```
///
/// With `K = 2`, a backend that accepts everything is never throttled; one that rejects
/// everything sees its offered load fall towards `K` times what it can serve.
///
/// *Accepted* means served: a success, and also an answer retrying cannot change (a
/// 4xx, which the retry executor reports with
/// [`on_answered`](super::RetryBudget::on_answered)). Only overload answers (429, 5xx,
/// timeouts, refused connections) are rejections, so an API that answers many 4xx does
/// not throttle its own callers.
///
/// # Default
/// `K` = 2 over a `window` of 2 minutes (in 12 buckets), as the SRE book suggests.
#[derive(Debug, Clone)]
pub struct AdaptiveThrottle {
    k: f64,
    requests: WindowedCount,
    accepts: WindowedCount,
}

impl Default for AdaptiveThrottle {
    fn default() -> Self {
        Self::new(2.0, Duration::from_secs(120)).expect("the default is valid")
    }
}

impl AdaptiveThrottle {
    /// A throttle with multiplier `k` over `window`.
    ///
    /// # Errors
    /// `k` below 1 (it would throttle a healthy backend) or a zero window.
    pub fn new(k: f64, window: Duration) -> Result<Self, ConfigError> {
        if !(k.is_finite() && k >= 1.0) {
            return Err(ConfigError::new(
                "k",
                format!("K = {k} would throttle even a healthy backend; use K >= 1 (2 is usual)"),
            ));
        }
        if window.is_zero() {
            return Err(ConfigError::new("window", "the window must be longer than zero (try 120 s)"));
        }
        Ok(Self { k, requests: WindowedCount::new(window, 12), accepts: WindowedCount::new(window, 12) })
    }

    /// The probability of dropping a request at `now`.
    pub fn reject_probability(&mut self, now: Duration) -> f64 {
        let r = self.requests.total(now) as f64;
        let a = self.accepts.total(now) as f64;
        ((r - self.k * a) / (r + 1.0)).max(0.0)
    }

    /// Decides whether to send a request at `now`, given a uniform draw `u` in `[0, 1)`.
    /// The request is counted either way (the SRE formula counts attempts, including
    /// those dropped locally).
    pub fn should_send(&mut self, now: Duration, u: f64) -> bool {
        let p = self.reject_probability(now);
        self.requests.add(now, 1);
        u >= p
    }

    /// Reports that the backend accepted (served) a request.
    pub fn record_accept(&mut self, now: Duration) {
        self.accepts.add(now, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_matches_the_book() {
        let mut t = AdaptiveThrottle::default();
        let now = Duration::ZERO;
        for i in 0..100 {
            t.should_send(now, 1.0);
            if i < 30 {
                t.record_accept(now);
            }
        }
        // (100 - 2 * 30) / 101
        assert!((t.reject_probability(now) - 40.0 / 101.0).abs() < 1e-12);
        for _ in 0..100 {
            t.record_accept(now);
        }
        assert_eq!(t.reject_probability(now), 0.0);
        assert!(AdaptiveThrottle::new(0.5, Duration::from_secs(1)).is_err());
    }
}
