use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use super::{Latency, Outcome, SimTime};
use crate::error::{ConfigError, check_probability};

/// What a fault window does to requests that arrive inside it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Effect {
    /// The service is down: connections are refused quickly ([`Outcome::Unavailable`]).
    Down,
    /// Requests are accepted and never answered ([`Outcome::Hung`]); only a client
    /// timeout ends them.
    Hang,
    /// An extra share of requests fails with a server error (a bad deploy, packet loss).
    Errors {
        /// Probability that a request fails, on top of the base failure rate.
        rate: f64,
    },
    /// Latency is multiplied by `factor` (a slow disk, a noisy neighbour).
    Slow {
        /// Multiplier, at least 1.
        factor: f64,
    },
    /// Latency is multiplied by a factor that grows linearly from 1 at the start of the
    /// window to `to` at its end (a memory leak, a filling queue).
    SlowRamp {
        /// The multiplier reached at the end of the window, at least 1.
        to: f64,
    },
}

/// A fault active from `start` (inclusive) to `end` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FaultWindow {
    /// When the fault begins.
    pub start: SimTime,
    /// When it ends.
    pub end: SimTime,
    /// What it does.
    pub effect: Effect,
}

impl FaultWindow {
    /// A fault with `effect` from `start` to `end`.
    pub fn new(start: SimTime, end: SimTime, effect: Effect) -> Self {
        Self { start, end, effect }
    }

    /// Whether `t` falls inside the window.
    pub fn contains(&self, t: SimTime) -> bool {
        self.start <= t && t < self.end
    }
}

/// What happens to requests beyond the service's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Overflow {
    /// They are rejected at once with [`Outcome::Overloaded`] (HTTP 503).
    Reject,
    /// They wait in a first-in first-out queue for a free slot, and are rejected only
    /// if they would wait longer than `max_wait`.
    Queue {
        /// The longest wait the queue accepts.
        max_wait: Duration,
    },
}

/// Limited capacity: the service admits at most `per_second` requests per second on
/// average, with bursts of up to `burst` requests (a generic cell rate algorithm, the
/// same rule as a token bucket, so its state is one number).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Capacity {
    /// Sustained rate, requests per second (above zero).
    pub per_second: f64,
    /// Requests that may arrive back to back (at least 1).
    pub burst: u32,
    /// What happens beyond capacity.
    pub overflow: Overflow,
    /// Work a rejected request still costs the service, as a share of a served one
    /// (0 = rejecting is free; 1 = it costs as much as serving: TLS, parsing, a lookup
    /// before failing). Above 0, load beyond capacity eats into capacity: the
    /// congestion collapse that makes immediate retries so harmful.
    pub reject_cost: f64,
}

impl Capacity {
    /// `per_second` with a burst of one second's worth, rejecting the overflow.
    pub fn rejecting(per_second: f64) -> Self {
        Self {
            per_second,
            burst: per_second.ceil().max(1.0) as u32,
            overflow: Overflow::Reject,
            reject_cost: 0.0,
        }
    }

    /// `per_second` served first come, first served, waiting at most `max_wait`.
    pub fn queueing(per_second: f64, max_wait: Duration) -> Self {
        Self { per_second, burst: 1, overflow: Overflow::Queue { max_wait }, reject_cost: 0.0 }
    }

    /// Sets the share of a slot that a rejected request still costs.
    pub fn with_reject_cost(mut self, cost: f64) -> Self {
        self.reject_cost = cost;
        self
    }
}

/// How capacity comes back after a [`Effect::Down`] window ends: it starts at
/// `start_fraction` of normal and grows linearly to all of it over `ramp` (caches are
/// cold, connection pools refill, instances join one by one).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Recovery {
    /// The share of capacity available right after the outage, in `(0, 1]`.
    pub start_fraction: f64,
    /// How long until full capacity.
    pub ramp: Duration,
}

