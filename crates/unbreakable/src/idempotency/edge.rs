//! The async edge: run any handler at most once per idempotency key, over any
//! [`KeyStore`].

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Begun, Failed, Fingerprint, IdempotencyKey, KeyStore, Lease, RunError, Served, StoreError};

/// Runs handlers at most once per key, sharing one [`KeyStore`] between tasks.
///
/// A repeat that arrives while the first is running gets
/// [`KeyError::InProgress`](super::KeyError::InProgress) at once rather than waiting.
///
/// # Unknown outcomes
/// A handler that fails, or whose future is dropped (the client disconnected and hyper or
/// axum dropped the handler, an outer timeout fired), may already have had its effect: the
/// payment provider may have charged the card. So the key is **not** released: it stays
/// in flight, a repeat is told "in progress", and only after the policy's lock timeout may
/// a repeat take the key over and run the handler again. A handler that knows it did
/// nothing (the request failed validation, the provider refused before charging) says so
/// through [`run_or_release`](Self::run_or_release) with [`Failed::NotStarted`]: then the
/// key is released and a retry runs at once. A failure that must be answered the same way
/// on every retry should be returned as an `Ok` response: it is stored and replayed.
///
/// The handler is bounded by the lock timeout: one still running when its key could be
/// taken over is stopped there ([`RunError::LockTimeout`]). Two runs overlap only if the
/// store's own clock lets a repeat take the key over before this edge stops the handler:
/// a store on the wall clock (SQLite) shared by hosts with skewed clocks, or a run that
/// ends just before the lock timeout and then waits to store its result (a busy
/// database). Keep the lock timeout well above the handler's longest run plus the
/// store's busy timeout, and the hosts' clocks in sync.
/// Taking over after the lock timeout re-runs the handler: that is safe only if a run cut
/// short left nothing behind, or its effect is itself idempotent (it committed with the
/// key, or the same key is passed on to the payment provider).
///
/// # Blocking stores
/// The store is shared under a `std` mutex, never held across an `.await`. A store whose
/// calls block on I/O ([`KeyStore::BLOCKING`], such as the SQLite store) is called on
/// tokio's blocking pool (`spawn_blocking`), so a locked database never stalls the
/// runtime's worker threads. When the handler's effects live in the same database as the
/// keys, prefer the durable store's one-transaction `execute`: then the key and the
/// effect commit together.
///
/// # Examples
/// ```
/// use unbreakable::idempotency::{IdempotencyKey, MemoryStore, Policy};
/// use unbreakable::idempotency::edge::Idempotent;
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
///
/// let edge = Idempotent::new(MemoryStore::new(Policy::default()));
/// let key = IdempotencyKey::new("account-7", "charge-42").unwrap();
/// let a = edge.run(&key, b"charge 500", || async { Ok::<_, String>("ch_1") }).await.unwrap();
/// let b = edge.run(&key, b"charge 500", || async { Ok::<_, String>("ch_2") }).await.unwrap();
/// assert_eq!((a.response, b.response, b.replayed), ("ch_1", "ch_1", true));
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

