//! `BreakerLayer`: a shared [`Breaker`] in front of a service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::{BoxError, BoxFuture};
use crate::retry::Breaker;

/// Guards a service with a shared circuit [`Breaker`]: while it is open, calls are
/// refused at once with [`BreakerOpen`](crate::retry::BreakerOpen), without touching the
/// inner service.
///
/// `is_failure` says which outcomes count against the service: for HTTP, an error or a
/// 5xx does and a 4xx (the caller's fault, but an answer) does not;
/// [`http::is_server_failure`](super::http::is_server_failure) says exactly that. Every
/// clone of the layer and of its services shares the one breaker.
///
/// # Errors
/// [`BreakerOpen`](crate::retry::BreakerOpen) (boxed) while the breaker refuses; the
/// inner service's errors unchanged (boxed).
///
/// # Cancellation
/// The breaker's permit is held by the response future: dropping the future (a timeout
/// above, a client gone) records nothing and gives a half-open probe slot back, so a
/// cancelled probe can never wedge the breaker.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use unbreakable::retry::{Breaker, BreakerConfig, BreakerOpen};
/// use unbreakable::tower::{BoxError, BreakerLayer};
///
/// let breaker = Breaker::new(BreakerConfig { failure_threshold: 2, ..Default::default() }).unwrap();
/// let down = service_fn(|_req: ()| async { Ok::<u16, BoxError>(503) });
/// let svc = ServiceBuilder::new()
///     .layer(BreakerLayer::new(breaker.clone(), |r: &Result<u16, BoxError>| !matches!(r, Ok(s) if *s < 500)))
///     .service(down);
///
/// for _ in 0..2 {
///     assert_eq!(svc.clone().oneshot(()).await.unwrap(), 503); // answered, and counted
/// }
/// let refused = svc.oneshot(()).await.unwrap_err();
/// assert!(refused.downcast_ref::<BreakerOpen>().is_some(), "{refused}");
/// # });
/// ```
pub struct BreakerLayer<P> {
    breaker: Breaker,
    is_failure: Arc<P>,
}

impl<P> Clone for BreakerLayer<P> {
    fn clone(&self) -> Self {
        Self { breaker: self.breaker.clone(), is_failure: self.is_failure.clone() }
    }
}

impl<P> fmt::Debug for BreakerLayer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerLayer").field("breaker", &self.breaker).finish_non_exhaustive()
    }
}

impl<P> BreakerLayer<P> {
    /// Guards services with `breaker`; `is_failure` says which outcomes count against
    /// the service.
    pub fn new<R, E>(breaker: Breaker, is_failure: P) -> Self
    where
        P: Fn(&Result<R, E>) -> bool,
    {
        Self { breaker, is_failure: Arc::new(is_failure) }
    }
}

impl<S, P> Layer<S> for BreakerLayer<P> {
    type Service = BreakerService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        BreakerService { inner, breaker: self.breaker.clone(), is_failure: self.is_failure.clone() }
    }
}

/// The service a [`BreakerLayer`] makes.
pub struct BreakerService<S, P> {
    inner: S,
    breaker: Breaker,
    is_failure: Arc<P>,
}

impl<S: Clone, P> Clone for BreakerService<S, P> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), breaker: self.breaker.clone(), is_failure: self.is_failure.clone() }
    }
}