/// The description of a simulated service. Build it with [`ServiceConfig::new`] and
/// the `with_*` methods, then [`build`](ServiceConfig::build) it, which checks it.
///
/// # Default
/// | field | default |
/// |---|---|
/// | `failure_rate` | 0 |
/// | `fast_fail` | 1 ms (time to refuse a connection or reject for overload) |
/// | `faults` | none |
/// | `capacity` | unlimited |
/// | `recovery` | instant |
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceConfig {
    /// Latency of a request that is served.
    pub latency: Latency,
    /// Latency of a server error, if it differs (failing fast is common: a 500 often
    /// comes back sooner than a success).
    pub error_latency: Option<Latency>,
    /// Probability that a served request fails with a server error.
    pub failure_rate: f64,
    /// Time to refuse a connection or to reject for overload.
    pub fast_fail: Duration,
    /// Fault windows.
    pub faults: Vec<FaultWindow>,
    /// Limited capacity, if any.
    pub capacity: Option<Capacity>,
    /// Capacity ramp after an outage, if any.
    pub recovery: Option<Recovery>,
}

impl ServiceConfig {
    /// A healthy service with the given latency.
    pub fn new(latency: Latency) -> Self {
        Self {
            latency,
            error_latency: None,
            failure_rate: 0.0,
            fast_fail: Duration::from_millis(1),
            faults: Vec::new(),
            capacity: None,
            recovery: None,
        }
    }

    /// Sets the probability that a request fails with a server error.
    pub fn with_failure_rate(mut self, p: f64) -> Self {
        self.failure_rate = p;
        self
    }

    /// Sets the latency of server errors.
    pub fn with_error_latency(mut self, latency: Latency) -> Self {
        self.error_latency = Some(latency);
        self
    }

    /// Sets the time to refuse or reject.
    pub fn with_fast_fail(mut self, d: Duration) -> Self {
        self.fast_fail = d;
        self
    }

    /// Adds a fault window.
    pub fn with_fault(mut self, start: SimTime, end: SimTime, effect: Effect) -> Self {
        self.faults.push(FaultWindow::new(start, end, effect));
        self
    }

    /// Limits capacity.
    pub fn with_capacity(mut self, capacity: Capacity) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Sets the recovery curve after outages.
    pub fn with_recovery(mut self, recovery: Recovery) -> Self {
        self.recovery = Some(recovery);
        self
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.latency.validate()?;
        if let Some(l) = self.error_latency {
            l.validate()?;
        }
        check_probability("failure_rate", self.failure_rate)?;
        for w in &self.faults {
            if w.end <= w.start {
                return Err(ConfigError::new(
                    "faults",
                    format!("a fault window must end after it starts (start {:?}, end {:?})", w.start, w.end),
                ));
            }
            match w.effect {
                Effect::Errors { rate } => check_probability("faults.rate", rate)?,
                Effect::Slow { factor: f } | Effect::SlowRamp { to: f } if !(f.is_finite() && f >= 1.0) => {
                    return Err(ConfigError::new(
                        "faults.factor",
                        format!("a slowdown factor must be a finite number >= 1, got {f}"),
                    ));
                }
                _ => {}
            }
        }
        if let Some(c) = self.capacity {
            if !(c.per_second.is_finite() && c.per_second > 0.0) {
                return Err(ConfigError::new(
                    "capacity.per_second",
                    format!(
                        "capacity must be a positive number of requests per second, got {}",
                        c.per_second
                    ),
                ));
            }
            check_probability("capacity.reject_cost", c.reject_cost)?;
            if c.burst == 0 {
                return Err(ConfigError::new("capacity.burst", "burst must be at least 1 request"));
            }
        }
        if let Some(r) = self.recovery {
            if !(r.start_fraction > 0.0 && r.start_fraction <= 1.0) {
                return Err(ConfigError::new(
                    "recovery.start_fraction",
                    format!("{} is outside (0, 1]; use e.g. 0.2 for 20% of capacity", r.start_fraction),
                ));
            }
        }
        Ok(())
    }

    /// Checks the configuration and returns a service ready to take requests.
    pub fn build(self) -> Result<ServiceModel, ConfigError> {
        self.validate()?;
        Ok(ServiceModel { config: self, tat: 0.0, served: 0, rejected: 0 })
    }
}

/// The answer of a simulated service to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// What happened.
    pub outcome: Outcome,
    /// How long until the answer; `None` if no answer ever comes (a hang).
    pub latency: Option<Duration>,
}

