use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use super::SimTime;
use crate::error::ConfigError;

/// How the arrival rate changes over time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum RateShape {
    /// The same rate all the time.
    Flat,
    /// A daily cycle: the rate follows a cosine between `trough` (as a share of the peak
    /// rate) at the quietest hour and the full rate at `peak_hour` (0-24).
    Daily {
        /// Hour of the day with the highest traffic.
        peak_hour: f64,
        /// Rate at the quietest hour, as a share of the peak (0-1).
        trough: f64,
    },
}

/// Poisson arrivals of requests: `peak_per_sec` requests per second at the peak,
/// shaped by a [`RateShape`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Arrivals {
    /// Arrival rate at the peak, requests per second.
    pub peak_per_sec: f64,
    /// The shape of the rate over time.
    pub shape: RateShape,
}

/// The most arrivals one call to [`Arrivals::sample`] will produce.
pub const MAX_ARRIVALS: usize = 50_000_000;

impl Arrivals {
    /// A flat rate.
    pub fn flat(per_sec: f64) -> Self {
        Self { peak_per_sec: per_sec, shape: RateShape::Flat }
    }

    /// A daily cycle peaking at `peak_hour` with the quietest hour at `trough` of the peak.
    pub fn daily(peak_per_sec: f64, peak_hour: f64, trough: f64) -> Self {
        Self { peak_per_sec, shape: RateShape::Daily { peak_hour, trough } }
    }

    /// The rate at time `t`, requests per second (`t` = 0 is midnight).
    pub fn rate_at(&self, t: SimTime) -> f64 {
        match self.shape {
            RateShape::Flat => self.peak_per_sec,
            RateShape::Daily { peak_hour, trough } => {
                let hours = t.as_secs_f64() / 3600.0;
                let phase = 2.0 * std::f64::consts::PI * (hours - peak_hour) / 24.0;
                let shape = trough + (1.0 - trough) * (1.0 + phase.cos()) / 2.0;
                self.peak_per_sec * shape
            }
        }
    }

    /// The arrival times in `[0, horizon)`, by thinning a Poisson process at the peak
    /// rate (Lewis and Shedler).
    ///
    /// # Errors
    /// If the rate is not a positive number, a daily trough is outside 0-1, or more than
    /// [`MAX_ARRIVALS`] arrivals are expected.
    pub fn sample(&self, horizon: Duration, rng: &mut impl Rng) -> Result<Vec<SimTime>, ConfigError> {
        let expected = self.expected(horizon)?;
        let mut out = Vec::with_capacity(expected as usize + 16);
        out.extend(self.times(horizon, rng)?);
        Ok(out)
    }

    /// The same arrival times as [`sample`](Self::sample), drawing the same numbers from
    /// `rng`, one at a time: a long run need not hold them all (the iterator owns `rng`;
    /// pass `&mut rng` to keep using it afterwards).
    ///
    /// # Errors
    /// As [`sample`](Self::sample).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use unbreakable_lab::sim::{rng, Arrivals};
    ///
    /// let a = Arrivals::flat(50.0);
    /// let all = a.sample(Duration::from_secs(10), &mut rng(7)).unwrap();
    /// let one_by_one: Vec<_> = a.times(Duration::from_secs(10), rng(7)).unwrap().collect();
    /// assert_eq!(all, one_by_one);
    /// ```
    pub fn times<R: Rng>(&self, horizon: Duration, rng: R) -> Result<ArrivalTimes<R>, ConfigError> {
        self.expected(horizon)?;
        Ok(ArrivalTimes { arrivals: *self, t: 0.0, end: horizon.as_secs_f64(), done: false, rng })
    }

    /// Checks the parameters and gives the expected number of arrivals in `horizon`.
    fn expected(&self, horizon: Duration) -> Result<f64, ConfigError> {
        if !(self.peak_per_sec.is_finite() && self.peak_per_sec > 0.0) {
            return Err(ConfigError::new(
                "peak_per_sec",
                format!("{} is not a positive rate", self.peak_per_sec),
            ));
        }
        if let RateShape::Daily { trough, .. } = self.shape {
            crate::error::check_probability("trough", trough)?;
        }
        let expected = self.peak_per_sec * horizon.as_secs_f64();
        if expected > MAX_ARRIVALS as f64 {
            return Err(ConfigError::new(
                "horizon",
                format!(
                    "{expected:.0} arrivals expected, more than {MAX_ARRIVALS}; shorten the horizon or lower the rate"
                ),
            ));
        }
        Ok(expected)
    }
}

/// Arrival times one at a time, in order: [`Arrivals::times`].
#[derive(Debug, Clone)]
pub struct ArrivalTimes<R> {
    arrivals: Arrivals,
    /// Seconds of the last candidate arrival.
    t: f64,
    end: f64,
    /// The horizon has been passed: no more draws.
    done: bool,
    rng: R,
}

impl<R: Rng> Iterator for ArrivalTimes<R> {
    type Item = SimTime;

    fn next(&mut self) -> Option<SimTime> {
        let peak = self.arrivals.peak_per_sec;
        while !self.done {
            let u: f64 = self.rng.random();
            self.t += -(1.0 - u).ln() / peak;
            if self.t >= self.end {
                self.done = true;
                break;
            }
            let at = super::secs(self.t);
            if self.rng.random::<f64>() * peak <= self.arrivals.rate_at(at) {
                return Some(at);
            }
        }
        None
    }
}

impl<R: Rng> std::iter::FusedIterator for ArrivalTimes<R> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng;

    #[test]
    fn counts_match_the_integrated_rate() {
        let mut r = rng(5);
        let flat = Arrivals::flat(50.0).sample(Duration::from_secs(1000), &mut r).unwrap();
        // Poisson(50,000): sd 224; allow 4 sd.
        assert!((flat.len() as f64 - 50_000.0).abs() < 900.0, "{}", flat.len());
        let day = Arrivals::daily(10.0, 14.0, 0.2).sample(Duration::from_secs(86_400), &mut r).unwrap();
        // Mean shape over a day = trough + (1 - trough)/2 = 0.6 -> 518,400 expected.
        let want = 10.0 * 86_400.0 * 0.6;
        assert!((day.len() as f64 - want).abs() < 4.0 * want.sqrt(), "{}", day.len());
        assert!(day.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn times_draw_what_sample_draws() {
        let day = Arrivals::daily(10.0, 14.0, 0.2);
        let horizon = Duration::from_secs(7200);
        let (mut a, mut b) = (rng(9), rng(9));
        let all = day.sample(horizon, &mut a).unwrap();
        assert_eq!(day.times(horizon, &mut b).unwrap().collect::<Vec<_>>(), all);
        // The same numbers were used up: both generators go on alike.
        assert_eq!(a.random::<u64>(), b.random::<u64>());
        assert_eq!(Arrivals::flat(-1.0).times(horizon, &mut a).unwrap_err().field, "peak_per_sec");
    }

    #[test]
    fn refuses_runaway_sizes() {
        let e = Arrivals::flat(1e9).sample(Duration::from_secs(3600), &mut rng(1)).unwrap_err();
        assert_eq!(e.field, "horizon");
    }
}
