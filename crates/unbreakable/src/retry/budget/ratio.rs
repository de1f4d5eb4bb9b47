use std::time::Duration;

use super::WindowedCount;
use crate::error::{ConfigError, check_probability};

/// Google SRE's per-client retry budget: a client retries only while retries make up
/// less than `ratio` of the requests it sent in the last `window` ("Handling Overload":
/// at most 10%).
///
/// Retries count as requests too, so at most `ratio / (1 - ratio)` retries per first try
/// get through (11% for a 10% ratio). Where every layer retries three times, a failing
/// request at the bottom of five layers becomes 3^5 = 243 requests; with this budget at
/// every layer it becomes at most `(1 / 0.9)^5 = 1.69`.
///
/// # Default
/// `ratio` 0.1 over a `window` of 60 s (in 10 buckets).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::retry::RetryRatio;
///
/// let mut b = RetryRatio::default();
/// let now = Duration::ZERO;
/// for _ in 0..20 { b.record_request(now); }   // 20 first tries
/// assert!(b.try_retry(now));                 // 1 retry in 21 requests: under 10%
/// assert!(b.try_retry(now));                 // 2 in 22
/// assert!(!b.try_retry(now));                // a third would be 3 in 23: over
/// ```
#[derive(Debug, Clone)]
pub struct RetryRatio {
    ratio: f64,
    requests: WindowedCount,
    retries: WindowedCount,
}

impl Default for RetryRatio {
    fn default() -> Self {
        Self::new(0.1, Duration::from_secs(60)).expect("the default is valid")
    }
}

impl RetryRatio {
    /// Retries limited to `ratio` of requests over `window`.
    ///
    /// # Errors
    /// A ratio outside `0..=1` or a zero window.
    pub fn new(ratio: f64, window: Duration) -> Result<Self, ConfigError> {
        check_probability("ratio", ratio)?;
        if window.is_zero() {
            return Err(ConfigError::new("window", "the window must be longer than zero (try 60 s)"));
        }
        Ok(Self { ratio, requests: WindowedCount::new(window, 10), retries: WindowedCount::new(window, 10) })
    }

    /// Counts a first try.
    pub fn record_request(&mut self, now: Duration) {
        self.requests.add(now, 1);
    }

    /// Asks to send a retry; if allowed, it is counted (as a request and a retry).
    pub fn try_retry(&mut self, now: Duration) -> bool {
        let requests = self.requests.total(now) + 1;
        let retries = self.retries.total(now) + 1;
        if retries as f64 <= self.ratio * requests as f64 {
            self.requests.add(now, 1);
            self.retries.add(now, 1);
            true
        } else {
            false
        }
    }
}
