//! Retry amplification: every layer of a call chain retries, and the retries multiply.
//!
//! A user request enters layer 1, which calls layer 2, ..., which calls the failing
//! service at the bottom. Each layer makes up to `tries` attempts at the layer below.
//! With a bottom that always fails, the bottom sees `tries^layers` calls per user request
//! (3 tries at 5 layers: 243). With Google SRE's per-client retry budget (retries at most
//! 10% of the requests a layer sends), a layer sends at most `1 / (1 - 0.1) = 1.11` calls
//! per call it receives, so the bottom sees at most `1.11^5 = 1.69`.

use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use crate::error::{ConfigError, check_probability};
use crate::retry::RetryRatio;
use crate::sim::{SimRng, SimTime, rng};

/// The experiment's settings.
///
/// # Default
/// 5 layers, 3 tries each, a bottom that always fails, 1000 user requests at 100/s.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Amplification {
    /// Layers above the failing service.
    pub layers: u32,
    /// Attempts each layer makes (first try + retries).
    pub tries: u32,
    /// Probability that the bottom service fails a call.
    pub bottom_failure: f64,
    /// User requests.
    pub requests: u32,
}

impl Default for Amplification {
    fn default() -> Self {
        Self { layers: 5, tries: 3, bottom_failure: 1.0, requests: 1000 }
    }
}

/// Calls received by each layer, per user request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Amplified {
    /// `calls[0]` = calls into layer 1 (= user requests), ..., `calls[layers]` = calls
    /// into the bottom service; each divided by the number of user requests.
    pub calls_per_request: Vec<f64>,
    /// Share of user requests that succeeded.
    pub success: f64,
}

impl Amplification {
    /// The closed form when the bottom always fails and nothing limits retries: calls
    /// into layer `k` (0 = the top) per user request are `tries^k`.
    pub fn predicted(&self) -> Vec<f64> {
        (0..=self.layers).map(|k| f64::from(self.tries).powi(k as i32)).collect()
    }

    /// Runs the chain, with a per-layer retry ratio (`Some(0.1)` for the SRE budget) or
    /// without (`None`).
    ///
    /// # Errors
    /// No layers, zero or more than 10 tries, more than 10 layers, or a probability or
    /// ratio outside 0-1.
    pub fn run(&self, budget: Option<f64>, seed: u64) -> Result<Amplified, ConfigError> {
        if self.layers == 0 || self.layers > 10 {
            return Err(ConfigError::new("layers", format!("{} layers is outside 1..=10", self.layers)));
        }
        if self.tries == 0 || self.tries > 10 {
            return Err(ConfigError::new(
                "tries",
                format!("{} tries is outside 1..=10 (1 means no retries)", self.tries),
            ));
        }
        check_probability("bottom_failure", self.bottom_failure)?;
        let mut budgets =
            match budget {
                Some(r) => Some(
                    (0..self.layers)
                        .map(|_| RetryRatio::new(r, Duration::from_secs(60)))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                None => None,
            };
        let mut calls = vec![0u64; self.layers as usize + 1];
        let mut r = rng(seed);
        let mut ok = 0u64;
        for i in 0..self.requests {
            let now = Duration::from_millis(u64::from(i) * 10);
            if self.call(0, now, &mut calls, budgets.as_deref_mut(), &mut r) {
                ok += 1;
            }
        }
        let n = f64::from(self.requests.max(1));
        Ok(Amplified {
            calls_per_request: calls.iter().map(|&c| c as f64 / n).collect(),
            success: ok as f64 / n,
        })
    }

    fn call(
        &self,
        layer: usize,
        now: SimTime,
        calls: &mut [u64],
        mut budgets: Option<&mut [RetryRatio]>,
        r: &mut SimRng,
    ) -> bool {
        calls[layer] += 1;
        if layer == self.layers as usize {
            return r.random::<f64>() >= self.bottom_failure;
        }
        for attempt in 0..self.tries {
            if let Some(b) = budgets.as_deref_mut() {
                if attempt == 0 {
                    b[layer].record_request(now);
                } else if !b[layer].try_retry(now) {
                    return false;
                }
            }
            if self.call(layer + 1, now, calls, budgets.as_deref_mut(), r) {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_tries_at_five_layers_make_243_calls() {
        let a = Amplification::default();
        let res = a.run(None, 1).unwrap();
        assert_eq!(res.calls_per_request, a.predicted());
        assert_eq!(res.calls_per_request[5], 243.0);
    }

    #[test]
    fn a_ten_percent_budget_caps_each_layer() {
        let res = Amplification::default().run(Some(0.1), 1).unwrap();
        // Retries are at most 10% of what a layer sends: it sends at most 1/0.9 calls per
        // call it receives, so layer k sees at most (1/0.9)^k per user request (+0.01 of
        // slack for the rounding of 1000 requests).
        for (k, c) in res.calls_per_request.iter().enumerate() {
            assert!(*c <= (1.0f64 / 0.9).powi(k as i32) + 0.01, "layer {k}: {c}");
        }
        assert!(
            res.calls_per_request[5] > 1.6,
            "the budget is used, not ignored: {}",
            res.calls_per_request[5]
        );
    }
}
