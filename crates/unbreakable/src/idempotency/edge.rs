//! The async edge: run any handler at most once per idempotency key, over any
//! [`KeyStore`].

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::{Begun, Failed, Fingerprint, IdempotencyKey, KeyStore, Lease, RunError, Served, StoreError};
use crate::error::ConfigError;
use crate::worker::{MAX_WAIT, Refused, Worker};

/// How many calls may wait for a blocking store's thread before a call fails at once
/// with [`StoreError::Busy`] (the default of [`Idempotent::new`]).
pub const STORE_QUEUE: usize = 1024;

/// How long a call may wait in the queue for a blocking store's thread, by default
/// ([`Idempotent::with_queue_wait`] sets another bound): a call that reaches the thread
/// later is not made, and fails with [`StoreError::TimedOut`] (transient). Storing a
/// handler's response and giving a key back are not bounded by it (storing is bounded by
/// the key's lock timeout instead: see [Timing](Idempotent#timing)).
pub const STORE_WAIT: Duration = MAX_WAIT;

/// The first pause before storing a response again after a transient store failure;
/// it doubles each time, while the key is still surely held.
const FIRST_RETRY: Duration = Duration::from_millis(10);

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
/// A handler that succeeded but whose response could not be stored (the store failed on
/// every try while the key was surely held) is answered with
/// [`RunError::Unrecorded`], which carries the response: answer it. Its key stays in
/// flight until the lock timeout.
///
/// Once the handler has returned a response, storing it no longer depends on the
/// request: the tries (and the pauses between them) run in a task of their own
/// (`tokio::spawn`) that owns a copy of the response, and the request only waits for its
/// result. A request dropped then (the client hung up during a pause between tries)
/// leaves the response to be stored all the same, and a retry is answered it. Only the
/// runtime shutting down stops that task; the key then stays in flight until the lock
/// timeout.
///
/// # Timing
/// With `T` the policy's lock timeout, `B` the store's
/// [`busy_timeout`](KeyStore::busy_timeout) and `K` its
/// [`clock_skew`](KeyStore::clock_skew) margin, all measured from just before the key is
/// taken:
///
/// | until | what happens |
/// |---|---|
/// | `T − B − K` | the handler runs; one still running then is stopped (its future dropped: [`RunError::LockTimeout`]) |
/// | `T − K` | its response is stored (in a task of its own, whether or not the request is still there); a transient failure ([`StoreError::Busy`], [`StoreError::Storage`]) is retried (after 10 ms, doubling) while a try can still finish within `B` by `T − K`; a try that waited on the store's thread too long to do so is not made ([`StoreError::TimedOut`]); after that, [`RunError::Unrecorded`] |
/// | `T` | the store lets a repeat take the key over |
///
/// [`Policy::handler_time`](super::Policy::handler_time) computes `T − B − K`; a store
/// whose `B + K` reaches `T` is refused ([`StoreError::Config`]).
///
/// Two runs of a handler for one key can still overlap only when:
/// * the clock that judges the store's lock timeouts runs more than `K` ahead of this
///   edge's clock (hosts whose wall clocks drift apart, or a wall clock stepped forward);
/// * the handler's effect outlives its future: work it spawned, or a request it already
///   sent, goes on after the handler was stopped at `T − B − K` (pass the idempotency key
///   on to the provider, so that it deduplicates the second run);
/// * the process is stopped (paused by the OS or a debugger, its runtime starved) for
///   longer than the margin left between the handler's stop and `T`.
///
/// Taking over after the lock timeout re-runs the handler: that is safe only if a run cut
/// short left nothing behind, or its effect is itself idempotent (it committed with the
/// key, or the same key is passed on to the payment provider).
///
/// # Blocking stores
/// A store whose calls block on I/O ([`KeyStore::BLOCKING`], such as the SQLite store)
/// is moved to a thread of its own and called through a bounded queue of
/// [`STORE_QUEUE`] calls ([`Idempotent::on_thread`] sets another bound): a locked
/// database never stalls the runtime's worker threads, and a call that finds the queue
/// full fails at once with [`StoreError::Busy`]. A call waits in that queue at most
/// [`STORE_WAIT`] ([`with_queue_wait`](Idempotent::with_queue_wait)): one that reaches
/// the thread later fails with [`StoreError::TimedOut`] and is not made, and one whose
/// request was dropped while it waited is skipped. A call that panics on the thread
/// fails with [`StoreError::Panicked`], which is not transient. This works on any
/// tokio runtime (a current-thread one too, which the edge needs for the task that stores
/// a response) and for any store: a store of your own that blocks says so with
/// `const BLOCKING: bool = true`, or is given to [`Idempotent::on_thread`]. (Under a
/// paused tokio clock, in tests, time may jump ahead while the store's thread works, as it
/// does for any task waiting on another thread: keep other timers out of such tests, or
/// run them on real time.) Any other
/// store is called in place, under a `std` mutex never held across an `.await`. When the
/// handler's effects live in the same database as the keys, prefer the durable store's
/// one-transaction `execute` (through [`with_store`](Self::with_store)): then the key and
/// the effect commit together.
///
/// # Examples
/// ```
/// use unbreakable::idempotency::{IdempotencyKey, MemoryStore, Policy};
/// use unbreakable::idempotency::edge::Idempotent;
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
///
/// let edge = Idempotent::new(MemoryStore::new(Policy::default())).unwrap();
/// let key = IdempotencyKey::new("account-7", "charge-42").unwrap();
/// let a = edge.run(&key, b"charge 500", || async { Ok::<_, String>("ch_1") }).await.unwrap();
/// let b = edge.run(&key, b"charge 500", || async { Ok::<_, String>("ch_2") }).await.unwrap();
/// assert_eq!((a.response, b.response, b.replayed), ("ch_1", "ch_1", true));
/// # });
/// ```
#[derive(Debug)]
pub struct Idempotent<S> {
    store: Place<S>,
    timing: Timing,
}

