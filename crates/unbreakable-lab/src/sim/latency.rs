use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal};
use serde::Serialize;

use crate::error::ConfigError;

/// A latency distribution.
///
/// Samples are never negative: a normal sample is folded at zero (`|x|`), the way the
/// AWS backoff simulator models a network leg.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Latency {
    /// Always the same.
    Fixed(Duration),
    /// Uniform between `lo` and `hi`.
    Uniform {
        /// Lower bound.
        lo: Duration,
        /// Upper bound (inclusive in practice).
        hi: Duration,
    },
    /// `|Normal(mean, sd)|`.
    Normal {
        /// Mean of the underlying normal distribution.
        mean: Duration,
        /// Its standard deviation.
        sd: Duration,
    },
    /// Log-normal with the given median; `sigma` is the standard deviation of
    /// `ln(latency)` (0.5 is a moderate tail, 1.0 a heavy one).
    LogNormal {
        /// The median latency.
        median: Duration,
        /// Shape: standard deviation of the log.
        sigma: f64,
    },
    /// Exponential with the given mean (memoryless service times, as in queueing theory).
    Exponential {
        /// The mean latency.
        mean: Duration,
    },
}

impl Latency {
    /// Checks the parameters; [`ServiceConfig`](super::ServiceConfig) calls it when built.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            Latency::Fixed(_) => Ok(()),
            Latency::Uniform { lo, hi } if hi < lo => Err(ConfigError::new(
                "latency",
                format!("uniform latency needs lo <= hi, got lo {lo:?} > hi {hi:?}; swap them"),
            )),
            Latency::Uniform { .. } | Latency::Normal { .. } => Ok(()),
            Latency::LogNormal { median, sigma } => {
                if median.is_zero() {
                    Err(ConfigError::new("latency", "log-normal median must be above zero"))
                } else if !(sigma.is_finite() && sigma >= 0.0) {
                    Err(ConfigError::new(
                        "latency",
                        format!("log-normal sigma {sigma} must be a finite number >= 0 (try 0.5)"),
                    ))
                } else {
                    Ok(())
                }
            }
            Latency::Exponential { mean } if mean.is_zero() => Err(ConfigError::new(
                "latency",
                "exponential mean must be above zero; use Latency::Fixed(Duration::ZERO) for none",
            )),
            Latency::Exponential { .. } => Ok(()),
        }
    }

    /// The mean of the distribution, in seconds.
    pub fn mean_secs(&self) -> f64 {
        match *self {
            Latency::Fixed(d) => d.as_secs_f64(),
            Latency::Uniform { lo, hi } => (lo.as_secs_f64() + hi.as_secs_f64()) / 2.0,
            Latency::Normal { mean, sd } => {
                // Mean of the folded normal distribution.
                let (m, s) = (mean.as_secs_f64(), sd.as_secs_f64());
                if s == 0.0 {
                    return m.abs();
                }
                let z = m / s;
                s * (2.0 / std::f64::consts::PI).sqrt() * (-z * z / 2.0).exp()
                    + m * (1.0 - 2.0 * normal_cdf(-z))
            }
            Latency::LogNormal { median, sigma } => median.as_secs_f64() * (sigma * sigma / 2.0).exp(),
            Latency::Exponential { mean } => mean.as_secs_f64(),
        }
    }

    /// One sample.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        self.sampler().sample(rng)
    }

    /// The distribution built once, for drawing many samples: each draws exactly what
    /// [`sample`](Self::sample) draws, without setting the distribution up again.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use rand::distr::Distribution;
    /// use unbreakable_lab::sim::{rng, Latency};
    ///
    /// let hold = Latency::Exponential { mean: Duration::from_millis(100) };
    /// let sampler = hold.sampler();
    /// let (mut a, mut b) = (rng(3), rng(3));
    /// assert_eq!(sampler.sample(&mut a), hold.sample(&mut b));
    /// ```
    pub fn sampler(&self) -> LatencySampler {
        // Parameters a distribution refuses give their mean (or median), as always.
        let or_secs =
            |d: Option<Prepared>, fallback: Duration| d.unwrap_or(Prepared::Secs(fallback.as_secs_f64()));
        LatencySampler(match *self {
            Latency::Fixed(d) => Prepared::Fixed(d),
            Latency::Uniform { lo, hi } => Prepared::Uniform { lo: lo.as_secs_f64(), hi: hi.as_secs_f64() },
            Latency::Normal { mean, sd } => {
                or_secs(Normal::new(mean.as_secs_f64(), sd.as_secs_f64()).map(Prepared::Normal).ok(), mean)
            }
            Latency::LogNormal { median, sigma } => or_secs(
                LogNormal::new(median.as_secs_f64().ln(), sigma).map(Prepared::LogNormal).ok(),
                median,
            ),
            Latency::Exponential { mean } => {
                or_secs(Exp::new(1.0 / mean.as_secs_f64()).map(Prepared::Exponential).ok(), mean)
            }
        })
    }
}

