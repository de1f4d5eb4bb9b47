//! The circuit breaker's pure core: a state machine driven by `now` and outcomes.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;

use super::super::budget::WindowedCount;
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
///
/// ### Handling
/// Fail fast or serve a fallback; do not wait on the breaker in a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker open; retry after {retry_after:?}")]
pub struct BreakerOpen {
    /// How long until the breaker lets a probe through (zero in half-open, when the
    /// probe slots are taken: a slot frees as soon as a probe answers or is cancelled).
    pub retry_after: Duration,
}

/// Configuration of a [`CircuitBreaker`].
///
/// The breaker trips on a **count** (`failure_threshold` failures within `window`) or,
/// when `failure_ratio` is set, on a **ratio** (at least that share of the calls within
/// `window` failed, once at least `minimum_throughput` calls were made). A count suits a
/// quiet client; at 10,000 requests a second five failures are noise, and a ratio with a
/// minimum throughput is what Polly and resilience4j use there.
///
/// # Default
/// | setting | default | meaning |
/// |---|---|---|
/// | `failure_threshold` | 5 | failures within `window` that open the breaker (count mode) |
/// | `failure_ratio` | `None` | if set, the share of failed calls within `window` that opens it (ratio mode) |
/// | `minimum_throughput` | 20 | calls within `window` before the ratio is judged at all |
/// | `window` | 10 s | how far back calls count |
/// | `cool_down` | 5 s | how long the breaker stays open |
/// | `probes` | 1 | requests let through in half-open; all must succeed to close |
/// | `slow_call` | `None` | if set, a call admitted with an [`Admission`] that lasts at least this long counts as a failure, whether it returns or is dropped (resilience4j's `slowCallDurationThreshold`) |
///
/// # Where timeouts sit
/// A timeout *inside* the breaker (between it and the service: a deadline layer below
/// it, or the retry executor's attempt timeout) ends the call with an error the breaker
/// records as a failure. A timeout *outside* it (above a `BreakerLayer`) drops the call:
/// without `slow_call` the breaker never hears of it (the permit gives its slot back),
/// so a hanging backend never opens it. Put timeouts inside, or set `slow_call` at or
/// below the outer timeout so that a cancelled slow call counts as a failure.
///
/// Durations are bounded by [`MAX_PERIOD`] (a day), counts by [`MAX_THRESHOLD`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BreakerConfig {
    /// Failures within `window` that open the breaker (count mode).
    pub failure_threshold: u32,
    /// The share of failed calls within `window` that opens the breaker; `None` for
    /// count mode.
    pub failure_ratio: Option<f64>,
    /// Calls within `window` below which the ratio is not judged (ratio mode).
    pub minimum_throughput: u32,
    /// How far back calls count.
    pub window: Duration,
    /// How long the breaker stays open before probing.
    pub cool_down: Duration,
    /// Probe requests allowed in half-open.
    pub probes: u32,
    /// A call that lasts at least this long counts as a failure, even if it succeeds
    /// or is dropped unanswered (cancelled, cut by a timeout above the breaker). `None`:
    /// only outcomes count, and a dropped call records nothing.
    pub slow_call: Option<Duration>,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            failure_ratio: None,
            minimum_throughput: 20,
            window: Duration::from_secs(10),
            cool_down: Duration::from_secs(5),
            probes: 1,
            slow_call: None,
        }
    }
}

/// The most failures a threshold may count, probes in half-open, or calls a minimum
/// throughput may ask for (it bounds the breaker's memory).
pub const MAX_THRESHOLD: u32 = 10_000;