impl<S: fmt::Debug, P> fmt::Debug for BreakerService<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerService")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<S, P, Req> Service<Req> for BreakerService<S, P>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError>,
    P: Fn(&Result<S::Response, S::Error>) -> bool + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Readiness is the inner service's; the breaker is asked per call, so an open
        // breaker refuses at once instead of holding callers in `poll_ready`.
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let permit = match self.breaker.acquire() {
            Ok(permit) => permit,
            Err(open) => return Box::pin(std::future::ready(Err(open.into()))),
        };
        let call = self.inner.call(req);
        let is_failure = self.is_failure.clone();
        Box::pin(async move {
            // Held across the await: dropped with the future, it frees its probe slot.
            let outcome = call.await;
            permit.record(is_failure(&outcome));
            outcome.map_err(Into::into)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::{BreakerConfig, BreakerOpen, BreakerState};
    use crate::time::run_paused;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tower::{ServiceExt, service_fn};

    fn server_failure(r: &Result<u16, BoxError>) -> bool {
        !matches!(r, Ok(s) if *s < 500)
    }

    /// 5xx answers open the breaker; once open, calls are refused without reaching the
    /// service; 4xx answers never count.
    #[test]
    fn opens_on_5xx_refuses_without_calling_and_ignores_4xx() {
        let (hits, refused, state_4xx) = run_paused(async {
            let hits = Arc::new(AtomicUsize::new(0));
            let seen = hits.clone();
            let breaker = Breaker::new(BreakerConfig { failure_threshold: 3, ..Default::default() }).unwrap();
            let svc = BreakerLayer::new(breaker, server_failure).layer(service_fn(move |code: u16| {
                seen.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<_, BoxError>(code) }
            }));
            for _ in 0..3 {
                assert_eq!(svc.clone().oneshot(503).await.unwrap(), 503);
            }
            let mut refused = Vec::new();
            for _ in 0..5 {
                let e = svc.clone().oneshot(200).await.unwrap_err();
                refused.push(e.downcast_ref::<BreakerOpen>().map(|o| o.retry_after));
            }

            let b4 = Breaker::new(BreakerConfig { failure_threshold: 3, ..Default::default() }).unwrap();
            let svc4 = BreakerLayer::new(b4.clone(), server_failure)
                .layer(service_fn(|code: u16| async move { Ok::<_, BoxError>(code) }));
            for _ in 0..50 {
                let _ = svc4.clone().oneshot(404).await;
            }
            (hits.load(Ordering::SeqCst), refused, b4.state())
        })
        .unwrap();
        assert_eq!(hits, 3, "the open breaker never reached the service");
        assert_eq!(refused, vec![Some(Duration::from_secs(5)); 5]);
        assert_eq!(state_4xx, BreakerState::Closed);
    }

    /// A half-open probe whose response future is dropped (cut by a timeout above the
    /// layer) gives its slot back: the next call is let through and closes the breaker.
    #[test]
    fn a_dropped_probe_future_frees_its_slot() {
        let (next, state) = run_paused(async {
            let breaker = Breaker::new(BreakerConfig { failure_threshold: 1, ..Default::default() }).unwrap();
            let svc =
                BreakerLayer::new(breaker.clone(), server_failure).layer(service_fn(|ms: u64| async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Ok::<u16, BoxError>(if ms == 0 { 500 } else { 200 })
                }));
            let _ = svc.clone().oneshot(0).await; // opens
            tokio::time::sleep(Duration::from_secs(5)).await; // cool-down over: half-open
            let hung = svc.clone().oneshot(60_000);
            assert!(tokio::time::timeout(Duration::from_millis(100), hung).await.is_err());
            let next = svc.oneshot(1).await.map_err(|e| e.to_string());
            (next, breaker.state())
        })
        .unwrap();
        assert_eq!(next, Ok(200));
        assert_eq!(state, BreakerState::Closed);
    }

    /// A backend that hangs until a timeout *above* the layer cuts each call: without
    /// `slow_call` the breaker never hears of it; with it, the cut calls are failures.
    #[test]
    fn calls_cut_above_the_layer_count_once_they_are_slow() {
        let states = run_paused(async {
            let mut states = Vec::new();
            for slow_call in [None, Some(Duration::from_millis(500))] {
                let config = BreakerConfig { failure_threshold: 2, slow_call, ..Default::default() };
                let breaker = Breaker::new(config).unwrap();
                let svc = BreakerLayer::new(breaker.clone(), server_failure)
                    .layer(service_fn(|()| std::future::pending::<Result<u16, BoxError>>()));
                for _ in 0..3 {
                    let _ = tokio::time::timeout(Duration::from_secs(1), svc.clone().oneshot(())).await;
                }
                states.push(breaker.state().name());
            }
            states
        })
        .unwrap();
        assert_eq!(states, vec!["closed", "open"]);
    }
}
