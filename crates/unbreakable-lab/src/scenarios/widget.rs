//! The article's retry widget: one request to an endpoint that keeps failing, retried up to
//! 5 times from a base of 1000 ms, with and without backoff.

use std::time::Duration;

use super::population::{Group, Population, Run, Strategy};
use crate::error::ConfigError;
use crate::retry::{Backoff, RetryPolicy};
use crate::sim::{Latency, ServiceConfig};

/// The widget's settings.
///
/// # Default
/// base 1000 ms, 5 retries, an endpoint that answers HTTP 500 after 50 ms ± 10 ms.
#[derive(Debug, Clone, Copy)]
pub struct Widget {
    /// Base delay of the backoff.
    pub base: Duration,
    /// Retries after the first try.
    pub max_retries: u32,
    /// How long the failing endpoint takes to answer.
    pub latency: Latency,
}

impl Default for Widget {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(1000),
            max_retries: 5,
            latency: Latency::Normal { mean: Duration::from_millis(50), sd: Duration::from_millis(10) },
        }
    }
}

impl Widget {
    /// Runs the request with backoff (`true`) or with immediate retries (`false`).
    pub fn run(&self, with_backoff: bool, seed: u64) -> Result<Run, ConfigError> {
        let (name, backoff) = if with_backoff {
            ("with backoff", Backoff::exponential(self.base).with_cap(self.base * 64).build()?)
        } else {
            ("without backoff", Backoff::immediate())
        };
        let policy = RetryPolicy::new(backoff, self.max_retries)?;
        Population {
            groups: vec![Group::new(name, 1, Strategy::new(name, policy))],
            service: ServiceConfig::new(self.latency).with_failure_rate(1.0),
            timeout: Duration::from_secs(10),
            horizon: Duration::from_secs(1),
        }
        .run(seed)
    }
}