/// A simulated service: a [`ServiceConfig`] plus the little state that limited capacity
/// needs. Its [`call`](ServiceModel::call) is a pure decision from the time of the
/// request and a random stream, so it works in the discrete-event queue and under
/// tokio's paused clock alike.
#[derive(Debug, Clone)]
pub struct ServiceModel {
    config: ServiceConfig,
    /// Theoretical arrival time (seconds) of the generic cell rate algorithm.
    tat: f64,
    served: u64,
    rejected: u64,
}

impl ServiceModel {
    /// The configuration.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// Requests admitted so far.
    pub fn served(&self) -> u64 {
        self.served
    }

    /// Requests rejected for capacity so far.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Whether a [`Effect::Down`] window covers `t`.
    pub fn is_down(&self, t: SimTime) -> bool {
        self.config.faults.iter().any(|w| w.contains(t) && w.effect == Effect::Down)
    }

    /// The share of capacity available at `t` under the recovery curve, in `(0, 1]`.
    pub fn capacity_factor(&self, t: SimTime) -> f64 {
        let Some(r) = self.config.recovery else { return 1.0 };
        let last_end =
            self.config.faults.iter().filter(|w| w.effect == Effect::Down && w.end <= t).map(|w| w.end).max();
        match last_end {
            None => 1.0,
            Some(end) if r.ramp.is_zero() => {
                let _ = end;
                1.0
            }
            Some(end) => {
                let x = ((t - end).as_secs_f64() / r.ramp.as_secs_f64()).min(1.0);
                r.start_fraction + (1.0 - r.start_fraction) * x
            }
        }
    }

    /// The sustained capacity (requests per second) at `t`, if capacity is limited.
    pub fn capacity_at(&self, t: SimTime) -> Option<f64> {
        self.config.capacity.map(|c| c.per_second * self.capacity_factor(t))
    }

