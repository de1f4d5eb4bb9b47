//! The thundering herd: 1000 clients, a server that is down for 10 s and comes back with
//! limited capacity, and how each retry strategy loads it.

use std::time::Duration;

use super::population::{Group, Guard, Population, Run, Start, Strategy};
use crate::error::ConfigError;
use crate::retry::{Backoff, BreakerConfig, Jitter, RetryPolicy, RetryQuota};
use crate::sim::{Capacity, Effect, Latency, Recovery, ServiceConfig};

/// The herd's settings.
///
/// # Default
/// | setting | default |
/// |---|---|
/// | clients | 1000, each sending one request at a uniform time in the first second |
/// | instances | 10 client processes (breakers and budgets are per process) |
/// | outage | the server is down (connections refused) from 0 to 10 s |
/// | capacity | 200 requests/s when up, bursts of 200; back at 25% and ramping to 100% over 10 s |
/// | latency | log-normal, median 20 ms, sigma 0.5 |
/// | client timeout | 1 s |
/// | retries | up to 8, base 250 ms, cap 16 s |
#[derive(Debug, Clone)]
pub struct Herd {
    /// Clients.
    pub clients: u32,
    /// Client processes.
    pub instances: u32,
    /// How long the server is down.
    pub outage: Duration,
    /// Requests per second the server handles when fully up.
    pub capacity: f64,
    /// Share of capacity right after the outage.
    pub recovery_from: f64,
    /// Time to full capacity.
    pub recovery_ramp: Duration,
    /// Max retries of every strategy.
    pub max_retries: u32,
    /// Base delay of the backoffs.
    pub base: Duration,
    /// Cap of the backoffs.
    pub cap: Duration,
}

impl Default for Herd {
    fn default() -> Self {
        Self {
            clients: 1000,
            instances: 10,
            outage: Duration::from_secs(10),
            capacity: 200.0,
            recovery_from: 0.25,
            recovery_ramp: Duration::from_secs(10),
            max_retries: 8,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(16),
        }
    }
}

impl Herd {
    /// The service: down, then back with limited, recovering capacity.
    pub fn service(&self) -> ServiceConfig {
        ServiceConfig::new(Latency::LogNormal { median: Duration::from_millis(20), sigma: 0.5 })
            .with_fault(Duration::ZERO, self.outage, Effect::Down)
            .with_capacity(Capacity::rejecting(self.capacity))
            .with_recovery(Recovery { start_fraction: self.recovery_from, ramp: self.recovery_ramp })
    }

    /// The strategies compared: immediate retries, exponential backoff without and with
    /// each jitter, and full jitter guarded by a circuit breaker or by a retry budget.
    pub fn strategies(&self) -> Result<Vec<Strategy>, ConfigError> {
        let exp = |j: Jitter| Backoff::exponential(self.base).with_cap(self.cap).with_jitter(j).build();
        let n = self.max_retries;
        let mut out = vec![Strategy::new("immediate", RetryPolicy::new(Backoff::immediate(), n)?)];
        for j in Jitter::ALL {
            out.push(Strategy::new(j.name(), RetryPolicy::new(exp(j)?, n)?));
        }
        let full = RetryPolicy::new(exp(Jitter::Full)?, n)?;
        out.push(
            Strategy::new("full jitter + breaker", full).guarded(Guard::Breaker(BreakerConfig::default())),
        );
        out.push(Strategy::new("full jitter + budget", full).guarded(Guard::Quota(RetryQuota::default())));
        Ok(out)
    }

    /// Runs one strategy.
    pub fn run(&self, strategy: Strategy, seed: u64) -> Result<Run, ConfigError> {
        let mut g = Group::new(strategy.name.clone(), self.clients, strategy);
        g.instances = self.instances;
        g.start = Start::Uniform { from: Duration::ZERO, over: Duration::from_secs(1) };
        Population {
            groups: vec![g],
            service: self.service(),
            timeout: Duration::from_secs(1),
            horizon: Duration::from_secs(1),
        }
        .run(seed)
    }

    /// Runs every strategy with the same seed (common random numbers: the clients start
    /// at the same times in every run).
    pub fn run_all(&self, seed: u64) -> Result<Vec<Run>, ConfigError> {
        self.strategies()?.into_iter().map(|s| self.run(s, seed)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_strategy_behaves_as_its_design_says() {
        let h = Herd::default();
        let runs = h.run_all(7).unwrap();
        let by = |name: &str| runs.iter().find(|r| r.groups[0].0 == name).unwrap();
        let ok = |r: &Run| r.jobs().iter().filter(|j| j.2).count();
        let peak_after_outage =
            |r: &Run| r.recorder.load_per_bin(0.5, 60.0)[20..].iter().copied().max().unwrap_or(0);

        // Every immediate retry lands in the outage: 9 attempts each, nobody is served.
        let imm = by("immediate");
        assert_eq!(imm.server_attempts(), 9 * 1000);
        assert_eq!(ok(imm), 0);

        // Jitter serves nearly everyone (a few unlucky clients draw short sleeps and use
        // up their 8 retries inside the outage).
        let full = by("full jitter");
        assert!(ok(full) >= 950, "full jitter served {}", ok(full));

        // Without jitter the clients come back in waves: the peak after the outage is
        // far above full jitter's.
        let exp = by("exponential");
        assert!(
            peak_after_outage(exp) > 2 * peak_after_outage(full),
            "{} vs {}",
            peak_after_outage(exp),
            peak_after_outage(full)
        );

        // A breaker per process cuts the load in the outage to a few probes.
        let breaker = by("full jitter + breaker");
        assert!(breaker.server_attempts() * 4 < full.server_attempts());

        // The AWS quota: 500 tokens per process, 5 per retry, no refunds while nothing
        // succeeds: at most 100 retries per process, so at most 1000 + 10 * 100 attempts.
        let budget = by("full jitter + budget");
        assert!(budget.server_attempts() <= 2000, "{}", budget.server_attempts());
    }
}
