//! The layers in a real axum 0.8 service, served on 127.0.0.1 with tokio.
//!
//! Every layer's service returns a `BoxError`; axum's `Router::layer` accepts only
//! infallible services, so the stack needs `HandleErrorLayer` on top, turning each
//! error into a status (here with [`error_status`]). The server stack, outermost first:
//! `HandleErrorLayer -> BreakerLayer -> DeadlineLayer -> routes`; one route calls an
//! upstream through the client stack `FallbackLayer -> RetryLayer -> upstream`.
//!
//! The routes: `/hang` never answers (the server's deadline cuts it: 504), `/fail`
//! answers 500 (counted by the breaker), `/upstream` calls an upstream that always
//! answers 503 (retried, then the fallback answers 200 "degraded"). Once the breaker has
//! counted three failures, every route is refused with 503 and `Retry-After`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderValue, Request, Response, StatusCode, header::RETRY_AFTER};
use axum::response::IntoResponse;
use axum::routing::get;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use unbreakable::retry::{Backoff, Breaker, BreakerConfig, BreakerOpen, RetryPolicy};
use unbreakable::time::Clock;
use unbreakable::tower::http::{HttpRetry, error_status, is_server_failure};
use unbreakable::tower::{BoxError, BreakerLayer, DeadlineLayer, FallbackLayer, RetryLayer};

/// What `HandleErrorLayer` answers for a layer's error: the status, and `Retry-After`
/// when the breaker is open.
async fn on_error(error: BoxError) -> axum::response::Response {
    let mut response = (error_status(&error), error.to_string()).into_response();
    if let Some(open) = error.downcast_ref::<BreakerOpen>() {
        let secs = open.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The client stack of `/upstream`, around an upstream that always answers 503
/// (in-process here; hyper's client in a real service). Boxed, as a service keeps it
/// in its state: the handler's future then names no closure types.
fn upstream_client(calls: Arc<AtomicUsize>) -> BoxCloneSyncService<Request<()>, Response<()>, BoxError> {
    let dependency = service_fn(move |_req: Request<()>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, BoxError>(Response::builder().status(503).body(()).unwrap()) }
    });
    let policy =
        RetryPolicy::new(Backoff::exponential(Duration::from_millis(1)).build().unwrap(), 2).unwrap();
    let stack = ServiceBuilder::new()
        .layer(FallbackLayer::new(|_e: &BoxError| Response::builder().status(200).body(()).unwrap()))
        .layer(RetryLayer::new(policy, HttpRetry))
        .service(dependency);
    BoxCloneSyncService::new(stack)
}

/// The handler of `/upstream`.
async fn upstream(client: BoxCloneSyncService<Request<()>, Response<()>, BoxError>) -> (StatusCode, String) {
    match client.oneshot(Request::new(())).await {
        // Retries given up on a response return that response (tower's convention).
        Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => (StatusCode::OK, "degraded".to_owned()),
        Ok(r) => (r.status(), "upstream answered".to_owned()),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn app(breaker: Breaker, upstream_calls: Arc<AtomicUsize>) -> Router {
    let client = upstream_client(upstream_calls);
    let layers = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(on_error))
        .layer(BreakerLayer::new(breaker, is_server_failure::<axum::body::Body, BoxError>))
        .layer(DeadlineLayer::new(Clock::start()).with_default_timeout(Duration::from_millis(50)).unwrap());
    Router::new()
        .route("/hang", get(std::future::pending::<&'static str>))
        .route("/fail", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "broken") }))
        .route("/upstream", get(move || upstream(client.clone())))
        .layer(layers)
}

async fn get_status(addr: SocketAddr, path: &str) -> (StatusCode, Option<String>, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = Request::get(format!("http://{addr}{path}")).body(Full::new(Bytes::new())).unwrap();
    let response = client.request(req).await.expect("the server answers");
    let status = response.status();
    let retry_after = response.headers().get(RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.expect("a body").to_bytes();
    (status, retry_after, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn an_axum_router_maps_the_layers_errors_to_statuses() {
    let breaker = Breaker::new(BreakerConfig { failure_threshold: 3, ..Default::default() }).unwrap();
    let upstream_calls = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the loopback");
    let addr = listener.local_addr().unwrap();
    let server =
        tokio::spawn(axum::serve(listener, app(breaker.clone(), upstream_calls.clone())).into_future());

    let checks = async {
        // The upstream's 503s are retried (3 attempts), then the fallback answers.
        let (status, _, body) = get_status(addr, "/upstream").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "degraded"));
        assert_eq!(upstream_calls.load(Ordering::SeqCst), 3);

        // A handler that hangs is cut by the server's deadline: 504, and a failure.
        let (status, _, body) = get_status(addr, "/hang").await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");

        // Two 500s: with the timeout, three failures open the breaker.
        for _ in 0..2 {
            assert_eq!(get_status(addr, "/fail").await.0, StatusCode::INTERNAL_SERVER_ERROR);
        }
        assert_eq!(breaker.state().name(), "open");

        // Open: refused without running the handler, 503 with Retry-After.
        let (status, retry_after, _) = get_status(addr, "/upstream").await;
        assert_eq!((status, retry_after.as_deref()), (StatusCode::SERVICE_UNAVAILABLE, Some("5")));
        assert_eq!(upstream_calls.load(Ordering::SeqCst), 3, "the handler did not run");
    };
    tokio::time::timeout(Duration::from_secs(30), checks).await.expect("the whole test within 30 s");
    server.abort();
    assert!(server.await.unwrap_err().is_cancelled(), "the server was shut down");
}
