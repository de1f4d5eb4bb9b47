//! The async edge: run any handler at most once per idempotency key.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{IdempotencyKey, KeyError, MemoryStore};
use crate::time::Clock;

/// A handler's answer, and whether it was replayed from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served<R> {
    /// The (original) response.
    pub response: R,
    /// `true` if the handler did not run this time.
    pub replayed: bool,
}

/// Why [`Idempotent::run`] did not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EdgeError<E> {
    /// The key store refused the request (in progress, mismatch, full).
    ///
    /// ### Handling
    /// See [`KeyError`].
    #[error(transparent)]
    Key(KeyError),
    /// The handler failed; the key was released, so a retry executes again.
    ///
    /// ### Handling
    /// As for the handler's own error.
    #[error("handler: {0}")]
    Handler(E),
}

/// Runs handlers at most once per key, sharing one [`MemoryStore`] between tasks.
///
/// A repeat that arrives while the first is running gets [`KeyError::InProgress`] at
/// once rather than waiting. If the handler fails or its future is dropped (the client
/// went away, a timeout fired), the key is released so that a retry runs it again: a
/// handler must therefore either succeed, or fail *without* side effects. A failure that
/// must be answered the same way on every retry should be returned as an `Ok` response.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::idempotency::{IdempotencyKey, MemoryStore, Policy};
/// use unbreakable::idempotency::edge::Idempotent;
/// use unbreakable::time::Clock;
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
///
/// let answers = {
///     let edge = Idempotent::new(MemoryStore::new(Policy::default()), Clock::start());
///     let key = IdempotencyKey::new("charge-42").unwrap();
///     let mut runs = 0;
///     let a = edge.run(&key, b"charge 500", || { runs += 1; async { Ok::<_, String>("ch_1") } }).await;
///     let b = edge.run(&key, b"charge 500", || { runs += 1; async { Ok::<_, String>("ch_2") } }).await;
///     (a.unwrap(), b.unwrap(), runs)
/// };
/// assert_eq!((answers.0.response, answers.1.response, answers.1.replayed, answers.2), ("ch_1", "ch_1", true, 1));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Idempotent<R> {
    store: Arc<Mutex<MemoryStore<R>>>,
    clock: Clock,
}

/// Releases the key if the handler did not complete (error, or the future was dropped).
struct Release<'a, R: Clone> {
    edge: &'a Idempotent<R>,
    key: &'a IdempotencyKey,
    armed: bool,
}

impl<R: Clone> Drop for Release<'_, R> {
    fn drop(&mut self) {
        if self.armed {
            self.edge.store().release(self.key);
        }
    }
}

impl<R: Clone> Idempotent<R> {
    /// An edge over `store`, reading time from `clock`.
    pub fn new(store: MemoryStore<R>, clock: Clock) -> Self {
        Self { store: Arc::new(Mutex::new(store)), clock }
    }

    fn store(&self) -> MutexGuard<'_, MemoryStore<R>> {
        // A panic elsewhere while holding the lock leaves the map itself consistent.
        self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `handler` for `request` under `key`, unless the key has already been used.
    ///
    /// # Errors
    /// [`EdgeError::Key`] if the store refused, [`EdgeError::Handler`] if the handler
    /// failed.
    ///
    /// # Cancellation
    /// Dropping the future releases the key: a retry runs the handler again.
    pub async fn run<E, F, Fut>(&self, key: &IdempotencyKey, request: &[u8], handler: F) -> Result<Served<R>, EdgeError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let begun = self.store().begin(key, request, self.clock.now());
        match begun {
            Ok(Some(response)) => return Ok(Served { response, replayed: true }),
            Err(e) => return Err(EdgeError::Key(e)),
            Ok(None) => {}
        }
        let mut release = Release { edge: self, key, armed: true };
        let response = handler().await.map_err(EdgeError::Handler)?;
        self.store().complete(key, response.clone());
        release.armed = false;
        Ok(Served { response, replayed: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idempotency::Policy;
    use crate::time::run_paused;
    use std::time::Duration;

    #[test]
    fn a_concurrent_repeat_is_told_in_progress_and_a_dropped_call_releases_the_key() {
        let (second, third, after_drop) = run_paused(async {
            let edge = Idempotent::new(MemoryStore::new(Policy::default()), Clock::start());
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
            let timed_out = tokio::time::timeout(Duration::from_millis(5), edge.run(&other, b"y", slow)).await;
            assert!(timed_out.is_err());
            let after_drop = edge.run(&other, b"y", || async { Ok::<_, String>(3) }).await.unwrap();
            (second, third, after_drop)
        })
        .unwrap();
        assert!(matches!(second, Err(EdgeError::Key(KeyError::InProgress { .. }))));
        assert_eq!(third, Served { response: 7, replayed: true });
        assert_eq!(after_drop, Served { response: 3, replayed: false });
    }
}
