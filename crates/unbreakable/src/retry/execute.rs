//! The async edge: run an operation under a retry policy, a breaker and a quota.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{CircuitBreaker, RetryPolicy, RetryQuota};
use super::{seeded_rng, JitterRng};
use crate::time::Clock;

/// How a failed attempt should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Worth retrying (a 500, a 503, a refused connection).
    Transient,
    /// Worth retrying, and it was a timeout (costs more of a [`RetryQuota`]).
    Timeout,
    /// Retrying cannot help (a 400, a failed validation): give up at once.
    Permanent,
}

/// Why [`Retry::run`] gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryError<E> {
    /// Every attempt the policy allows failed.
    ///
    /// ### Handling
    /// The dependency is unhealthy: degrade or report the failure; do not loop around
    /// the retry loop.
    #[error("gave up after {attempts} attempts: {last}")]
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: E,
    },
    /// The error was classified [`ErrorClass::Permanent`].
    ///
    /// ### Handling
    /// Fix the request; it will fail the same way again.
    #[error("permanent error after {attempts} attempts: {error}")]
    Permanent {
        /// Attempts made.
        attempts: u32,
        /// The error.
        error: E,
    },
    /// The circuit breaker refused the attempt.
    ///
    /// ### Handling
    /// Fail fast or degrade; try again after `retry_after` at the earliest.
    #[error("circuit open after {attempts} attempts; retry after {retry_after:?}")]
    CircuitOpen {
        /// Attempts made before the breaker refused.
        attempts: u32,
        /// When the breaker may let a probe through.
        retry_after: Duration,
        /// The error of the last attempt, if any was made.
        last: Option<E>,
    },
    /// The retry quota had no tokens left for another retry.
    ///
    /// ### Handling
    /// The dependency has been failing for a while: degrade; the quota refills as
    /// requests succeed again.
    #[error("retry quota exhausted after {attempts} attempts: {last}")]
    BudgetExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: E,
    },
}

/// Runs an async operation under a [`RetryPolicy`], optionally guarded by a shared
/// [`CircuitBreaker`] and a shared [`RetryQuota`].
///
/// Delays are drawn from a seeded stream (`seed`, `stream`), and sleeping uses
/// `tokio::time::sleep`: on a paused runtime
/// the whole thing runs in virtual time.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::retry::{Backoff, ErrorClass, Retry, RetryPolicy};
/// use unbreakable::time::Clock;
/// # fn run_paused<F: std::future::Future>(f: F) -> std::io::Result<F::Output> { Ok(tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?.block_on(f)) }
///
/// let policy = RetryPolicy::new(Backoff::exponential(Duration::from_millis(1000)).build().unwrap(), 5).unwrap();
/// let (result, elapsed) = run_paused(async {
///     let clock = Clock::start();
///     let mut calls = 0;
///     let r = Retry::new(policy, 1, 0)
///         .run(|_attempt| { calls += 1; let ok = calls == 3; async move {
///             if ok { Ok("paid") } else { Err("HTTP 500") } } },
///             |_e| ErrorClass::Transient)
///         .await;
///     (r, clock.now())
/// }).unwrap();
/// assert_eq!(result, Ok("paid"));
/// assert_eq!(elapsed, Duration::from_millis(3000)); // waited 1 s, then 2 s
/// ```
#[derive(Debug)]
pub struct Retry {
    policy: RetryPolicy,
    rng: JitterRng,
    breaker: Option<Arc<Mutex<CircuitBreaker>>>,
    quota: Option<Arc<Mutex<RetryQuota>>>,
    clock: Clock,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these small state machines half-updated in a way
    // that matters more than refusing all traffic would: keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Retry {
    /// A retrier drawing jitter from stream `stream` of `seed`. Must be created inside a
    /// tokio runtime (it reads the runtime's clock).
    pub fn new(policy: RetryPolicy, seed: u64, stream: u64) -> Self {
        Self { policy, rng: seeded_rng(seed, stream), breaker: None, quota: None, clock: Clock::start() }
    }

    /// Guards every attempt with a shared breaker.
    pub fn with_breaker(mut self, breaker: Arc<Mutex<CircuitBreaker>>) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Makes every retry take tokens from a shared quota.
    pub fn with_quota(mut self, quota: Arc<Mutex<RetryQuota>>) -> Self {
        self.quota = Some(quota);
        self
    }

