//! `RetryLayer`: the [`Retry`] executor around a service.

use std::fmt;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use rand::SeedableRng;
use tower_layer::Layer;
use tower_service::Service;

use super::{BoxError, BoxFuture, Elapsed, GaveUp, GiveUpReason};
use crate::deadline::Deadline;
use crate::error::ConfigError;
use crate::retry::{
    Breaker, Budget, ErrorClass, Failure, JitterRng, Judged, Retry, RetryBudget, RetryError, RetryEvent,
    RetryPolicy,
};
use crate::time::Clock;

/// What a [`RetryLayer`]'s classifier says about the outcome of one attempt.
///
/// | verdict | retried | the layer's breaker records |
/// |---|---|---|
/// | `Final` | no | a success: the service answered (a 200, a 404) |
/// | `Failed` | no | a failure: the service failed, but retrying is unsafe or useless (a POST's 503, a call cut by the deadline) |
/// | `Retry(class)` | yes | a failure |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Return this outcome as it is: a success, or an answer that retrying cannot
    /// change (a 404). It does not count against the breaker.
    Final,
    /// Return this outcome as it is, but count it against the breaker: the service
    /// failed (a 5xx, a timeout below the layer), and retrying is unsafe (the request
    /// is not idempotent) or cannot help within this request (its deadline passed).
    Failed,
    /// Retry, treating the outcome as this class (a 503 response is
    /// [`Transient`](ErrorClass::Transient); a 429 with `Retry-After` is
    /// [`Throttled`](ErrorClass::Throttled)). `Retry(ErrorClass::Permanent)` is `Final`.
    Retry(ErrorClass),
}

impl Verdict {
    fn judged(self) -> Judged {
        match self {
            Verdict::Retry(class) => Judged::from(class),
            Verdict::Final => Judged { class: ErrorClass::Permanent, breaker_failure: false },
            #[cfg(feature = "mutants")]
            Verdict::Failed if crate::mutants::active(crate::mutants::Mutant::FinalCountedAsSuccess) => {
                Judged { class: ErrorClass::Permanent, breaker_failure: false }
            }
            Verdict::Failed => Judged { class: ErrorClass::Permanent, breaker_failure: true },
        }
    }
}

/// What a [`RetryLayer`] asks about requests and their outcomes: tower's retry
/// `Policy`, without the loop (the layer runs it).
///
/// Any `Fn(&Req, &Result<R, E>) -> Verdict` is one, for `Req: Clone`, with no
/// deadline. For HTTP, [`http::HttpRetry`](super::http::HttpRetry) retries only
/// idempotent requests and reads the request's [`Deadline`].
pub trait Classify<Req, R, E> {
    /// The verdict on one attempt's outcome, for the request it answered.
    fn verdict(&self, req: &Req, outcome: &Result<R, E>) -> Verdict;

    /// A copy of `req` for the next attempt, or `None` if it cannot be copied (a
    /// streaming body): then the original is sent once and not retried.
    fn clone_request(&self, req: &Req) -> Option<Req>;

    /// The verdict on an attempt the layer's attempt timeout
    /// ([`RetryLayer::with_attempt_timeout`]) cut: the request may have reached the
    /// service and done its work. `Retry(_)` sends it again (as an
    /// [`ErrorClass::Timeout`]); `Failed` (or `Final`) gives up with an [`Elapsed`]
    /// error and counts the cut against the breaker.
    ///
    /// The default retries: a closure classifier cannot say whether a request is safe
    /// to send twice. A classifier for requests that are not (an HTTP POST) overrides
    /// it, as [`HttpRetry`](super::http::HttpRetry) does: it retries only
    /// [retry-safe](super::http::is_retry_safe) requests.
    fn on_timeout(&self, req: &Req) -> Verdict {
        let _ = req;
        Verdict::Retry(ErrorClass::Timeout)
    }

    /// The request's deadline, with the clock it is measured on: the layer neither
    /// starts an attempt nor waits past it. The default: none.
    fn deadline(&self, req: &Req) -> Option<(Deadline, Clock)> {
        let _ = req;
        None
    }
}

