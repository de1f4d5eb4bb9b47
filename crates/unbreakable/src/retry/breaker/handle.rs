//! The shared handle: one breaker, one clock, many tasks.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use super::core::{Admission, BreakerConfig, BreakerOpen, BreakerState, CircuitBreaker};
use crate::error::ConfigError;
use crate::time::Clock;

/// A circuit breaker shared between tasks: a cheap, cloneable handle (as failsafe-rs's
/// `StateMachine`), whose methods take `&self`.
///
/// The handle owns the breaker's clock, so every clone measures failure windows and
/// cool-downs from the same origin, whoever calls it. It reads `tokio::time::Instant`:
/// real time in a service, virtual time under a paused runtime. Create it inside the
/// runtime whose clock it should follow.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// use unbreakable::retry::{Breaker, BreakerConfig, BreakerError};
///
/// let breaker = Breaker::new(BreakerConfig { failure_threshold: 2, ..Default::default() }).unwrap();
/// for _ in 0..2 {
///     let r = breaker.call(async { Err::<(), _>("503") }, |_| true).await;
///     assert!(matches!(r, Err(BreakerError::Inner("503"))));
/// }
/// // Open now: refused without calling, with the time to wait.
/// let r = breaker.call(async { Ok::<_, &str>(()) }, |_| true).await;
/// assert!(matches!(r, Err(BreakerError::Open(o)) if o.retry_after == Duration::from_secs(5)));
///
/// // After the cool-down a probe goes through, and its success closes the breaker.
/// tokio::time::sleep(Duration::from_secs(5)).await;
/// let permit = breaker.acquire().unwrap();
/// permit.success();
/// assert_eq!(breaker.state().name(), "closed");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Breaker {
    inner: Arc<Mutex<CircuitBreaker>>,
    clock: Clock,
}

impl Breaker {
    /// A closed breaker with `config`, its clock starting now.
    ///
    /// # Errors
    /// The [`ConfigError`] of [`BreakerConfig::build`].
    pub fn new(config: BreakerConfig) -> Result<Self, ConfigError> {
        Ok(Self::from_core(config.build()?))
    }

    /// A handle around a pure breaker, its clock starting now.
    pub fn from_core(breaker: CircuitBreaker) -> Self {
        Self { inner: Arc::new(Mutex::new(breaker)), clock: Clock::start() }
    }

    fn lock(&self) -> MutexGuard<'_, CircuitBreaker> {
        // Every update of the state machine is a few assignments that cannot panic
        // half-way; a poisoned lock still holds a consistent breaker.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The time on the breaker's clock.
    pub fn now(&self) -> std::time::Duration {
        self.clock.now()
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.lock().state()
    }

    /// State changes so far.
    pub fn transitions(&self) -> u64 {
        self.lock().transitions()
    }

    /// Asks to send a request now.
    ///
    /// # Errors
    /// [`BreakerOpen`] while open, or in half-open when every probe slot is taken.
    ///
    /// # Cancellation
    /// The permit gives a probe slot back when it is dropped without an outcome.
    pub fn acquire(&self) -> Result<BreakerPermit, BreakerOpen> {
        let admission = self.lock().try_acquire(self.clock.now())?;
        Ok(BreakerPermit { breaker: self.clone(), admission: Some(admission) })
    }

    /// Runs `call` if the breaker admits it; `is_failure` says which errors count
    /// against the service (a 503 does; a 400 is the caller's fault and counts as an
    /// answer).
    ///
    /// # Errors
    /// [`BreakerError::Open`] without calling, or [`BreakerError::Inner`] with the
    /// call's own error.
    ///
    /// # Cancellation
    /// Dropping the future drops `call` and records nothing; a probe's slot is freed.
    pub async fn call<T, E, F>(
        &self,
        call: F,
        is_failure: impl FnOnce(&E) -> bool,
    ) -> Result<T, BreakerError<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        let permit = self.acquire().map_err(BreakerError::Open)?;
        match call.await {
            Ok(v) => {
                permit.success();
                Ok(v)
            }
            Err(e) => {
                permit.record(is_failure(&e));
                Err(BreakerError::Inner(e))
            }
        }
    }
}

