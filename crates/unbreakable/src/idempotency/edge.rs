//! The async edge: run any handler at most once per idempotency key, over any
//! [`KeyStore`].

use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Begun, Fingerprint, IdempotencyKey, KeyStore, Lease, RunError, Served};

/// Runs handlers at most once per key, sharing one [`KeyStore`] between tasks.
///
/// A repeat that arrives while the first is running gets
/// [`KeyError::InProgress`](super::KeyError::InProgress) at once rather than waiting. If
/// the handler fails or its future is dropped (the client went away, a timeout fired),
/// the key is released so that a retry runs it again: a handler must therefore either
/// succeed, or fail *without* side effects. A failure that must be answered the same way
/// on every retry should be returned as an `Ok` response. If the whole process dies
/// mid-handler, a durable store keeps the key locked until the policy's lock timeout,
/// then lets a retry reclaim it.
///
/// The store's methods are called under a `std` mutex, never across an `.await`: a
/// durable store's calls block the task for one small transaction each. When the handler's
/// effects live in the same database as the keys, prefer the durable store's
/// one-transaction `execute`: then the key and the effect commit together.
///
/// # Examples
/// ```
/// use unbreakable::idempotency::{IdempotencyKey, MemoryStore, Policy};
/// use unbreakable::idempotency::edge::Idempotent;
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
///
/// let answers = {
///     let edge = Idempotent::new(MemoryStore::new(Policy::default()));
///     let key = IdempotencyKey::new("charge-42").unwrap();
///     let mut runs = 0;
///     let a = edge.run(&key, b"charge 500", || { runs += 1; async { Ok::<_, String>("ch_1") } }).await;
///     let b = edge.run(&key, b"charge 500", || { runs += 1; async { Ok::<_, String>("ch_2") } }).await;
///     (a.unwrap(), b.unwrap(), runs)
/// };
/// assert_eq!((answers.0.response, answers.1.response, answers.1.replayed, answers.2), ("ch_1", "ch_1", true, 1));
/// # });
/// ```
#[derive(Debug)]
pub struct Idempotent<S> {
    store: Arc<Mutex<S>>,
}

impl<S> Clone for Idempotent<S> {
    fn clone(&self) -> Self {
        Self { store: Arc::clone(&self.store) }
    }
}

/// Releases the key if the handler did not complete (error, or the future was dropped).
struct Release<'a, S: KeyStore<R>, R> {
    edge: &'a Idempotent<S>,
    key: &'a IdempotencyKey,
    lease: Lease,
    armed: bool,
    response: PhantomData<fn() -> R>,
}

impl<S: KeyStore<R>, R> Drop for Release<'_, S, R> {
    fn drop(&mut self) {
        if self.armed {
            // Nothing to report to: if releasing fails, the lock timeout frees the key.
            let _ = self.edge.lock().release(self.key, self.lease);
        }
    }
}

impl<S> Idempotent<S> {
    /// An edge over `store`.
    pub fn new(store: S) -> Self {
        Self { store: Arc::new(Mutex::new(store)) }
    }

    /// The store, locked (to inspect it; do not hold the guard across an `.await`).
    pub fn lock(&self) -> MutexGuard<'_, S> {
        // A panic elsewhere while holding the lock leaves the store itself consistent:
        // every store method changes it in one step.
        self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `handler` for `request` under `key`, unless the key has already been used.
    ///
    /// `request` is the request's canonical bytes (or their [`Fingerprint`]): a repeat
    /// with other bytes under the same key is refused as a mismatch.
    ///
    /// # Errors
    /// [`RunError::Store`] if the store refused or failed (see
    /// [`StoreError`](super::StoreError)), [`RunError::Handler`] if the handler failed.
    ///
    /// # Cancellation
    /// Dropping the future releases the key: a retry runs the handler again.
    pub async fn run<R, E, F, Fut>(
        &self,
        key: &IdempotencyKey,
        request: impl Into<Fingerprint>,
        handler: F,
    ) -> Result<Served<R>, RunError<E>>
    where
        S: KeyStore<R>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let request = request.into();
        let begun = self.lock().begin(key, &request)?;
        let lease = match begun {
            Begun::Replay(response) => return Ok(Served { response, replayed: true }),
            Begun::Execute(lease) => lease,
        };
        let mut release = Release { edge: self, key, lease, armed: true, response: PhantomData };
        let response = handler().await.map_err(RunError::Handler)?;
        release.armed = false;
        self.lock().complete(key, lease, &response)?;
        Ok(Served { response, replayed: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idempotency::{KeyError, MemoryStore, Policy, StoreError};
    use crate::time::run_paused;
    use std::time::Duration;

    #[test]
    fn a_concurrent_repeat_is_told_in_progress_and_a_dropped_call_releases_the_key() {
        let (second, third, after_drop) = run_paused(async {
            let edge = Idempotent::new(MemoryStore::new(Policy::default()));
            let key = IdempotencyKey::new("k").unwrap();
            let slow = || async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok::<_, String>(7)
            };
            let (first, second) = tokio::join!(edge.run(&key, b"x", slow), async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                edge.run(&key, b"x", || async { Ok::<_, String>(8) }).await
            });
            assert_eq!(first.unwrap(), Served { response: 7, replayed: false });
            let third = edge.run(&key, b"x", || async { Ok::<_, String>(9) }).await.unwrap();
            // A call dropped by a timeout leaves nothing behind.
            let other = IdempotencyKey::new("other").unwrap();
            let timed_out =
                tokio::time::timeout(Duration::from_millis(5), edge.run(&other, b"y", slow)).await;
            assert!(timed_out.is_err());
            let after_drop = edge.run(&other, b"y", || async { Ok::<_, String>(3) }).await.unwrap();
            (second, third, after_drop)
        })
        .unwrap();
        assert!(matches!(second, Err(RunError::Store(StoreError::Key(KeyError::InProgress { .. })))));
        assert_eq!(third, Served { response: 7, replayed: true });
        assert_eq!(after_drop, Served { response: 3, replayed: false });
    }

    /// A handler that outlives the lock timeout loses its key to a retry, and is told so
    /// rather than overwriting the retry's result.
    #[test]
    fn a_handler_slower_than_the_lock_timeout_is_told_its_lease_was_lost() {
        let (slow, retry) = run_paused(async {
            let policy = Policy::default().with_lock_timeout(Duration::from_secs(1)).unwrap();
            let edge = Idempotent::new(MemoryStore::new(policy));
            let key = IdempotencyKey::new("k").unwrap();
            tokio::join!(
                edge.run(&key, b"x", || async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok::<_, String>(1)
                }),
                async {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    edge.run(&key, b"x", || async { Ok::<_, String>(2) }).await
                }
            )
        })
        .unwrap();
        assert_eq!(retry.unwrap(), Served { response: 2, replayed: false });
        assert!(matches!(slow, Err(RunError::Store(StoreError::Key(KeyError::LeaseLost { .. })))));
    }
}
