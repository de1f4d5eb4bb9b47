//! HTTP over turmoil's simulated TCP: a hyper server for a tower service, and a one-shot
//! hyper client. Bodies are collected into [`Bytes`] (requests are small), so a request is
//! `Clone` and a `RetryLayer` can send it again.

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tower::{Service, ServiceExt};
use unbreakable::tower::BoxError;

/// The port every simulated service listens on.
pub const PORT: u16 = 80;

/// Serves `service` on [`PORT`] until the host is crashed: each connection on a task of
/// its own (tasks are local: the simulation runs every host on one thread).
pub async fn serve<S, F>(service: S) -> turmoil::Result
where
    S: Service<Request<Bytes>, Response = Response<Bytes>, Error = Infallible, Future = F> + Clone + 'static,
    F: Future<Output = Result<Response<Bytes>, Infallible>> + 'static,
{
    serve_on(PORT, service).await
}

/// [`serve`] on another `port`: a second service on the same host.
pub async fn serve_on<S, F>(port: u16, service: S) -> turmoil::Result
where
    S: Service<Request<Bytes>, Response = Response<Bytes>, Error = Infallible, Future = F> + Clone + 'static,
    F: Future<Output = Result<Response<Bytes>, Infallible>> + 'static,
{
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let service = service.clone();
        tokio::task::spawn_local(async move {
            let handle = hyper::service::service_fn(move |req: Request<Incoming>| {
                let service = service.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let bytes = body.collect().await?.to_bytes();
                    let response = service.oneshot(Request::from_parts(parts, bytes)).await;
                    let response = match response {
                        Ok(r) => r,
                        Err(never) => match never {},
                    };
                    Ok::<_, hyper::Error>(response.map(Full::new))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), handle)
                .await;
        });
    }
}

/// Sends `req` to `host` on a new connection and collects the answer. Unbounded: a
/// partitioned peer never answers, so callers bound it (a deadline, an attempt timeout).
pub async fn send(host: &'static str, req: Request<Bytes>) -> Result<Response<Bytes>, BoxError> {
    send_to(host, PORT, req).await
}

/// [`send`] to a service on another `port` of `host`.
pub async fn send_to(
    host: &'static str,
    port: u16,
    req: Request<Bytes>,
) -> Result<Response<Bytes>, BoxError> {
    let stream = turmoil::net::TcpStream::connect((host, port)).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::task::spawn_local(async move {
        let _ = connection.await;
    });
    let response = sender.send_request(req.map(Full::new)).await?;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, bytes))
}

/// Sends `req` to `host` bounded by `limit`, as a client does: the answer's status, or
/// `error: ...`, or `timed out`, as text for its log.
pub async fn status_of(host: &'static str, req: Request<Bytes>, limit: std::time::Duration) -> String {
    match tokio::time::timeout(limit, send(host, req)).await {
        Ok(Ok(r)) => r.status().as_u16().to_string(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "timed out".into(),
    }
}

/// A response with `status` and a text body.
pub fn text(status: u16, body: impl Into<Bytes>) -> Response<Bytes> {
    let mut response = Response::new(body.into());
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// A header's value as text, or "".
pub fn header<'a>(req: &'a Request<Bytes>, name: &str) -> &'a str {
    req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}