/// The longest window or cool-down: a day. Longer is a unit mistake, and a bound keeps
/// `now + cool_down` from overflowing.
pub const MAX_PERIOD: Duration = Duration::from_secs(86_400);

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
        if let Some(r) = self.failure_ratio {
            if !(r.is_finite() && r > 0.0 && r <= 1.0) {
                return Err(ConfigError::new(
                    "failure_ratio",
                    format!(
                        "{r} is not a share of calls in (0, 1]; 0.5 (half the calls failing) is a common choice"
                    ),
                ));
            }
            if self.minimum_throughput == 0 || self.minimum_throughput > MAX_THRESHOLD {
                return Err(ConfigError::new(
                    "minimum_throughput",
                    format!(
                        "{} is outside 1..={MAX_THRESHOLD}; without a minimum one failed call in a quiet window trips the breaker (20 is common)",
                        self.minimum_throughput
                    ),
                ));
            }
        }
        for (field, d, hint) in [("window", self.window, "10 s"), ("cool_down", self.cool_down, "5 s")] {
            if d.is_zero() {
                return Err(ConfigError::new(
                    field,
                    format!(
                        "{field} must be longer than zero (try {hint}): a zero cool-down never stops traffic, a zero window never counts"
                    ),
                ));
            }
            if d > MAX_PERIOD {
                return Err(ConfigError::new(
                    field,
                    format!("{d:?} is longer than a day ({MAX_PERIOD:?}); is the unit right? (try {hint})"),
                ));
            }
        }
        if let Some(slow) = self.slow_call {
            if slow.is_zero() || slow > MAX_PERIOD {
                return Err(ConfigError::new(
                    "slow_call",
                    format!(
                        "{slow:?} is outside (0, a day]: every call would be slow, or none; use the timeout the callers give up at"
                    ),
                ));
            }
        }
        if self.probes == 0 || self.probes > MAX_THRESHOLD {
            return Err(ConfigError::new(
                "probes",
                format!(
                    "{} is outside 1..={MAX_THRESHOLD}: half-open needs at least one probe request (1 is usual)",
                    self.probes
                ),
            ));
        }
        let calls = if self.failure_ratio.is_some() {
            Some((WindowedCount::new(self.window, 10), WindowedCount::new(self.window, 10)))
        } else {
            None
        };
        Ok(CircuitBreaker {
            config: self,
            state: BreakerState::Closed,
            failures: VecDeque::with_capacity(self.failure_threshold as usize),
            calls,
            episode: 0,
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
    /// Times of the most recent failures while closed, at most `failure_threshold`
    /// (count mode).
    failures: VecDeque<Duration>,
    /// Calls and failed calls within the window (ratio mode), in bounded buckets.
    calls: Option<(WindowedCount, WindowedCount)>,
    /// Which half-open episode probes belong to: a probe admitted in an earlier one
    /// neither fills nor frees a slot of the current one.
    episode: u64,
    transitions: u64,
}

/// A request the breaker let through: hand it back with its outcome
/// ([`CircuitBreaker::on_success`], [`on_failure`](CircuitBreaker::on_failure)), or
/// with [`on_cancel`](CircuitBreaker::on_cancel) if it never got one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "an admitted request must report its outcome or be cancelled, or a probe slot stays taken"]
pub struct Admission {
    /// The half-open episode this request probes, if it is a probe.
    probe: Option<u64>,
    /// When it was admitted (for the slow-call threshold).
    at: Duration,
}

impl Admission {
    /// Whether this request is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe.is_some()
    }
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
        if matches!(s, BreakerState::HalfOpen { .. }) && !matches!(self.state, BreakerState::HalfOpen { .. })
        {
            self.episode += 1;
        }
        self.state = s;
    }

    fn open(&mut self, now: Duration) {
        self.failures.clear();
        if let Some((calls, failed)) = &mut self.calls {
            *calls = WindowedCount::new(self.config.window, 10);
            *failed = WindowedCount::new(self.config.window, 10);
        }
        // The cool-down is at most a day (checked at build time); saturate all the same.
        self.set(BreakerState::Open { until: now.saturating_add(self.config.cool_down) });
    }

    /// Asks to send a request at `now`.
    ///
    /// # Errors
    /// [`BreakerOpen`] while open, or in half-open when all probe slots are taken.
    pub fn try_acquire(&mut self, now: Duration) -> Result<Admission, BreakerOpen> {
        match self.state {
            BreakerState::Closed => Ok(Admission { probe: None, at: now }),
            BreakerState::Open { until } if now < until => Err(BreakerOpen { retry_after: until - now }),
            BreakerState::Open { .. } => {
                self.set(BreakerState::HalfOpen { in_flight: 1, successes: 0 });
                Ok(Admission { probe: Some(self.episode), at: now })
            }
            BreakerState::HalfOpen { in_flight, successes } => {
                if in_flight + successes < self.config.probes {
                    self.state = BreakerState::HalfOpen { in_flight: in_flight + 1, successes };
                    Ok(Admission { probe: Some(self.episode), at: now })
                } else {
                    Err(BreakerOpen { retry_after: Duration::ZERO })
                }
            }
        }
    }

    /// Whether `a` probes the current half-open episode.
    fn current_probe(&self, a: Admission) -> bool {
        a.probe == Some(self.episode) && matches!(self.state, BreakerState::HalfOpen { .. })
    }

    /// Whether the outcome of `a` still says something about the service: a probe of the
    /// current half-open episode, or an ordinary request while closed. A late answer to a
    /// request sent before the breaker opened, or an ordinary one answered while probes
    /// are out, says nothing new.
    fn counts(&self, a: Admission) -> bool {
        if a.is_probe() { self.current_probe(a) } else { matches!(self.state, BreakerState::Closed) }
    }

    /// Whether the call admitted as `a` has lasted past the slow-call threshold at `now`.
    fn slow(&self, a: Admission, now: Duration) -> bool {
        self.config.slow_call.is_some_and(|slow| now.saturating_sub(a.at) >= slow)
    }

    /// The request admitted as `a` succeeded (or failed in a way that says nothing
    /// about the service's health: a 400 is an answer). A slow call (see
    /// [`BreakerConfig::slow_call`]) counts as a failure all the same.
    pub fn on_success(&mut self, a: Admission, now: Duration) {
        if self.slow(a, now) {
            return self.on_failure(a, now);
        }
        if self.counts(a) {
            self.record_success(now);
        }
    }

    /// The request admitted as `a` failed.
    pub fn on_failure(&mut self, a: Admission, now: Duration) {
        if self.counts(a) {
            self.record_failure(now);
        }
    }

    /// The request admitted as `a` ended at `now` without an outcome (its future was
    /// dropped, a timeout above the breaker cut it). A slow call (see
    /// [`BreakerConfig::slow_call`]) counts as a failure; otherwise nothing is recorded
    /// and a probe gives its slot back, so the next request can probe.
    pub fn on_cancel(&mut self, a: Admission, now: Duration) {
        if self.slow(a, now) {
            return self.on_failure(a, now);
        }
        if self.current_probe(a) {
            if let BreakerState::HalfOpen { in_flight, successes } = self.state {
                self.state = BreakerState::HalfOpen { in_flight: in_flight.saturating_sub(1), successes };
            }
        }
    }

    /// Reports a success without an [`Admission`] (the simulator's shorthand: in
    /// half-open it counts as a probe's success).
    pub fn record_success(&mut self, now: Duration) {
        match self.state {
            BreakerState::HalfOpen { in_flight, successes } => {
                let successes = successes + 1;
                if successes >= self.config.probes {
                    self.failures.clear();
                    self.set(BreakerState::Closed);
                } else {
                    self.state = BreakerState::HalfOpen { in_flight: in_flight.saturating_sub(1), successes };
                }
            }
            BreakerState::Closed => {
                if let Some((calls, _)) = &mut self.calls {
                    calls.add(now, 1);
                }
            }
            BreakerState::Open { .. } => {}
        }
    }

    /// Reports a failure without an [`Admission`] (in half-open it counts as a probe's
    /// failure).
    pub fn record_failure(&mut self, now: Duration) {
        match self.state {
            BreakerState::Closed => {
                if let (Some(ratio), Some((calls, failed))) = (self.config.failure_ratio, &mut self.calls) {
                    calls.add(now, 1);
                    failed.add(now, 1);
                    let (n, f) = (calls.total(now), failed.total(now));
                    if n >= u64::from(self.config.minimum_throughput) && f as f64 >= ratio * n as f64 {
                        self.open(now);
                    }
                    return;
                }
                self.failures.push_back(now);
                while self.failures.len() > self.config.failure_threshold as usize {
                    self.failures.pop_front();
                }
                let oldest = self.failures.front().copied().unwrap_or(now);
                if self.failures.len() == self.config.failure_threshold as usize
                    && now.saturating_sub(oldest) <= self.config.window
                {
                    self.open(now);
                }
            }
            BreakerState::HalfOpen { .. } => self.open(now),
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
        let mut b =
            BreakerConfig { failure_threshold: 3, window: s(10), ..Default::default() }.build().unwrap();
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

    /// Bug: a half-open probe whose future was dropped kept its slot forever, so with
    /// `probes: 1` every later call was refused with `retry_after: 0`.
    #[test]
    fn a_cancelled_probe_gives_its_slot_back() {
        let mut b = BreakerConfig { failure_threshold: 1, ..Default::default() }.build().unwrap();
        b.record_failure(s(0));
        let probe = b.try_acquire(s(5)).unwrap();
        assert!(probe.is_probe());
        assert_eq!(b.try_acquire(s(5)), Err(BreakerOpen { retry_after: Duration::ZERO }));
        b.on_cancel(probe, s(5));
        let again = b.try_acquire(s(6)).expect("the slot is free again");
        b.on_success(again, s(6));
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn a_probe_from_an_earlier_episode_neither_counts_nor_frees_a_slot() {
        let mut b = BreakerConfig { failure_threshold: 1, ..Default::default() }.build().unwrap();
        b.record_failure(s(0));
        let old = b.try_acquire(s(5)).unwrap();
        b.record_failure(s(5)); // some other report reopens it
        let new = b.try_acquire(s(10)).unwrap();
        b.on_cancel(old, s(10));
        b.on_success(old, s(10));
        assert_eq!(b.state(), BreakerState::HalfOpen { in_flight: 1, successes: 0 });
        b.on_success(new, s(11));
        assert_eq!(b.state(), BreakerState::Closed);
    }

    /// A slow call counts as a failure whether it returns or is dropped: a backend that
    /// hangs until a timeout above the breaker cuts it opens the breaker, and a half-open
    /// probe cut that way reopens it instead of handing its slot to the next caller.
    #[test]
    fn slow_calls_count_as_failures_even_when_dropped() {
        let cfg = BreakerConfig { failure_threshold: 2, slow_call: Some(s(2)), ..Default::default() };
        let mut b = cfg.build().unwrap();
        let fast = b.try_acquire(s(0)).unwrap();
        b.on_cancel(fast, s(1)); // dropped early: nothing
        let slow = b.try_acquire(s(1)).unwrap();
        b.on_success(slow, s(3)); // answered, but slowly
        assert_eq!(b.state(), BreakerState::Closed);
        let hung = b.try_acquire(s(3)).unwrap();
        b.on_cancel(hung, s(5)); // cut by a timeout above, after 2 s
        assert!(matches!(b.state(), BreakerState::Open { .. }), "{:?}", b.state());
        let probe = b.try_acquire(s(10)).unwrap();
        b.on_cancel(probe, s(12));
        assert!(matches!(b.state(), BreakerState::Open { .. }), "a timed-out probe reopens it");
        assert!(BreakerConfig { slow_call: Some(Duration::ZERO), ..Default::default() }.build().is_err());
    }

    #[test]
    fn ratio_mode_ignores_a_few_failures_among_many_calls() {
        let cfg = BreakerConfig { failure_ratio: Some(0.5), minimum_throughput: 20, ..Default::default() };
        let mut b = cfg.build().unwrap();
        let t = s(1);
        for _ in 0..10_000 {
            let a = b.try_acquire(t).unwrap();
            b.on_success(a, t);
        }
        for _ in 0..5 {
            let a = b.try_acquire(t).unwrap();
            b.on_failure(a, t);
        }
        assert_eq!(b.state(), BreakerState::Closed, "5 failures in 10,005 calls is noise");
        // A fresh window where most calls fail trips it, once 20 calls were seen.
        let later = s(30);
        for k in 0..19 {
            let a = b.try_acquire(later).unwrap();
            if k % 4 == 0 { b.on_success(a, later) } else { b.on_failure(a, later) }
        }
        assert_eq!(b.state(), BreakerState::Closed, "below the minimum throughput");
        let a = b.try_acquire(later).unwrap();
        b.on_failure(a, later);
        assert!(matches!(b.state(), BreakerState::Open { .. }));
        // The count mode would have opened on the fifth failure at 1 s.
        let mut count = BreakerConfig::default().build().unwrap();
        for _ in 0..5 {
            count.record_failure(t);
        }
        assert!(matches!(count.state(), BreakerState::Open { .. }));
    }

    /// Bug: `now + cool_down` overflowed for a huge cool-down (the builder only refused
    /// zero).
    #[test]
    fn huge_periods_are_refused_and_late_clocks_do_not_overflow() {
        assert_eq!(
            BreakerConfig { cool_down: Duration::MAX, ..Default::default() }.build().unwrap_err().field,
            "cool_down"
        );
        assert_eq!(
            BreakerConfig { window: Duration::from_secs(86_401), ..Default::default() }
                .build()
                .unwrap_err()
                .field,
            "window"
        );
        assert_eq!(
            BreakerConfig { failure_ratio: Some(1.5), ..Default::default() }.build().unwrap_err().field,
            "failure_ratio"
        );
        assert_eq!(
            BreakerConfig { failure_ratio: Some(0.5), minimum_throughput: 0, ..Default::default() }
                .build()
                .unwrap_err()
                .field,
            "minimum_throughput"
        );
        assert_eq!(
            BreakerConfig { probes: u32::MAX, ..Default::default() }.build().unwrap_err().field,
            "probes"
        );
        let mut b = BreakerConfig { failure_threshold: 1, ..Default::default() }.build().unwrap();
        b.record_failure(Duration::MAX);
        assert_eq!(b.state(), BreakerState::Open { until: Duration::MAX });
    }

    #[test]
    fn bad_config_is_rejected() {
        assert_eq!(
            BreakerConfig { failure_threshold: 0, ..Default::default() }.build().unwrap_err().field,
            "failure_threshold"
        );
        assert_eq!(
            BreakerConfig { cool_down: Duration::ZERO, ..Default::default() }.build().unwrap_err().field,
            "cool_down"
        );
        assert_eq!(BreakerConfig { probes: 0, ..Default::default() }.build().unwrap_err().field, "probes");
    }

    proptest! {
        /// Whatever happens, an open breaker refuses until its cool-down ends, a closed
        /// one always admits, and its memory stays within the threshold.
        #[test]
        fn transitions_follow_the_rules(events in proptest::collection::vec((0u64..3_000, 0u8..3), 1..300)) {
            let cfg = BreakerConfig { failure_threshold: 3, window: s(2), cool_down: s(1), probes: 2, ..Default::default() };
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
