//! Why a lock operation failed.

use std::time::Duration;

use crate::error::ConfigError;

/// Why a [`LockStore`](super::LockStore) did not grant, renew or release a lock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Someone else holds the lock.
    ///
    /// ### Handling
    /// Not an error for the caller's work: try again after about `remaining` (a follower
    /// in an election simply keeps waiting).
    #[error("lock {key} is held by another owner for up to {remaining:?} more")]
    Held {
        /// The lock.
        key: String,
        /// How long its lease still runs, at most.
        remaining: Duration,
    },
    /// The grant no longer holds the lock: its lease expired (and someone else may hold
    /// it now).
    ///
    /// ### Handling
    /// Stop acting on the lock at once; anything written after this point must be
    /// refused by the resource's fencing. Acquire again to go on.
    #[error("lock {key} was lost: the lease with token {token} expired or was taken over")]
    Lost {
        /// The lock.
        key: String,
        /// The token of the grant that lost it.
        token: u64,
    },
    /// A TTL or an owner that cannot work.
    ///
    /// ### Handling
    /// Fix the call as the message says; this is never transient.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The lock service could not be reached or answered nonsense.
    ///
    /// ### Handling
    /// Transient as a rule: retry with backoff. A holder that cannot renew must assume it
    /// lost the lock when its lease runs out by its own clock.
    #[error("lock service: {0}")]
    Backend(String),
}

/// Checks a TTL and an owner before they reach a store.
pub(crate) fn check(owner: &str, ttl: Duration) -> Result<(), LockError> {
    if owner.is_empty() {
        return Err(ConfigError::new("owner", "an empty owner cannot be told apart from another; use a unique id per process (host, pid and a random part)").into());
    }
    if ttl < Duration::from_millis(1) {
        return Err(ConfigError::new("ttl", format!("{ttl:?} is shorter than a millisecond, the resolution of Redis's PX; use a lease longer than the work between two renewals")).into());
    }
    Ok(())
}
