//! Small experiments for the self-check chapter (12) where no earlier chapter had one
//! ready.
//!
//! [`ProjectionLag`]: what a CQRS read model costs in consistency. A write commits on the
//! write side and is acknowledged at once; its event reaches the projector after a fixed
//! publish delay (an outbox poll, a broker hop); one projector applies events in order
//! (one partition), each taking a random time. A user who reads their own write from the
//! read model `read_after` the acknowledgement sees the old data if the projector has not
//! applied the event yet. With one database for reads and writes that window is zero.
//!
//! With exponential apply times the projector is an M/M/1 queue, so the lag has a closed
//! form to check the simulation against: the time in an M/M/1 system (waiting plus
//! service) is exponential with rate `mu - lambda`, so
//!
//! ```text
//! lag = publish + T,  T ~ Exp(mu - lambda)
//! P(stale read) = exp(-(mu - lambda) * (read_after - publish))   (read_after >= publish)
//! mean lag = publish + 1 / (mu - lambda)
//! ```

use std::time::Duration;

use serde::Serialize;

use crate::error::ConfigError;
use crate::sim::{Arrivals, Latency, WorkerPool, substream};

/// The projection-lag experiment's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProjectionLag {
    /// Writes per second (Poisson).
    pub writes_per_sec: f64,
    /// From the write's acknowledgement to the event reaching the projector.
    pub publish: Duration,
    /// How long the projector takes to apply one event to the read model.
    pub apply: Latency,
    /// How long after its write's acknowledgement the user reads it back.
    pub read_after: Duration,
    /// How long writes arrive.
    pub horizon: Duration,
}

impl Default for ProjectionLag {
    /// 100 writes/s; publish 5 ms; apply exponential with mean 2 ms (a projector that
    /// can keep up with 500 events/s); the user reads back 20 ms after the acknowledgement
    /// (the redirect after a form post); 200 s of writes. Every number is an assumption
    /// of this model, not the article's.
    fn default() -> Self {
        Self {
            writes_per_sec: 100.0,
            publish: Duration::from_millis(5),
            apply: Latency::Exponential { mean: Duration::from_millis(2) },
            read_after: Duration::from_millis(20),
            horizon: Duration::from_secs(200),
        }
    }
}

/// One run of [`ProjectionLag`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LagRun {
    /// The settings it ran with.
    pub config: ProjectionLag,
    /// Each write's lag: acknowledgement to visible in the read model, in write order.
    pub lags: Vec<Duration>,
}

impl LagRun {
    /// Writes made.
    pub fn writes(&self) -> usize {
        self.lags.len()
    }

    /// Share of read-backs that saw the old data (0 if there were no writes).
    pub fn stale_share(&self) -> f64 {
        if self.lags.is_empty() {
            return 0.0;
        }
        self.lags.iter().filter(|&&l| l > self.config.read_after).count() as f64 / self.lags.len() as f64
    }

    /// Mean lag in milliseconds (0 if there were no writes).
    pub fn mean_lag_ms(&self) -> f64 {
        if self.lags.is_empty() {
            return 0.0;
        }
        self.lags.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / self.lags.len() as f64
    }

    /// The lag at quantile `q` (0-1), in milliseconds (0 if there were no writes).
    pub fn lag_quantile_ms(&self, q: f64) -> f64 {
        crate::sim::nearest_rank(&self.lags, q).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }
}

/// One point of [`ProjectionLag::sweep`], beside the M/M/1 formula.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LagPoint {
    /// Writes per second.
    pub writes_per_sec: f64,
    /// The projector's utilisation, `lambda / mu`.
    pub utilisation: f64,
    /// Measured share of stale read-backs.
    pub stale_share: f64,
    /// The formula's share (`None` unless apply times are exponential and the projector keeps up).
    pub predicted_stale: Option<f64>,
    /// Measured mean lag, ms.
    pub mean_lag_ms: f64,
    /// The formula's mean lag, ms.
    pub predicted_mean_lag_ms: Option<f64>,
    /// Measured 99th-percentile lag, ms.
    pub p99_lag_ms: f64,
}