    /// Handles one request that arrives at `now`.
    pub fn call(&mut self, now: SimTime, rng: &mut impl Rng) -> Response {
        let fast = Some(self.config.fast_fail);
        let mut slow = 1.0;
        let mut extra_fail = 0.0_f64;
        for w in self.config.faults.iter().filter(|w| w.contains(now)) {
            match w.effect {
                Effect::Down => return Response { outcome: Outcome::Unavailable, latency: fast },
                Effect::Hang => return Response { outcome: Outcome::Hung, latency: None },
                Effect::Errors { rate } => extra_fail = 1.0 - (1.0 - extra_fail) * (1.0 - rate),
                Effect::Slow { factor } => slow *= factor,
                Effect::SlowRamp { to } => {
                    let span = (w.end - w.start).as_secs_f64();
                    let x = (now - w.start).as_secs_f64() / span;
                    slow *= 1.0 + (to - 1.0) * x;
                }
            }
        }
        let mut wait = 0.0;
        if let Some(c) = self.config.capacity {
            let t = now.as_secs_f64();
            let interval = 1.0 / (c.per_second * self.capacity_factor(now));
            let start = self.tat.max(t);
            let admitted = match c.overflow {
                Overflow::Reject => start - t <= (c.burst as f64 - 1.0) * interval + 1e-12,
                Overflow::Queue { max_wait } => {
                    // Requests up to `burst` are served at once; the rest wait their turn.
                    let free = (start - t - (c.burst as f64 - 1.0) * interval).max(0.0);
                    wait = free;
                    free <= max_wait.as_secs_f64()
                }
            };
            if !admitted {
                self.rejected += 1;
                // Wasted work piles up, but never more than a second of it: past that, a
                // real server's own queues and timeouts shed it.
                let tau = (c.burst as f64 - 1.0) * interval;
                self.tat = (self.tat + c.reject_cost * interval).min(t + tau + 1.0);
                return Response { outcome: Outcome::Overloaded, latency: fast };
            }
            self.tat = start + interval;
        }
        self.served += 1;
        let p_fail = 1.0 - (1.0 - self.config.failure_rate) * (1.0 - extra_fail);
        let failed = p_fail > 0.0 && rng.random::<f64>() < p_fail;
        let (outcome, dist) = match (failed, self.config.error_latency) {
            (true, Some(l)) => (Outcome::ServerError, l),
            (true, None) => (Outcome::ServerError, self.config.latency),
            (false, _) => (Outcome::Success, self.config.latency),
        };
        let latency = super::secs(wait + dist.sample(rng).as_secs_f64() * slow);
        Response { outcome, latency: Some(latency) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{rng, secs};

    fn fixed(ms: u64) -> Latency {
        Latency::Fixed(Duration::from_millis(ms))
    }

    #[test]
    fn faults_apply_inside_their_window_only() {
        let mut s = ServiceConfig::new(fixed(10))
            .with_fault(secs(1.0), secs(2.0), Effect::Down)
            .with_fault(secs(3.0), secs(4.0), Effect::Hang)
            .build()
            .unwrap();
        let mut r = rng(1);
        assert_eq!(s.call(secs(0.5), &mut r).outcome, Outcome::Success);
        assert_eq!(s.call(secs(1.0), &mut r).outcome, Outcome::Unavailable);
        assert_eq!(s.call(secs(2.0), &mut r).outcome, Outcome::Success);
        assert_eq!(s.call(secs(3.5), &mut r), Response { outcome: Outcome::Hung, latency: None });
    }

    #[test]
    fn rejecting_capacity_admits_the_rate() {
        // 100/s with a burst of 100: offered 1000 requests evenly over 1 s, admits
        // 100 (burst) + 100 (refill over the second), within one request.
        let mut s = ServiceConfig::new(fixed(1)).with_capacity(Capacity::rejecting(100.0)).build().unwrap();
        let mut r = rng(1);
        let ok = (0..1000)
            .filter(|i| s.call(secs(*i as f64 / 1000.0), &mut r).outcome == Outcome::Success)
            .count();
        assert!((199..=201).contains(&ok), "admitted {ok}");
    }

    #[test]
    fn queueing_capacity_delays_then_rejects() {
        let mut s = ServiceConfig::new(fixed(0))
            .with_capacity(Capacity::queueing(10.0, Duration::from_millis(250)))
            .build()
            .unwrap();
        let mut r = rng(1);
        let waits: Vec<_> = (0..5).map(|_| s.call(SimTime::ZERO, &mut r)).collect();
        // Slots every 100 ms: waits 0, 100, 200 ms admitted; 300 ms is over max_wait.
        assert_eq!(waits[0].latency, Some(Duration::ZERO));
        assert_eq!(waits[2].latency, Some(Duration::from_millis(200)));
        assert_eq!(waits[3].outcome, Outcome::Overloaded);
    }

    #[test]
    fn recovery_ramps_capacity_back() {
        let s = ServiceConfig::new(fixed(1))
            .with_fault(secs(0.0), secs(10.0), Effect::Down)
            .with_capacity(Capacity::rejecting(100.0))
            .with_recovery(Recovery { start_fraction: 0.2, ramp: secs(10.0) })
            .build()
            .unwrap();
        assert_eq!(s.capacity_factor(secs(5.0)), 1.0);
        assert!((s.capacity_factor(secs(10.0)) - 0.2).abs() < 1e-9);
        assert!((s.capacity_factor(secs(15.0)) - 0.6).abs() < 1e-9);
        assert_eq!(s.capacity_factor(secs(30.0)), 1.0);
    }

    #[test]
    fn failure_rate_is_respected() {
        let mut s = ServiceConfig::new(fixed(1)).with_failure_rate(0.3).build().unwrap();
        let mut r = rng(9);
        let n = 100_000;
        let fails = (0..n).filter(|_| s.call(SimTime::ZERO, &mut r).outcome == Outcome::ServerError).count();
        let share = fails as f64 / n as f64;
        // Standard error sqrt(0.21/1e5) = 0.0014; allow 4 of them.
        assert!((share - 0.3).abs() < 0.006, "share {share}");
    }

    #[test]
    fn nonsense_is_rejected_with_a_message() {
        let e = ServiceConfig::new(fixed(1)).with_failure_rate(1.5).build().unwrap_err();
        assert_eq!(e.field, "failure_rate");
        let e =
            ServiceConfig::new(fixed(1)).with_fault(secs(2.0), secs(1.0), Effect::Down).build().unwrap_err();
        assert!(e.message.contains("end after it starts"));
        let e = ServiceConfig::new(fixed(1)).with_capacity(Capacity::rejecting(0.0)).build().unwrap_err();
        assert_eq!(e.field, "capacity.per_second");
    }
}
