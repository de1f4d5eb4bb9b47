//! A circuit breaker in front of a service that starts failing and later recovers
//! (chapter 03): what the breaker refuses, what still reaches the failing service, and
//! how long it stays open.
//!
//! Requests arrive as a Poisson process; each goes through one
//! [`CircuitBreaker`](crate::retry::CircuitBreaker) (the crate's pure core, driven by the
//! virtual clock). An admitted request answers after `latency`; it fails with
//! probability `failure_rate` while the incident lasts and `background_failure` outside
//! it, and its outcome goes back to the breaker when the answer arrives. A refused
//! request is recorded as [`Outcome::BreakerOpen`] and never reaches the service. Every
//! request draws its failure number whether it is sent or not, so two configurations of
//! the breaker see the same traffic and the same failures for the same seed.

use std::collections::VecDeque;
use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use crate::error::{ConfigError, check_probability};
use crate::retry::{Admission, BreakerConfig, BreakerState, CircuitBreaker};

/// A call in flight: request number, when sent, its admission, whether it fails.
type InFlight = (u32, SimTime, Admission, bool);
use crate::sim::{Arrivals, Attempt, Outcome, Recorder, SimTime, rng, substream};

/// The experiment's settings.
///
/// # Default
/// 20 requests a second for 60 s; the service fails half its calls from 10 s to 40 s and
/// 1% outside; every call answers in 50 ms; the breaker at its defaults (5 failures in
/// 10 s open it for a 5 s cool-down, 1 probe).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BreakerRun {
    /// The breaker in front of the service.
    pub breaker: BreakerConfig,
    /// Requests per second (Poisson).
    pub per_second: f64,
    /// How long requests arrive.
    pub horizon: Duration,
    /// `(start, end)` of the incident.
    pub incident: (SimTime, SimTime),
    /// Share of calls that fail during the incident.
    pub failure_rate: f64,
    /// Share of calls that fail outside it.
    pub background_failure: f64,
    /// How long a call takes to answer, success or failure.
    pub latency: Duration,
}

impl Default for BreakerRun {
    fn default() -> Self {
        Self {
            breaker: BreakerConfig::default(),
            per_second: 20.0,
            horizon: Duration::from_secs(60),
            incident: (Duration::from_secs(10), Duration::from_secs(40)),
            failure_rate: 0.5,
            background_failure: 0.01,
            latency: Duration::from_millis(50),
        }
    }
}

/// The most requests one run may simulate (rate times horizon).
pub const MAX_REQUESTS: f64 = 1_000_000.0;

/// One run: a row per request, and when the breaker was open.
#[derive(Debug, Clone)]
pub struct BreakerOutcome {
    /// One row per request (`client` is the request's number, `attempt` always 0).
    pub recorder: Recorder,
    /// `(opened, cool-down ends)` of each time the breaker opened, in order; the last
    /// may end after the horizon.
    pub open: Vec<(SimTime, SimTime)>,
    /// How long the run lasted (the horizon, or the last answer if later).
    pub end: SimTime,
}

impl BreakerOutcome {
    /// Requests the breaker refused.
    pub fn refused(&self) -> usize {
        self.count(|o| o == Outcome::BreakerOpen)
    }

    /// Requests that reached the service.
    pub fn reached(&self) -> usize {
        self.count(Outcome::reached_server)
    }

    /// Requests that reached the service and failed there.
    pub fn failed(&self) -> usize {
        self.count(|o| o == Outcome::ServerError)
    }

    /// Requests that succeeded.
    pub fn succeeded(&self) -> usize {
        self.count(Outcome::is_success)
    }

    /// Total time the breaker spent open (cool-downs, cut at [`end`](Self::end)).
    pub fn time_open(&self) -> Duration {
        self.open.iter().map(|&(from, to)| to.min(self.end).saturating_sub(from)).sum()
    }

    fn count(&self, keep: impl Fn(Outcome) -> bool) -> usize {
        self.recorder.attempts().iter().filter(|a| keep(a.outcome)).count()
    }
}

impl BreakerRun {
    /// Checks the settings.
    ///
    /// # Errors
    /// An invalid breaker, a share outside 0-1, an incident that ends before it starts,
    /// a rate that is not positive, or more than [`MAX_REQUESTS`] requests.
    pub fn validate(&self) -> Result<(), ConfigError> {
        drop(self.breaker.build()?);
        check_probability("failure_rate", self.failure_rate)?;
        check_probability("background_failure", self.background_failure)?;
        if self.incident.1 < self.incident.0 {
            return Err(ConfigError::new(
                "incident",
                "the incident ends before it starts; swap the two times",
            ));
        }
        if !(self.per_second.is_finite() && self.per_second > 0.0) {
            return Err(ConfigError::new(
                "per_second",
                format!("{} is not a positive rate", self.per_second),
            ));
        }
        if self.per_second * self.horizon.as_secs_f64() > MAX_REQUESTS {
            return Err(ConfigError::new(
                "horizon",
                format!("more than {MAX_REQUESTS} requests; lower the rate or shorten the horizon"),
            ));
        }
        Ok(())
    }

