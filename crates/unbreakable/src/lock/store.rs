//! The lock-service trait: what the async edges need from any back end.

use std::future::Future;
use std::time::Duration;

use super::{LockError, Token};

/// Proof of holding a lock: given by [`LockStore::acquire`], handed back to
/// [`renew`](LockStore::renew) and [`release`](LockStore::release), and its
/// [`token`](Grant::token) passed to every resource the holder changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The lock's name.
    pub key: String,
    /// Who acquired it.
    pub owner: String,
    /// The fencing token of this grant.
    pub token: Token,
    /// The lease it was granted (and is renewed) for.
    pub ttl: Duration,
}

impl Grant {
    /// The value stored under the lock's key, which renew and release compare:
    /// `owner/token`, unique per grant even when one owner acquires twice.
    pub fn value(&self) -> String {
        format!("{}/{}", self.owner, self.token)
    }
}

/// A lock service: the in-memory [`MemoryLocks`](super::MemoryLocks) or, with the `redis`
/// feature, `RedisLocks` on a real Redis. The same behavioural tests run against both.
///
/// Time is the service's: a lease runs out by the service's clock, whatever the holder's
/// clock says. A holder should stop acting well before `ttl` has passed by its own clock,
/// measured from *before* it sent the request (see
/// [`election::Config::margin`](super::election::Config)).
pub trait LockStore: Send + Sync {
    /// Takes `key` for `owner` for `ttl`, if it is free.
    ///
    /// # Errors
    /// [`LockError::Held`] if another grant holds it; [`LockError::Config`] for an empty
    /// owner or a TTL under 1 ms; [`LockError::Backend`] if the service failed.
    fn acquire(
        &self,
        key: &str,
        owner: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Grant, LockError>> + Send;

    /// Takes `key` for `owner` for `ttl`, if it is free, with `token` (drawn by the caller
    /// from a durable [`TokenSource`](super::TokenSource)) instead of the service's own
    /// counter. The token is used as given.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire).
    fn acquire_given(
        &self,
        key: &str,
        owner: &str,
        ttl: Duration,
        token: Token,
    ) -> impl Future<Output = Result<Grant, LockError>> + Send;

    /// Extends `grant`'s lease to its TTL from now, if it still holds the lock
    /// (compare-and-expire).
    ///
    /// # Errors
    /// [`LockError::Lost`] if it does not; [`LockError::Backend`].
    fn renew(&self, grant: &Grant) -> impl Future<Output = Result<(), LockError>> + Send;

    /// Frees the lock if `grant` still holds it (compare-and-delete); returns whether it
    /// did. Releasing a lock that expired and was taken over frees nothing.
    ///
    /// # Errors
    /// [`LockError::Backend`].
    fn release(&self, grant: &Grant) -> impl Future<Output = Result<bool, LockError>> + Send;
}
