//! Payments over a lossy network, with and without idempotency keys (chapter 06).
//!
//! Each payment is one transfer. The client sends it and waits for the answer; the
//! network loses each request and each response with probability `loss`, and delivers a
//! request twice with probability `duplicate`. A client that hears nothing retries, up to
//! `max_retries` times. Without a key, every copy that reaches the server is applied;
//! with one, the server's [`MemoryLedger`] applies each payment at most once.
//!
//! Without duplicates, a client makes attempts until one gets an answer (probability
//! `(1 - p)^2` each), and each attempt's request arrives with probability `1 - p`. So the
//! expected number of applications per payment is `(1 - p)(1 - q^(n+1)) / (1 - q)` with
//! `q = 1 - (1 - p)^2` and `n` retries; a payment is applied at least once with probability
//! `1 - p^(n+1)`. The difference is the expected number of extra charges.

use rand::Rng;
use serde::Serialize;

use crate::error::{ConfigError, check_probability};
use crate::idempotency::ledger::{Cents, Ledger, MemoryLedger, Transfer};
use crate::idempotency::{IdempotencyKey, Policy};
use crate::retry::MAX_RETRIES;
use crate::sim::{SimTime, rng};

/// The experiment's settings.
///
/// # Default
/// 10,000 payments of $10, 10% of messages lost, no duplicates, 5 retries.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LossyPayments {
    /// Payments to make.
    pub payments: u32,
    /// Probability that a request, or a response, is lost.
    pub loss: f64,
    /// Probability that a request is delivered twice.
    pub duplicate: f64,
    /// Retries after the first try.
    pub max_retries: u32,
    /// The amount of each payment, in cents.
    pub amount: Cents,
}

impl Default for LossyPayments {
    fn default() -> Self {
        Self { payments: 10_000, loss: 0.1, duplicate: 0.0, max_retries: 5, amount: 1_000 }
    }
}

/// What happened to the payments of one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tally {
    /// Whether payments carried idempotency keys.
    pub keyed: bool,
    /// Payments made.
    pub payments: u32,
    /// Transfers the server applied.
    pub applied: u64,
    /// Payments applied more than once: customers charged twice (or more).
    pub double_charged: u32,
    /// Extra applications beyond the first, summed over payments.
    pub extra_charges: u64,
    /// Payments never applied (every request was lost).
    pub never_applied: u32,
    /// Payments whose client never heard an answer (it cannot tell whether it paid).
    pub unconfirmed: u32,
    /// The ledger's total is what it started with.
    pub money_conserved: bool,
}

impl LossyPayments {
    /// Checks the settings.
    ///
    /// # Errors
    /// A probability outside 0-1, more than [`MAX_RETRIES`] retries, or a non-positive
    /// amount.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_probability("loss", self.loss)?;
        check_probability("duplicate", self.duplicate)?;
        if self.max_retries > MAX_RETRIES {
            return Err(ConfigError::new(
                "max_retries",
                format!("{} retries is more than {MAX_RETRIES}", self.max_retries),
            ));
        }
        if self.amount <= 0 {
            return Err(ConfigError::new("amount", "payments move a positive amount"));
        }
        Ok(())
    }

    /// The closed form (no duplicates): expected extra charges per payment without keys.
    pub fn expected_extra(&self) -> f64 {
        let (p, n) = (self.loss, f64::from(self.max_retries));
        let q = 1.0 - (1.0 - p) * (1.0 - p);
        let attempts = if q < 1.0 { (1.0 - q.powf(n + 1.0)) / (1.0 - q) } else { n + 1.0 };
        (1.0 - p) * attempts - (1.0 - p.powf(n + 1.0))
    }

    /// Runs the payments, with keys or without. Both see the same network for the same
    /// seed.
    ///
    /// # Errors
    /// Invalid settings.
    pub fn run(&self, keyed: bool, seed: u64) -> Result<Tally, ConfigError> {
        self.validate()?;
        let start: Cents = Cents::from(self.payments) * self.amount * i64::from(self.max_retries + 2) * 2;
        let mut ledger = MemoryLedger::new(&[("customer", start), ("shop", 0)], Policy::default())?;
        let pay = Transfer::new("customer", "shop", self.amount)?;
        let mut r = rng(seed);
        let mut t = Tally {
            keyed,
            payments: self.payments,
            applied: 0,
            double_charged: 0,
            extra_charges: 0,
            never_applied: 0,
            unconfirmed: 0,
            money_conserved: false,
        };
        for i in 0..self.payments {
            // Many clients, one payment each: each key in its client's scope.
            let key = IdempotencyKey::new(format!("client-{i}"), format!("payment-{i}"))?;
            let before = ledger.applied().unwrap_or(0);
            let mut answered = false;
            for _attempt in 0..=self.max_retries {
                let (request_lost, dup, response_lost) = (
                    r.random::<f64>() < self.loss,
                    r.random::<f64>() < self.duplicate,
                    r.random::<f64>() < self.loss,
                );
                if request_lost {
                    continue;
                }
                let copies = if dup { 2 } else { 1 };
                for _ in 0..copies {
                    // Funds are ample by construction; a refusal would be a bug here.
                    let _ = ledger.transfer(keyed.then_some(&key), &pay, SimTime::ZERO);
                }
                if !response_lost {
                    answered = true;
                    break;
                }
            }
            let n = ledger.applied().unwrap_or(0) - before;
            t.applied += n;
            t.extra_charges += n.saturating_sub(1);
            t.double_charged += u32::from(n > 1);
            t.never_applied += u32::from(n == 0);
            t.unconfirmed += u32::from(!answered);
        }
        t.money_conserved = ledger.total().ok() == Some(start);
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without keys, extra charges match the closed form within 4 standard errors; with
    /// keys there are none, and money is conserved either way.
    #[test]
    fn extra_charges_match_the_formula_and_keys_remove_them() {
        for loss in [0.05, 0.1, 0.2, 0.4] {
            let x = LossyPayments { loss, payments: 20_000, ..LossyPayments::default() };
            let bare = x.run(false, 11).unwrap();
            let keyed = x.run(true, 11).unwrap();
            let n = f64::from(x.payments);
            let mean = bare.extra_charges as f64 / n;
            // Extra charges per payment are at most `max_retries`; a generous bound on
            // their standard deviation is the square root of the mean times that.
            let se = (mean * f64::from(x.max_retries) / n).sqrt();
            assert!(
                (mean - x.expected_extra()).abs() < 4.0 * se + 1e-9,
                "loss {loss}: {mean} vs {}",
                x.expected_extra()
            );
            assert_eq!((keyed.extra_charges, keyed.double_charged), (0, 0));
            assert!(bare.money_conserved && keyed.money_conserved);
            // The same network: the same payments are never applied either way.
            assert_eq!(bare.never_applied, keyed.never_applied);
        }
        let dup = LossyPayments { loss: 0.0, duplicate: 0.5, ..LossyPayments::default() };
        assert!(dup.run(false, 1).unwrap().double_charged > 4000);
        assert_eq!(dup.run(true, 1).unwrap().double_charged, 0);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert_eq!(
            LossyPayments { loss: 2.0, ..LossyPayments::default() }.run(true, 1).unwrap_err().field,
            "loss"
        );
    }
}
