//! The async edge: run an operation under a retry policy, a breaker, a budget and a
//! deadline.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};

use super::budget::SharedBudget;
use super::{Breaker, Budget, JitterRng, RetryBudget, RetryPolicy, RetryToken, os_rng, seeded_rng};
use crate::deadline::Deadline;
use crate::time::Clock;

/// How a failed attempt should be treated: the caller's classifier returns one for each
/// error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Worth retrying (a 500, a 503, a refused connection).
    Transient,
    /// Worth retrying, and it was a timeout (costs more of a
    /// [`RetryQuota`](super::RetryQuota)).
    Timeout,
    /// Worth retrying, but not before `retry_after`: the server said so (HTTP 429 or 503
    /// with `Retry-After`). The executor waits the longer of this and its backoff.
    Throttled {
        /// What the server asked for.
        retry_after: Duration,
    },
    /// Retrying cannot help (a 400, a failed validation): give up at once. It does not
    /// count against the circuit breaker, nor as a rejection for adaptive throttling:
    /// the service answered.
    Permanent,
}

/// What went wrong with one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure<E> {
    /// The operation returned an error.
    Error(E),
    /// The attempt ran past its time limit (the per-attempt timeout, or what was left of
    /// the deadline) and was dropped.
    TimedOut(Duration),
}

impl<E> Failure<E> {
    /// The operation's error, if it returned one.
    pub fn error(&self) -> Option<&E> {
        match self {
            Failure::Error(e) => Some(e),
            Failure::TimedOut(_) => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error(e) => e.fmt(f),
            Failure::TimedOut(d) => write!(f, "attempt timed out after {d:?}"),
        }
    }
}

/// Why [`Retry::run`] gave up. Every variant says how many attempts were made; the
/// last failure is its [`source`](std::error::Error::source) when it is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryError<E> {
    /// Every attempt the policy allows failed.
    ///
    /// ### Handling
    /// The dependency is unhealthy: degrade or report the failure; do not loop around
    /// the retry loop.
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: Failure<E>,
    },
    /// The error was classified [`ErrorClass::Permanent`].
    ///
    /// ### Handling
    /// Fix the request; it will fail the same way again.
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
    CircuitOpen {
        /// Attempts made before the breaker refused.
        attempts: u32,
        /// When the breaker may let a probe through.
        retry_after: Duration,
        /// The last failure, if any attempt was made.
        last: Option<Failure<E>>,
    },
    /// The retry budget refused another retry (or, with adaptive throttling, the first
    /// try).
    ///
    /// ### Handling
    /// The dependency has been failing for a while: degrade; the budget refills as
    /// requests succeed again.
    BudgetExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last failure, if any attempt was made.
        last: Option<Failure<E>>,
    },
    /// The deadline passed, or too little of it was left to wait for another attempt.
    ///
    /// ### Handling
    /// Do not retry within the same request: its budget is spent. Answer the caller.
    DeadlineExceeded {
        /// Attempts made.
        attempts: u32,
        /// The last failure, if any attempt was made.
        last: Option<Failure<E>>,
    },
    /// The server asked to wait ([`ErrorClass::Throttled`], from `Retry-After`) longer
    /// than the executor may: past the request's deadline, or beyond the longest
    /// server delay it honours ([`Retry::with_max_retry_after`], by default the
    /// backoff's cap). It gives up at once rather than hold the request.
    ///
    /// ### Handling
    /// Answer the caller now, passing the server's delay on (an HTTP service answers
    /// 503 or 429 with `Retry-After: retry_after`).
    RetryAfterTooLong {
        /// Attempts made.
        attempts: u32,
        /// What the server asked for.
        retry_after: Duration,
        /// The throttled answer.
        last: Failure<E>,
    },
}