/// Permission to send one request, from [`Breaker::acquire`].
///
/// Use it once: [`success`](BreakerPermit::success), [`failure`](BreakerPermit::failure)
/// or [`record`](BreakerPermit::record). Dropped unused, it gives a half-open probe slot
/// back and records nothing, as tower's `OwnedSemaphorePermit` gives its slot back;
/// with [`BreakerConfig::slow_call`] set, a permit dropped after that long counts as a
/// failure (the call was cut by a timeout or cancelled while the service hung).
#[derive(Debug)]
#[must_use = "a permit records nothing unless it is used; dropping it cancels the request"]
pub struct BreakerPermit {
    breaker: Breaker,
    admission: Option<Admission>,
}

impl BreakerPermit {
    /// Whether this request is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.admission.is_some_and(|a| a.is_probe())
    }

    /// The request succeeded.
    pub fn success(self) {
        self.record(false);
    }

    /// The request failed in a way that counts against the service.
    pub fn failure(self) {
        self.record(true);
    }

    /// The request ended: `failed` if it counts against the service.
    pub fn record(mut self, failed: bool) {
        if let Some(a) = self.admission.take() {
            let now = self.breaker.clock.now();
            let mut b = self.breaker.lock();
            if failed {
                b.on_failure(a, now);
            } else {
                b.on_success(a, now);
            }
        }
    }
}

impl Drop for BreakerPermit {
    /// A permit dropped unused is a cancelled call: it records nothing and gives a
    /// probe slot back, unless it lasted past [`BreakerConfig::slow_call`], when it
    /// counts as a failure.
    fn drop(&mut self) {
        if let Some(a) = self.admission.take() {
            let now = self.breaker.clock.now();
            self.breaker.lock().on_cancel(a, now);
        }
    }
}

/// Why [`Breaker::call`] did not return the call's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BreakerError<E> {
    /// The breaker refused; the call was not made.
    ///
    /// ### Handling
    /// Fail fast or degrade; try again after `retry_after` at the earliest.
    #[error(transparent)]
    Open(BreakerOpen),
    /// The call was made and failed.
    ///
    /// ### Handling
    /// As for the call's own error.
    #[error("call failed")]
    Inner(#[source] E),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::run_paused;
    use std::time::Duration;

    /// Bug: a probe whose future was dropped (cancelled, or cut by a timeout) kept its
    /// slot, and the breaker refused everything from then on.
    #[test]
    fn a_probe_cut_by_a_timeout_does_not_wedge_the_breaker() {
        let state = run_paused(async {
            let b = Breaker::new(BreakerConfig { failure_threshold: 1, ..Default::default() }).unwrap();
            let _ = b.call(async { Err::<(), _>("down") }, |_| true).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            let hung = b.call(std::future::pending::<Result<(), &str>>(), |_| true);
            assert!(tokio::time::timeout(Duration::from_secs(1), hung).await.is_err());
            let next = b.call(async { Ok::<_, &str>(()) }, |_| true).await;
            assert!(next.is_ok(), "the dropped probe's slot was given back: {next:?}");
            b.state()
        })
        .unwrap();
        assert_eq!(state, BreakerState::Closed);
    }

    /// Bug: a permanent error (a 400) counted as a failure and a flood of bad requests
    /// opened the breaker for everyone.
    #[test]
    fn errors_that_do_not_count_leave_it_closed() {
        let state = run_paused(async {
            let b = Breaker::new(BreakerConfig::default()).unwrap();
            for _ in 0..100 {
                let _ = b.call(async { Err::<(), u16>(400) }, |code| *code >= 500).await;
            }
            b.state()
        })
        .unwrap();
        assert_eq!(state, BreakerState::Closed);
    }

    #[test]
    fn clones_share_one_state_and_one_clock() {
        run_paused(async {
            let a = Breaker::new(BreakerConfig { failure_threshold: 2, ..Default::default() }).unwrap();
            tokio::time::sleep(Duration::from_secs(60)).await;
            let b = a.clone();
            a.acquire().unwrap().failure();
            b.acquire().unwrap().failure();
            // Opened at 60 s on the one clock: both see 5 s to wait.
            assert_eq!(a.acquire().unwrap_err().retry_after, Duration::from_secs(5));
            assert_eq!(b.acquire().unwrap_err().retry_after, Duration::from_secs(5));
        })
        .unwrap();
    }
}