    /// Runs `op` (given the attempt number, 0 for the first try) until it succeeds, the
    /// policy gives up, the breaker refuses or the quota runs out.
    ///
    /// # Cancellation
    /// Dropping the future stops retrying; an attempt in progress is dropped with it.
    /// A breaker probe dropped this way leaves its half-open slot taken until the next
    /// outcome is recorded.
    pub async fn run<T, E, F, Fut>(&mut self, mut op: F, classify: impl Fn(&E) -> ErrorClass) -> Result<T, RetryError<E>>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut delays = self.policy.delays(&mut self.rng);
        let mut token = None;
        let mut attempt = 0u32;
        let mut last: Option<E> = None;
        loop {
            if let Some(b) = &self.breaker {
                if let Err(open) = lock(b).try_acquire(self.clock.now()) {
                    return Err(RetryError::CircuitOpen { attempts: attempt, retry_after: open.retry_after, last });
                }
            }
            let result = op(attempt).await;
            attempt += 1;
            let now = self.clock.now();
            let error = match result {
                Ok(v) => {
                    if let Some(b) = &self.breaker {
                        lock(b).record_success(now);
                    }
                    if let Some(q) = &self.quota {
                        lock(q).on_success(token);
                    }
                    return Ok(v);
                }
                Err(e) => e,
            };
            if let Some(b) = &self.breaker {
                lock(b).record_failure(now);
            }
            let class = classify(&error);
            if class == ErrorClass::Permanent {
                return Err(RetryError::Permanent { attempts: attempt, error });
            }
            let Some(delay) = delays.next() else {
                return Err(RetryError::Exhausted { attempts: attempt, last: error });
            };
            if let Some(q) = &self.quota {
                match lock(q).try_acquire(class == ErrorClass::Timeout) {
                    Ok(t) => token = Some(t),
                    Err(_) => return Err(RetryError::BudgetExhausted { attempts: attempt, last: error }),
                }
            }
            last = Some(error);
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::{Backoff, BreakerConfig, Jitter};
    use crate::time::run_paused;

    fn policy(n: u32) -> RetryPolicy {
        RetryPolicy::new(Backoff::exponential(Duration::from_millis(100)).build().unwrap(), n).unwrap()
    }

    #[test]
    fn gives_up_after_max_retries_having_waited_the_backoff() {
        let (r, t, calls) = run_paused(async {
            let clock = Clock::start();
            let mut calls = 0;
            let r: Result<(), _> = Retry::new(policy(3), 0, 0)
                .run(|_| { calls += 1; async { Err::<(), _>("down") } }, |_| ErrorClass::Transient)
                .await;
            (r, clock.now(), calls)
        })
        .unwrap();
        assert_eq!(r, Err(RetryError::Exhausted { attempts: 4, last: "down" }));
        assert_eq!(calls, 4);
        assert_eq!(t, Duration::from_millis(100 + 200 + 400));
    }

    #[test]
    fn permanent_errors_are_not_retried() {
        let r = run_paused(async {
            Retry::new(policy(5), 0, 0)
                .run(|_| async { Err::<(), _>(400) }, |e| if *e == 400 { ErrorClass::Permanent } else { ErrorClass::Transient })
                .await
        })
        .unwrap();
        assert_eq!(r, Err(RetryError::Permanent { attempts: 1, error: 400 }));
    }

    #[test]
    fn breaker_and_quota_stop_the_loop() {
        let r = run_paused(async {
            let breaker = Arc::new(Mutex::new(BreakerConfig { failure_threshold: 2, ..Default::default() }.build().unwrap()));
            Retry::new(policy(10), 0, 0)
                .with_breaker(breaker)
                .run(|_| async { Err::<(), _>("500") }, |_| ErrorClass::Transient)
                .await
        })
        .unwrap();
        assert!(matches!(r, Err(RetryError::CircuitOpen { attempts: 2, last: Some("500"), .. })), "{r:?}");

        let (r, left) = run_paused(async {
            let quota = Arc::new(Mutex::new(RetryQuota::new(12, 5, 10, 1).unwrap()));
            let r = Retry::new(policy(10), 0, 0)
                .with_quota(quota.clone())
                .run(|_| async { Err::<(), _>("timeout") }, |_| ErrorClass::Timeout)
                .await;
            (r, quota.lock().unwrap().available())
        })
        .unwrap();
        assert_eq!(r, Err(RetryError::BudgetExhausted { attempts: 2, last: "timeout" }));
        assert_eq!(left, 2);
    }

    #[test]
    fn same_seed_same_timeline() {
        let run = |seed| {
            run_paused(async move {
                let clock = Clock::start();
                let p = RetryPolicy::new(
                    Backoff::exponential(Duration::from_millis(10)).with_jitter(Jitter::Full).build().unwrap(),
                    8,
                )
                .unwrap();
                let mut times = Vec::new();
                let _ = Retry::new(p, seed, 3)
                    .run(|_| { times.push(clock.now()); async { Err::<(), _>(()) } }, |_| ErrorClass::Transient)
                    .await;
                times
            })
            .unwrap()
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
    }
}
