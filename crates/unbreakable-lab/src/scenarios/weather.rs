//! Pool exhaustion by a hanging dependency: the article's weather-service story
//! (chapter 04).
//!
//! An API serves each request on one of a bounded pool of threads: a little local work,
//! then a call to an external weather service. For a while the weather service hangs:
//! it accepts calls and never answers.
//!
//! * **No timeout.** Each call made during the hang holds its thread until the weather
//!   service restarts and drops its connections. The pool fills within seconds, every
//!   new request queues, and users give up: the whole API is down because of one
//!   nice-to-have dependency.
//! * **Read timeout plus fallback.** A call holds its thread for at most the timeout,
//!   then the API answers with the last weather it cached (while it is fresh enough) or
//!   "weather unavailable". The pool has room for that, so the API stays up.
//!
//! The pool is the crate's [`WorkerPool`] (FIFO, a request leaves the queue when its
//! user gives up). The model is pure: a function of the settings and the seed.

use std::time::Duration;

use serde::Serialize;

use crate::error::ConfigError;
use crate::sim::{Arrivals, Latency, SimTime, WorkerPool, count_in_bins, rng, substream};

/// How the API calls the weather service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Protection {
    /// No timeout: a hung call holds its thread until the dependency drops it.
    NoTimeout,
    /// A read timeout, then a fallback answer.
    ReadTimeout(Duration),
}

impl Protection {
    /// A name for tables and legends.
    pub fn name(&self) -> String {
        match self {
            Protection::NoTimeout => "no timeout".into(),
            Protection::ReadTimeout(t) => format!("{} s read timeout + fallback", t.as_secs_f64()),
        }
    }
}

/// What a user got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Answer {
    /// Live weather.
    Live,
    /// Cached weather (the dependency failed, the cache was fresh enough).
    Cached,
    /// "Weather unavailable" (the dependency failed, no fresh cache): the rest of the
    /// page still works.
    Unavailable,
    /// Nothing: the user gave up waiting (in the queue, or for a thread stuck on the
    /// dependency).
    Failed,
}

impl Answer {
    /// All answers, in table order.
    pub const ALL: [Answer; 4] = [Answer::Live, Answer::Cached, Answer::Unavailable, Answer::Failed];

    /// A name for tables and legends.
    pub fn name(self) -> &'static str {
        match self {
            Answer::Live => "live weather",
            Answer::Cached => "cached weather",
            Answer::Unavailable => "\"weather unavailable\"",
            Answer::Failed => "failed (user gave up)",
        }
    }
}

/// The experiment's settings.
///
/// # Default
/// 200 threads (a common servlet-container default), 20 requests/s, 20 ms of local work,
/// weather calls log-normal with a median of 150 ms; the weather service hangs from 60 s
/// to 240 s; users give up after 10 s; cached weather is served for up to 120 s after the
/// last good answer; 360 s simulated.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Weather {
    /// Threads in the API's pool.
    pub threads: u32,
    /// Requests per second (Poisson).
    pub rate: f64,
    /// The API's own work per request, before calling the weather service.
    pub local_work: Duration,
    /// The weather service's latency when healthy.
    pub weather: Latency,
    /// `(start, end)`: calls made in this window hang; at `end` the weather service
    /// restarts and drops them.
    pub hang: (SimTime, SimTime),
    /// How long a user waits before giving up.
    pub patience: Duration,
    /// How old cached weather may be and still be served.
    pub cache_ttl: Duration,
    /// Simulated time.
    pub horizon: Duration,
}

impl Default for Weather {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            threads: 200,
            rate: 20.0,
            local_work: Duration::from_millis(20),
            weather: Latency::LogNormal { median: Duration::from_millis(150), sigma: 0.4 },
            hang: (s(60), s(240)),
            patience: s(10),
            cache_ttl: s(120),
            horizon: s(360),
        }
    }
}

