//! The closed-form check: with independent failures of probability `p` and up to `n`
//! retries, the expected number of attempts is `(1 - p^(n+1)) / (1 - p)`.

use std::time::Duration;

use super::population::{Group, Population, Strategy};
use crate::error::ConfigError;
use crate::retry::{Backoff, RetryPolicy};
use crate::sim::{Latency, ServiceConfig};

/// The measured and the predicted mean attempts per request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Check {
    /// Failure probability.
    pub p: f64,
    /// Max retries.
    pub n: u32,
    /// Requests simulated.
    pub requests: u32,
    /// Mean attempts in the simulation.
    pub simulated: f64,
    /// `(1 - p^(n+1)) / (1 - p)`.
    pub predicted: f64,
    /// Standard error of the simulated mean (from the sample variance).
    pub std_error: f64,
}

/// Simulates `requests` independent requests through the population engine (each its
/// own client, constant 10 ms backoff, a service failing with probability `p`).
pub fn check(p: f64, n: u32, requests: u32, seed: u64) -> Result<Check, ConfigError> {
    let policy = RetryPolicy::new(Backoff::constant(Duration::from_millis(10))?, n)?;
    let run = Population {
        groups: vec![Group::new("clients", requests, Strategy::new("constant", policy))],
        service: ServiceConfig::new(Latency::Fixed(Duration::from_millis(5))).with_failure_rate(p),
        timeout: Duration::from_secs(1),
        horizon: Duration::from_secs(1),
    }
    .run(seed)?;
    let mut per_client = vec![0u32; requests as usize];
    for a in run.recorder.attempts() {
        per_client[a.client as usize] += 1;
    }
    let m = f64::from(requests.max(1));
    let mean = per_client.iter().map(|&x| f64::from(x)).sum::<f64>() / m;
    let var = per_client.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / (m - 1.0).max(1.0);
    Ok(Check {
        p,
        n,
        requests,
        simulated: mean,
        predicted: crate::retry::expected_attempts(p, n),
        std_error: (var / m).sqrt(),
    })
}