impl<E> RetryError<E> {
    /// Attempts made before giving up.
    pub fn attempts(&self) -> u32 {
        match self {
            RetryError::Exhausted { attempts, .. }
            | RetryError::Permanent { attempts, .. }
            | RetryError::CircuitOpen { attempts, .. }
            | RetryError::BudgetExhausted { attempts, .. }
            | RetryError::DeadlineExceeded { attempts, .. }
            | RetryError::RetryAfterTooLong { attempts, .. } => *attempts,
        }
    }

    /// The last failure, if any attempt was made.
    pub fn last(&self) -> Option<&Failure<E>> {
        match self {
            RetryError::Exhausted { last, .. } | RetryError::RetryAfterTooLong { last, .. } => Some(last),
            RetryError::Permanent { .. } => None,
            RetryError::CircuitOpen { last, .. }
            | RetryError::BudgetExhausted { last, .. }
            | RetryError::DeadlineExceeded { last, .. } => last.as_ref(),
        }
    }

    fn last_error(&self) -> Option<&E> {
        match self {
            RetryError::Permanent { error, .. } => Some(error),
            _ => self.last().and_then(Failure::error),
        }
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = |f: &mut fmt::Formatter<'_>, l: &Option<Failure<E>>| match l {
            Some(l) => write!(f, ": {l}"),
            None => Ok(()),
        };
        match self {
            RetryError::Exhausted { attempts, last } => {
                write!(f, "gave up after {attempts} attempts: {last}")
            }
            RetryError::Permanent { attempts, error } => {
                write!(f, "permanent error after {attempts} attempts: {error}")
            }
            RetryError::CircuitOpen { attempts, retry_after, last: l } => {
                write!(f, "circuit open after {attempts} attempts; retry after {retry_after:?}")?;
                last(f, l)
            }
            RetryError::BudgetExhausted { attempts, last: l } => {
                write!(f, "retry budget exhausted after {attempts} attempts")?;
                last(f, l)
            }
            RetryError::DeadlineExceeded { attempts, last: l } => {
                write!(f, "deadline exceeded after {attempts} attempts")?;
                last(f, l)
            }
            RetryError::RetryAfterTooLong { attempts, retry_after, last } => {
                write!(
                    f,
                    "the server asked to wait {retry_after:?}, too long, after {attempts} attempts: {last}"
                )
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.last_error().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// What the [`on_retry`](Retry::on_retry) hook is told before each retry.
#[derive(Debug)]
#[non_exhaustive]
pub struct RetryEvent<'a> {
    /// Attempts made so far (1 before the first retry).
    pub attempts: u32,
    /// How long the executor will wait before the next attempt.
    pub delay: Duration,
    /// How the failure was classified.
    pub class: ErrorClass,
    /// The failure (its `Debug` form: `Error(..)` or `TimedOut(..)`).
    pub failure: &'a dyn fmt::Debug,
}

type Hook = Arc<dyn Fn(&RetryEvent<'_>) + Send + Sync>;

/// Runs an async operation under a [`RetryPolicy`], optionally guarded by a shared
/// [`Breaker`], a shared retry [`Budget`], an overall [`Deadline`] and a per-attempt
/// timeout.
///
/// # Default
/// | setting | default |
/// |---|---|
/// | jitter randomness | fresh from the operating system ([`os_rng`], which cannot panic); [`seeded`](Retry::seeded) for simulations |
/// | breaker, budget, deadline, attempt timeout | none |
/// | longest server delay honoured | the backoff's [`retry_after_limit`](super::Backoff::retry_after_limit) (its cap) |
///
/// # What counts where
/// | attempt ended in | breaker | budget |
/// |---|---|---|
/// | success | success | accepted |
/// | error classified [`Permanent`](ErrorClass::Permanent) (a 4xx) | success: the service answered | accepted: an answer, not an overload |
/// | [`Transient`](ErrorClass::Transient), [`Throttled`](ErrorClass::Throttled) (a 429 too), [`Timeout`](ErrorClass::Timeout), attempt cut | failure | rejected |
///
/// Sleeping uses `tokio::time::sleep`: on a paused runtime the whole thing runs in
/// virtual time.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// use unbreakable::retry::{Backoff, ErrorClass, Retry, RetryPolicy};
/// use unbreakable::time::Clock;
///
/// let policy = RetryPolicy::new(Backoff::exponential(Duration::from_millis(1000)).build().unwrap(), 5).unwrap();
/// let clock = Clock::start();
/// let mut calls = 0;
/// let r = Retry::new(policy)
///     .run(|_attempt| { calls += 1; let ok = calls == 3; async move {
///         if ok { Ok("paid") } else { Err("HTTP 500") } } },
///         |_e| ErrorClass::Transient)
///     .await;
/// assert_eq!(r, Ok("paid"));
/// assert_eq!(clock.now(), Duration::from_millis(3000)); // waited 1 s, then 2 s
/// # });
/// ```
pub struct Retry {
    policy: RetryPolicy,
    rng: JitterRng,
    breaker: Option<Breaker>,
    budget: Option<(Arc<dyn SharedBudget>, JitterRng)>,
    deadline: Option<(Deadline, Clock)>,
    attempt_timeout: Option<Duration>,
    max_retry_after: Option<Duration>,
    on_retry: Option<Hook>,
}

/// How the executor treats one failed attempt: its retry class, and whether it counts
/// against the breaker (a layer can return an outcome as final and still count it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Judged {
    pub(crate) class: ErrorClass,
    pub(crate) breaker_failure: bool,
}

impl From<ErrorClass> for Judged {
    fn from(class: ErrorClass) -> Self {
        Self { class, breaker_failure: class != ErrorClass::Permanent }
    }
}

impl fmt::Debug for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("policy", &self.policy)
            .field("breaker", &self.breaker)
            .field("budget", &self.budget.is_some())
            .field("deadline", &self.deadline.map(|(d, _)| d))
            .field("attempt_timeout", &self.attempt_timeout)
            .field("on_retry", &self.on_retry.is_some())
            .finish_non_exhaustive()
    }
}

