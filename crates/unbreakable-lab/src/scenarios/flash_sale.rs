//! The article's flash sale: a payment gateway returns 500s for ten seconds; our payment
//! service's retry loop, without backoff, hammers it with 50 requests per second and keeps
//! it from recovering.
//!
//! The model, made explicit:
//! * our service has `workers` (10) workers, each handling one payment after another;
//!   a payment takes about 1 s when the gateway is healthy;
//! * the gateway answers errors (500 during the incident, 503 when overloaded) in 200 ms,
//!   so a worker retrying without backoff sends 5 requests per second: 10 workers, 50/s;
//! * other merchants send 35 payments/s (Poisson) and do not retry;
//! * the gateway serves 60 requests/s, and rejecting a request costs it as much work as
//!   serving one (`reject_cost` 1): while offered load stays above 60/s, it is saturated
//!   and rejects nearly everything. That is the congestion collapse backoff avoids.

use std::time::Duration;

use super::population::{Group, Population, Run, Start, Strategy};
use crate::error::ConfigError;
use crate::retry::{Backoff, Jitter, RetryPolicy};
use crate::sim::{Arrivals, Capacity, Effect, Latency, ServiceConfig};

/// The flash sale's settings. See the [module docs](self) for the model.
#[derive(Debug, Clone)]
pub struct FlashSale {
    /// Our payment workers.
    pub workers: u32,
    /// Other merchants' payments per second.
    pub background: f64,
    /// Gateway capacity, requests per second.
    pub capacity: f64,
    /// When the incident starts and ends.
    pub incident: (Duration, Duration),
    /// Length of the simulated sale.
    pub horizon: Duration,
    /// Our retries per payment.
    pub max_retries: u32,
}

impl Default for FlashSale {
    fn default() -> Self {
        Self {
            workers: 10,
            background: 35.0,
            capacity: 60.0,
            incident: (Duration::from_secs(10), Duration::from_secs(20)),
            horizon: Duration::from_secs(60),
            max_retries: 5,
        }
    }
}

impl FlashSale {
    /// Time for the gateway to answer with an error.
    pub const ERROR_LATENCY: Duration = Duration::from_millis(200);

    /// Runs the sale with our retries without backoff (`false`) or with exponential
    /// backoff from 1 s with full jitter (`true`).
    pub fn run(&self, with_backoff: bool, seed: u64) -> Result<Run, ConfigError> {
        let backoff = if with_backoff {
            Backoff::exponential(Duration::from_secs(1)).with_jitter(Jitter::Full).build()?
        } else {
            Backoff::immediate()
        };
        let name = if with_backoff { "with backoff" } else { "without backoff" };
        let mut ours = Group::new(
            "our service",
            self.workers,
            Strategy::new(name, RetryPolicy::new(backoff, self.max_retries)?),
        );
        ours.jobs = 10_000; // more than fit in the horizon: the workers never run dry
        let mut others =
            Group::new("other merchants", 0, Strategy::new("no retries", RetryPolicy::no_retries()));
        others.start = Start::Poisson(Arrivals::flat(self.background));
        let service = ServiceConfig::new(Latency::Normal {
            mean: Duration::from_secs(1),
            sd: Duration::from_millis(100),
        })
        .with_error_latency(Latency::Fixed(Self::ERROR_LATENCY))
        .with_fast_fail(Self::ERROR_LATENCY)
        .with_fault(self.incident.0, self.incident.1, Effect::Errors { rate: 1.0 })
        .with_capacity(Capacity::rejecting(self.capacity).with_reject_cost(1.0));
        Population {
            groups: vec![ours, others],
            service,
            timeout: Duration::from_secs(5),
            horizon: self.horizon,
        }
        .run(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests per second our service sent during the incident.
    fn our_rate(run: &Run, sale: &FlashSale) -> f64 {
        let ours = run.groups[0].1.clone();
        let (a, b) = sale.incident;
        let n = run
            .recorder
            .attempts()
            .iter()
            .filter(|x| ours.contains(&x.client) && x.sent >= a + Duration::from_secs(1) && x.sent < b)
            .count();
        n as f64 / (b - a - Duration::from_secs(1)).as_secs_f64()
    }

    #[test]
    fn without_backoff_our_retries_reach_fifty_per_second_and_the_gateway_stays_down() {
        let sale = FlashSale::default();
        let hammer = sale.run(false, 1).unwrap();
        // Closed form: workers / error latency = 10 / 0.2 s = 50 requests/s.
        // Tolerance 2%: only the first second's mix of slow successes makes it differ.
        let r = our_rate(&hammer, &sale);
        assert!((r - 50.0).abs() <= 1.0, "our rate {r}");
        let gentle = sale.run(true, 1).unwrap();
        assert!(our_rate(&gentle, &sale) < 10.0);
        // After the incident: how many payments succeed in the 20 s that follow.
        let served_after = |run: &Run| {
            run.recorder
                .attempts()
                .iter()
                .filter(|x| {
                    x.outcome.is_success()
                        && x.finished > sale.incident.1
                        && x.finished <= sale.incident.1 + Duration::from_secs(20)
                })
                .count()
        };
        assert!(
            served_after(&hammer) * 5 < served_after(&gentle),
            "{} vs {}",
            served_after(&hammer),
            served_after(&gentle)
        );
    }
}