/// One user request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Served {
    /// When it arrived.
    pub arrived: SimTime,
    /// When a thread took it (`None`: the user gave up in the queue).
    pub started: Option<SimTime>,
    /// When its thread was free again.
    pub released: Option<SimTime>,
    /// When the user had an answer or gave up.
    pub answered: SimTime,
    /// What the user got.
    pub answer: Answer,
}

/// One run.
#[derive(Debug, Clone, Serialize)]
pub struct WeatherRun {
    /// How the API called the weather service.
    pub protection: Protection,
    /// Every request, in order of arrival.
    pub requests: Vec<Served>,
}

impl WeatherRun {
    /// How many requests got `answer`.
    pub fn count(&self, answer: Answer) -> usize {
        self.requests.iter().filter(|r| r.answer == answer).count()
    }

    /// Answers of kind `answer` per second, by the time the user got them, in bins of
    /// `bin` seconds up to `until`, as `(bin start, per second)` (binned by
    /// [`count_in_bins`]: empty for a nonsense bin).
    pub fn per_second(&self, answer: Answer, bin: f64, until: f64) -> Vec<(f64, f64)> {
        let answered = self.requests.iter().filter(|r| r.answer == answer).map(|r| r.answered);
        count_in_bins(answered, bin, until)
            .iter()
            .enumerate()
            .map(|(i, &k)| (i as f64 * bin, k as f64 / bin))
            .collect()
    }

    /// Requests waiting in the queue for a thread at time `t`.
    pub fn queued_at(&self, t: SimTime) -> usize {
        self.requests.iter().filter(|r| r.arrived <= t && t < r.started.unwrap_or(r.answered)).count()
    }

    /// Threads busy at time `t`.
    pub fn busy_at(&self, t: SimTime) -> usize {
        self.requests
            .iter()
            .filter(|r| r.started.is_some_and(|s| s <= t) && r.released.is_some_and(|e| t < e))
            .count()
    }
}

impl Weather {
    /// Checks the settings.
    ///
    /// # Errors
    /// Zero threads, zero patience, a hang that ends before it starts, or a latency or rate
    /// the samplers refuse.
    pub fn validate(&self) -> Result<(), ConfigError> {
        WorkerPool::new(self.threads)?;
        self.weather.validate()?;
        if self.patience.is_zero() {
            return Err(ConfigError::new(
                "patience",
                "users who give up at once are never served; use a few seconds",
            ));
        }
        if self.hang.1 < self.hang.0 {
            return Err(ConfigError::new(
                "hang",
                format!("the hang ends ({:?}) before it starts ({:?})", self.hang.1, self.hang.0),
            ));
        }
        Ok(())
    }

