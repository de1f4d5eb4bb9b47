//! `RetryLayer`: the [`Retry`] executor around a service.

use std::fmt;
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use rand::SeedableRng;
use tower_layer::Layer;
use tower_service::Service;

use super::{BoxError, BoxFuture, Elapsed, GaveUp, GiveUpReason};
use crate::error::ConfigError;
use crate::retry::{
    Breaker, Budget, ErrorClass, Failure, JitterRng, Retry, RetryBudget, RetryError, RetryEvent, RetryPolicy,
    os_rng, seeded_rng,
};

/// What a [`RetryLayer`]'s classifier says about the outcome of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Return this outcome as it is: a success, an answer that retrying cannot change
    /// (a 404), or an error that retrying cannot help.
    Final,
    /// Retry, treating the outcome as this class (a 503 response is
    /// [`Transient`](ErrorClass::Transient); a 429 with `Retry-After` is
    /// [`Throttled`](ErrorClass::Throttled)). `Retry(ErrorClass::Permanent)` is `Final`.
    Retry(ErrorClass),
}

/// Where each service draws its jitter from.
#[derive(Debug, Clone)]
enum Seed {
    Os,
    Seeded { seed: u64, next_stream: Arc<AtomicU64> },
}

impl Seed {
    fn rng(&self) -> JitterRng {
        match self {
            Seed::Os => os_rng(),
            Seed::Seeded { seed, next_stream } => {
                seeded_rng(*seed, next_stream.fetch_add(1, Ordering::Relaxed))
            }
        }
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
            on_retry: self.on_retry.clone(),
        }
    }
}

/// Retries a service's calls with a [`RetryPolicy`]: tower's `RetryLayer`, with this
/// crate's jitter, breaker, budget and `Retry-After`.
///
/// The classifier looks at each attempt's `Result` and returns a [`Verdict`], so a
/// *response* can be retried (an HTTP 503), and a 429 or 503 with `Retry-After` waits
/// at least what the server asked ([`ErrorClass::Throttled`]).
/// [`http::retry_verdict`](super::http::retry_verdict) is that classifier for HTTP.
///
/// The request must be `Clone`: each attempt sends a copy.
///
/// # Default
/// | setting | default |
/// |---|---|
/// | jitter randomness | each service, and each clone of it, seeded from the operating system; [`seeded`](RetryLayer::seeded) for tests |
/// | breaker, budget, attempt timeout, hook | none |
///
/// # Errors
/// The service's error is a [`BoxError`]:
/// * an outcome the classifier called final is returned as it is (the inner error,
///   boxed);
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
/// let retry_503 = |r: &Result<u16, BoxError>| match r {
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
    /// Retries with `policy` what `classify` says to retry.
    pub fn new<R, E>(policy: RetryPolicy, classify: C) -> Self
    where
        C: Fn(&Result<R, E>) -> Verdict,
    {
        let config = Config {
            policy,
            classify: Arc::new(classify),
            seed: Seed::Os,
            breaker: None,
            budget: None,
            attempt_timeout: None,
            on_retry: None,
        };
        Self { config }
    }

    /// Draws jitter from `seed`: the first service this layer makes gets stream 0 of it,
    /// the next service or clone stream 1, and so on, so each clone still draws its own
    /// delays. For tests and simulations only: replicas sharing a seed retry in step.
    pub fn seeded(mut self, seed: u64) -> Self {
        self.config.seed = Seed::Seeded { seed, next_stream: Arc::new(AtomicU64::new(0)) };
        self
    }

    /// Guards every attempt with a shared breaker (see [`Retry::with_breaker`]): once it
    /// opens, the layer stops retrying and fails fast.
    pub fn with_breaker(mut self, breaker: Breaker) -> Self {
        self.config.breaker = Some(breaker);
        self
    }

    /// Makes every retry ask a shared budget (see [`Retry::with_budget`]).
    pub fn with_budget<B: RetryBudget + 'static>(mut self, budget: Budget<B>) -> Self {
        self.config.budget = Some(Arc::new(move |retry: Retry| retry.with_budget(budget.clone())));
        self
    }

    /// Cuts each attempt at `timeout`; a cut attempt is retried as an
    /// [`ErrorClass::Timeout`] and reported as an [`Elapsed`].
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
    fn executor(&mut self) -> Retry {
        let c = &self.config;
        let mut retry = Retry::with_rng(c.policy, JitterRng::from_rng(&mut self.rng));
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
    outcome: Result<R, E>,
    class: ErrorClass,
}

impl<R, E> fmt::Debug for Attempt<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.outcome.is_ok() { "response" } else { "error" };
        write!(f, "{what} ({:?})", self.class)
    }
}

impl<S, C, Req> Service<Req> for RetryService<S, C>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    Req: Clone + Send + 'static,
    C: Fn(&Result<S::Response, S::Error>) -> Verdict + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let mut retry = self.executor();
        let classify = self.config.classify.clone();
        // The first attempt uses the service made ready by `poll_ready`; later attempts
        // use clones, each made ready first.
        let spare = self.inner.clone();
        let mut ready = Some(std::mem::replace(&mut self.inner, spare.clone()));
        Box::pin(async move {
            let op = move |_attempt: u32| {
                let service = ready.take();
                let spare = spare.clone();
                let req = req.clone();
                let classify = classify.clone();
                async move {
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
                    match classify(&outcome) {
                        Verdict::Retry(class) if class != ErrorClass::Permanent => {
                            Err(Attempt { outcome, class })
                        }
                        _ => match outcome {
                            Ok(response) => Ok(response),
                            Err(e) => Err(Attempt { outcome: Err(e), class: ErrorClass::Permanent }),
                        },
                    }
                }
            };
            match retry.run(op, |a: &Attempt<S::Response, S::Error>| a.class).await {
                Ok(response) => Ok(response),
                Err(e) => settle(e),
            }
        })
    }
}

/// What the layer answers when the executor stops without a success.
fn settle<R, E: Into<BoxError>>(e: RetryError<Attempt<R, E>>) -> Result<R, BoxError> {
    let (attempts, reason, last) = match e {
        RetryError::Permanent { error, .. } => return error.outcome.map_err(Into::into),
        RetryError::Exhausted { attempts, last } => (attempts, GiveUpReason::Exhausted, Some(last)),
        RetryError::CircuitOpen { attempts, retry_after, last } => {
            (attempts, GiveUpReason::CircuitOpen { retry_after }, last)
        }
        RetryError::BudgetExhausted { attempts, last } => (attempts, GiveUpReason::BudgetExhausted, last),
        RetryError::DeadlineExceeded { attempts, last } => (attempts, GiveUpReason::DeadlineExceeded, last),
    };
    let last: Option<BoxError> = match last {
        Some(Failure::Error(Attempt { outcome: Ok(response), .. })) => return Ok(response),
        Some(Failure::Error(Attempt { outcome: Err(e), .. })) => Some(e.into()),
        Some(Failure::TimedOut(after)) => Some(Box::new(Elapsed { after })),
        None => None,
    };
    Err(Box::new(GaveUp::new(attempts, reason, last)))
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
