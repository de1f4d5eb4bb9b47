//! How long keys are kept, and how long a running request may hold its key.

use std::time::Duration;

use serde::Serialize;

use crate::error::ConfigError;

/// The default retention: 24 hours, as Stripe keeps keys.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// The default lock timeout: 60 seconds.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// How long keys are kept, and how long a running request may hold its key.
///
/// # Default
/// | setting | default | meaning |
/// |---|---|---|
/// | [`retention`](Self::retention) | 24 hours ([`DEFAULT_RETENTION`]) | a key is forgotten this long after its first use; a retry after that executes again |
/// | [`lock_timeout`](Self::lock_timeout) | 60 s ([`DEFAULT_LOCK_TIMEOUT`]), or the retention if shorter | a request still running this long after it took its key is presumed dead (its process crashed before completing or releasing it): a new request with the key reclaims it and executes, instead of being told "in progress" forever |
///
/// Set the lock timeout above the longest time a handler can take plus the store's
/// margins (its busy timeout and clock skew: see [`handler_time`](Self::handler_time)):
/// the async edge stops a handler that runs longer, and a repeat after the lock timeout
/// runs it again.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::idempotency::Policy;
///
/// let p = Policy::default();
/// assert_eq!((p.retention(), p.lock_timeout()), (Duration::from_secs(86_400), Duration::from_secs(60)));
/// let p = Policy::new(Duration::from_secs(3600)).unwrap().with_lock_timeout(Duration::from_secs(5)).unwrap();
/// assert_eq!(p.lock_timeout(), Duration::from_secs(5));
/// let err = p.with_lock_timeout(Duration::from_secs(7200)).unwrap_err();
/// assert_eq!(err.field, "lock_timeout");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Policy {
    retention: Duration,
    lock_timeout: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self { retention: DEFAULT_RETENTION, lock_timeout: DEFAULT_LOCK_TIMEOUT }
    }
}

impl Policy {
    /// Keys kept for `retention` after they were first used; the lock timeout is
    /// [`DEFAULT_LOCK_TIMEOUT`], or `retention` if that is shorter.
    ///
    /// # Errors
    /// A zero retention (a retry a moment later would execute again).
    pub fn new(retention: Duration) -> Result<Self, ConfigError> {
        if retention.is_zero() {
            return Err(ConfigError::new(
                "retention",
                "a zero retention forgets a key at once, so every retry executes again; keep keys longer than clients retry",
            ));
        }
        Ok(Self { retention, lock_timeout: DEFAULT_LOCK_TIMEOUT.min(retention) })
    }

    /// The same policy with a request allowed to hold its key for `lock_timeout`.
    ///
    /// # Errors
    /// A zero lock timeout (every repeat would take over a running request), or one
    /// longer than the retention (the key would be forgotten while still locked).
    pub fn with_lock_timeout(self, lock_timeout: Duration) -> Result<Self, ConfigError> {
        if lock_timeout.is_zero() {
            return Err(ConfigError::new(
                "lock_timeout",
                "a zero lock timeout lets every repeat take over a running request; set it above the longest time a handler takes",
            ));
        }
        if lock_timeout > self.retention {
            return Err(ConfigError::new(
                "lock_timeout",
                format!(
                    "{lock_timeout:?} is longer than the retention ({:?}); a key cannot stay locked after it is forgotten: shorten the lock timeout or lengthen the retention",
                    self.retention
                ),
            ));
        }
        Ok(Self { lock_timeout, ..self })
    }

    /// How long keys are kept.
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// How long a running request may hold its key before a new request may reclaim it.
    pub fn lock_timeout(&self) -> Duration {
        self.lock_timeout
    }

    /// How long the async edge lets a handler run over a store whose calls may wait up to
    /// `busy_timeout` for their storage and whose lock timeouts may be judged on a clock
    /// up to `clock_skew` ahead of the edge's: the lock timeout less both, so that the
    /// handler's response can still be stored while its key is surely held.
    ///
    /// # Errors
    /// A busy timeout and clock-skew margin that together reach the lock timeout (they
    /// leave the handler no time); the error's field is `clock_skew` and its message says
    /// what to change.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use unbreakable::idempotency::Policy;
    ///
    /// let s = Duration::from_secs;
    /// assert_eq!(Policy::default().handler_time(s(5), s(1)).unwrap(), s(54));
    /// assert!(Policy::default().handler_time(s(5), s(55)).is_err());
    /// ```
    pub fn handler_time(
        &self,
        busy_timeout: Duration,
        clock_skew: Duration,
    ) -> Result<Duration, ConfigError> {
        let margin = busy_timeout.saturating_add(clock_skew);
        if margin >= self.lock_timeout {
            return Err(ConfigError::new(
                "clock_skew",
                format!(
                    "the store's busy timeout ({busy_timeout:?}) plus its clock-skew margin ({clock_skew:?}) reach the lock timeout ({:?}), which leaves a handler no time to run: raise the lock timeout above the handler's longest run plus {margin:?}, or lower the margin",
                    self.lock_timeout
                ),
            ));
        }
        Ok(self.lock_timeout - margin)
    }

    /// Whether an entry first used at `created` is forgotten at `now`.
    pub fn expired(&self, created: Duration, now: Duration) -> bool {
        now.saturating_sub(created) >= self.retention
    }

    /// Whether a request that took its key at `locked` has held it too long at `now`.
    pub fn lock_expired(&self, locked: Duration, now: Duration) -> bool {
        now.saturating_sub(locked) >= self.lock_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_checked_when_built() {
        let s = Duration::from_secs;
        assert_eq!(Policy::new(Duration::ZERO).unwrap_err().field, "retention");
        assert_eq!(
            Policy::new(s(10)).unwrap().lock_timeout(),
            s(10),
            "the lock timeout never exceeds the retention"
        );
        assert_eq!(Policy::default().with_lock_timeout(Duration::ZERO).unwrap_err().field, "lock_timeout");
        assert_eq!(Policy::new(s(10)).unwrap().with_lock_timeout(s(11)).unwrap_err().field, "lock_timeout");
        assert!(Policy::new(s(10)).unwrap().with_lock_timeout(s(10)).is_ok());
        // Times far apart or out of order never overflow.
        let p = Policy::default();
        assert!(p.expired(Duration::ZERO, Duration::MAX));
        assert!(!p.expired(Duration::MAX, Duration::ZERO));
    }
}
