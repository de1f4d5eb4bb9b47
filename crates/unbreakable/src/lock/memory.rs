//! The in-memory lock service.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::error::check;
use super::{Grant, Lease, LockError, LockStore, Refusal, Token};
use crate::time::Clock;

/// Locks in one process's memory: a [`Lease`] per key behind a mutex, on a [`Clock`]
/// (virtual time under a paused tokio runtime, so simulations and tests run instantly).
///
/// Cloning gives another handle on the same locks. Memory: one entry per key ever used
/// (a free key keeps its token counter, so tokens never repeat).
///
/// Two ways to drive it; use one per instance: the [`LockStore`] methods read the clock;
/// the `_at` methods take `now` from the caller.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// use unbreakable::lock::{LockError, LockStore, MemoryLocks};
///
/// let locks = MemoryLocks::new();
/// let a = locks.acquire("migration", "host-a", Duration::from_secs(30)).await.unwrap();
/// let b = locks.acquire("migration", "host-b", Duration::from_secs(30)).await;
/// assert!(matches!(b, Err(LockError::Held { .. })));
/// assert!(locks.release(&a).await.unwrap());
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryLocks {
    clock: Clock,
    leases: Arc<Mutex<HashMap<String, Lease>>>,
}

impl MemoryLocks {
    /// No locks, on a clock started now.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same, on `clock`.
    pub fn with_clock(clock: Clock) -> Self {
        Self { clock, leases: Arc::default() }
    }

    /// [`LockStore::acquire`] at `now`.
    ///
    /// # Errors
    /// As [`LockStore::acquire`].
    pub fn acquire_at(
        &self,
        key: &str,
        owner: &str,
        ttl: Duration,
        now: Duration,
    ) -> Result<Grant, LockError> {
        self.take(key, owner, ttl, |lease| lease.acquire(owner, ttl, now))
    }

    /// [`LockStore::acquire_given`] at `now`.
    ///
    /// # Errors
    /// As [`LockStore::acquire_given`].
    pub fn acquire_given_at(
        &self,
        key: &str,
        owner: &str,
        ttl: Duration,
        token: Token,
        now: Duration,
    ) -> Result<Grant, LockError> {
        self.take(key, owner, ttl, |lease| lease.acquire_given(owner, ttl, now, token))
    }

    fn take(
        &self,
        key: &str,
        owner: &str,
        ttl: Duration,
        acquire: impl FnOnce(&mut Lease) -> Result<Token, Refusal>,
    ) -> Result<Grant, LockError> {
        check(owner, ttl)?;
        let mut leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        let lease = leases.entry(key.to_string()).or_default();
        match acquire(lease) {
            Ok(token) => Ok(Grant { key: key.to_string(), owner: owner.to_string(), token, ttl }),
            Err(Refusal::Held { remaining }) => Err(LockError::Held { key: key.to_string(), remaining }),
            Err(Refusal::NotHolder) => Err(LockError::Backend("acquire answered NotHolder".into())),
        }
    }

    /// [`LockStore::renew`] at `now`.
    ///
    /// # Errors
    /// As [`LockStore::renew`].
    pub fn renew_at(&self, grant: &Grant, now: Duration) -> Result<(), LockError> {
        let mut leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        let lost = || LockError::Lost { key: grant.key.clone(), token: grant.token.0 };
        let lease = leases.get_mut(&grant.key).ok_or_else(lost)?;
        lease.renew(&grant.owner, grant.token, grant.ttl, now).map_err(|_| lost())
    }

    /// [`LockStore::release`] at `now`.
    pub fn release_at(&self, grant: &Grant, now: Duration) -> bool {
        let mut leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        leases.get_mut(&grant.key).is_some_and(|l| l.release(&grant.owner, grant.token, now))
    }

    /// Who holds `key` at `now`, and with which token.
    pub fn holder_at(&self, key: &str, now: Duration) -> Option<(String, Token)> {
        let leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        leases.get(key).and_then(|l| l.holder(now).map(|(o, t)| (o.to_string(), t)))
    }
}

impl LockStore for MemoryLocks {
    async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<Grant, LockError> {
        self.acquire_at(key, owner, ttl, self.clock.now())
    }

    async fn acquire_given(
        &self,
        key: &str,
        owner: &str,
        ttl: Duration,
        token: Token,
    ) -> Result<Grant, LockError> {
        self.acquire_given_at(key, owner, ttl, token, self.clock.now())
    }

    async fn renew(&self, grant: &Grant) -> Result<(), LockError> {
        self.renew_at(grant, self.clock.now())
    }

    async fn release(&self, grant: &Grant) -> Result<bool, LockError> {
        Ok(self.release_at(grant, self.clock.now()))
    }
}