    /// Runs the experiment.
    ///
    /// # Errors
    /// Invalid settings ([`validate`](Self::validate)).
    pub fn run(&self, seed: u64) -> Result<BreakerOutcome, ConfigError> {
        self.validate()?;
        let mut breaker = self.breaker.build()?;
        let arrivals = Arrivals::flat(self.per_second).sample(self.horizon, &mut rng(seed))?;
        let mut draws = substream(seed, 1);
        let mut recorder = Recorder::new();
        // Calls in flight, in the order they answer (every call takes `latency`).
        let mut pending = VecDeque::new();
        let mut open = Vec::new();
        for (i, &at) in arrivals.iter().enumerate() {
            let client = u32::try_from(i).unwrap_or(u32::MAX);
            let p = if self.incident.0 <= at && at < self.incident.1 {
                self.failure_rate
            } else {
                self.background_failure
            };
            let fails = draws.random::<f64>() < p;
            // Answers due by now reach the breaker before this request asks it.
            self.answer(&mut pending, Some(at), &mut breaker, &mut recorder, &mut open);
            match breaker.try_acquire(at) {
                Ok(admission) => pending.push_back((client, at, admission, fails)),
                Err(_) => recorder.record(Attempt {
                    client,
                    attempt: 0,
                    sent: at,
                    finished: at,
                    outcome: Outcome::BreakerOpen,
                }),
            }
        }
        self.answer(&mut pending, None, &mut breaker, &mut recorder, &mut open);
        let end = recorder.attempts().iter().map(|a| a.finished).max().unwrap_or_default().max(self.horizon);
        recorder.sort();
        Ok(BreakerOutcome { recorder, open, end })
    }

    /// Hands the answers due by `upto` (all of them for `None`) back to the breaker, and
    /// notes each time it opens.
    fn answer(
        &self,
        pending: &mut VecDeque<InFlight>,
        upto: Option<SimTime>,
        breaker: &mut CircuitBreaker,
        recorder: &mut Recorder,
        open: &mut Vec<(SimTime, SimTime)>,
    ) {
        while let Some(&(client, sent, admission, fails)) = pending.front() {
            let at = sent + self.latency;
            if upto.is_some_and(|t| at > t) {
                break;
            }
            pending.pop_front();
            let outcome = if fails {
                breaker.on_failure(admission, at);
                Outcome::ServerError
            } else {
                breaker.on_success(admission, at);
                Outcome::Success
            };
            if let BreakerState::Open { until } = breaker.state() {
                if open.last().is_none_or(|&(_, u)| u != until) {
                    open.push((at, until));
                }
            }
            recorder.record(Attempt { client, attempt: 0, sent, finished: at, outcome });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_in_the_incident_and_refuses_what_would_have_failed() {
        let x = BreakerRun::default();
        let run = x.run(42).unwrap();
        let n = run.recorder.len();
        assert_eq!(run.refused() + run.reached(), n, "every request is refused or sent");
        assert_eq!(run.failed() + run.succeeded(), run.reached());
        assert!(run.refused() > 300, "refused {}", run.refused());
        // It opens during the incident (and may open on the 1% background too).
        assert!(run.open.iter().any(|&(from, _)| x.incident.0 <= from && from < x.incident.1));
        // Each opening lasts exactly the cool-down.
        assert!(run.open.iter().all(|&(from, to)| to - from == x.breaker.cool_down));
        assert!(run.time_open() >= Duration::from_secs(10), "{:?}", run.time_open());
        // Without a breaker (an impossible threshold) nothing is refused, and more
        // calls fail at the service.
        let never = BreakerRun { breaker: BreakerConfig { failure_threshold: 10_000, ..x.breaker }, ..x }
            .run(42)
            .unwrap();
        assert_eq!(never.refused(), 0);
        assert_eq!(never.recorder.len(), n, "the same traffic for the same seed");
        assert!(never.failed() > run.failed() + 200, "{} vs {}", never.failed(), run.failed());
    }

    #[test]
    fn a_longer_cool_down_keeps_it_open_longer() {
        let x = BreakerRun::default();
        let short = x.run(7).unwrap();
        let long =
            BreakerRun { breaker: BreakerConfig { cool_down: Duration::from_secs(20), ..x.breaker }, ..x }
                .run(7)
                .unwrap();
        assert!(long.refused() > short.refused(), "{} vs {}", long.refused(), short.refused());
    }

    #[test]
    fn bad_settings_are_refused() {
        let x = BreakerRun { failure_rate: 1.5, ..BreakerRun::default() };
        assert_eq!(x.run(1).unwrap_err().field, "failure_rate");
        let x = BreakerRun {
            breaker: BreakerConfig { failure_threshold: 0, ..BreakerConfig::default() },
            ..BreakerRun::default()
        };
        assert_eq!(x.run(1).unwrap_err().field, "failure_threshold");
        let x = BreakerRun { per_second: 1e6, horizon: Duration::from_secs(3600), ..BreakerRun::default() };
        assert_eq!(x.run(1).unwrap_err().field, "horizon");
    }
}
