// Exercise 05.6: put the layers in the right order.
//
// What to do: `stack(client, breaker, clock)` wraps an HTTP client in four of the crate's
// tower layers: a fallback answer, a deadline for the whole request, retries with a
// per-attempt timeout, and a circuit breaker. Each is configured already; they are
// stacked in the wrong order. Reorder them so that, against the real HTTP server on
// loopback in the tests: a service that fails twice and then answers is retried until it
// answers; a service that is down opens the breaker after 3 failed attempts (whichever
// request made them), and then costs it nothing; a service that hangs is cut by the
// attempt timeout and retried until the request's 1 s deadline; and the caller always
// gets a response, the fallback when nothing else.
// Why it matters: each layer only sees what the layers below it let through. A fallback
// below the retries hides every failure from them; a breaker above the retries counts one
// failure per request however many attempts it made; a deadline below the retries
// restarts with every attempt. The same four lines in another order make another system.
// Chapter: 05-graceful-degradation, "The async edge: one nice-to-have call", and the
// docs of the crate's `tower` module (a client stack, outermost first).
// Hint: `a.layer(b.layer(client))` puts `a` outside `b`: a request meets `a` first.
//   Which layer must see every attempt, which one every failure, and which one the
//   request only once, before anything else?

use http::{Request, Response};
use std::time::Duration;
use tower_layer::Layer;
use tower_service::Service;
use unbreakable::retry::{Backoff, Breaker, RetryPolicy};
use unbreakable::time::Clock;
use unbreakable::tower::http::{HttpRetry, is_server_failure};
use unbreakable::tower::{BoxError, BreakerLayer, DeadlineLayer, FallbackLayer, RetryLayer};

pub type Req = Request<String>;
pub type Resp = Response<String>;

pub fn stack<S>(
    client: S,
    breaker: Breaker,
    clock: Clock,
) -> impl Service<Req, Response = Resp, Error = BoxError> + Clone
where
    S: Service<Req, Response = Resp, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let fallback = FallbackLayer::new(|_: &BoxError| Response::new("fallback".to_string()));
    let deadline =
        DeadlineLayer::new(clock).with_default_timeout(Duration::from_secs(1)).expect("a valid timeout");
    let policy =
        RetryPolicy::new(Backoff::exponential(Duration::from_millis(50)).build().expect("valid"), 20)
            .expect("a valid policy");
    let retry =
        RetryLayer::new(policy, HttpRetry).with_attempt_timeout(Duration::from_millis(200)).expect("valid");
    let breaker = BreakerLayer::new(breaker, is_server_failure::<String, BoxError>);
    // TODO: the order is wrong.
    breaker.layer(retry.layer(fallback.layer(deadline.layer(client))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::future::Future;
    use std::net::SocketAddr;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::time::{Instant, sleep};
    use unbreakable::retry::BreakerConfig;

    type Hits = Arc<Mutex<HashMap<String, usize>>>;

    /// The server: `/flaky` answers 503 twice then 200 "fresh"; `/down` always 503;
    /// `/hang` never answers; `/ok` answers 200 "ok". It counts the requests per path.
    async fn server() -> (SocketAddr, Hits) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits: Hits = Arc::default();
        let h = hits.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let h = h.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut n = 0;
                    while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf[n..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => n += k,
                        }
                    }
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let count = {
                        let mut g = h.lock().unwrap();
                        let c = g.entry(path.clone()).or_default();
                        *c += 1;
                        *c
                    };
                    let (status, body) = match path.as_str() {
                        "/flaky" if count <= 2 => (503, "busy"),
                        "/flaky" => (200, "fresh"),
                        "/down" => (503, "down"),
                        "/hang" => {
                            sleep(Duration::from_secs(3600)).await;
                            return;
                        }
                        _ => (200, "ok"),
                    };
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(reply.as_bytes()).await;
                });
            }
        });
        (addr, hits)
    }

    /// An HTTP/1.1 client, one connection per request, as a tower service.
    #[derive(Clone)]
    struct Client(SocketAddr);

    impl Service<Req> for Client {
        type Response = Resp;
        type Error = BoxError;
        type Future = Pin<Box<dyn Future<Output = Result<Resp, BoxError>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: Req) -> Self::Future {
            let addr = self.0;
            Box::pin(async move {
                let mut s = TcpStream::connect(addr).await?;
                let head = format!(
                    "{} {} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n",
                    req.method(),
                    req.uri().path()
                );
                s.write_all(head.as_bytes()).await?;
                let mut raw = String::new();
                s.read_to_string(&mut raw).await?;
                let status: u16 = raw.split_whitespace().nth(1).ok_or("no status line")?.parse()?;
                let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
                Ok(Response::builder().status(status).body(body)?)
            })
        }
    }

    fn get(path: &str) -> Req {
        Request::get(format!("http://test{path}")).body(String::new()).unwrap()
    }

    async fn setup() -> (impl Service<Req, Response = Resp, Error = BoxError> + Clone, Hits) {
        let (addr, hits) = server().await;
        let breaker = Breaker::new(BreakerConfig {
            failure_threshold: 3,
            cool_down: Duration::from_secs(60),
            ..Default::default()
        })
        .unwrap();
        (stack(Client(addr), breaker, Clock::start()), hits)
    }

    async fn send<S: Service<Req, Response = Resp, Error = BoxError>>(
        svc: &mut S,
        path: &str,
    ) -> Result<(u16, String), String> {
        std::future::poll_fn(|cx| svc.poll_ready(cx)).await.map_err(|e| e.to_string())?;
        let r = tokio::time::timeout(Duration::from_secs(600), svc.call(get(path)))
            .await
            .map_err(|_| "no answer in 600 s".to_string())?;
        r.map(|resp| (resp.status().as_u16(), resp.into_body()))
            .map_err(|e| format!("an error reached the caller: {e}"))
    }

    fn hits(h: &Hits, path: &str) -> usize {
        h.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn a_flaky_service_is_retried_until_it_answers() {
        let (mut svc, h) = setup().await;
        assert_eq!(send(&mut svc, "/flaky").await, Ok((200, "fresh".to_string())), "retried, not a fallback");
        assert_eq!(hits(&h, "/flaky"), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_service_that_is_down_opens_the_breaker_on_attempts() {
        let (mut svc, h) = setup().await;
        for _ in 0..5 {
            assert_eq!(send(&mut svc, "/down").await, Ok((200, "fallback".to_string())));
        }
        assert_eq!(
            hits(&h, "/down"),
            3,
            "three failed attempts open the breaker; after that the service is spared"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_service_is_cut_per_attempt_and_the_request_by_its_deadline() {
        let (mut svc, h) = setup().await;
        let start = Instant::now();
        assert_eq!(send(&mut svc, "/hang").await, Ok((200, "fallback".to_string())));
        assert_eq!(start.elapsed(), Duration::from_secs(1), "the request's deadline, not the attempt's");
        assert!(hits(&h, "/hang") >= 2, "attempts cut at 200 ms and retried: {} attempts", hits(&h, "/hang"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_healthy_service_is_untouched() {
        let (mut svc, h) = setup().await;
        assert_eq!(send(&mut svc, "/ok").await, Ok((200, "ok".to_string())));
        assert_eq!(hits(&h, "/ok"), 1);
    }
}
