//! The circuit breaker: a pure state machine driven by `now` and outcomes.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;

use crate::error::ConfigError;


/// The state of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BreakerState {
    /// Requests flow; failures are counted.
    Closed,
    /// Requests are refused at once until `until`.
    Open {
        /// When the cool-down ends and probes may go out.
        until: Duration,
    },
    /// A limited number of probe requests test whether the service is back.
    HalfOpen {
        /// Probes sent and not yet answered.
        in_flight: u32,
        /// Probes that succeeded.
        successes: u32,
    },
}

impl BreakerState {
    /// `"closed"`, `"open"` or `"half_open"`.
    pub fn name(&self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen { .. } => "half_open",
        }
    }
}

/// The breaker refused a request; try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker open; retry after {retry_after:?}")]
pub struct BreakerOpen {
    /// How long until the breaker lets a probe through (zero in half-open, when the
    /// probe slots are taken).
    pub retry_after: Duration,
}

/// Configuration of a [`CircuitBreaker`].
///
/// # Default
/// | setting | default | meaning |
/// |---|---|---|
/// | `failure_threshold` | 5 | failures within `window` that open the breaker |
/// | `window` | 10 s | how far back failures count |
/// | `cool_down` | 5 s | how long the breaker stays open |
/// | `probes` | 1 | requests let through in half-open; all must succeed to close |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BreakerConfig {
    /// Failures within `window` that open the breaker.
    pub failure_threshold: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long the breaker stays open before probing.
    pub cool_down: Duration,
    /// Probe requests allowed in half-open.
    pub probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self { failure_threshold: 5, window: Duration::from_secs(10), cool_down: Duration::from_secs(5), probes: 1 }
    }
}

/// The most failures a threshold may count (it bounds the breaker's memory).
pub const MAX_THRESHOLD: u32 = 10_000;

impl BreakerConfig {
    /// Checks the configuration and builds a closed breaker.
    ///
    /// # Errors
    /// A zero or huge threshold, a zero window or cool-down, or zero probes.
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        if self.failure_threshold == 0 || self.failure_threshold > MAX_THRESHOLD {
            return Err(ConfigError::new(
                "failure_threshold",
                format!("{} is outside 1..={MAX_THRESHOLD}; 5 is a common choice", self.failure_threshold),
            ));
        }
        if self.window.is_zero() {
            return Err(ConfigError::new("window", "the failure window must be longer than zero (try 10 s)"));
        }
        if self.cool_down.is_zero() {
            return Err(ConfigError::new(
                "cool_down",
                "a zero cool-down never stops traffic; use at least the time the service needs to recover (try 5 s)",
            ));
        }
        if self.probes == 0 {
            return Err(ConfigError::new("probes", "half-open needs at least one probe request"));
        }
        Ok(CircuitBreaker {
            config: self,
            state: BreakerState::Closed,
            failures: VecDeque::with_capacity(self.failure_threshold as usize),
            transitions: 0,
        })
    }
}

/// A circuit breaker: closed, open, half-open.
///
/// * **Closed**: requests pass. When `failure_threshold` failures fall within `window`,
///   it opens.
/// * **Open**: requests are refused at once ([`BreakerOpen`]) for `cool_down`.
/// * **Half-open**: up to `probes` requests go through. If all succeed it closes; if one
///   fails it opens again for another `cool_down`.
///
/// It is a pure state machine: every method takes `now`. Share it between tasks behind
/// a mutex (the async edge does).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::retry::{BreakerConfig, BreakerState};
///
/// let mut b = BreakerConfig { failure_threshold: 2, ..Default::default() }.build().unwrap();
/// let t = Duration::from_secs(1);
/// b.record_failure(t);
/// b.record_failure(t);
/// assert!(matches!(b.state(), BreakerState::Open { .. }));
/// assert!(b.try_acquire(t).is_err());
/// // After the 5 s cool-down one probe goes through; its success closes the breaker.
/// let later = t + Duration::from_secs(5);
/// assert!(b.try_acquire(later).is_ok());
/// b.record_success(later);
/// assert_eq!(b.state(), BreakerState::Closed);
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: BreakerState,
    /// Times of the most recent failures while closed, at most `failure_threshold`.
    failures: VecDeque<Duration>,
    transitions: u64,
}

impl CircuitBreaker {
    /// The configuration.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The current state (an open breaker whose cool-down has passed still reads
    /// `Open` until the next [`try_acquire`](CircuitBreaker::try_acquire)).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// State changes so far.
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    fn set(&mut self, s: BreakerState) {
        if s.name() != self.state.name() {
            self.transitions += 1;
        }
        self.state = s;
    }