impl<F, Req: Clone, R, E> Classify<Req, R, E> for F
where
    F: Fn(&Req, &Result<R, E>) -> Verdict,
{
    fn verdict(&self, req: &Req, outcome: &Result<R, E>) -> Verdict {
        self(req, outcome)
    }

    fn clone_request(&self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// Where each service draws its jitter from: a key drawn once per layer (from the
/// operating system, or from a seed), and a stream of it per service or clone, so a
/// clone never asks the operating system again.
#[derive(Debug, Clone)]
struct Seed {
    key: [u8; 32],
    next_stream: Arc<AtomicU64>,
}

impl Seed {
    fn new(key: [u8; 32]) -> Self {
        Self { key, next_stream: Arc::new(AtomicU64::new(0)) }
    }

    fn rng(&self) -> JitterRng {
        let mut rng = JitterRng::from_seed(self.key);
        rng.set_stream(self.next_stream.fetch_add(1, Ordering::Relaxed));
        rng
    }
}

type WithBudget = Arc<dyn Fn(Retry) -> Retry + Send + Sync>;
type Hook = Arc<dyn Fn(&RetryEvent<'_>) + Send + Sync>;

/// What the layer and every service it makes share.
struct Config<C> {
    policy: RetryPolicy,
    classify: Arc<C>,
    seed: Seed,
    breaker: Option<Breaker>,
    budget: Option<WithBudget>,
    attempt_timeout: Option<Duration>,
    max_retry_after: Option<Duration>,
    on_retry: Option<Hook>,
}

impl<C> Clone for Config<C> {
    fn clone(&self) -> Self {
        Self {
            policy: self.policy,
            classify: self.classify.clone(),
            seed: self.seed.clone(),
            breaker: self.breaker.clone(),
            budget: self.budget.clone(),
            attempt_timeout: self.attempt_timeout,
            max_retry_after: self.max_retry_after,
            on_retry: self.on_retry.clone(),
        }
    }
}

/// Retries a service's calls with a [`RetryPolicy`]: tower's `RetryLayer`, with this
/// crate's jitter, breaker, budget and `Retry-After`.
///
/// The classifier ([`Classify`]) looks at each attempt's request and `Result` and
/// returns a [`Verdict`], as tower's retry `Policy` does, so a *response* can be retried
/// (an HTTP 503), a POST is not, and a 429 or 503 with `Retry-After` waits at least
/// what the server asked ([`ErrorClass::Throttled`]). It also copies the request for
/// each attempt (`clone_request`) and reads its deadline.
/// [`http::HttpRetry`](super::http::HttpRetry) is that classifier for HTTP; a closure
/// `|req, outcome| verdict` is one for any `Clone` request.
///
/// # Deadline and `Retry-After`
/// With the request's deadline (from the classifier: for HTTP, the [`Deadline`] a
/// [`DeadlineLayer`](super::DeadlineLayer) or a handler stored in the extensions), no
/// attempt starts after it, an attempt is cut at it, and no wait runs past it. When the
/// server asks to wait longer than the time left, or than the backoff's cap
/// ([`with_max_retry_after`](RetryLayer::with_max_retry_after)), the layer gives up at
/// once: the throttled response itself goes upstream, `Retry-After` and all.
///
/// # Default
/// | setting | default |
/// |---|---|
/// | jitter randomness | one seed per layer from the operating system (never panics, see [`os_rng`](crate::retry::os_rng)); each service and clone draws its own stream of it; [`seeded`](RetryLayer::seeded) for tests |
/// | longest server delay honoured | the backoff's cap |
/// | breaker, budget, attempt timeout, hook | none |
///
/// # Errors
/// The service's error is a [`BoxError`]:
/// * an outcome the classifier called final (`Final`, `Failed`) is returned as it is
///   (the inner error, boxed);
/// * when it gives up after a retryable *response*, that last response is returned
///   (tower's convention), not an error;
/// * otherwise a [`GaveUp`] that says why and holds the last error (an [`Elapsed`] if
///   the last attempt timed out).
///
/// # Cancellation
/// Dropping the response future stops retrying; the attempt in flight is dropped with
/// it, and its breaker permit is given back without an outcome.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use unbreakable::retry::{Backoff, ErrorClass, RetryPolicy};
/// use unbreakable::tower::{BoxError, RetryLayer, Verdict};
///
/// // A dependency that answers 503 twice, then 200.
/// let calls = Arc::new(AtomicU32::new(0));
/// let seen = calls.clone();
/// let flaky = service_fn(move |_req: &'static str| {
///     let n = seen.fetch_add(1, Ordering::SeqCst);
///     async move { Ok::<u16, BoxError>(if n < 2 { 503 } else { 200 }) }
/// });
///
/// let policy = RetryPolicy::new(Backoff::exponential(Duration::from_millis(100)).build().unwrap(), 3).unwrap();
/// let retry_503 = |_req: &&str, r: &Result<u16, BoxError>| match r {
///     Ok(503) | Err(_) => Verdict::Retry(ErrorClass::Transient),
///     Ok(_) => Verdict::Final,
/// };
/// let svc = ServiceBuilder::new().layer(RetryLayer::new(policy, retry_503)).service(flaky);
/// assert_eq!(svc.oneshot("GET /").await.unwrap(), 200);
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// # });
/// ```
pub struct RetryLayer<C> {
    config: Config<C>,
}

impl<C> Clone for RetryLayer<C> {
    fn clone(&self) -> Self {
        Self { config: self.config.clone() }
    }
}

impl<C> fmt::Debug for RetryLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("RetryLayer")
            .field("policy", &c.policy)
            .field("seed", &c.seed)
            .field("breaker", &c.breaker)
            .field("budget", &c.budget.is_some())
            .field("attempt_timeout", &c.attempt_timeout)
            .field("on_retry", &c.on_retry.is_some())
            .finish_non_exhaustive()
    }
}

impl<C> RetryLayer<C> {
    /// Retries with `policy` what `classify` (a [`Classify`]) says to retry.
    pub fn new(policy: RetryPolicy, classify: C) -> Self {
        let config = Config {
            policy,
            classify: Arc::new(classify),
            seed: Seed::new(crate::retry::os_seed()),
            breaker: None,
            budget: None,
            attempt_timeout: None,
            max_retry_after: None,
            on_retry: None,
        };
        Self { config }
    }

    /// Draws jitter from `seed`: the first service this layer makes gets stream 0 of it,
    /// the next service or clone stream 1, and so on, so each clone still draws its own
    /// delays. For tests and simulations only: replicas sharing a seed retry in step.
    pub fn seeded(mut self, seed: u64) -> Self {
        self.config.seed = Seed::new(JitterRng::seed_from_u64(seed).get_seed());
        self
    }

    /// Gives up at once, answering the throttled response, when a server asks to wait
    /// longer than `limit` (default: the backoff's cap); see
    /// [`Retry::with_max_retry_after`].
    pub fn with_max_retry_after(mut self, limit: Duration) -> Self {
        self.config.max_retry_after = Some(limit);
        self
    }

    /// Guards every attempt with a shared breaker (see [`Retry::with_breaker`]): once it
    /// opens, the layer stops retrying and fails fast. Outcomes the classifier retries
    /// or calls [`Failed`](Verdict::Failed), and attempts cut by a timeout or the
    /// deadline, count as failures; [`Final`](Verdict::Final) outcomes as successes.
    pub fn with_breaker(mut self, breaker: Breaker) -> Self {
        self.config.breaker = Some(breaker);
        self
    }

    /// Makes every retry ask a shared budget (see [`Retry::with_budget`]).
    pub fn with_budget<B: RetryBudget + 'static>(mut self, budget: Budget<B>) -> Self {
        self.config.budget = Some(Arc::new(move |retry: Retry| retry.with_budget(budget.clone())));
        self
    }

    /// Cuts each attempt at `timeout`. The classifier's
    /// [`on_timeout`](Classify::on_timeout) says whether a cut attempt is retried (as an
    /// [`ErrorClass::Timeout`]; for HTTP, only a retry-safe request) or ends the call
    /// with an [`Elapsed`] error; either way the cut counts against the breaker and,
    /// for adaptive throttling, as a rejection.
    ///
    /// # Errors
    /// A [`ConfigError`] for a zero timeout, which would cut every attempt.
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        if timeout.is_zero() {
            return Err(ConfigError::new(
                "attempt_timeout",
                "a zero timeout cuts every attempt; use at least 1 ms",
            ));
        }
        self.config.attempt_timeout = Some(timeout);
        Ok(self)
    }

    /// Calls `hook` before each retry (for logs and metrics).
    pub fn on_retry(mut self, hook: impl Fn(&RetryEvent<'_>) + Send + Sync + 'static) -> Self {
        self.config.on_retry = Some(Arc::new(hook));
        self
    }
}