/// Where the store's calls run.
#[derive(Debug)]
enum Place<S> {
    /// In place, under a mutex (a store that does not block).
    Here(Arc<Mutex<S>>),
    /// On a thread of its own.
    Thread(Worker<S>),
}

/// The store's deadlines, measured from just before a key is taken.
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// The policy's lock timeout.
    lock_timeout: Duration,
    /// When the handler is stopped: `T − B − K`.
    handler: Duration,
    /// The last moment to store the response: `T − K`.
    store_by: Duration,
    /// The store's busy timeout: `B`.
    busy: Duration,
}

impl Timing {
    fn of<R, S: KeyStore<R>>(store: &S) -> Result<Self, ConfigError> {
        let policy = store.policy();
        let skew = store.clock_skew();
        Ok(Self {
            lock_timeout: policy.lock_timeout(),
            handler: policy.handler_time(store.busy_timeout(), skew)?,
            store_by: policy.lock_timeout().saturating_sub(skew),
            busy: store.busy_timeout(),
        })
    }
}

impl<S> Clone for Idempotent<S> {
    fn clone(&self) -> Self {
        let store = match &self.store {
            Place::Here(s) => Place::Here(Arc::clone(s)),
            Place::Thread(w) => Place::Thread(w.clone()),
        };
        Self { store, timing: self.timing }
    }
}

/// Locks the store; a panic elsewhere while holding the lock leaves the store itself
/// consistent, as every store method changes it in one step.
fn lock<S>(store: &Mutex<S>) -> MutexGuard<'_, S> {
    store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A call the store's thread did not run or did not answer.
fn refused(r: Refused) -> StoreError {
    match r {
        Refused::Full(_) => StoreError::Busy { source: Box::new(r) },
        Refused::Expired { waited, .. } => StoreError::TimedOut { waited },
        Refused::Panicked | Refused::Stopped => StoreError::Panicked { source: Box::new(r) },
    }
}

