//! `DeadlineLayer`: a deadline for every `http::Request`, read from the wire, kept in
//! the extensions, passed on.

use std::task::{Context, Poll};
use std::time::Duration;

use http::Request;
use tower_layer::Layer;
use tower_service::Service;

pub use super::http::TimeoutHeader;
use super::{BoxError, BoxFuture};
use crate::deadline::{Deadline, within};
use crate::error::ConfigError;
use crate::time::Clock;

/// Bounds each `http::Request` by a [`Deadline`].
///
/// For each request, on the layer's [`Clock`]:
/// 1. the deadline is the earliest of: the request's own ([`Deadline`] in its
///    extensions, as a handler sets it for a downstream call; converted from the
///    [`Clock`] stored beside it if there is one), the remaining time its header carries
///    (`x-request-timeout-ms` by default: the caller's budget, sent as *remaining* time
///    because machines' clocks differ), and the layer's default timeout;
/// 2. if nothing is left, it fails fast with [`DeadlineExceeded`](crate::deadline::DeadlineExceeded)
///    and the inner service is not called;
/// 3. otherwise the deadline and the clock are stored in the request's extensions (a
///    handler reads them with [`http::request_deadline`](super::http::request_deadline)
///    and calls [`Deadline::for_downstream`]), the remaining time is written into the
///    header if the layer is [`propagating`](DeadlineLayer::propagating) (client side),
///    and the call is cut when the deadline passes.
///
/// A request with no deadline anywhere and no default timeout passes untouched.
///
/// # Default
/// | setting | default |
/// |---|---|
/// | header | [`TimeoutHeader::default`]: milliseconds in `x-request-timeout-ms` |
/// | default timeout | none |
/// | propagating | no (a server reads the header; a client writes it) |
///
/// # Errors
/// [`DeadlineExceeded`](crate::deadline::DeadlineExceeded) (boxed) when the deadline had
/// passed or passes during the call; the inner service's errors unchanged (boxed).
///
/// # Cancellation
/// When the deadline passes, the inner call's future is dropped at its await point.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use unbreakable::deadline::DeadlineExceeded;
/// use unbreakable::time::Clock;
/// use unbreakable::tower::{http::request_deadline, BoxError, DeadlineLayer};
///
/// let clock = Clock::start();
/// // A handler that reports how much of the caller's budget it was given.
/// let handler = service_fn(|req: http::Request<()>| async move {
///     let (deadline, clock) = request_deadline(&req).unwrap();
///     Ok::<_, BoxError>(deadline.remaining(clock.now()))
/// });
/// let svc = ServiceBuilder::new()
///     .layer(DeadlineLayer::new(clock).with_default_timeout(Duration::from_secs(10)).unwrap())
///     .service(handler);
///
/// let req = http::Request::builder().header("x-request-timeout-ms", "800").body(()).unwrap();
/// assert_eq!(svc.clone().oneshot(req).await.unwrap(), Duration::from_millis(800));
///
/// let spent = http::Request::builder().header("x-request-timeout-ms", "0").body(()).unwrap();
/// let e = svc.oneshot(spent).await.unwrap_err();
/// assert!(e.is::<DeadlineExceeded>(), "{e}");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct DeadlineLayer {
    clock: Clock,
    header: TimeoutHeader,
    default_timeout: Option<Duration>,
    propagating: bool,
}

impl DeadlineLayer {
    /// A layer measuring deadlines on `clock`: give every layer and handler of a process
    /// the same clock.
    pub fn new(clock: Clock) -> Self {
        Self { clock, header: TimeoutHeader::default(), default_timeout: None, propagating: false }
    }

    /// Reads (and, when propagating, writes) the remaining time in `header`.
    pub fn with_header(mut self, header: TimeoutHeader) -> Self {
        self.header = header;
        self
    }

    /// Bounds every request by `timeout` from its arrival, or by its own deadline if
    /// that is earlier: a local timeout never extends the caller's deadline.
    ///
    /// # Errors
    /// A [`ConfigError`] for a zero timeout, which would refuse every request.
    pub fn with_default_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        if timeout.is_zero() {
            return Err(ConfigError::new(
                "default_timeout",
                "a zero timeout refuses every request; use at least 1 ms",
            ));
        }
        self.default_timeout = Some(timeout);
        Ok(self)
    }

    /// Writes the remaining time into the header of each request passed on: the client
    /// side of propagation.
    pub fn propagating(mut self) -> Self {
        self.propagating = true;
        self
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService { inner, layer: self.clone() }
    }
}

/// The service a [`DeadlineLayer`] makes.
#[derive(Debug, Clone)]
pub struct DeadlineService<S> {
    inner: S,
    layer: DeadlineLayer,
}

