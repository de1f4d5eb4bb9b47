//! `BufferBodyLayer`: collects a request body, up to a bound, so the request can be
//! copied for each retry.

use std::fmt;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use tower_layer::Layer;
use tower_service::Service;

use super::{BoxError, BoxFuture};
use crate::error::ConfigError;

/// A request body was longer than a [`BufferBodyLayer`]'s limit: it was not sent.
///
/// ### Handling
/// On a server, answer 413 Content Too Large; on a client, send such requests without
/// retries (below the retry layer, or through another stack).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("request body longer than the {limit}-byte limit for a retryable request")]
pub struct BodyTooLarge {
    /// The limit, in bytes.
    pub limit: usize,
}

/// Collects each request's body into memory, up to `limit` bytes, and passes the
/// request on with a [`Full`] body: a request that can be copied, so a
/// [`RetryLayer`](super::RetryLayer) with [`HttpRetry`](super::http::HttpRetry) below
/// it can send it again. A longer body is refused with [`BodyTooLarge`] before any
/// byte is sent; memory per request is bounded by the limit.
///
/// The service is always ready: the inner service is made ready (a concurrency
/// permit, a pooled connection taken) only once the body is read, so a slow upload
/// holds none of them. The read itself has no time bound of its own: bound the
/// request with a [`DeadlineLayer`](super::DeadlineLayer) above this layer.
///
/// # Errors
/// [`BodyTooLarge`] (boxed); the body's own read error (boxed); the inner service's
/// errors unchanged (boxed).
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use tower::{service_fn, Layer, ServiceExt};
/// use unbreakable::tower::{BodyTooLarge, BoxError, BufferBodyLayer};
///
/// let echo = service_fn(|req: http::Request<Full<Bytes>>| async move { Ok::<_, BoxError>(req) });
/// let svc = BufferBodyLayer::new(4).unwrap().layer(echo);
/// let ok = svc.clone().oneshot(http::Request::new(Full::new(Bytes::from("abcd")))).await.unwrap();
/// let copy = ok.clone(); // the request is `Clone` now
/// # use http_body_util::BodyExt;
/// assert_eq!(copy.into_body().collect().await.unwrap().to_bytes(), "abcd");
/// let big = svc.oneshot(http::Request::new(Full::new(Bytes::from("abcde")))).await.unwrap_err();
/// assert_eq!(big.downcast_ref::<BodyTooLarge>(), Some(&BodyTooLarge { limit: 4 }));
/// # });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BufferBodyLayer {
    limit: usize,
}

impl BufferBodyLayer {
    /// Buffers bodies of at most `limit` bytes.
    ///
    /// # Errors
    /// A [`ConfigError`] for a zero limit (it would refuse every body but the empty).
    pub fn new(limit: usize) -> Result<Self, ConfigError> {
        if limit == 0 {
            return Err(ConfigError::new(
                "limit",
                "a zero limit refuses every request with a body; use the largest body worth retrying (64 KiB is common)",
            ));
        }
        Ok(Self { limit })
    }
}

impl<S> Layer<S> for BufferBodyLayer {
    type Service = BufferBodyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BufferBodyService { inner, limit: self.limit }
    }
}

/// The service a [`BufferBodyLayer`] makes.
#[derive(Clone)]
pub struct BufferBodyService<S> {
    inner: S,
    limit: usize,
}

impl<S: fmt::Debug> fmt::Debug for BufferBodyService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferBodyService").field("inner", &self.inner).field("limit", &self.limit).finish()
    }
}

impl<S, B> Service<Request<B>> for BufferBodyService<S>
where
    S: Service<Request<Full<Bytes>>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    /// Always ready: the inner service is made ready in the call, once the body is
    /// read, so a slow body does not hold its readiness (a concurrency-limit permit, a
    /// connection) while it trickles in.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // A clone of the inner service, made ready only after the body is read.
        let mut inner = self.inner.clone();
        let limit = self.limit;
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let bytes = match Limited::new(body, limit).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) if e.is::<LengthLimitError>() => {
                    return Err(Box::new(BodyTooLarge { limit }) as BoxError);
                }
                Err(e) => return Err(e),
            };
            std::future::poll_fn(|cx| inner.poll_ready(cx)).await.map_err(Into::into)?;
            inner.call(Request::from_parts(parts, Full::new(bytes))).await.map_err(Into::into)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use tower::{ServiceExt, service_fn};

    use super::*;
    use crate::time::run_paused;

    /// A body whose first chunk never comes: a client uploading very slowly.
    struct Stalled;

    impl http_body::Body for Stalled {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
            Poll::Pending
        }
    }

    /// A concurrency limit of one: `poll_ready` takes the only permit, the call gives
    /// it back when it ends (a test stand-in for tower's `ConcurrencyLimit`).
    #[derive(Clone)]
    struct OnePermit<S> {
        inner: S,
        free: Arc<AtomicBool>,
        held: bool,
    }

    impl<S, R> Service<R> for OnePermit<S>
    where
        S: Service<R, Error = BoxError>,
        S::Future: Send + 'static,
    {
        type Response = S::Response;
        type Error = BoxError;
        type Future = BoxFuture<Result<S::Response, BoxError>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            if !self.held && self.free.swap(false, Ordering::SeqCst) {
                self.held = true;
            }
            if self.held { Poll::Ready(Ok(())) } else { Poll::Pending }
        }

        fn call(&mut self, req: R) -> Self::Future {
            assert!(std::mem::take(&mut self.held), "called without a permit");
            let call = self.inner.call(req);
            let free = self.free.clone();
            Box::pin(async move {
                let r = call.await;
                free.store(true, Ordering::SeqCst);
                r
            })
        }
    }

    /// Bug: the inner service's readiness (here its only concurrency permit) was taken
    /// in `poll_ready` and held while the body was read, with no time bound: one slow
    /// upload blocked every other request.
    #[test]
    fn a_slow_body_does_not_hold_the_inner_services_permit() {
        let r = run_paused(async {
            let echo = service_fn(|_req: Request<Full<Bytes>>| async { Ok::<_, BoxError>("sent") });
            let limited = OnePermit { inner: echo, free: Arc::new(AtomicBool::new(true)), held: false };
            let svc = BufferBodyLayer::new(1024).unwrap().layer(limited);
            let mut slow = svc.clone();
            let slow =
                ServiceExt::<Request<Stalled>>::ready(&mut slow).await.unwrap().call(Request::new(Stalled));
            let quick = svc.oneshot(Request::new(Full::new(Bytes::from("x"))));
            let r = tokio::time::timeout(Duration::from_secs(60), quick).await;
            drop(slow);
            r.map(|r| r.unwrap()).map_err(|_| "waited for the slow upload's permit")
        })
        .unwrap();
        assert_eq!(r, Ok("sent"));
    }
}
