use serde::Serialize;

use crate::error::ConfigError;

/// The retry quota of the AWS SDKs' *standard* retry mode: a token bucket shared by all
/// requests of one client.
///
/// * It starts full with `capacity` tokens (500).
/// * A retry costs `retry_cost` tokens (5), or `timeout_cost` (10) if the failure was a
///   timeout. With too few tokens the retry is refused and the error goes to the caller.
/// * A request that succeeds gives back what its last retry cost, or `success_refund`
///   (1) if it succeeded on the first try; never above `capacity`.
///
/// So during an outage a client can make at most 100 retries before it stops retrying,
/// and it earns them back one success at a time.
///
/// # Default
/// `capacity` 500, `retry_cost` 5, `timeout_cost` 10, `success_refund` 1: the constants
/// of the AWS SDKs (`INITIAL_RETRY_TOKENS`, `RETRY_COST`, `TIMEOUT_RETRY_COST`,
/// `NO_RETRY_INCREMENT`).
///
/// # Examples
/// ```
/// use unbreakable::retry::RetryQuota;
///
/// let mut q = RetryQuota::default();
/// let mut retries = 0;
/// while q.try_acquire(false).is_ok() { retries += 1; }
/// assert_eq!(retries, 100);        // 500 / 5
/// q.on_success(None);              // a first-try success earns 1 token
/// assert_eq!(q.available(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetryQuota {
    capacity: u32,
    retry_cost: u32,
    timeout_cost: u32,
    success_refund: u32,
    available: u32,
}

/// Tokens taken for one retry; hand it back to [`RetryQuota::on_success`] if the retry
/// succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryToken {
    cost: u32,
}

impl RetryToken {
    /// A token that cost nothing (budgets that count retries rather than spend tokens).
    pub const FREE: RetryToken = RetryToken { cost: 0 };

    /// What the retry took from the quota.
    pub fn cost(&self) -> u32 {
        self.cost
    }
}

/// The quota has too few tokens for another retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("retry quota exhausted: {available} tokens left, a retry costs {cost}")]
pub struct QuotaExhausted {
    /// Tokens left.
    pub available: u32,
    /// What the retry would have cost.
    pub cost: u32,
}

impl Default for RetryQuota {
    fn default() -> Self {
        Self { capacity: 500, retry_cost: 5, timeout_cost: 10, success_refund: 1, available: 500 }
    }
}

impl RetryQuota {
    /// A quota with custom numbers.
    ///
    /// # Errors
    /// A zero capacity, a zero cost, or a cost above the capacity.
    pub fn new(
        capacity: u32,
        retry_cost: u32,
        timeout_cost: u32,
        success_refund: u32,
    ) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new(
                "capacity",
                "a quota of 0 tokens allows no retry; use RetryPolicy::no_retries() for that",
            ));
        }
        for (field, cost) in [("retry_cost", retry_cost), ("timeout_cost", timeout_cost)] {
            if cost == 0 || cost > capacity {
                return Err(ConfigError::new(
                    field,
                    format!("{cost} must be from 1 to the capacity ({capacity}); a free retry is no budget"),
                ));
            }
        }
        Ok(Self { capacity, retry_cost, timeout_cost, success_refund, available: capacity })
    }

    /// Tokens available now.
    pub fn available(&self) -> u32 {
        self.available
    }

    /// The capacity.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Takes the tokens for one retry (more if the failure was a timeout).
    ///
    /// # Errors
    /// [`QuotaExhausted`] when there are too few tokens; nothing is taken.
    pub fn try_acquire(&mut self, after_timeout: bool) -> Result<RetryToken, QuotaExhausted> {
        let cost = if after_timeout { self.timeout_cost } else { self.retry_cost };
        if self.available < cost {
            return Err(QuotaExhausted { available: self.available, cost });
        }
        self.available -= cost;
        Ok(RetryToken { cost })
    }

    /// Reports a successful request: `token` is what its last retry took, or `None` if
    /// it succeeded on the first try.
    pub fn on_success(&mut self, token: Option<RetryToken>) {
        let refund = token.map_or(self.success_refund, |t| t.cost);
        self.available = self.available.saturating_add(refund).min(self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn timeouts_cost_double() {
        let mut q = RetryQuota::default();
        let mut n = 0;
        while q.try_acquire(true).is_ok() {
            n += 1;
        }
        assert_eq!(n, 50);
        assert_eq!(q.try_acquire(true), Err(QuotaExhausted { available: 0, cost: 10 }));
    }

    #[test]
    fn successful_retry_refunds_its_cost() {
        let mut q = RetryQuota::default();
        let t = q.try_acquire(true).unwrap();
        assert_eq!(q.available(), 490);
        q.on_success(Some(t));
        assert_eq!(q.available(), 500);
        q.on_success(None);
        assert_eq!(q.available(), 500, "never above capacity");
    }

    #[test]
    fn nonsense_is_rejected() {
        assert_eq!(RetryQuota::new(0, 5, 10, 1).unwrap_err().field, "capacity");
        assert_eq!(RetryQuota::new(500, 0, 10, 1).unwrap_err().field, "retry_cost");
        assert_eq!(RetryQuota::new(5, 5, 10, 1).unwrap_err().field, "timeout_cost");
    }

    proptest! {
        #[test]
        fn never_negative_never_above_capacity(ops in proptest::collection::vec(0u8..4, 0..2000)) {
            let mut q = RetryQuota::default();
            let mut held = Vec::new();
            for op in ops {
                match op {
                    0 => { if let Ok(t) = q.try_acquire(false) { held.push(t) } }
                    1 => { if let Ok(t) = q.try_acquire(true) { held.push(t) } }
                    2 => q.on_success(held.pop()),
                    _ => q.on_success(None),
                }
                prop_assert!(q.available() <= q.capacity());
            }
        }
    }
}