impl DeadlineLayer {
    /// The deadline of `req` at `now`: the earliest of its extension, its header and the
    /// default timeout.
    fn deadline_of<B>(&self, req: &Request<B>, now: Duration) -> Option<Deadline> {
        let own = req.extensions().get::<Deadline>().map(|d| {
            // A deadline measured on another clock is carried over as its remaining time.
            let their_now = req.extensions().get::<Clock>().map_or(now, Clock::now);
            Deadline::after(now, d.remaining(their_now))
        });
        let header = self.header.read(req.headers()).map(|left| Deadline::after(now, left));
        let default = self.default_timeout.map(|t| Deadline::after(now, t));
        [own, header, default].into_iter().flatten().min()
    }
}

impl<S, B> Service<Request<B>> for DeadlineService<S>
where
    S: Service<Request<B>>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let clock = self.layer.clock;
        let now = clock.now();
        let Some(deadline) = self.layer.deadline_of(&req, now) else {
            let call = self.inner.call(req);
            return Box::pin(async move { call.await.map_err(Into::into) });
        };
        let left = match deadline.check(now) {
            Ok(left) => left,
            Err(e) => return Box::pin(std::future::ready(Err(e.into()))),
        };
        req.extensions_mut().insert(deadline);
        req.extensions_mut().insert(clock);
        if self.layer.propagating {
            self.layer.header.write(req.headers_mut(), left);
        }
        let call = self.inner.call(req);
        Box::pin(async move {
            match within(deadline, &clock, call).await {
                Ok(outcome) => outcome.map_err(Into::into),
                Err(exceeded) => Err(exceeded.into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline::DeadlineExceeded;
    use crate::time::run_paused;
    use tower::{ServiceExt, service_fn};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// What the inner service saw: the header's value and the remaining time of the
    /// deadline in the extensions.
    type Seen = (Option<String>, Option<Duration>);

    fn echo() -> impl Service<Request<()>, Response = Seen, Error = BoxError, Future = impl Send> + Clone {
        service_fn(|req: Request<()>| async move {
            let header = req.headers().get("x-request-timeout-ms").map(|v| v.to_str().unwrap().to_owned());
            let left = super::super::http::request_deadline(&req).map(|(d, c)| d.remaining(c.now()));
            Ok::<Seen, BoxError>((header, left))
        })
    }

    #[test]
    fn the_earliest_of_header_extension_and_default_wins_and_is_propagated() {
        let seen = run_paused(async {
            let clock = Clock::start();
            let client =
                DeadlineLayer::new(clock).with_default_timeout(ms(1000)).unwrap().propagating().layer(echo());
            let mut seen = Vec::new();
            // Only the default.
            seen.push(client.clone().oneshot(Request::new(())).await.unwrap());
            // A handler's deadline, 300 ms away, on the same clock.
            let mut req = Request::new(());
            req.extensions_mut().insert(Deadline::after(clock.now(), ms(300)));
            seen.push(client.clone().oneshot(req).await.unwrap());
            // A deadline on another clock started 50 ms later: carried as its remaining time.
            tokio::time::sleep(ms(50)).await;
            let other = Clock::start();
            let mut req = Request::new(());
            req.extensions_mut().insert(Deadline::after(other.now(), ms(200)));
            req.extensions_mut().insert(other);
            seen.push(client.clone().oneshot(req).await.unwrap());
            // A header with more than the default: the default wins.
            let req = Request::builder().header("x-request-timeout-ms", "5000").body(()).unwrap();
            seen.push(client.oneshot(req).await.unwrap());
            seen
        })
        .unwrap();
        let s = |v: &str, left| (Some(v.to_owned()), Some(ms(left)));
        assert_eq!(seen, vec![s("1000", 1000), s("300", 300), s("200", 200), s("1000", 1000)]);
    }

    #[test]
    fn fails_fast_when_nothing_is_left_and_cuts_a_slow_call_at_the_deadline() {
        let (spent, slow, at, untouched) = run_paused(async {
            let clock = Clock::start();
            let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let counted = calls.clone();
            let slow = service_fn(move |_req: Request<()>| {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok::<_, BoxError>(())
                }
            });
            let server = DeadlineLayer::new(clock).layer(slow);
            let req = Request::builder().header("x-request-timeout-ms", "0").body(()).unwrap();
            let spent = server.clone().oneshot(req).await.unwrap_err();
            let spent = (
                spent.downcast_ref::<DeadlineExceeded>().copied(),
                calls.load(std::sync::atomic::Ordering::SeqCst),
            );
            let req = Request::builder().header("x-request-timeout-ms", "250").body(()).unwrap();
            let slow = server.clone().oneshot(req).await.unwrap_err();
            let at = clock.now();
            let untouched = DeadlineLayer::new(clock).layer(echo()).oneshot(Request::new(())).await.unwrap();
            (spent, slow.is::<DeadlineExceeded>(), at, untouched)
        })
        .unwrap();
        assert_eq!(spent, (Some(DeadlineExceeded { deadline: Duration::ZERO, now: Duration::ZERO }), 0));
        assert!(slow);
        assert_eq!(at, ms(250));
        assert_eq!(untouched, (None, None), "no deadline anywhere: nothing added");
    }
}