    /// Asks to send a request at `now`.
    ///
    /// # Errors
    /// [`BreakerOpen`] while open, or in half-open when all probe slots are taken.
    pub fn try_acquire(&mut self, now: Duration) -> Result<(), BreakerOpen> {
        match self.state {
            BreakerState::Closed => Ok(()),
            BreakerState::Open { until } if now < until => Err(BreakerOpen { retry_after: until - now }),
            BreakerState::Open { .. } => {
                self.set(BreakerState::HalfOpen { in_flight: 1, successes: 0 });
                Ok(())
            }
            BreakerState::HalfOpen { in_flight, successes } => {
                if in_flight + successes < self.config.probes {
                    self.state = BreakerState::HalfOpen { in_flight: in_flight + 1, successes };
                    Ok(())
                } else {
                    Err(BreakerOpen { retry_after: Duration::ZERO })
                }
            }
        }
    }

    /// Reports a success of a request sent after `try_acquire`.
    pub fn record_success(&mut self, _now: Duration) {
        if let BreakerState::HalfOpen { in_flight, successes } = self.state {
            let successes = successes + 1;
            if successes >= self.config.probes {
                self.failures.clear();
                self.set(BreakerState::Closed);
            } else {
                self.state = BreakerState::HalfOpen { in_flight: in_flight.saturating_sub(1), successes };
            }
        }
    }

    /// Reports a failure.
    pub fn record_failure(&mut self, now: Duration) {
        match self.state {
            BreakerState::Closed => {
                self.failures.push_back(now);
                while self.failures.len() > self.config.failure_threshold as usize {
                    self.failures.pop_front();
                }
                let oldest = self.failures.front().copied().unwrap_or(now);
                if self.failures.len() == self.config.failure_threshold as usize
                    && now.saturating_sub(oldest) <= self.config.window
                {
                    self.failures.clear();
                    self.set(BreakerState::Open { until: now + self.config.cool_down });
                }
            }
            BreakerState::HalfOpen { .. } => self.set(BreakerState::Open { until: now + self.config.cool_down }),
            // A late answer to a request sent before the breaker opened.
            BreakerState::Open { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(x: u64) -> Duration {
        Duration::from_secs(x)
    }

    #[test]
    fn failures_outside_the_window_do_not_trip() {
        let mut b = BreakerConfig { failure_threshold: 3, window: s(10), ..Default::default() }.build().unwrap();
        b.record_failure(s(0));
        b.record_failure(s(5));
        b.record_failure(s(11)); // the first is 11 s old: only 2 in the window
        assert_eq!(b.state(), BreakerState::Closed);
        b.record_failure(s(12));
        assert_eq!(b.state(), BreakerState::Open { until: s(17) });
    }

    #[test]
    fn half_open_failure_reopens_and_probes_are_limited() {
        let mut b = BreakerConfig { failure_threshold: 1, probes: 2, cool_down: s(5), ..Default::default() }
            .build()
            .unwrap();
        b.record_failure(s(0));
        assert_eq!(b.try_acquire(s(4)), Err(BreakerOpen { retry_after: s(1) }));
        assert!(b.try_acquire(s(5)).is_ok());
        assert!(b.try_acquire(s(5)).is_ok());
        assert!(b.try_acquire(s(5)).is_err(), "only two probes");
        b.record_success(s(6));
        assert!(matches!(b.state(), BreakerState::HalfOpen { .. }));
        b.record_failure(s(6));
        assert_eq!(b.state(), BreakerState::Open { until: s(11) });
        assert!(b.try_acquire(s(11)).is_ok());
        assert!(b.try_acquire(s(11)).is_ok());
        b.record_success(s(12));
        b.record_success(s(12));
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.transitions(), 5);
    }

    #[test]
    fn bad_config_is_rejected() {
        assert_eq!(BreakerConfig { failure_threshold: 0, ..Default::default() }.build().unwrap_err().field, "failure_threshold");
        assert_eq!(BreakerConfig { cool_down: Duration::ZERO, ..Default::default() }.build().unwrap_err().field, "cool_down");
        assert_eq!(BreakerConfig { probes: 0, ..Default::default() }.build().unwrap_err().field, "probes");
    }

    proptest! {
        /// Whatever happens, an open breaker refuses until its cool-down ends, a closed
        /// one always admits, and its memory stays within the threshold.
        #[test]
        fn transitions_follow_the_rules(events in proptest::collection::vec((0u64..3_000, 0u8..3), 1..300)) {
            let cfg = BreakerConfig { failure_threshold: 3, window: s(2), cool_down: s(1), probes: 2 };
            let mut b = cfg.build().unwrap();
            let mut now = Duration::ZERO;
            for (dt, kind) in events {
                now += Duration::from_millis(dt);
                let before = b.state();
                match kind {
                    0 => {
                        let r = b.try_acquire(now);
                        match before {
                            BreakerState::Closed => prop_assert!(r.is_ok()),
                            BreakerState::Open { until } => prop_assert_eq!(r.is_ok(), now >= until),
                            BreakerState::HalfOpen { .. } => {}
                        }
                    }
                    1 => b.record_success(now),
                    _ => b.record_failure(now),
                }
                prop_assert!(b.failures.len() <= 3);
                if let BreakerState::HalfOpen { in_flight, successes } = b.state() {
                    prop_assert!(in_flight + successes <= 2);
                }
            }
        }
    }
}
