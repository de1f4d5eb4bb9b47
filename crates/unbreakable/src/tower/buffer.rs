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

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The service made ready by `poll_ready` is used for this call (tower's
        // clone-and-swap): the body is read first, then the call is made.
        let spare = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, spare);
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
            inner.call(Request::from_parts(parts, Full::new(bytes))).await.map_err(Into::into)
        })
    }
}
