//! Bimodal latency (Google SRE, "Addressing Cascading Failures"): most requests are fast,
//! a few hang until a long deadline, and the few eat the capacity.
//!
//! 10 servers with 100 threads each serve 1000 requests/s that take 100 ms: 10% busy.
//! If 5% of requests instead hang for 100 s, each request holds a thread for
//! `0.95 * 0.1 + 0.05 * 100 = 5.095` s on average, so the 1000 threads can sustain only
//! `1000 / 5.095 = 196` requests/s. Offered 1000 requests/s, the servers turn most of them
//! away: with no queue, the share turned away is Erlang B at 5095 erlangs on 1000
//! threads (80.4%).

use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use crate::error::{ConfigError, check_probability};
use crate::sim::{Arrivals, WorkerPool, erlang_b, rng};

/// The experiment's settings.
///
/// # Default
/// The SRE book's numbers: 10 servers x 100 threads, 1000 requests/s, 100 ms normally, 5%
/// hanging for 100 s; 600 s simulated, the first 300 s (warm-up) not counted.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Bimodal {
    /// Threads across all servers.
    pub threads: u32,
    /// Requests per second offered.
    pub rate: f64,
    /// Latency of a normal request.
    pub fast: Duration,
    /// How long a hanging request holds its thread (until its deadline).
    pub hang: Duration,
    /// Share of requests that hang.
    pub hang_share: f64,
    /// Simulated time.
    pub horizon: Duration,
    /// Time not counted at the start, while the hung requests pile up.
    pub warm_up: Duration,
}

impl Default for Bimodal {
    fn default() -> Self {
        Self {
            threads: 1000,
            rate: 1000.0,
            fast: Duration::from_millis(100),
            hang: Duration::from_secs(100),
            hang_share: 0.05,
            horizon: Duration::from_secs(600),
            warm_up: Duration::from_secs(300),
        }
    }
}

/// What came out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Measured {
    /// Requests per second served after the warm-up, in the simulation.
    pub served_per_sec: f64,
    /// Share of requests turned away after the warm-up, in the simulation.
    pub turned_away: f64,
    /// Mean time a request holds a thread.
    pub mean_hold_secs: f64,
    /// Erlang B's share turned away.
    pub predicted_turned_away: f64,
    /// The most requests per second the threads can sustain: threads / mean hold.
    pub sustainable_per_sec: f64,
}

impl Bimodal {
    /// Runs it: each request takes a free thread or is turned away at once.
    ///
    /// # Errors
    /// Zero threads, a share outside 0-1, a warm-up that leaves nothing to count, or a
    /// rate the traffic model refuses.
    pub fn run(&self, seed: u64) -> Result<Measured, ConfigError> {
        check_probability("hang_share", self.hang_share)?;
        if self.warm_up >= self.horizon {
            return Err(ConfigError::new(
                "warm_up",
                format!(
                    "a warm-up of {:?} leaves nothing of the {:?} horizon to count; make it shorter",
                    self.warm_up, self.horizon
                ),
            ));
        }
        let mut pool = WorkerPool::new(self.threads)?;
        let mut r = rng(seed);
        let arrivals = Arrivals::flat(self.rate).sample(self.horizon, &mut r)?;
        let (mut counted, mut served) = (0u64, 0u64);
        for t in arrivals {
            let hold = if r.random::<f64>() < self.hang_share { self.hang } else { self.fast };
            let ok = pool.admit(t, hold, Some(Duration::ZERO)).is_ok();
            if t >= self.warm_up {
                counted += 1;
                served += u64::from(ok);
            }
        }
        let mean_hold =
            (1.0 - self.hang_share) * self.fast.as_secs_f64() + self.hang_share * self.hang.as_secs_f64();
        let window = (self.horizon - self.warm_up).as_secs_f64();
        let b = erlang_b(self.threads, self.rate * mean_hold)
            .ok_or_else(|| ConfigError::new("rate", "the offered load must be a positive number"))?;
        Ok(Measured {
            served_per_sec: served as f64 / window,
            turned_away: 1.0 - served as f64 / counted.max(1) as f64,
            mean_hold_secs: mean_hold,
            predicted_turned_away: b,
            sustainable_per_sec: f64::from(self.threads) / mean_hold,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sre_example_matches_erlang_b() {
        let o = Bimodal::default().run(1).unwrap();
        assert!((o.mean_hold_secs - 5.095).abs() < 1e-12);
        assert!((o.sustainable_per_sec - 196.27).abs() < 0.01);
        // Erlang B at 5095 erlangs on 1000 threads turns away 80.4%; the simulation
        // (300 s counted, about 300,000 requests) within 1 percentage point.
        assert!((o.predicted_turned_away - 0.804).abs() < 0.001, "{}", o.predicted_turned_away);
        assert!(
            (o.turned_away - o.predicted_turned_away).abs() < 0.01,
            "{} vs {}",
            o.turned_away,
            o.predicted_turned_away
        );
        // Without the hangs, nothing is turned away.
        let healthy = Bimodal { hang_share: 0.0, ..Bimodal::default() }.run(1).unwrap();
        assert_eq!(healthy.turned_away, 0.0);
        let e = Bimodal { warm_up: Duration::from_secs(600), ..Bimodal::default() }.run(1).unwrap_err();
        assert_eq!(e.field, "warm_up");
    }
}
