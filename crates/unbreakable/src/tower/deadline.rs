//! `DeadlineLayer`: a deadline for every `http::Request`, read from the wire, kept in
//! the extensions, passed on.

use std::fmt;
use std::sync::Arc;
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
///    because machines' clocks differ) if the caller is trusted ([`TrustHeader`]), raised
///    to the layer's floor, and the layer's default timeout;
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
/// # Who may set the deadline
/// The inbound header decides when the server cancels its handler. From the public
/// internet that is a client choosing to cut the work mid-way (`x-request-timeout-ms: 1`)
/// after side effects began, so by default the header is **not trusted**
/// ([`TrustHeader::Never`]): a public server bounds requests with its own default
/// timeout. Trust it ([`trust_header`](DeadlineLayer::trust_header)) on a listener only
/// your services reach, or for the peers a predicate recognises (a mutual-TLS identity,
/// an address from axum's `ConnectInfo`). A trusted value is raised to a floor
/// ([`with_header_floor`](DeadlineLayer::with_header_floor), 50 ms by default) so no
/// caller gets a handler cancelled before it can do anything.
///
/// # Default
/// | setting | default |
/// |---|---|
/// | header | [`TimeoutHeader::default`]: milliseconds in `x-request-timeout-ms` |
/// | trust in the inbound header | [`TrustHeader::Never`] |
/// | floor for a trusted header | [`DEFAULT_HEADER_FLOOR`] (50 ms) |
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
/// use unbreakable::tower::{http::request_deadline, BoxError, DeadlineLayer, TrustHeader};
///
/// let clock = Clock::start();
/// // A handler that reports how much of the caller's budget it was given.
/// let handler = service_fn(|req: http::Request<()>| async move {
///     let (deadline, clock) = request_deadline(&req).unwrap();
///     Ok::<_, BoxError>(deadline.remaining(clock.now()))
/// });
/// // An internal listener: the callers are our own services, their header is trusted.
/// let internal = DeadlineLayer::new(clock)
///     .with_default_timeout(Duration::from_secs(10))
///     .unwrap()
///     .trust_header(TrustHeader::Always);
/// let svc = ServiceBuilder::new().layer(internal).service(handler);
///
/// let req = http::Request::builder().header("x-request-timeout-ms", "800").body(()).unwrap();
/// assert_eq!(svc.clone().oneshot(req).await.unwrap(), Duration::from_millis(800));
/// // Raised to the floor: no caller cancels the handler before it can start.
/// let tiny = http::Request::builder().header("x-request-timeout-ms", "1").body(()).unwrap();
/// assert_eq!(svc.clone().oneshot(tiny).await.unwrap(), Duration::from_millis(50));
///
/// // A public listener (the default): the header is ignored, the default timeout rules.
/// let public = ServiceBuilder::new()
///     .layer(DeadlineLayer::new(clock).with_default_timeout(Duration::from_secs(10)).unwrap())
///     .service(handler);
/// let req = http::Request::builder().header("x-request-timeout-ms", "1").body(()).unwrap();
/// assert_eq!(public.oneshot(req).await.unwrap(), Duration::from_secs(10));
/// # let _ = DeadlineExceeded { deadline: Duration::ZERO, now: Duration::ZERO };
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct DeadlineLayer {
    clock: Clock,
    header: TimeoutHeader,
    trust: TrustHeader,
    floor: Duration,
    default_timeout: Option<Duration>,
    propagating: bool,
}

/// The least time a trusted inbound header may leave a handler unless configured
/// otherwise: 50 ms.
pub const DEFAULT_HEADER_FLOOR: Duration = Duration::from_millis(50);

/// Whose inbound deadline header a [`DeadlineLayer`] believes.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum TrustHeader {
    /// Nobody's: the header is ignored (the default; right for a public listener).
    #[default]
    Never,
    /// Every caller's: a listener only your own services can reach.
    Always,
    /// The callers a predicate recognises from the request head (a mutual-TLS
    /// identity or a peer address an acceptor stored in the extensions, a header a
    /// gateway sets and strips from outside traffic).
    If(Arc<dyn Fn(&http::request::Parts) -> bool + Send + Sync>),
}

impl TrustHeader {
    /// Trusts the header of the requests `trusted` accepts.
    pub fn when(trusted: impl Fn(&http::request::Parts) -> bool + Send + Sync + 'static) -> Self {
        TrustHeader::If(Arc::new(trusted))
    }

    fn trusts(&self, head: &http::request::Parts) -> bool {
        match self {
            TrustHeader::Never => false,
            TrustHeader::Always => true,
            TrustHeader::If(trusted) => trusted(head),
        }
    }
}

impl fmt::Debug for TrustHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustHeader::Never => f.write_str("Never"),
            TrustHeader::Always => f.write_str("Always"),
            TrustHeader::If(_) => f.write_str("If(..)"),
        }
    }
}