impl ProjectionLag {
    /// Checks the settings.
    ///
    /// # Errors
    /// A rate that is not positive, an invalid apply latency, or a projector that cannot
    /// keep up on average (`writes_per_sec * mean apply >= 1`: the lag would grow without bound).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.writes_per_sec.is_finite() && self.writes_per_sec > 0.0) {
            return Err(ConfigError::new(
                "writes_per_sec",
                format!("{} is not a positive rate", self.writes_per_sec),
            ));
        }
        self.apply.validate()?;
        if self.utilisation() >= 1.0 {
            return Err(ConfigError::new(
                "writes_per_sec",
                format!(
                    "{} writes/s with {:.3} ms per event keeps the projector {:.0}% busy: it falls behind for ever; lower the rate or the apply time",
                    self.writes_per_sec,
                    self.apply.mean_secs() * 1e3,
                    self.utilisation() * 100.0
                ),
            ));
        }
        Ok(())
    }

    /// The projector's utilisation: writes per second times the mean apply time.
    pub fn utilisation(&self) -> f64 {
        self.writes_per_sec * self.apply.mean_secs()
    }

    /// `mu - lambda` per second, if apply times are exponential and the projector keeps up.
    fn spare_rate(&self) -> Option<f64> {
        match self.apply {
            Latency::Exponential { mean } if !mean.is_zero() => {
                let spare = 1.0 / mean.as_secs_f64() - self.writes_per_sec;
                (spare > 0.0).then_some(spare)
            }
            _ => None,
        }
    }

    /// The M/M/1 formula's share of stale read-backs (see the module docs).
    pub fn predicted_stale(&self) -> Option<f64> {
        let spare = self.spare_rate()?;
        let window = self.read_after.as_secs_f64() - self.publish.as_secs_f64();
        Some(if window < 0.0 { 1.0 } else { (-spare * window).exp() })
    }

    /// The M/M/1 formula's mean lag, in milliseconds.
    pub fn predicted_mean_lag_ms(&self) -> Option<f64> {
        Some((self.publish.as_secs_f64() + 1.0 / self.spare_rate()?) * 1e3)
    }

    /// Runs it with `seed`.
    ///
    /// # Errors
    /// As [`validate`](Self::validate), or more writes than the traffic model allows.
    pub fn run(&self, seed: u64) -> Result<LagRun, ConfigError> {
        self.validate()?;
        let writes = Arrivals::flat(self.writes_per_sec).sample(self.horizon, &mut substream(seed, 0))?;
        let mut applies = substream(seed, 1);
        let mut projector = WorkerPool::new(1)?;
        let lags = writes
            .into_iter()
            .map(|acked| {
                let slot = projector
                    .admit(acked + self.publish, self.apply.sample(&mut applies), None)
                    .expect("a pool without max_wait admits every request");
                slot.end - acked
            })
            .collect();
        Ok(LagRun { config: *self, lags })
    }

    /// [`run`](Self::run) at each write rate, with the same seed, beside the formula.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub fn sweep(&self, rates: &[f64], seed: u64) -> Result<Vec<LagPoint>, ConfigError> {
        rates
            .iter()
            .map(|&writes_per_sec| {
                let at = ProjectionLag { writes_per_sec, ..*self };
                let run = at.run(seed)?;
                Ok(LagPoint {
                    writes_per_sec,
                    utilisation: at.utilisation(),
                    stale_share: run.stale_share(),
                    predicted_stale: at.predicted_stale(),
                    mean_lag_ms: run.mean_lag_ms(),
                    predicted_mean_lag_ms: at.predicted_mean_lag_ms(),
                    p99_lag_ms: run.lag_quantile_ms(0.99),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_lags() {
        let x = ProjectionLag { horizon: Duration::from_secs(20), ..ProjectionLag::default() };
        assert_eq!(x.run(7).unwrap(), x.run(7).unwrap());
        assert_ne!(x.run(7).unwrap().lags, x.run(8).unwrap().lags);
    }

    #[test]
    fn the_simulation_follows_the_mm1_formula() {
        // Stale share within 2 points + 10% of the formula, mean lag within 10% (at 90%
        // busy, 200 s of one queue is a noisy sample: seed 42 gives 23.6 ms for 25 ms),
        // from 10% to 90% utilisation.
        let x = ProjectionLag::default();
        for p in x.sweep(&[50.0, 200.0, 350.0, 450.0], 42).unwrap() {
            let (s, ps) = (p.stale_share, p.predicted_stale.unwrap());
            assert!((s - ps).abs() < 0.02 + 0.1 * ps, "{p:?}");
            let (m, pm) = (p.mean_lag_ms, p.predicted_mean_lag_ms.unwrap());
            assert!((m - pm).abs() < 0.1 * pm, "{p:?}");
        }
    }

    #[test]
    fn nothing_is_stale_when_the_read_comes_after_every_lag() {
        let x = ProjectionLag {
            read_after: Duration::from_secs(10),
            horizon: Duration::from_secs(20),
            ..ProjectionLag::default()
        };
        assert_eq!(x.run(1).unwrap().stale_share(), 0.0);
        // A read before the event is even published is always stale.
        let early = ProjectionLag { read_after: Duration::from_millis(1), ..x };
        assert_eq!(early.predicted_stale(), Some(1.0));
        assert_eq!(early.run(1).unwrap().stale_share(), 1.0);
    }

    #[test]
    fn a_projector_that_cannot_keep_up_is_refused() {
        let x = ProjectionLag { writes_per_sec: 500.0, ..ProjectionLag::default() };
        let e = x.run(1).unwrap_err().to_string();
        assert!(e.contains("falls behind"), "{e}");
        assert!(ProjectionLag { writes_per_sec: 0.0, ..x }.run(1).is_err());
        assert!(
            ProjectionLag { apply: Latency::Fixed(Duration::from_millis(1)), ..x }
                .predicted_stale()
                .is_none()
        );
    }
}