/// A [`Latency`] ready to draw from: [`Latency::sampler`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySampler(Prepared);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Prepared {
    Fixed(Duration),
    /// Always this many seconds (parameters a distribution refused).
    Secs(f64),
    Uniform {
        lo: f64,
        hi: f64,
    },
    Normal(Normal<f64>),
    LogNormal(LogNormal<f64>),
    Exponential(Exp<f64>),
}

impl Distribution<Duration> for LatencySampler {
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let secs = match self.0 {
            Prepared::Fixed(d) => return d,
            Prepared::Secs(s) => s,
            Prepared::Uniform { lo, hi } => lo + (hi - lo) * rng.random::<f64>(),
            Prepared::Normal(n) => n.sample(rng).abs(),
            Prepared::LogNormal(d) => d.sample(rng),
            Prepared::Exponential(d) => d.sample(rng),
        };
        super::secs(secs)
    }
}

/// The standard normal CDF (Abramowitz and Stegun 7.1.26, error below 1.5e-7).
pub(crate) fn normal_cdf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs() / std::f64::consts::SQRT_2);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-(x * x) / 2.0).exp();
    if x >= 0.0 { 0.5 * (1.0 + erf) } else { 0.5 * (1.0 - erf) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng;

    #[test]
    fn sample_means_match_the_formulas() {
        let cases = [
            Latency::Fixed(Duration::from_millis(7)),
            Latency::Uniform { lo: Duration::from_millis(10), hi: Duration::from_millis(30) },
            Latency::Normal { mean: Duration::from_millis(10), sd: Duration::from_millis(2) },
            Latency::Normal { mean: Duration::from_millis(1), sd: Duration::from_millis(3) },
            Latency::LogNormal { median: Duration::from_millis(50), sigma: 0.5 },
            Latency::Exponential { mean: Duration::from_millis(20) },
        ];
        for l in cases {
            let mut r = rng(3);
            let n = 200_000;
            let mean = (0..n).map(|_| l.sample(&mut r).as_secs_f64()).sum::<f64>() / n as f64;
            // 2% relative tolerance: with 200k samples the standard error of every case
            // here is below 0.3% of the mean.
            let want = l.mean_secs();
            assert!((mean - want).abs() <= 0.02 * want, "{l:?}: sampled {mean}, formula {want}");
        }
    }

    #[test]
    fn refused_parameters_give_the_median_and_draw_nothing() {
        let median = Duration::from_millis(50);
        let bad = Latency::LogNormal { median, sigma: f64::NAN }.sampler();
        let (mut a, mut b) = (rng(4), rng(4));
        assert_eq!(bad.sample(&mut a), median);
        assert_eq!(a.random::<u64>(), b.random::<u64>());
    }

    #[test]
    fn bad_parameters_are_rejected() {
        let bad = Latency::Uniform { lo: Duration::from_secs(2), hi: Duration::from_secs(1) };
        assert!(bad.validate().unwrap_err().message.contains("swap"));
        assert!(Latency::LogNormal { median: Duration::from_millis(1), sigma: f64::NAN }.validate().is_err());
        assert!(Latency::Exponential { mean: Duration::ZERO }.validate().is_err());
    }
}