impl<S, C> Layer<S> for RetryLayer<C> {
    type Service = RetryService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService { inner, rng: self.config.seed.rng(), config: self.config.clone() }
    }
}

/// The service a [`RetryLayer`] makes. Each clone draws its own jitter.
pub struct RetryService<S, C> {
    inner: S,
    rng: JitterRng,
    config: Config<C>,
}

impl<S: Clone, C> Clone for RetryService<S, C> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), rng: self.config.seed.rng(), config: self.config.clone() }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for RetryService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryService")
            .field("inner", &self.inner)
            .field("policy", &self.config.policy)
            .finish_non_exhaustive()
    }
}

impl<S, C> RetryService<S, C> {
    /// The executor for one call, with its own jitter stream split off this service's.
    fn executor(&mut self, deadline: Option<(Deadline, Clock)>) -> Retry {
        let c = &self.config;
        let mut retry = Retry::with_rng(c.policy, JitterRng::from_rng(&mut self.rng));
        #[cfg(feature = "mutants")]
        let deadline =
            deadline.filter(|_| !crate::mutants::active(crate::mutants::Mutant::RetryIgnoresDeadline));
        if let Some((deadline, clock)) = deadline {
            retry = retry.with_deadline(deadline, clock);
        }
        if let Some(limit) = c.max_retry_after {
            retry = retry.with_max_retry_after(limit);
        }
        if let Some(breaker) = &c.breaker {
            retry = retry.with_breaker(breaker.clone());
        }
        if let Some(with_budget) = &c.budget {
            retry = with_budget(retry);
        }
        if let Some(timeout) = c.attempt_timeout {
            retry = retry.with_attempt_timeout(timeout);
        }
        if let Some(hook) = &c.on_retry {
            let hook = hook.clone();
            retry = retry.on_retry(move |event| hook(event));
        }
        retry
    }
}