impl DeadlineLayer {
    /// A layer measuring deadlines on `clock`: give every layer and handler of a process
    /// the same clock.
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            header: TimeoutHeader::default(),
            trust: TrustHeader::Never,
            floor: DEFAULT_HEADER_FLOOR,
            default_timeout: None,
            propagating: false,
        }
    }

    /// Believes the inbound header of the callers `trust` accepts (default:
    /// [`TrustHeader::Never`]).
    pub fn trust_header(mut self, trust: TrustHeader) -> Self {
        self.trust = trust;
        self
    }

    /// Raises a trusted header's remaining time to at least `floor` (default
    /// [`DEFAULT_HEADER_FLOOR`]); zero takes the header as it is.
    ///
    /// # Errors
    /// A [`ConfigError`] for a floor above a minute: it would override every
    /// caller's budget.
    pub fn with_header_floor(mut self, floor: Duration) -> Result<Self, ConfigError> {
        if floor > Duration::from_secs(60) {
            return Err(ConfigError::new(
                "header_floor",
                format!("{floor:?} would override every caller's budget; use tens of milliseconds"),
            ));
        }
        self.floor = floor;
        Ok(self)
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
    fn deadline_of(&self, req: &http::request::Parts, trusted: bool, now: Duration) -> Option<Deadline> {
        let own = req.extensions.get::<Deadline>().map(|d| {
            // A deadline measured on another clock is carried over as its remaining time.
            let their_now = req.extensions.get::<Clock>().map_or(now, Clock::now);
            Deadline::after(now, d.remaining(their_now))
        });
        let header = match trusted {
            true => self.header.read(&req.headers).map(|left| Deadline::after(now, left.max(self.floor))),
            false => None,
        };
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

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let clock = self.layer.clock;
        let now = clock.now();
        let (mut head, body) = req.into_parts();
        let trusted = self.layer.trust.trusts(&head);
        let found = self.layer.deadline_of(&head, trusted, now);
        if !trusted {
            // Ignored, and removed: a handler or gateway that forwards inbound headers
            // must not pass an untrusted caller's deadline on to internal services.
            head.headers.remove(self.layer.header.name());
        }
        let mut req = Request::from_parts(head, body);
        let Some(deadline) = found else {
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
            let server = DeadlineLayer::new(clock)
                .trust_header(TrustHeader::Always)
                .with_header_floor(Duration::ZERO)
                .unwrap()
                .layer(slow);
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

    /// Bug: any client could choose when the server's handler is cancelled
    /// (`x-request-timeout-ms: 1`): the inbound header was trusted from everyone.
    #[test]
    fn an_inbound_header_from_an_untrusted_peer_cannot_cut_the_handler() {
        let r = run_paused(async {
            let slow = service_fn(|_req: Request<()>| async {
                tokio::time::sleep(ms(10)).await;
                Ok::<_, BoxError>("done")
            });
            let req = Request::builder().header("x-request-timeout-ms", "1").body(()).unwrap();
            DeadlineLayer::new(Clock::start()).layer(slow).oneshot(req).await.map_err(|e| e.to_string())
        })
        .unwrap();
        assert_eq!(r, Ok("done"));
    }

    /// Bug: an untrusted inbound header was ignored but left in the request, so a
    /// handler or gateway forwarding inbound headers let a public client set the
    /// deadline of the internal calls behind it.
    #[test]
    fn an_untrusted_header_is_removed_before_the_request_goes_on() {
        let seen = run_paused(async {
            let req = Request::builder().header("x-request-timeout-ms", "1").body(()).unwrap();
            DeadlineLayer::new(Clock::start()).layer(echo()).oneshot(req).await.unwrap()
        })
        .unwrap();
        assert_eq!(seen, (None, None));
    }

    /// A predicate picks the trusted peers; a trusted header is raised to the floor.
    #[test]
    fn a_trusted_peer_sets_the_deadline_raised_to_the_floor() {
        let seen = run_paused(async {
            #[derive(Clone)]
            struct Peer(&'static str);
            let layer = DeadlineLayer::new(Clock::start()).trust_header(TrustHeader::when(|head| {
                head.extensions.get::<Peer>().is_some_and(|p| p.0 == "mesh")
            }));
            let svc = layer.layer(echo());
            let mut seen = Vec::new();
            for (peer, header) in [("mesh", "1"), ("mesh", "800"), ("internet", "1")] {
                let mut req = Request::builder().header("x-request-timeout-ms", header).body(()).unwrap();
                req.extensions_mut().insert(Peer(peer));
                seen.push(svc.clone().oneshot(req).await.unwrap().1);
            }
            seen
        })
        .unwrap();
        assert_eq!(seen, vec![Some(DEFAULT_HEADER_FLOOR), Some(ms(800)), None]);
        assert!(DeadlineLayer::new(Clock::default()).with_header_floor(Duration::from_secs(61)).is_err());
    }
}