const THREAD: &str = "unbreakable-idempotency-keys";

impl<S: Send + 'static> Idempotent<S> {
    /// An edge over `store`: called in place, or on a thread of its own with a queue of
    /// [`STORE_QUEUE`] calls, each waiting at most [`STORE_WAIT`], if it is
    /// [blocking](KeyStore::BLOCKING).
    ///
    /// # Errors
    /// [`StoreError::Config`] (naming the setting to change) for a store whose
    /// [`busy_timeout`](KeyStore::busy_timeout) and [`clock_skew`](KeyStore::clock_skew)
    /// leave no time before the lock timeout; [`StoreError::Storage`] if the OS cannot
    /// start a blocking store's thread.
    pub fn new<R>(store: S) -> Result<Self, StoreError>
    where
        S: KeyStore<R>,
    {
        if S::BLOCKING {
            return Self::on_thread(store, STORE_QUEUE);
        }
        let timing = Timing::of(&store)?;
        Ok(Self { store: Place::Here(Arc::new(Mutex::new(store))), timing })
    }

    /// An edge over `store`, which is moved to a thread of its own (blocking or not) and
    /// called through a queue of up to `queue` waiting calls; a call that finds the queue
    /// full fails at once with [`StoreError::Busy`].
    ///
    /// # Errors
    /// [`StoreError::Config`] for a zero `queue`, or a store whose busy timeout and
    /// clock-skew margin leave no time before the lock timeout; [`StoreError::Storage`]
    /// if the OS cannot start the thread.
    pub fn on_thread<R>(store: S, queue: usize) -> Result<Self, StoreError>
    where
        S: KeyStore<R>,
    {
        if queue == 0 {
            return Err(ConfigError::new(
                "queue",
                "a queue of zero refuses every call; allow at least as many calls as requests arrive during one store call",
            )
            .into());
        }
        let timing = Timing::of(&store)?;
        let worker =
            Worker::spawn(THREAD, store, queue).map_err(|e| StoreError::Storage { source: Box::new(e) })?;
        Ok(Self { store: Place::Thread(worker), timing })
    }

    /// The same edge, with a call that waits longer than `wait` for the store's thread
    /// refused ([`StoreError::TimedOut`]) instead of made late; the default is
    /// [`STORE_WAIT`]. A store called in place has no queue, and ignores it.
    ///
    /// # Errors
    /// [`StoreError::Config`] for a zero `wait` (every queued call would be refused).
    pub fn with_queue_wait(self, wait: Duration) -> Result<Self, StoreError> {
        if wait.is_zero() {
            return Err(ConfigError::new(
                "queue_wait",
                "a wait of 0 refuses every call that queues behind another; use about 5 s, or the request's own timeout",
            )
            .into());
        }
        let store = match self.store {
            Place::Thread(worker) => Place::Thread(worker.with_max_wait(wait)),
            here => here,
        };
        Ok(Self { store, ..self })
    }

    /// Runs `f` on the store, where its calls run (its own thread for a blocking store),
    /// after the calls already queued: to inspect it, purge it, or run a durable store's
    /// one-transaction `execute` from async code.
    ///
    /// # Errors
    /// [`StoreError::Busy`] if the queue of a store on its own thread is full,
    /// [`StoreError::TimedOut`] if the call waited for the thread longer than its bound
    /// (it is not made), [`StoreError::Panicked`] if `f` panicked there. (A store called
    /// in place runs `f` in the caller, whose panic is its own.)
    ///
    /// # Cancellation
    /// Dropped while the call waits for the store's thread, the call is not made.
    pub async fn with_store<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut S) -> T + Send + 'static,
    {
        self.call_or(f, |_: &mut S, _: T| {}).await
    }

    /// Calls `f` on the store: in place, or on its thread, where `undelivered` gets the
    /// result if this future was dropped before taking it.
    async fn call_or<T, F, U>(&self, f: F, undelivered: U) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut S) -> T + Send + 'static,
        U: FnOnce(&mut S, T) + Clone + Send + 'static,
    {
        match &self.store {
            Place::Here(store) => Ok(f(&mut lock(store))),
            Place::Thread(worker) => worker.call_or(f, undelivered).await.map_err(refused),
        }
    }

    /// Calls `f` on the store: in place, or on its thread, where it runs even if this
    /// future is dropped, however long it waited.
    async fn call_always<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut S) -> T + Send + 'static,
    {
        match &self.store {
            Place::Here(store) => Ok(f(&mut lock(store))),
            Place::Thread(worker) => worker.call_always(f).await.map_err(refused),
        }
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
    /// [`RunError::Store`] if the store refused or failed before the handler ran (see
    /// [`StoreError`]), [`RunError::Handler`] if the handler failed,
    /// [`RunError::LockTimeout`] if it was stopped (see [Timing](Self#timing)),
    /// [`RunError::Unrecorded`] with the response if it succeeded but the response could
    /// not be stored.
    ///
    /// # Cancellation
    /// Dropping the future once the handler has started leaves the key in flight until
    /// the lock timeout: a repeat before then is told "in progress", not run a second
    /// time. Dropping it earlier (while the store is being asked for the key) does not
    /// take the key (a call still waiting for the store's thread is not made; one the
    /// store already granted is given back), so a retry runs at once. Dropping it once
    /// the handler has returned its response does not stop the response from being stored,
    /// tries after a transient failure included (see
    /// [Unknown outcomes](Self#unknown-outcomes)).
    pub async fn run<R, E, F, Fut>(
        &self,
        key: &IdempotencyKey,
        request: impl Into<Fingerprint>,
        handler: F,
    ) -> Result<Served<R>, RunError<E, R>>
    where
        S: KeyStore<R>,
        R: Clone + Send + 'static,
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
    /// let edge = Idempotent::new(MemoryStore::new(Policy::default())).unwrap();
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
    ) -> Result<Served<R>, RunError<E, R>>
    where
        S: KeyStore<R>,
        R: Clone + Send + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, Failed<E>>>,
    {
        let timing = self.timing;
        let request = request.into();
        // Read before the key is taken, so the handler is stopped no later than the store
        // would let a repeat take the key over.
        let started = Instant::now();
        let (begin_key, release_key) = (key.clone(), key.clone());
        let begun = self
            .call_or(
                move |s| s.begin(&begin_key, &request),
                // The caller went away while the store granted the key: nothing ran, so
                // give it back rather than leave it taken until the lock timeout.
                move |s, begun: Result<Begun<R>, StoreError>| {
                    if let Ok(Begun::Execute(lease)) = begun {
                        let _ = s.release(&release_key, lease);
                    }
                },
            )
            .await?;
        let lease = match begun? {
            Begun::Replay(response) => return Ok(Served { response, replayed: true }),
            Begun::Execute(lease) => lease,
        };
        let stop = started + timing.handler;
        if Instant::now() >= stop {
            // The store answered too late to leave the handler any time: nothing ran.
            self.release(key, lease).await;
            return Err(StoreError::TimedOut { waited: started.elapsed() }.into());
        }
        #[cfg(feature = "mutants")]
        let mutant = crate::mutants::on_drop(crate::mutants::Mutant::KeyReleasedOnCancel, || {
            if let Place::Here(s) = &self.store {
                let _ = KeyStore::<R>::release(&mut *lock(s), key, lease);
            }
        });
        let outcome = match tokio::time::timeout_at(stop, handler()).await {
            Ok(outcome) => outcome,
            // Its outcome is unknown: the key stays in flight until the lock timeout.
            Err(_) => {
                return Err(RunError::LockTimeout {
                    key: key.clone(),
                    lock_timeout: timing.lock_timeout,
                    handler_time: timing.handler,
                });
            }
        };
        match outcome {
            Ok(response) => {
                #[cfg(feature = "mutants")]
                mutant.disarm();
                self.record(key, lease, response, started + timing.store_by, timing.busy).await
            }
            Err(Failed::Unknown(e)) => Err(RunError::Handler(e)),
            Err(Failed::NotStarted(e)) => {
                self.release(key, lease).await;
                Err(RunError::Handler(e))
            }
        }
    }

    /// Frees `key` (even if this future is dropped meanwhile); if that fails, the lock
    /// timeout frees it.
    async fn release<R>(&self, key: &IdempotencyKey, lease: Lease)
    where
        S: KeyStore<R>,
    {
        let key = key.clone();
        let _ = self.call_always(move |s| s.release(&key, lease)).await;
    }

    /// Stores `response` under `key` by `by` in a task of its own, which goes on if this
    /// future is dropped, and answers it.
    async fn record<R, E>(
        &self,
        key: &IdempotencyKey,
        lease: Lease,
        response: R,
        by: Instant,
        busy: Duration,
    ) -> Result<Served<R>, RunError<E, R>>
    where
        S: KeyStore<R>,
        R: Clone + Send + 'static,
    {
        let (edge, stored_key, stored) = (self.clone(), key.clone(), response.clone());
        let storing =
            tokio::spawn(async move { edge.store_response(&stored_key, lease, stored, by, busy).await });
        let source = match storing.await {
            Ok(Ok(())) => return Ok(Served { response, replayed: false }),
            Ok(Err(e)) => e,
            // The runtime is shutting down: not a bug in the store, and the response was
            // not stored; a retry elsewhere finds the key in flight until it expires.
            Err(e) if e.is_cancelled() => StoreError::Storage { source: Box::new(e) },
            Err(e) => StoreError::Panicked { source: Box::new(e) },
        };
        Err(RunError::Unrecorded { key: key.clone(), response, source })
    }

    /// Stores `response` under `key` by `by`, retrying a transient failure while a try
    /// can still finish (within the store's busy timeout) by then.
    async fn store_response<R>(
        &self,
        key: &IdempotencyKey,
        lease: Lease,
        response: R,
        by: Instant,
        busy: Duration,
    ) -> Result<(), StoreError>
    where
        S: KeyStore<R>,
        R: Clone + Send + 'static,
    {
        let mut pause = FIRST_RETRY;
        loop {
            let left = by.saturating_duration_since(Instant::now());
            let source = match self.complete(key, lease, response.clone(), left).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let again = matches!(source, StoreError::Busy { .. } | StoreError::Storage { .. })
                && Instant::now() + pause + busy <= by;
            if !again {
                return Err(source);
            }
            tokio::time::sleep(pause).await;
            pause = pause.saturating_mul(2);
        }
    }

    /// One try at storing `response`, with `left` until the key may be taken over. On the
    /// store's thread, a try that waited in the queue so long that it could no longer
    /// finish within the store's busy timeout is not made.
    async fn complete<R>(
        &self,
        key: &IdempotencyKey,
        lease: Lease,
        response: R,
        left: Duration,
    ) -> Result<(), StoreError>
    where
        S: KeyStore<R>,
        R: Clone + Send + 'static,
    {
        if let Place::Here(store) = &self.store {
            return lock(store).complete(key, lease, &response);
        }
        let key = key.clone();
        // Real time, not the edge's clock: the queue's wait is on this thread's clock.
        let asked = std::time::Instant::now();
        self.call_always(move |s| {
            let waited = asked.elapsed();
            if waited.saturating_add(s.busy_timeout()) > left {
                return Err(StoreError::TimedOut { waited });
            }
            s.complete(&key, lease, &response)
        })
        .await?
    }
}

#[cfg(test)]
mod tests;
