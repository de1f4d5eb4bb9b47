use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use super::backoff::{Backoff, Delays};
use crate::error::ConfigError;

/// The most retries a policy accepts: beyond this a retry loop is a bug, not a policy.
pub const MAX_RETRIES: u32 = 100;

/// A backoff plus a maximum number of retries.
///
/// # Default
/// [`RetryPolicy::default`] is 3 retries (4 attempts in all) with exponential backoff from
/// 100 ms, capped at 20 s, with full jitter: the low end of the usual three to five
/// retries, and the jitter the AWS Architecture Blog recommends ("Exponential Backoff And
/// Jitter", 2015).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::retry::{Backoff, RetryPolicy};
///
/// let p = RetryPolicy::new(Backoff::exponential(Duration::from_millis(1000)).build().unwrap(), 5).unwrap();
/// let total: Duration = p.delays(unbreakable::retry::seeded_rng(1, 0)).sum();
/// assert_eq!(total, Duration::from_secs(31)); // 1 + 2 + 4 + 8 + 16
/// assert!(RetryPolicy::new(Backoff::immediate(), 1000).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct RetryPolicy {
    backoff: Backoff,
    max_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        let backoff = Backoff::exponential(Duration::from_millis(100))
            .with_jitter(super::Jitter::Full)
            .build()
            .expect("the default backoff is valid");
        Self { backoff, max_retries: 3 }
    }
}

impl RetryPolicy {
    /// `backoff` for at most `max_retries` retries.
    ///
    /// # Errors
    /// If `max_retries` is above [`MAX_RETRIES`].
    pub fn new(backoff: Backoff, max_retries: u32) -> Result<Self, ConfigError> {
        if max_retries > MAX_RETRIES {
            return Err(ConfigError::new(
                "max_retries",
                format!("{max_retries} retries is above the limit of {MAX_RETRIES}; 3 to 5 is typical"),
            ));
        }
        Ok(Self { backoff, max_retries })
    }

    /// No retries at all: one attempt.
    pub fn no_retries() -> Self {
        Self { backoff: Backoff::immediate(), max_retries: 0 }
    }

    /// The backoff.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The most retries.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The most attempts: retries plus the first try.
    pub fn max_attempts(&self) -> u32 {
        self.max_retries + 1
    }

    /// The delays before each retry: `max_retries` of them, then the iterator ends
    /// (backon's convention: `Some(d)` = wait `d` and retry, `None` = give up).
    pub fn delays<R: Rng>(&self, rng: R) -> std::iter::Take<Delays<R>> {
        self.backoff.delays(rng).take(self.max_retries as usize)
    }
}