/// One attempt's outcome that the executor sees as a failure: a retryable outcome (a
/// response or an error) or a final error.
struct Attempt<R, E> {
    outcome: Outcome<R, E>,
    judged: Judged,
}

/// What one attempt came to.
enum Outcome<R, E> {
    /// The service's answer.
    Sent(Result<R, E>),
    /// Not sent: the request could not be copied for another attempt.
    NotSent,
    /// Cut by the attempt timeout, and not to be sent again.
    TimedOut(Duration),
}

impl<R, E> fmt::Debug for Attempt<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.outcome {
            Outcome::Sent(Ok(_)) => "response",
            Outcome::Sent(Err(_)) => "error",
            Outcome::NotSent => "not sent",
            Outcome::TimedOut(_) => "timed out",
        };
        write!(f, "{what} ({:?})", self.judged.class)
    }
}

impl<S, C, Req> Service<Req> for RetryService<S, C>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    Req: Send + 'static,
    C: Classify<Req, S::Response, S::Error> + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let classify = self.config.classify.clone();
        let mut retry = self.executor(classify.deadline(&req));
        // The first attempt uses the service made ready by `poll_ready`; later attempts
        // use clones, each made ready first.
        let spare = self.inner.clone();
        let mut ready = Some(std::mem::replace(&mut self.inner, spare.clone()));
        Box::pin(async move {
            // The original stays here while copies are sent, for the classifier to judge
            // each outcome against; a request that cannot be copied is sent itself, once,
            // and its outcome is final (an error counts against the breaker, a response
            // does not).
            let original = Arc::new(Mutex::new(Some(req)));
            // A cut attempt may have done its work: the classifier says whether to send
            // the request again. One that was sent itself (not a copy) cannot be.
            let timed_out = {
                let (classify, original) = (classify.clone(), original.clone());
                move |after: Duration| {
                    let slot = original.lock().unwrap_or_else(PoisonError::into_inner);
                    match slot.as_ref().map(|req| classify.on_timeout(req)) {
                        Some(Verdict::Retry(class)) if class != ErrorClass::Permanent => None,
                        _ => Some(Attempt {
                            outcome: Outcome::TimedOut(after),
                            judged: Verdict::Failed.judged(),
                        }),
                    }
                }
            };
            let op = move |_attempt: u32| {
                let service = ready.take();
                let spare = spare.clone();
                let classify = classify.clone();
                let original = original.clone();
                let req = {
                    let mut slot = original.lock().unwrap_or_else(PoisonError::into_inner);
                    match slot.as_ref().and_then(|r| classify.clone_request(r)) {
                        Some(copy) => Some(copy),
                        None => slot.take(),
                    }
                };
                async move {
                    // `None` only if the executor retried after the original was sent,
                    // which the verdicts given below and on a timeout prevent.
                    let Some(req) = req else {
                        return Err(Attempt { outcome: Outcome::NotSent, judged: Verdict::Failed.judged() });
                    };
                    let outcome = match service {
                        Some(mut s) => s.call(req).await,
                        None => {
                            let mut s = spare;
                            match poll_fn(|cx| s.poll_ready(cx)).await {
                                Ok(()) => s.call(req).await,
                                Err(e) => Err(e),
                            }
                        }
                    };
                    let verdict = {
                        let slot = original.lock().unwrap_or_else(PoisonError::into_inner);
                        match slot.as_ref() {
                            Some(req) => classify.verdict(req, &outcome),
                            None if outcome.is_err() => Verdict::Failed,
                            None => Verdict::Final,
                        }
                    };
                    let judged = verdict.judged();
                    match outcome {
                        Ok(response) if verdict == Verdict::Final => Ok(response),
                        outcome => Err(Attempt { outcome: Outcome::Sent(outcome), judged }),
                    }
                }
            };
            match retry.run_judged(op, |a: &Attempt<S::Response, S::Error>| a.judged, timed_out).await {
                Ok(response) => Ok(response),
                Err(e) => settle(e),
            }
        })
    }
}