/// Locks the store; a panic elsewhere while holding the lock leaves the store itself
/// consistent, as every store method changes it in one step.
fn lock<S>(store: &Mutex<S>) -> MutexGuard<'_, S> {
    store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<S> Idempotent<S> {
    /// An edge over `store`.
    pub fn new(store: S) -> Self {
        Self { store: Arc::new(Mutex::new(store)) }
    }

    /// The store, locked (to inspect it; do not hold the guard across an `.await`). For a
    /// blocking store this waits for any call in progress: call it off the runtime's
    /// worker threads.
    pub fn lock(&self) -> MutexGuard<'_, S> {
        lock(&self.store)
    }

    /// Calls `f` on the store: in place, or on tokio's blocking pool for a blocking store.
    async fn call<R, T, F>(&self, f: F) -> Result<T, StoreError>
    where
        S: KeyStore<R> + Send + 'static,
        T: Send + 'static,
        F: FnOnce(&mut S) -> T + Send + 'static,
    {
        #[cfg(feature = "sqlite")]
        if S::BLOCKING {
            let store = Arc::clone(&self.store);
            return tokio::task::spawn_blocking(move || f(&mut lock(&store)))
                .await
                .map_err(|e| StoreError::Storage { source: Box::new(e) });
        }
        Ok(f(&mut self.lock()))
    }

    /// Runs `handler` for `request` under `key`, unless the key has already been used.
    ///
    /// `request` is the request's canonical bytes (or their [`Fingerprint`]): a repeat
    /// with other bytes under the same key is refused as a mismatch.
    ///
    /// A handler error is an unknown outcome: the key stays in flight until the lock
    /// timeout (see [Unknown outcomes](Self#unknown-outcomes)). Use
    /// [`run_or_release`](Self::run_or_release) to free it when nothing happened.
    ///
    /// # Errors
    /// [`RunError::Store`] if the store refused or failed (see
    /// [`StoreError`]), [`RunError::Handler`] if the handler failed,
    /// [`RunError::LockTimeout`] if it was stopped at the lock timeout.
    ///
    /// # Cancellation
    /// Dropping the future leaves the key in flight until the lock timeout: a repeat
    /// before then is told "in progress", not run a second time.
    pub async fn run<R, E, F, Fut>(
        &self,
        key: &IdempotencyKey,
        request: impl Into<Fingerprint>,
        handler: F,
    ) -> Result<Served<R>, RunError<E>>
    where
        S: KeyStore<R> + Send + 'static,
        R: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        self.run_or_release(key, request, || {
            let running = handler();
            async move { running.await.map_err(Failed::Unknown) }
        })
        .await
    }

    /// [`run`](Self::run), for a handler that tells a failure that changed nothing
    /// ([`Failed::NotStarted`]: the key is released, a retry runs at once) from one whose
    /// outcome is unknown ([`Failed::Unknown`], or any error converted by `?`: the key
    /// stays in flight until the lock timeout).
    ///
    /// # Errors
    /// As [`run`](Self::run); [`RunError::Handler`] carries the error inside [`Failed`].
    ///
    /// # Examples
    /// ```
    /// use unbreakable::idempotency::{Failed, IdempotencyKey, MemoryStore, Policy};
    /// use unbreakable::idempotency::edge::Idempotent;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let edge = Idempotent::new(MemoryStore::new(Policy::default()));
    /// let key = IdempotencyKey::new("account-7", "charge-42").unwrap();
    /// // Refused before anything was charged: the key is released.
    /// let refused = edge.run_or_release(&key, b"charge 500", || async {
    ///     Err::<String, _>(Failed::NotStarted("card expired"))
    /// }).await;
    /// assert!(refused.is_err());
    /// // So the retry (with a new card on file) runs.
    /// let paid = edge.run(&key, b"charge 500", || async { Ok::<_, String>("ch_1".to_string()) }).await.unwrap();
    /// assert!(!paid.replayed);
    /// # });
    /// ```
    pub async fn run_or_release<R, E, F, Fut>(
        &self,
        key: &IdempotencyKey,
        request: impl Into<Fingerprint>,
        handler: F,
    ) -> Result<Served<R>, RunError<E>>
    where
        S: KeyStore<R> + Send + 'static,
        R: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, Failed<E>>>,
    {
        let request = request.into();
        // Read before the key is taken, so the handler is stopped no later than the store
        // would let a repeat take the key over.
        let started = tokio::time::Instant::now();
        let begin_key = key.clone();
        let (begun, lock_timeout) =
            self.call(move |s| (s.begin(&begin_key, &request), s.policy().lock_timeout())).await?;
        let lease = match begun? {
            Begun::Replay(response) => return Ok(Served { response, replayed: true }),
            Begun::Execute(lease) => lease,
        };
        let outcome = match tokio::time::timeout_at(started + lock_timeout, handler()).await {
            Ok(outcome) => outcome,
            // Its outcome is unknown: the key stays in flight until the lock timeout,
            // which is now.
            Err(_) => return Err(RunError::LockTimeout { key: key.clone(), lock_timeout }),
        };
        match outcome {
            Ok(response) => self.complete(key, lease, response).await,
            Err(Failed::Unknown(e)) => Err(RunError::Handler(e)),
            Err(Failed::NotStarted(e)) => {
                let key = key.clone();
                // If releasing fails, the lock timeout frees the key: the handler's error
                // is the answer either way.
                let _ = self.call(move |s| s.release(&key, lease)).await;
                Err(RunError::Handler(e))
            }
        }
    }

    /// Stores `response` under `key` and answers it.
    async fn complete<R, E>(
        &self,
        key: &IdempotencyKey,
        lease: Lease,
        response: R,
    ) -> Result<Served<R>, RunError<E>>
    where
        S: KeyStore<R> + Send + 'static,
        R: Send + 'static,
    {
        let key = key.clone();
        let (stored, response) = self
            .call(move |s| {
                let stored = s.complete(&key, lease, &response);
                (stored, response)
            })
            .await?;
        stored?;
        Ok(Served { response, replayed: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idempotency::{KeyError, MemoryStore, Policy, StoreError};
    use crate::time::run_paused;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    fn key(s: &str) -> IdempotencyKey {
        IdempotencyKey::new("acct", s).unwrap()
    }

    fn in_progress<R: std::fmt::Debug, E: std::fmt::Debug>(r: &Result<Served<R>, RunError<E>>) -> bool {
        matches!(r, Err(RunError::Store(StoreError::Key(KeyError::InProgress { .. }))))
    }

    #[test]
    fn a_concurrent_repeat_is_told_in_progress_then_gets_the_stored_answer() {
        let (second, third) = run_paused(async {
            let edge = Idempotent::new(MemoryStore::new(Policy::default()));
            let key = key("k");
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
            (second, third)
        })
        .unwrap();
        assert!(in_progress(&second), "{second:?}");
        assert_eq!(third, Served { response: 7, replayed: true });
    }

    /// Pins the double charge on cancellation: the client hung up after the provider
    /// charged, hyper dropped the handler's future, and the key was released, so the
    /// retry charged again. A dropped handler's outcome is unknown: the key stays in
    /// flight, and a repeat is told "in progress" instead of running a second time.
    #[test]
    fn a_dropped_handler_keeps_its_key_and_the_repeat_is_told_in_progress() {
        let charges = AtomicU32::new(0);
        let repeat = run_paused(async {
            let edge = Idempotent::new(MemoryStore::new(Policy::default()));
            let k = key("charge-1");
            let charge = || async {
                charges.fetch_add(1, Ordering::SeqCst); // the provider charged
                tokio::time::sleep(Duration::from_secs(1)).await; // the answer is on its way
                Ok::<_, String>("ch_1")
            };
            // The client disconnects: the server drops the handler's future mid-way.
            let dropped = tokio::time::timeout(Duration::from_millis(5), edge.run(&k, b"pay", charge)).await;
            assert!(dropped.is_err());
            edge.run(&k, b"pay", charge).await
        })
        .unwrap();
        assert!(in_progress(&repeat), "{repeat:?}");
        assert_eq!(charges.load(Ordering::SeqCst), 1, "the card was charged twice");
    }

    /// A failed handler is an unknown outcome too, unless it says nothing happened.
    #[test]
    fn only_a_handler_that_says_nothing_happened_frees_its_key() {
        let (unknown, not_started) = run_paused(async {
            let edge = Idempotent::new(MemoryStore::new(Policy::default()));
            let failed = edge.run(&key("a"), b"x", || async { Err::<u8, _>("timed out") }).await;
            assert!(matches!(failed, Err(RunError::Handler("timed out"))));
            let unknown = edge.run(&key("a"), b"x", || async { Ok::<_, &str>(1) }).await;
            let refused = edge
                .run_or_release(&key("b"), b"x", || async {
                    Err::<u8, _>(Failed::NotStarted("card declined"))
                })
                .await;
            assert!(matches!(refused, Err(RunError::Handler("card declined"))));
            let not_started = edge.run(&key("b"), b"x", || async { Ok::<_, &str>(2) }).await;
            (unknown, not_started.unwrap())
        })
        .unwrap();
        assert!(in_progress(&unknown), "{unknown:?}");
        assert_eq!(not_started, Served { response: 2, replayed: false });
    }

    /// Pins the slow owner that goes on after a takeover: a handler still running when
    /// its key could be reclaimed was left to finish, so its effect and the new owner's
    /// both happened. The edge now stops it at the lock timeout; a repeat after that
    /// takes the key over.
    #[test]
    fn a_handler_is_stopped_at_the_lock_timeout_and_then_the_key_is_taken_over() {
        let late_effects = AtomicU32::new(0);
        let (slow, early, retry) = run_paused(async {
            let policy = Policy::default().with_lock_timeout(Duration::from_secs(1)).unwrap();
            let edge = Idempotent::new(MemoryStore::new(policy));
            let k = key("k");
            tokio::join!(
                edge.run(&k, b"x", || async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    late_effects.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, String>(1)
                }),
                async {
                    tokio::time::sleep(Duration::from_millis(999)).await;
                    edge.run(&k, b"x", || async { Ok::<_, String>(2) }).await
                },
                async {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    edge.run(&k, b"x", || async { Ok::<_, String>(3) }).await
                }
            )
        })
        .unwrap();
        assert!(matches!(slow, Err(RunError::LockTimeout { .. })), "{slow:?}");
        assert_eq!(
            late_effects.load(Ordering::SeqCst),
            0,
            "the first handler went on after its lock timeout"
        );
        assert!(in_progress(&early), "{early:?}");
        assert_eq!(retry.unwrap(), Served { response: 3, replayed: false });
    }
}