impl Retry {
    /// A retrier for `policy`, drawing jitter from fresh operating-system randomness.
    pub fn new(policy: RetryPolicy) -> Self {
        Self::with_rng(policy, os_rng())
    }

    /// A retrier drawing jitter from stream `stream` of `seed`: reproducible, for
    /// simulations and tests only (replicas sharing a seed retry in step).
    pub fn seeded(policy: RetryPolicy, seed: u64, stream: u64) -> Self {
        Self::with_rng(policy, seeded_rng(seed, stream))
    }

    /// A retrier drawing jitter from `rng`.
    pub fn with_rng(policy: RetryPolicy, rng: JitterRng) -> Self {
        Self {
            policy,
            rng,
            breaker: None,
            budget: None,
            deadline: None,
            attempt_timeout: None,
            max_retry_after: None,
            on_retry: None,
        }
    }

    /// Gives up ([`RetryError::RetryAfterTooLong`]) when a server asks to wait longer
    /// than `limit` (default: the backoff's
    /// [`retry_after_limit`](super::Backoff::retry_after_limit), its cap).
    pub fn with_max_retry_after(mut self, limit: Duration) -> Self {
        self.max_retry_after = Some(limit);
        self
    }

    /// Guards every attempt with a shared breaker.
    pub fn with_breaker(mut self, breaker: Breaker) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Makes every retry (and, for adaptive throttling, every first try) ask a shared
    /// budget.
    pub fn with_budget<B: RetryBudget + 'static>(mut self, budget: Budget<B>) -> Self {
        // The budget's random draws (adaptive throttling) come from their own stream, split
        // off the jitter stream, so a seeded run stays reproducible.
        let draws = JitterRng::from_rng(&mut self.rng);
        self.budget = Some((Arc::new(budget), draws));
        self
    }

    /// Gives up when `deadline` (read on `clock`) passes: no attempt starts after it, an
    /// attempt in progress is cut at it, and no retry waits past it.
    pub fn with_deadline(mut self, deadline: Deadline, clock: Clock) -> Self {
        self.deadline = Some((deadline, clock));
        self
    }

    /// Cuts each attempt at `timeout`; a cut attempt counts as a timeout
    /// ([`Failure::TimedOut`]) and is retried like one.
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Calls `hook` before each retry (for logs and metrics).
    pub fn on_retry(mut self, hook: impl Fn(&RetryEvent<'_>) + Send + Sync + 'static) -> Self {
        self.on_retry = Some(Arc::new(hook));
        self
    }

    /// Runs `op` (given the attempt number, 0 for the first try) until it succeeds, the
    /// policy gives up, the breaker or the budget refuses, or the deadline passes.
    /// `classify` says what each error means.
    ///
    /// # Errors
    /// A [`RetryError`] that says why it stopped, with the last failure.
    ///
    /// # Cancellation
    /// Dropping the future stops retrying; an attempt in progress is dropped with it,
    /// and a breaker permit it held is given back without an outcome.
    pub async fn run<T, E, F, Fut>(
        &mut self,
        op: F,
        classify: impl Fn(&E) -> ErrorClass,
    ) -> Result<T, RetryError<E>>
    where
        E: fmt::Debug,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_judged(op, |e| Judged::from(classify(e)), |_| None).await
    }

    /// [`run`](Retry::run), with a judge that also says whether each failure counts
    /// against the breaker, and a say on attempts cut by a timeout: `timed_out(limit)`
    /// returns `None` to treat the cut as an [`ErrorClass::Timeout`], or an error to
    /// judge in its place (a layer gives up on a request that is unsafe to resend).
    pub(crate) async fn run_judged<T, E, F, Fut>(
        &mut self,
        mut op: F,
        judge: impl Fn(&E) -> Judged,
        timed_out: impl Fn(Duration) -> Option<E>,
    ) -> Result<T, RetryError<E>>
    where
        E: fmt::Debug,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let remaining =
            |deadline: &Option<(Deadline, Clock)>| deadline.map(|(d, clock)| d.remaining(clock.now()));
        let Self { policy, rng, breaker, budget, deadline, attempt_timeout, max_retry_after, on_retry } =
            self;
        let retry_after_limit = max_retry_after.unwrap_or_else(|| policy.backoff().retry_after_limit());
        let mut delays = policy.delays(&mut *rng);
        let mut token: Option<RetryToken> = None;
        let mut attempts = 0u32;
        let mut last: Option<Failure<E>> = None;
        if let Some((b, draws)) = budget {
            if !b.admit(draws.random()) {
                return Err(RetryError::BudgetExhausted { attempts, last });
            }
        }
        loop {
            let left = remaining(deadline);
            if left == Some(Duration::ZERO) {
                return Err(RetryError::DeadlineExceeded { attempts, last });
            }
            let permit = match breaker {
                Some(b) => match b.acquire() {
                    Ok(p) => Some(p),
                    Err(open) => {
                        return Err(RetryError::CircuitOpen {
                            attempts,
                            retry_after: open.retry_after,
                            last,
                        });
                    }
                },
                None => None,
            };
            let limit = match (*attempt_timeout, left) {
                (Some(a), Some(l)) => Some(a.min(l)),
                (a, l) => a.or(l),
            };
            let result = match limit {
                Some(limit) => match tokio::time::timeout(limit, op(attempts)).await {
                    Ok(outcome) => Ok(outcome),
                    Err(_) => timed_out(limit).map(Err).ok_or(limit),
                },
                None => Ok(op(attempts).await),
            };
            attempts += 1;
            let (failure, class) = match result {
                Ok(Ok(v)) => {
                    if let Some(p) = permit {
                        p.success();
                    }
                    if let Some((b, _)) = budget {
                        b.on_outcome(true, token);
                    }
                    return Ok(v);
                }
                Ok(Err(e)) => {
                    let Judged { class, breaker_failure } = judge(&e);
                    if let Some(p) = permit {
                        p.record(breaker_failure);
                    }
                    if class == ErrorClass::Permanent {
                        if let Some((b, _)) = budget {
                            if breaker_failure {
                                // Not retried, but the service failed (a POST's 503):
                                // adaptive throttling counts it as a rejection.
                                b.on_outcome(false, token);
                            } else {
                                // An answer, not an overload: adaptive throttling counts
                                // it as accepted (the quota refunds nothing: it was no
                                // success).
                                b.on_answered(token);
                            }
                        }
                        return Err(RetryError::Permanent { attempts, error: e });
                    }
                    (Failure::Error(e), class)
                }
                Err(limit) => {
                    if let Some(p) = permit {
                        p.failure();
                    }
                    (Failure::TimedOut(limit), ErrorClass::Timeout)
                }
            };
            if let Some((b, _)) = budget {
                b.on_outcome(false, token);
            }
            let Some(mut delay) = delays.next() else {
                return Err(RetryError::Exhausted { attempts, last: failure });
            };
            if let ErrorClass::Throttled { retry_after } = class {
                if retry_after > retry_after_limit
                    || remaining(deadline).is_some_and(|left| retry_after >= left)
                {
                    return Err(RetryError::RetryAfterTooLong { attempts, retry_after, last: failure });
                }
                delay = delay.max(retry_after);
            }
            if remaining(deadline).is_some_and(|left| delay >= left) {
                return Err(RetryError::DeadlineExceeded { attempts, last: Some(failure) });
            }
            if let Some((b, draws)) = budget {
                match b.withdraw(class == ErrorClass::Timeout, draws.random()) {
                    Some(t) => token = Some(t),
                    None => return Err(RetryError::BudgetExhausted { attempts, last: Some(failure) }),
                }
            }
            if let Some(hook) = on_retry {
                hook(&RetryEvent { attempts, delay, class, failure: &failure });
            }
            last = Some(failure);
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::{Backoff, BreakerConfig, Jitter, RetryQuota};
    use crate::time::run_paused;
    use std::sync::Mutex;

    fn policy(n: u32) -> RetryPolicy {
        RetryPolicy::new(Backoff::exponential(Duration::from_millis(100)).build().unwrap(), n).unwrap()
    }

    #[test]
    fn gives_up_after_max_retries_having_waited_the_backoff() {
        let (r, t, calls) = run_paused(async {
            let clock = Clock::start();
            let mut calls = 0;
            let r: Result<(), _> = Retry::new(policy(3))
                .run(
                    |_| {
                        calls += 1;
                        async { Err::<(), _>("down") }
                    },
                    |_| ErrorClass::Transient,
                )
                .await;
            (r, clock.now(), calls)
        })
        .unwrap();
        assert_eq!(r, Err(RetryError::Exhausted { attempts: 4, last: Failure::Error("down") }));
        assert_eq!(calls, 4);
        assert_eq!(t, Duration::from_millis(100 + 200 + 400));
    }

    #[test]
    fn permanent_errors_are_not_retried() {
        let r = run_paused(async {
            Retry::new(policy(5))
                .run(
                    |_| async { Err::<(), _>(400) },
                    |e| if *e == 400 { ErrorClass::Permanent } else { ErrorClass::Transient },
                )
                .await
        })
        .unwrap();
        assert_eq!(r, Err(RetryError::Permanent { attempts: 1, error: 400 }));
    }

    /// Bug: permanent errors were recorded as breaker failures before they were
    /// classified, so a flood of bad requests opened the breaker for everyone.
    #[test]
    fn permanent_errors_do_not_open_the_breaker() {
        let state = run_paused(async {
            let breaker = Breaker::new(BreakerConfig { failure_threshold: 2, ..Default::default() }).unwrap();
            for _ in 0..10 {
                let _ = Retry::new(policy(3))
                    .with_breaker(breaker.clone())
                    .run(|_| async { Err::<(), _>(400) }, |_| ErrorClass::Permanent)
                    .await;
            }
            breaker.state()
        })
        .unwrap();
        assert_eq!(state.name(), "closed");
    }

    /// Bug: each `Retry::new` started its own clock, so a breaker shared by several
    /// executors measured its cool-down from different origins: an executor created
    /// 60 s earlier than the one that opened the breaker saw the cool-down long over and
    /// sent a probe at once.
    #[test]
    fn executors_sharing_a_breaker_share_its_clock() {
        let r = run_paused(async {
            let breaker = Breaker::new(BreakerConfig { failure_threshold: 2, ..Default::default() }).unwrap();
            let mut early = Retry::new(RetryPolicy::no_retries()).with_breaker(breaker.clone());
            tokio::time::sleep(Duration::from_secs(60)).await;
            let mut late = Retry::new(policy(1)).with_breaker(breaker.clone());
            let _ = late.run(|_| async { Err::<(), _>("503") }, |_| ErrorClass::Transient).await;
            early.run(|_| async { Ok::<_, &str>(()) }, |_| ErrorClass::Transient).await
        })
        .unwrap();
        assert!(
            matches!(r, Err(RetryError::CircuitOpen { attempts: 0, retry_after, .. }) if retry_after == Duration::from_secs(5)),
            "{r:?}"
        );
    }

    #[test]
    fn breaker_and_quota_stop_the_loop() {
        let r = run_paused(async {
            let breaker = Breaker::new(BreakerConfig { failure_threshold: 2, ..Default::default() }).unwrap();
            Retry::new(policy(10))
                .with_breaker(breaker)
                .run(|_| async { Err::<(), _>("500") }, |_| ErrorClass::Transient)
                .await
        })
        .unwrap();
        assert!(
            matches!(r, Err(RetryError::CircuitOpen { attempts: 2, last: Some(Failure::Error("500")), .. })),
            "{r:?}"
        );

        let (r, left) = run_paused(async {
            let quota = Budget::new(RetryQuota::new(12, 5, 10, 1).unwrap());
            let r = Retry::new(policy(10))
                .with_budget(quota.clone())
                .run(|_| async { Err::<(), _>("timeout") }, |_| ErrorClass::Timeout)
                .await;
            (r, quota.lock().available())
        })
        .unwrap();
        assert_eq!(
            r,
            Err(RetryError::BudgetExhausted { attempts: 2, last: Some(Failure::Error("timeout")) })
        );
        assert_eq!(left, 2);
    }

    #[test]
    fn a_server_retry_after_stretches_the_wait_and_the_hook_sees_each_retry() {
        let (t, seen) = run_paused(async {
            let clock = Clock::start();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = seen.clone();
            let _ = Retry::new(policy(2))
                .on_retry(move |e| log.lock().unwrap().push((e.attempts, e.delay)))
                .run(
                    |_| async { Err::<(), _>(429) },
                    |_| ErrorClass::Throttled { retry_after: Duration::from_secs(2) },
                )
                .await;
            let seen = seen.lock().unwrap().clone();
            (clock.now(), seen)
        })
        .unwrap();
        assert_eq!(t, Duration::from_secs(4));
        assert_eq!(seen, vec![(1, Duration::from_secs(2)), (2, Duration::from_secs(2))]);
    }

    #[test]
    fn the_deadline_bounds_attempts_and_waits() {
        let (r, t) = run_paused(async {
            let clock = Clock::start();
            let deadline = Deadline::after(clock.now(), Duration::from_millis(250));
            let r = Retry::new(policy(10))
                .with_deadline(deadline, clock)
                .run(|_| async { Err::<(), _>("503") }, |_| ErrorClass::Transient)
                .await;
            (r, clock.now())
        })
        .unwrap();
        // Tries at 0 and 100 ms; the next wait (200 ms) would end past 250 ms.
        assert_eq!(r, Err(RetryError::DeadlineExceeded { attempts: 2, last: Some(Failure::Error("503")) }));
        assert_eq!(t, Duration::from_millis(100));

        let (r, t) = run_paused(async {
            let clock = Clock::start();
            let r = Retry::new(policy(10))
                .with_deadline(Deadline::after(clock.now(), Duration::from_secs(1)), clock)
                .with_attempt_timeout(Duration::from_millis(300))
                .run(|_| std::future::pending::<Result<(), &str>>(), |_| ErrorClass::Transient)
                .await;
            (r, clock.now())
        })
        .unwrap();
        assert!(
            matches!(r, Err(RetryError::DeadlineExceeded { last: Some(Failure::TimedOut(_)), .. })),
            "{r:?}"
        );
        assert!(t <= Duration::from_secs(1), "never past the deadline: {t:?}");
    }

    #[test]
    fn same_seed_same_timeline_and_fresh_randomness_by_default() {
        let run = |rng: Option<u64>| {
            run_paused(async move {
                let clock = Clock::start();
                let p = RetryPolicy::new(
                    Backoff::exponential(Duration::from_millis(10))
                        .with_jitter(Jitter::Full)
                        .build()
                        .unwrap(),
                    8,
                )
                .unwrap();
                let mut times = Vec::new();
                let mut r = match rng {
                    Some(seed) => Retry::seeded(p, seed, 3),
                    None => Retry::new(p),
                };
                let _ = r
                    .run(
                        |_| {
                            times.push(clock.now());
                            async { Err::<(), _>(()) }
                        },
                        |_| ErrorClass::Transient,
                    )
                    .await;
                times
            })
            .unwrap()
        };
        assert_eq!(run(Some(11)), run(Some(11)));
        assert_ne!(run(Some(11)), run(Some(12)));
        // Bug: the documented example used a fixed seed, so replicas that copied it drew
        // identical delays. Two default executors draw different ones.
        assert_ne!(run(None), run(None));
    }

    /// Bug: the server's `Retry-After` was honoured up to a day per retry: one
    /// `503 Retry-After: 86400` held the call for days, past the backoff's cap.
    #[test]
    fn a_retry_after_beyond_the_backoff_cap_gives_up_at_once() {
        let (r, t) = run_paused(async {
            let clock = Clock::start();
            let r = Retry::new(policy(3))
                .run(
                    |_| async { Err::<(), _>(503) },
                    |_| ErrorClass::Throttled { retry_after: Duration::from_secs(86_400) },
                )
                .await;
            (r, clock.now())
        })
        .unwrap();
        assert_eq!(t, Duration::ZERO, "{r:?}");
        assert_eq!(
            r,
            Err(RetryError::RetryAfterTooLong {
                attempts: 1,
                retry_after: Duration::from_secs(86_400),
                last: Failure::Error(503)
            })
        );
        // Within the cap but past the deadline: the same, at once.
        let r = run_paused(async {
            let clock = Clock::start();
            Retry::new(policy(3))
                .with_deadline(Deadline::after(clock.now(), Duration::from_secs(1)), clock)
                .run(
                    |_| async { Err::<(), _>(429) },
                    |_| ErrorClass::Throttled { retry_after: Duration::from_secs(2) },
                )
                .await
        })
        .unwrap();
        assert!(matches!(r, Err(RetryError::RetryAfterTooLong { attempts: 1, .. })), "{r:?}");
    }

    /// Bug: a permanent error (a 4xx: the backend answered) counted as a rejection for
    /// adaptive throttling, so an API answering many 4xx throttled its own callers.
    #[test]
    fn permanent_errors_are_not_rejections_for_adaptive_throttling() {
        let (sent, p) = run_paused(async {
            let throttle = Budget::new(crate::retry::AdaptiveThrottle::default());
            let mut sent = 0;
            for i in 0..200 {
                let _ = Retry::seeded(policy(3), 7, i)
                    .with_budget(throttle.clone())
                    .run(
                        |_| {
                            sent += 1;
                            async { Err::<(), _>(404) }
                        },
                        |_| ErrorClass::Permanent,
                    )
                    .await;
            }
            let p = throttle.lock().reject_probability(Duration::ZERO);
            (sent, p)
        })
        .unwrap();
        assert_eq!((sent, p), (200, 0.0));
    }
}