    /// Runs the API with `protection`. Every protection sees the same requests and the
    /// same healthy latencies for the same seed.
    ///
    /// # Errors
    /// The settings are invalid, or the read timeout is zero.
    pub fn run(&self, protection: Protection, seed: u64) -> Result<WeatherRun, ConfigError> {
        self.validate()?;
        if protection == Protection::ReadTimeout(Duration::ZERO) {
            return Err(ConfigError::new(
                "timeout",
                "a zero read timeout fails every call; use a high percentile of the latency",
            ));
        }
        let arrivals = Arrivals::flat(self.rate).sample(self.horizon, &mut rng(seed))?;
        let mut latency_rng = substream(seed, 1);
        let mut pool = WorkerPool::new(self.threads)?;
        let mut requests = Vec::with_capacity(arrivals.len());
        for &arrived in &arrivals {
            let healthy = self.weather.sample(&mut latency_rng);
            // How long the thread is held depends on when the request starts (a call
            // made during the hang hangs), so the pool asks once it knows the start.
            let hold_from = |start: SimTime| -> (Duration, bool) {
                let call = start + self.local_work;
                let hangs = self.hang.0 <= call && call < self.hang.1;
                let (wait, answered) = match (protection, hangs) {
                    (Protection::NoTimeout, true) => (self.hang.1 - call, false),
                    (Protection::NoTimeout, false) => (healthy, true),
                    (Protection::ReadTimeout(t), true) => (t, false),
                    (Protection::ReadTimeout(t), false) => (healthy.min(t), healthy <= t),
                };
                (self.local_work + wait, answered)
            };
            let slot = pool.admit_with(arrived, Some(self.patience), |start| hold_from(start).0);
            let served = match slot {
                Err(_) => Served {
                    arrived,
                    started: None,
                    released: None,
                    answered: arrived + self.patience,
                    answer: Answer::Failed,
                },
                Ok(slot) => {
                    let (_, answered) = hold_from(slot.start);
                    let late = slot.end > arrived + self.patience;
                    let answer = match (late, answered) {
                        (true, _) => Answer::Failed,
                        (false, true) => Answer::Live,
                        // Decided below, once every live answer's time is known.
                        (false, false) => Answer::Unavailable,
                    };
                    let answered_at = if late { arrived + self.patience } else { slot.end };
                    Served {
                        arrived,
                        started: Some(slot.start),
                        released: Some(slot.end),
                        answered: answered_at,
                        answer,
                    }
                }
            };
            requests.push(served);
        }
        // The cache holds the last live answer: a fallback is cached weather if a live
        // answer came in within the TTL before it.
        let mut live: Vec<SimTime> =
            requests.iter().filter(|r| r.answer == Answer::Live).map(|r| r.answered).collect();
        live.sort_unstable();
        for r in requests.iter_mut().filter(|r| r.answer == Answer::Unavailable) {
            let before = live.partition_point(|&t| t <= r.answered);
            if before > 0 && r.answered - live[before - 1] <= self.cache_ttl {
                r.answer = Answer::Cached;
            }
        }
        Ok(WeatherRun { protection, requests })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::erlang_c;

    #[test]
    fn without_a_timeout_the_api_goes_down_and_with_one_it_stays_up() {
        let w = Weather::default();
        let none = w.run(Protection::NoTimeout, 7).unwrap();
        let five = w.run(Protection::ReadTimeout(Duration::from_secs(5)), 7).unwrap();
        assert_eq!(none.requests.len(), five.requests.len());
        let n = none.requests.len() as f64;
        // No timeout: after the 200 threads fill (about 10 s into the 180 s hang) nearly
        // everyone arriving fails until the restart: about 170 s x 20/s.
        let failed = none.count(Answer::Failed) as f64;
        assert!((failed - 170.0 * 20.0).abs() < 0.1 * 3400.0, "failed {failed} of {n}");
        assert!(none.queued_at(Duration::from_secs(150)) > 150);
        // A 5 s timeout holds 20/s x 5 s = 100 threads of 200: nobody queues or fails.
        assert_eq!(five.count(Answer::Failed), 0);
        assert!((0..360).all(|t| five.queued_at(Duration::from_secs(t)) == 0));
        // Erlang C agrees that 100 erlangs on 200 threads (almost) never wait.
        let (p_wait, _) = erlang_c(20.0, 1.0 / 5.02, 200).unwrap();
        assert!(p_wait < 1e-9);
        // The cache covers the first 120 s of the hang, then "weather unavailable".
        let cached = five.count(Answer::Cached) as f64;
        let unavailable = five.count(Answer::Unavailable) as f64;
        assert!((cached / 20.0 - 120.0).abs() < 12.0, "{cached}");
        assert!((unavailable / 20.0 - 60.0).abs() < 8.0, "{unavailable}");
    }

    #[test]
    fn bad_settings_are_refused() {
        let w = Weather { threads: 0, ..Weather::default() };
        assert_eq!(w.run(Protection::NoTimeout, 1).unwrap_err().field, "workers");
        let w = Weather::default();
        assert_eq!(w.run(Protection::ReadTimeout(Duration::ZERO), 1).unwrap_err().field, "timeout");
    }
}
