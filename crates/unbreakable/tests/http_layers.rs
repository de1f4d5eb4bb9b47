//! The tower layers against a real HTTP server on the loopback interface.
//!
//! The server (hyper 1, on `127.0.0.1:0`) injects the faults: `/flaky` answers 503 twice,
//! `/throttled` answers 429 with `Retry-After: 1` once, `/down` always answers 503,
//! `/hang` never answers, `/deadline` reports the budget its own `DeadlineLayer` read
//! from the request's header. The client is hyper-util's client under the stack a
//! service would use:
//! `Fallback -> Retry -> Breaker -> Deadline (propagating) -> hyper client`.
//! Real time, so every delay is short; the whole test is bounded by a 30 s timeout.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use unbreakable::deadline::Deadline;
use unbreakable::retry::{Backoff, Breaker, BreakerConfig, Jitter, RetryPolicy};
use unbreakable::time::Clock;
use unbreakable::tower::http::{HttpRetry, is_server_failure, marked, request_deadline};
use unbreakable::tower::{
    BoxError, BreakerLayer, DeadlineLayer, FallbackLayer, FallbackServed, RetryLayer, TrustHeader,
};

type Body = BoxBody<Bytes, hyper::Error>;

fn full(text: impl Into<Bytes>) -> Full<Bytes> {
    Full::new(text.into())
}

fn reply(status: u16, text: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder().status(status).body(full(text)).expect("a valid response")
}

/// The fault-injecting server: how many times each path was hit.
#[derive(Default)]
struct Server {
    hits: Mutex<HashMap<String, usize>>,
}

