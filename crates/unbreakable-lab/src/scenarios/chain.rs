//! Chapter 01: a three-link chain (gateway -> service -> database) and the four kinds of
//! failure of the article, injected one at a time.

use std::time::Duration;

use serde::Serialize;

use crate::error::ConfigError;
use crate::sim::{
    Arrivals, Attempt, Effect, Latency, Outcome, Recorder, ServiceConfig, ServiceModel, rng, substream,
};

/// The article's failure types, each made concrete as faults on one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum FailureType {
    /// Nothing goes wrong (the baseline).
    None,
    /// Network: 5% packet loss between service and database all along, and DNS
    /// resolution of the database failing from minute 5 to minute 6.
    Network,
    /// Hardware: the database server dies at minute 3; a replacement is up at minute 8.
    Hardware,
    /// Software: a memory leak slows the service down until it is killed for running out
    /// of memory at minute 7 and restarts (30 s).
    Software,
    /// Human error: a wrong configuration pushed to the gateway at minute 4 makes it
    /// reject everything until it is rolled back at minute 7.
    Human,
}

impl FailureType {
    /// All of them, baseline first.
    pub const ALL: [FailureType; 5] = [
        FailureType::None,
        FailureType::Network,
        FailureType::Hardware,
        FailureType::Software,
        FailureType::Human,
    ];

    /// Legend name.
    pub fn name(self) -> &'static str {
        match self {
            FailureType::None => "no failure",
            FailureType::Network => "network",
            FailureType::Hardware => "hardware",
            FailureType::Software => "software",
            FailureType::Human => "human error",
        }
    }

    /// The link the fault hits: `"gateway"`, `"service"` or `"database"`.
    pub fn link(self) -> &'static str {
        match self {
            FailureType::None => "-",
            FailureType::Network | FailureType::Hardware => "database",
            FailureType::Software => "service",
            FailureType::Human => "gateway",
        }
    }
}

/// The chain's settings.
///
/// # Default
/// 20 user requests per second for 10 minutes; the user gives up after 5 s.
/// Healthy latencies: gateway 5 ms ± 1 ms, service log-normal median 40 ms, database
/// log-normal median 8 ms.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Chain {
    /// User requests per second.
    pub rate: f64,
    /// How long the simulated period is.
    pub horizon: Duration,
    /// How long a user waits.
    pub user_timeout: Duration,
}

impl Default for Chain {
    fn default() -> Self {
        Self { rate: 20.0, horizon: Duration::from_secs(600), user_timeout: Duration::from_secs(5) }
    }
}

fn min(m: u64) -> Duration {
    Duration::from_secs(60 * m)
}

impl Chain {
    /// The three links with the faults of `kind`.
    pub fn links(&self, kind: FailureType) -> [ServiceConfig; 3] {
        let mut gateway = ServiceConfig::new(Latency::Normal {
            mean: Duration::from_millis(5),
            sd: Duration::from_millis(1),
        });
        let mut service =
            ServiceConfig::new(Latency::LogNormal { median: Duration::from_millis(40), sigma: 0.4 });
        let mut database =
            ServiceConfig::new(Latency::LogNormal { median: Duration::from_millis(8), sigma: 0.5 });
        match kind {
            FailureType::None => {}
            FailureType::Network => {
                database = database
                    .with_fault(
                        Duration::ZERO,
                        self.horizon.max(Duration::from_secs(1)),
                        Effect::Errors { rate: 0.05 },
                    )
                    .with_fault(min(5), min(6), Effect::Down);
            }
            FailureType::Hardware => database = database.with_fault(min(3), min(8), Effect::Down),
            FailureType::Software => {
                service = service
                    .with_fault(Duration::ZERO, min(7), Effect::SlowRamp { to: 150.0 })
                    .with_fault(min(7), min(7) + Duration::from_secs(30), Effect::Down);
            }
            FailureType::Human => gateway = gateway.with_fault(min(4), min(7), Effect::Errors { rate: 1.0 }),
        }
        [gateway, service, database]
    }

    /// Runs the chain under `kind`: one row per user request (`client` = request number,
    /// `attempt` = 0), with the outcome the user saw.
    ///
    /// # Errors
    /// An invalid rate or horizon.
    pub fn run(&self, kind: FailureType, seed: u64) -> Result<Recorder, ConfigError> {
        self.run_links(self.links(kind), seed)
    }

    /// Runs the chain with links of your own (gateway, service, database), for faults
    /// that [`FailureType`] does not cover.
    ///
    /// # Errors
    /// An invalid link, rate or horizon.
    pub fn run_links(&self, links: [ServiceConfig; 3], seed: u64) -> Result<Recorder, ConfigError> {
        let arrivals = Arrivals::flat(self.rate).sample(self.horizon, &mut substream(seed, 0))?;
        let mut links: Vec<ServiceModel> = links.into_iter().map(|c| c.build()).collect::<Result<_, _>>()?;
        let mut r = rng(seed);
        let mut rec = Recorder::new();
        for (i, &t0) in arrivals.iter().enumerate() {
            let mut t = t0;
            let mut outcome = Outcome::Success;
            for link in links.iter_mut() {
                let resp = link.call(t, &mut r);
                match resp.latency {
                    Some(l) => t += l,
                    None => t = t0 + self.user_timeout,
                }
                if t - t0 >= self.user_timeout {
                    outcome = Outcome::TimedOut;
                    t = t0 + self.user_timeout;
                    break;
                }
                if !resp.outcome.is_success() {
                    outcome = resp.outcome;
                    break;
                }
            }
            rec.record(Attempt { client: i as u32, attempt: 0, sent: t0, finished: t, outcome });
        }
        Ok(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_hurts_when_and_where_it_should() {
        let c = Chain::default();
        let share_ok = |rec: &Recorder, from: u64, to: u64| {
            let rows: Vec<_> =
                rec.attempts().iter().filter(|a| a.sent >= min(from) && a.sent < min(to)).collect();
            rows.iter().filter(|a| a.outcome.is_success()).count() as f64 / rows.len() as f64
        };
        let base = c.run(FailureType::None, 1).unwrap();
        assert_eq!(share_ok(&base, 0, 10), 1.0);
        let hw = c.run(FailureType::Hardware, 1).unwrap();
        assert_eq!(share_ok(&hw, 4, 7), 0.0);
        assert_eq!(share_ok(&hw, 0, 2), 1.0);
        let net = c.run(FailureType::Network, 1).unwrap();
        let lossy = share_ok(&net, 0, 4);
        assert!((lossy - 0.95).abs() < 0.02, "{lossy}");
        let human = c.run(FailureType::Human, 1).unwrap();
        assert_eq!(share_ok(&human, 4, 7), 0.0);
        let sw = c.run(FailureType::Software, 1).unwrap();
        assert!(sw.attempts().iter().any(|a| a.outcome == Outcome::TimedOut), "the leak ends in timeouts");
        assert_eq!(share_ok(&sw, 0, 1), 1.0);
        // Links of your own: the same as a named failure when they are the same links.
        assert_eq!(c.run_links(c.links(FailureType::Hardware), 1).unwrap(), hw);
    }
}
