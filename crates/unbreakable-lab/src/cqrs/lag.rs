//! Projection lag: how long after a write the read model shows it.
//!
//! A relay polls the outbox every `poll` (its first poll at a seeded random phase),
//! takes every event committed since the last poll, and applies them one after another,
//! each taking `per_event`. Writes arrive as a Poisson process. The lag of a write is
//! the time from its commit to the moment the read model has applied it. Time is
//! virtual (integer nanoseconds), so a run is exact and the same seed gives the same
//! lags.
//!
//! While the relay keeps up (a batch finishes before the next poll), an event waits for
//! the next poll (uniform on `[0, poll)`, mean `poll / 2`), then for the events ahead
//! of it in the batch (a Poisson number with mean `rate × poll / 2`) and its own
//! processing:
//!
//! `mean lag = poll / 2 + per_event × (1 + rate × poll / 2)` ([`LagSim::predicted_mean_ms`]).

use std::time::Duration;

use rand::Rng;

use crate::error::{ConfigError, Error};
use crate::sim::rng;

/// The lag experiment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagSim {
    /// Writes per second (Poisson).
    pub writes_per_second: f64,
    /// The relay's polling interval.
    pub poll: Duration,
    /// Time to apply one event to the read model.
    pub per_event: Duration,
    /// Virtual time simulated.
    pub horizon: Duration,
}

impl Default for LagSim {
    /// 50 writes/s (a busy admin team and a price feed), a poll every 100 ms, 0.2 ms per
    /// event, 20 minutes.
    fn default() -> Self {
        Self {
            writes_per_second: 50.0,
            poll: Duration::from_millis(100),
            per_event: Duration::from_micros(200),
            horizon: Duration::from_secs(1200),
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LagRun {
    /// The polling interval, ms.
    pub poll_ms: f64,
    /// Each write's lag, ms, in commit order.
    pub lags_ms: Vec<f64>,
}

impl LagRun {
    /// The mean lag, ms.
    pub fn mean(&self) -> f64 {
        self.lags_ms.iter().sum::<f64>() / self.lags_ms.len().max(1) as f64
    }

    /// The `q`-quantile (0 to 1) of the lags, ms (nearest rank).
    pub fn quantile(&self, q: f64) -> f64 {
        crate::sim::nearest_rank(&self.lags_ms, q).unwrap_or(0.0)
    }
}

impl LagSim {
    /// The closed-form mean lag, ms, for a relay that keeps up.
    pub fn predicted_mean_ms(&self) -> f64 {
        let p = self.poll.as_secs_f64() * 1e3;
        let c = self.per_event.as_secs_f64() * 1e3;
        p / 2.0 + c * (1.0 + self.writes_per_second * self.poll.as_secs_f64() / 2.0)
    }

    /// Runs it.
    ///
    /// # Errors
    /// A configuration error for a rate that is not positive, a zero poll interval, or
    /// a relay that cannot keep up (`rate × per_event >= 1`: the lag would grow without
    /// bound, and the distribution would depend on the horizon).
    pub fn run(&self, seed: u64) -> Result<LagRun, Error> {
        if !(self.writes_per_second.is_finite() && self.writes_per_second > 0.0) {
            return Err(ConfigError::new(
                "writes_per_second",
                format!(
                    "{} is not a rate; use a positive number of writes per second",
                    self.writes_per_second
                ),
            )
            .into());
        }
        if self.poll.is_zero() {
            return Err(
                ConfigError::new("poll", "a poll interval of 0 is a busy loop; use at least 1 ms").into()
            );
        }
        if self.writes_per_second * self.per_event.as_secs_f64() >= 1.0 {
            return Err(ConfigError::new("per_event", "the relay is slower than the writes (rate x per_event >= 1): the lag grows without bound; shorten per_event or lower the rate").into());
        }
        let mut r = rng(seed);
        let (poll, cost, end) =
            (self.poll.as_nanos() as u64, self.per_event.as_nanos() as u64, self.horizon.as_nanos() as u64);
        // Commits: Poisson arrivals.
        let mut commits = Vec::new();
        let mut t = 0f64;
        loop {
            t += -(1.0 - r.random::<f64>()).ln() / self.writes_per_second * 1e9;
            if t >= end as f64 {
                break;
            }
            commits.push(t as u64);
        }
        // Polls at phase + k × poll; a poll that comes while the relay is still busy is
        // skipped (the relay polls again at the next tick after it is free).
        let mut next_poll = r.random_range(0..poll);
        let mut free_at = 0u64;
        let mut lags = Vec::with_capacity(commits.len());
        let mut i = 0;
        while i < commits.len() {
            if next_poll < free_at {
                next_poll += (free_at - next_poll).div_ceil(poll) * poll;
            }
            let mut done = next_poll;
            while i < commits.len() && commits[i] <= next_poll {
                done += cost;
                lags.push((done - commits[i]) as f64 / 1e6);
                i += 1;
            }
            free_at = done;
            next_poll += poll;
        }
        Ok(LagRun { poll_ms: self.poll.as_secs_f64() * 1e3, lags_ms: lags })
    }
}

/// The poll intervals the chapter compares: 10, 50, 100, 250 and 1,000 ms.
pub fn poll_grid() -> Vec<Duration> {
    [10, 50, 100, 250, 1000].into_iter().map(Duration::from_millis).collect()
}

/// Runs `sim` at each poll interval of `polls`.
///
/// # Errors
/// As [`LagSim::run`].
pub fn sweep(sim: &LagSim, polls: &[Duration], seed: u64) -> Result<Vec<LagRun>, Error> {
    polls.iter().map(|&poll| LagSim { poll, ..*sim }.run(seed)).collect()
}

/// The lag quantiles as a frame: one row per poll interval, columns `poll_ms, mean_ms,
/// p50_ms, p90_ms, p99_ms, max_ms, writes`.
///
/// # Errors
/// A polars error.
#[cfg(feature = "frames")]
pub fn summary(runs: &[LagRun]) -> Result<polars::prelude::DataFrame, Error> {
    use polars::prelude::*;
    let col = |name: &str, f: &dyn Fn(&LagRun) -> f64| {
        Column::new(name.into(), runs.iter().map(f).collect::<Vec<f64>>())
    };
    Ok(DataFrame::new_infer_height(vec![
        col("poll_ms", &|r| r.poll_ms),
        col("mean_ms", &|r| r.mean()),
        col("p50_ms", &|r| r.quantile(0.5)),
        col("p90_ms", &|r| r.quantile(0.9)),
        col("p99_ms", &|r| r.quantile(0.99)),
        col("max_ms", &|r| r.quantile(1.0)),
        Column::new("writes".into(), runs.iter().map(|r| r.lags_ms.len() as u64).collect::<Vec<_>>()),
    ])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_lags() {
        let s = LagSim { horizon: Duration::from_secs(60), ..LagSim::default() };
        assert_eq!(s.run(3).unwrap(), s.run(3).unwrap());
        assert_ne!(s.run(3).unwrap(), s.run(4).unwrap());
    }

    #[test]
    fn a_relay_that_cannot_keep_up_is_refused() {
        let s = LagSim { per_event: Duration::from_millis(20), ..LagSim::default() };
        assert!(s.run(1).is_err());
    }
}