impl Server {
    fn hit(&self, path: &str) -> usize {
        let mut hits = self.hits.lock().unwrap();
        let n = hits.entry(path.to_owned()).or_default();
        *n += 1;
        *n
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

async fn route(
    server: Arc<Server>,
    clock: Clock,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let n = server.hit(&path);
    Ok(match path.as_str() {
        "/flaky" if n <= 2 => reply(503, "busy"),
        "/flaky" => reply(200, "ok"),
        "/throttled" if n == 1 => {
            Response::builder().status(429).header("retry-after", "1").body(full("slow down")).unwrap()
        }
        "/throttled" => reply(200, "ok"),
        "/down" => reply(503, "down"),
        "/hang" => match std::future::pending::<Infallible>().await {},
        "/deadline" => {
            // The server side of propagation: its own DeadlineLayer, on its own clock.
            let report = tower::service_fn(|req: Request<Incoming>| async move {
                let header =
                    req.headers().get("x-request-timeout-ms").map(|v| v.to_str().unwrap_or("?").to_owned());
                let left = request_deadline(&req).map(|(d, c)| d.remaining(c.now()).as_millis());
                Ok::<_, BoxError>(reply(
                    200,
                    format!("{} {}", header.unwrap_or_default(), left.unwrap_or_default()),
                ))
            });
            // `call` without `ready`: a `service_fn` is always ready, and awaiting the
            // boxed future keeps the `Send` check of this spawned task simple (through
            // `oneshot`, rustc loses the error type's lifetime and rejects it).
            // The caller is one of our own services (loopback): its header is trusted.
            let mut svc = DeadlineLayer::new(clock).trust_header(TrustHeader::Always).layer(report);
            svc.call(req).await.unwrap_or_else(|e| reply(504, e.to_string()))
        }
        _ => reply(404, "no such path"),
    })
}

/// Starts the server on `127.0.0.1:0`; abort the handle to shut it down (its
/// connections are dropped with it).
async fn start(server: Arc<Server>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the loopback");
    let addr = listener.local_addr().unwrap();
    let clock = Clock::start(); // another machine's clock
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let server = server.clone();
            connections.spawn(async move {
                let svc = hyper::service::service_fn(move |req| route(server.clone(), clock, req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, task)
}

/// The client stack a service would build, over hyper-util's client.
fn client(
    clock: Clock,
    breaker: Breaker,
    attempt_timeout: Duration,
) -> impl Service<Request<Full<Bytes>>, Response = Response<Body>, Error = BoxError, Future: Send> + Clone {
    let hyper_client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let policy = RetryPolicy::new(
        Backoff::exponential(Duration::from_millis(10)).with_jitter(Jitter::Full).build().unwrap(),
        2,
    )
    .unwrap();
    let fallback =
        marked(|_e: &BoxError| Response::new(full("fallback").map_err(|never| match never {}).boxed()));
    ServiceBuilder::new()
        .layer(FallbackLayer::new(fallback))
        .layer(RetryLayer::new(policy, HttpRetry))
        .layer(BreakerLayer::new(breaker, is_server_failure::<Body, BoxError>))
        .layer(DeadlineLayer::new(clock).with_default_timeout(attempt_timeout).unwrap().propagating())
        .map_response(|r: Response<Incoming>| r.map(BodyExt::boxed))
        .service(hyper_client)
}

fn get(addr: SocketAddr, path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}{path}")).body(full("")).unwrap()
}

async fn text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.expect("a body").to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn fallback_reason(response: &Response<Body>) -> Option<String> {
    response.extensions().get::<FallbackServed>().map(|f| f.reason.clone())
}

#[tokio::test]
async fn the_layers_over_real_http() {
    tokio::time::timeout(Duration::from_secs(30), scenarios()).await.expect("the whole test within 30 s");
}

async fn scenarios() {
    let server = Arc::new(Server::default());
    let (addr, task) = start(server.clone()).await;
    let clock = Clock::start();
    let breaker = || Breaker::new(BreakerConfig { failure_threshold: 3, ..Default::default() }).unwrap();
    let svc = client(clock, breaker(), Duration::from_secs(2));

    // 1. Transient 503s are retried, and the third attempt succeeds.
    let r = svc.clone().oneshot(get(addr, "/flaky")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(fallback_reason(&r), None);
    assert_eq!(text(r).await, "ok");
    assert_eq!(server.hits("/flaky"), 3);

    // 2. A 429 with `Retry-After: 1` is retried after the second the server asked for,
    //    not after the 10 ms backoff. (A breaker of its own: a 429 counts against the
    //    breaker, and with step 1's two 503s it would open a shared one.)
    let started = Instant::now();
    let r = client(clock, breaker(), Duration::from_secs(2)).oneshot(get(addr, "/throttled")).await.unwrap();
    assert_eq!((r.status(), server.hits("/throttled")), (StatusCode::OK, 2));
    assert!(started.elapsed() >= Duration::from_secs(1), "waited {:?}", started.elapsed());

    // 3. The deadline travels as remaining time: a handler's deadline 800 ms away, of
    //    which 100 ms are spent before the call, reaches the server as at most 700 ms;
    //    the server's own layer turns it into a deadline on its clock with no more left.
    let mut req = get(addr, "/deadline");
    req.extensions_mut().insert(Deadline::after(clock.now(), Duration::from_millis(800)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = text(svc.clone().oneshot(req).await.unwrap()).await;
    let (header, left) = seen.split_once(' ').expect("`header left`");
    let (header, left): (u64, u64) = (header.parse().unwrap(), left.parse().unwrap());
    assert!((500..=700).contains(&header), "header {header} ms");
    assert!(left <= header && left > 0, "server-side remaining {left} ms, header {header} ms");
    //    With no deadline of its own, a request carries the client's default timeout.
    let seen = text(svc.clone().oneshot(get(addr, "/deadline")).await.unwrap()).await;
    let header: u64 = seen.split(' ').next().unwrap().parse().unwrap();
    assert!((1800..=2000).contains(&header), "header {header} ms");

    // 4. A dependency that keeps answering 503: the three attempts of the first call
    //    open the breaker (threshold 3) and, given up, return the last 503; from then on
    //    calls are refused without touching the server, and the fallback answers.
    //    (A breaker of its own: the 503s of step 1 would count against a shared one.)
    let svc = client(clock, breaker(), Duration::from_secs(2));
    let r = svc.clone().oneshot(get(addr, "/down")).await.unwrap();
    assert_eq!((r.status(), server.hits("/down")), (StatusCode::SERVICE_UNAVAILABLE, 3));
    for _ in 0..5 {
        let r = svc.clone().oneshot(get(addr, "/down")).await.unwrap();
        let reason = fallback_reason(&r).expect("a fallback");
        assert!(reason.starts_with("circuit breaker open"), "{reason}");
        assert_eq!(text(r).await, "fallback");
    }
    assert_eq!(server.hits("/down"), 3, "the open breaker kept every call off the server");

    // 5. A dependency that hangs: the client's deadline cuts the call, which is not
    //    retried (the budget is spent), and the fallback answers.
    let impatient = client(clock, breaker(), Duration::from_millis(100));
    let started = Instant::now();
    let r = impatient.oneshot(get(addr, "/hang")).await.unwrap();
    let reason = fallback_reason(&r).expect("a fallback");
    assert!(reason.starts_with("deadline exceeded"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.hits("/hang"), 1);

    // 6. A dependency that is down altogether (nothing listens on the port): each
    //    attempt is refused, the retries give up, and the fallback answers.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let svc = client(clock, breaker(), Duration::from_secs(2));
    let r = svc.clone().oneshot(get(closed_addr, "/anything")).await.unwrap();
    let reason = fallback_reason(&r).expect("a fallback");
    assert!(reason.starts_with("gave up after 3 attempts (retries exhausted)"), "{reason}");

    task.abort();
    assert!(task.await.unwrap_err().is_cancelled(), "the server was shut down");
}
