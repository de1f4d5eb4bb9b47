//! `FallbackLayer`: a degraded answer instead of an error, as
//! [`with_fallback`](crate::degrade::with_fallback) gives for one call.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tower_layer::Layer;
use tower_service::Service;

use super::{BoxError, BoxFuture, Elapsed};
use crate::error::ConfigError;

/// The mark a fallback response carries in its extensions (see
/// [`http::marked`](super::http::marked)): it was not the dependency's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackServed {
    /// The error that the fallback replaced, as its message.
    pub reason: String,
}

type Hook = Arc<dyn Fn(&BoxError) + Send + Sync>;

/// Answers `fallback(&error)` when the inner service fails (or, with
/// [`with_timeout`](FallbackLayer::with_timeout), is too slow), so a nice-to-have
/// dependency cannot take the caller down.
///
/// The fallback sees the error, boxed: downcast it to tell a
/// [`BreakerOpen`](crate::retry::BreakerOpen) from a [`GaveUp`](super::GaveUp), a
/// [`DeadlineExceeded`](crate::deadline::DeadlineExceeded) or an [`Elapsed`]. Say that a
/// fallback was served with [`on_fallback`](FallbackLayer::on_fallback) (a metric, a
/// log) or in the response itself ([`http::marked`](super::http::marked) adds a
/// [`FallbackServed`] extension to HTTP responses).
///
/// As with [`with_fallback`](crate::degrade::with_fallback), this belongs in front of a
/// nice-to-have call only; an essential call's error should reach its caller.
///
/// # Errors
/// None: the service's error type is [`BoxError`] to compose with the other layers, but
/// every error becomes a fallback response. `poll_ready` errors are passed on.
///
/// # Cancellation
/// With a timeout, the inner call's future is dropped when it fires.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use unbreakable::tower::{BoxError, Elapsed, FallbackLayer};
///
/// let recommendations = service_fn(|user: u32| async move {
///     if user == 0 { return Err::<Vec<String>, BoxError>("recommendations: connection refused".into()) }
///     tokio::time::sleep(Duration::from_secs(30)).await; // too slow
///     Ok(vec!["for you".to_owned()])
/// });
/// let svc = ServiceBuilder::new()
///     .layer(FallbackLayer::new(|e: &BoxError| vec![if e.is::<Elapsed>() { "popular (slow)" } else { "popular" }.to_owned()])
///         .with_timeout(Duration::from_millis(200)).unwrap())
///     .service(recommendations);
/// assert_eq!(svc.clone().oneshot(0).await.unwrap(), ["popular"]);
/// assert_eq!(svc.oneshot(7).await.unwrap(), ["popular (slow)"]);
/// # });
/// ```
pub struct FallbackLayer<F> {
    fallback: Arc<F>,
    timeout: Option<Duration>,
    on_fallback: Option<Hook>,
}

impl<F> Clone for FallbackLayer<F> {
    fn clone(&self) -> Self {
        Self { fallback: self.fallback.clone(), timeout: self.timeout, on_fallback: self.on_fallback.clone() }
    }
}

impl<F> fmt::Debug for FallbackLayer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackLayer")
            .field("timeout", &self.timeout)
            .field("on_fallback", &self.on_fallback.is_some())
            .finish_non_exhaustive()
    }
}

impl<F> FallbackLayer<F> {
    /// Answers `fallback(&error)` instead of an error.
    pub fn new<R>(fallback: F) -> Self
    where
        F: Fn(&BoxError) -> R,
    {
        Self { fallback: Arc::new(fallback), timeout: None, on_fallback: None }
    }

    /// Also answers the fallback, with an [`Elapsed`] error, when the call takes longer
    /// than `timeout`.
    ///
    /// # Errors
    /// A [`ConfigError`] for a zero timeout, which would never let the dependency answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        if timeout.is_zero() {
            return Err(ConfigError::new(
                "timeout",
                "a zero timeout always answers the fallback; use at least 1 ms",
            ));
        }
        self.timeout = Some(timeout);
        Ok(self)
    }

    /// Calls `hook` with the error each time a fallback is served (for logs and metrics).
    pub fn on_fallback(mut self, hook: impl Fn(&BoxError) + Send + Sync + 'static) -> Self {
        self.on_fallback = Some(Arc::new(hook));
        self
    }
}

impl<S, F> Layer<S> for FallbackLayer<F> {
    type Service = FallbackService<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        FallbackService { inner, layer: self.clone() }
    }
}

/// The service a [`FallbackLayer`] makes.
pub struct FallbackService<S, F> {
    inner: S,
    layer: FallbackLayer<F>,
}

impl<S: Clone, F> Clone for FallbackService<S, F> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), layer: self.layer.clone() }
    }
}

impl<S: fmt::Debug, F> fmt::Debug for FallbackService<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackService").field("inner", &self.inner).field("layer", &self.layer).finish()
    }
}

impl<S, F, Req> Service<Req> for FallbackService<S, F>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError>,
    F: Fn(&BoxError) -> S::Response + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let call = self.inner.call(req);
        let FallbackLayer { fallback, timeout, on_fallback } = self.layer.clone();
        Box::pin(async move {
            let outcome = match timeout {
                Some(after) => match tokio::time::timeout(after, call).await {
                    Ok(outcome) => outcome.map_err(Into::into),
                    Err(_) => Err(Box::new(Elapsed { after }) as BoxError),
                },
                None => call.await.map_err(Into::into),
            };
            match outcome {
                Ok(response) => Ok(response),
                Err(error) => {
                    if let Some(hook) = on_fallback {
                        hook(&error);
                    }
                    Ok(fallback(&error))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::BreakerOpen;
    use crate::time::run_paused;
    use crate::tower::http::marked;
    use std::sync::Mutex;
    use tower::{ServiceExt, service_fn};

    #[test]
    fn http_fallbacks_are_marked_and_the_hook_sees_each_error() {
        let (live, degraded, log) = run_paused(async {
            let log = Arc::new(Mutex::new(Vec::new()));
            let seen = log.clone();
            let dependency = service_fn(|down: bool| async move {
                if down {
                    Err::<http::Response<&str>, BoxError>(Box::new(BreakerOpen {
                        retry_after: Duration::from_secs(3),
                    }))
                } else {
                    Ok(http::Response::new("live"))
                }
            });
            let svc = FallbackLayer::new(marked(|_e: &BoxError| http::Response::new("cached")))
                .on_fallback(move |e| seen.lock().unwrap().push(e.is::<BreakerOpen>()))
                .layer(dependency);
            let live = svc.clone().oneshot(false).await.unwrap();
            let degraded = svc.oneshot(true).await.unwrap();
            let log = log.lock().unwrap().clone();
            (live, degraded, log)
        })
        .unwrap();
        assert_eq!(*live.body(), "live");
        assert!(live.extensions().get::<FallbackServed>().is_none());
        assert_eq!(*degraded.body(), "cached");
        assert_eq!(
            degraded.extensions().get::<FallbackServed>().map(|m| m.reason.as_str()),
            Some("circuit breaker open; retry after 3s")
        );
        assert_eq!(log, vec![true]);
    }

    #[test]
    fn a_zero_timeout_is_rejected() {
        let e = FallbackLayer::new(|_: &BoxError| ()).with_timeout(Duration::ZERO).unwrap_err();
        assert_eq!(e.field, "timeout");
    }
}
