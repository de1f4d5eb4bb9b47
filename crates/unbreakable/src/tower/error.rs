//! The errors the layers make (the inner service's own errors pass through unchanged).

use std::fmt;
use std::time::Duration;

use super::BoxError;

/// A call ran past its time limit and was dropped (tower's `Elapsed`, with the limit).
///
/// ### Handling
/// The dependency is slow: retry if the call is idempotent, or degrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("request timed out after {after:?}")]
pub struct Elapsed {
    /// The limit that was reached.
    pub after: Duration,
}

/// Why the [`RetryLayer`](super::RetryLayer) stopped retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// Every attempt the policy allows failed.
    Exhausted,
    /// The shared circuit breaker refused the next attempt.
    CircuitOpen {
        /// When the breaker may let a probe through.
        retry_after: Duration,
    },
    /// The shared retry budget refused the next retry (or, with adaptive throttling, the
    /// first try).
    BudgetExhausted,
    /// The request's deadline passed, or too little of it was left to wait for another
    /// attempt.
    DeadlineExceeded,
    /// The server asked (`Retry-After`) to wait longer than the time left before the
    /// request's deadline, or than the longest delay the layer honours. When that
    /// answer was a response (a 503 or 429), the layer returns the response itself
    /// instead, so its `Retry-After` goes upstream.
    RetryAfterTooLong {
        /// What the server asked for.
        retry_after: Duration,
    },
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GiveUpReason::Exhausted => f.write_str("retries exhausted"),
            GiveUpReason::CircuitOpen { retry_after } => {
                write!(f, "circuit open, retry after {retry_after:?}")
            }
            GiveUpReason::BudgetExhausted => f.write_str("retry budget exhausted"),
            GiveUpReason::DeadlineExceeded => f.write_str("deadline exceeded"),
            GiveUpReason::RetryAfterTooLong { retry_after } => {
                write!(f, "the server asked to wait {retry_after:?}, past the deadline or the limit")
            }
        }
    }
}

/// The [`RetryLayer`](super::RetryLayer) gave up, and the last attempt left no response
/// to return (it failed with an error or timed out, or no attempt was made).
///
/// The last error is its [`source`](std::error::Error::source) (an [`Elapsed`] when the
/// last attempt timed out).
///
/// ### Handling
/// Do not wrap another retry loop around it: degrade (a
/// [`FallbackLayer`](super::FallbackLayer)) or report the failure. With
/// [`GiveUpReason::CircuitOpen`], try again after `retry_after` at the earliest.
#[derive(Debug)]
pub struct GaveUp {
    attempts: u32,
    reason: GiveUpReason,
    last: Option<BoxError>,
}

impl GaveUp {
    pub(crate) fn new(attempts: u32, reason: GiveUpReason, last: Option<BoxError>) -> Self {
        Self { attempts, reason, last }
    }

    /// Attempts made (zero if the breaker or the budget refused the first).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Why it stopped.
    pub fn reason(&self) -> GiveUpReason {
        self.reason
    }

    /// The last attempt's error, if an attempt was made.
    pub fn last(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.last.as_deref()
    }

    /// The last attempt's error, to handle it yourself.
    pub fn into_last(self) -> Option<BoxError> {
        self.last
    }
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gave up after {} attempts ({})", self.attempts, self.reason)?;
        match &self.last {
            Some(last) => write!(f, ": {last}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for GaveUp {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.last.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}