/// What the layer answers when the executor stops without a success.
fn settle<R, E: Into<BoxError>>(e: RetryError<Attempt<R, E>>) -> Result<R, BoxError> {
    let (attempts, reason, last) = match e {
        RetryError::Permanent { attempts, error } => match error.outcome {
            Outcome::Sent(outcome) => return outcome.map_err(Into::into),
            Outcome::TimedOut(after) => return Err(Box::new(Elapsed { after })),
            Outcome::NotSent => (attempts, GiveUpReason::Exhausted, None),
        },
        RetryError::Exhausted { attempts, last } => (attempts, GiveUpReason::Exhausted, Some(last)),
        RetryError::CircuitOpen { attempts, retry_after, last } => {
            (attempts, GiveUpReason::CircuitOpen { retry_after }, last)
        }
        RetryError::BudgetExhausted { attempts, last } => (attempts, GiveUpReason::BudgetExhausted, last),
        RetryError::DeadlineExceeded { attempts, last } => (attempts, GiveUpReason::DeadlineExceeded, last),
        RetryError::RetryAfterTooLong { attempts, retry_after, last } => {
            (attempts, GiveUpReason::RetryAfterTooLong { retry_after }, Some(last))
        }
    };
    let last: Option<BoxError> = match last {
        Some(Failure::Error(Attempt { outcome: Outcome::Sent(Ok(response)), .. })) => return Ok(response),
        Some(Failure::Error(Attempt { outcome: Outcome::Sent(Err(e)), .. })) => Some(e.into()),
        Some(
            Failure::TimedOut(after) | Failure::Error(Attempt { outcome: Outcome::TimedOut(after), .. }),
        ) => Some(Box::new(Elapsed { after })),
        Some(Failure::Error(Attempt { outcome: Outcome::NotSent, .. })) | None => None,
    };
    Err(Box::new(GaveUp::new(attempts, reason, last)))
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
