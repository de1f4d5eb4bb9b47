//! What the layers need to know about HTTP: which answers to retry, which count against
//! a breaker, and how a deadline travels in a header.
//!
//! # The deadline on the wire
//! Inside a process a deadline is absolute (a [`Deadline`] on a [`Clock`]); between
//! machines it travels as the time *remaining*, because their clocks differ (gRPC's
//! `grpc-timeout` does the same). [`TimeoutHeader`] reads and writes that header;
//! [`set_deadline_header`] is the client side; the
//! [`DeadlineLayer`](super::DeadlineLayer) reads it on the server side.

use std::time::Duration;

use http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use http::{HeaderMap, Method, Request, Response, StatusCode};

use super::{BoxError, Classify, FallbackServed, GaveUp, Verdict};
use crate::deadline::{Deadline, DeadlineExceeded};
use crate::error::ConfigError;
use crate::retry::{BreakerOpen, ErrorClass, MAX_DELAY};
use crate::time::Clock;

/// The header that carries the remaining time in milliseconds unless configured
/// otherwise.
pub const DEFAULT_TIMEOUT_HEADER: &str = "x-request-timeout-ms";

/// How the remaining time of a request's deadline is written in its headers.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use http::HeaderMap;
/// use unbreakable::tower::TimeoutHeader;
///
/// let mut headers = HeaderMap::new();
/// TimeoutHeader::default().write(&mut headers, Duration::from_millis(1500));
/// assert_eq!(headers["x-request-timeout-ms"], "1500");
///
/// TimeoutHeader::Grpc.write(&mut headers, Duration::from_millis(1500));
/// assert_eq!(headers["grpc-timeout"], "1500000u");
/// assert_eq!(TimeoutHeader::Grpc.read(&headers), Some(Duration::from_millis(1500)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutHeader {
    /// Whole milliseconds, as a decimal number, in the named header.
    Millis(HeaderName),
    /// gRPC's `grpc-timeout`: at most 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
    Grpc,
}

impl Default for TimeoutHeader {
    /// Milliseconds in `x-request-timeout-ms`.
    fn default() -> Self {
        TimeoutHeader::Millis(HeaderName::from_static(DEFAULT_TIMEOUT_HEADER))
    }
}

impl TimeoutHeader {
    /// Milliseconds in the header `name`.
    ///
    /// # Errors
    /// A [`ConfigError`] if `name` is not a valid header name.
    pub fn millis(name: &str) -> Result<Self, ConfigError> {
        HeaderName::try_from(name)
            .map(TimeoutHeader::Millis)
            .map_err(|_| ConfigError::new("header", format!("{name:?} is not a valid HTTP header name")))
    }

    /// The header's name.
    pub fn name(&self) -> HeaderName {
        match self {
            TimeoutHeader::Millis(name) => name.clone(),
            TimeoutHeader::Grpc => HeaderName::from_static("grpc-timeout"),
        }
    }

    /// The remaining time the headers carry: `None` if the header is absent or cannot
    /// be read (a malformed header is ignored, never trusted). At most [`MAX_DELAY`].
    pub fn read(&self, headers: &HeaderMap) -> Option<Duration> {
        let value = headers.get(self.name())?.to_str().ok()?.trim();
        let left = match self {
            TimeoutHeader::Millis(_) => Duration::from_millis(value.parse::<u64>().ok()?),
            TimeoutHeader::Grpc => parse_grpc_timeout(value)?,
        };
        Some(left.min(MAX_DELAY))
    }

    /// Writes `remaining` into the headers, rounded down (a callee must never be
    /// given more time than the caller has), replacing any value already there.
    pub fn write(&self, headers: &mut HeaderMap, remaining: Duration) {
        let value = match self {
            TimeoutHeader::Millis(_) => remaining.as_millis().to_string(),
            TimeoutHeader::Grpc => format_grpc_timeout(remaining),
        };
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(self.name(), value);
        }
    }
}

fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let split = value.len().checked_sub(1)?;
    let (digits, unit) = value.split_at_checked(split)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The finest unit whose count fits gRPC's 8 digits, rounded down.
fn format_grpc_timeout(d: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let units: [(u128, &str); 6] = [
        (1, "n"),
        (1_000, "u"),
        (1_000_000, "m"),
        (1_000_000_000, "S"),
        (60_000_000_000, "M"),
        (3_600_000_000_000, "H"),
    ];
    let nanos = d.as_nanos();
    for (per, unit) in units {
        if nanos / per <= MAX {
            return format!("{}{unit}", nanos / per);
        }
    }
    format!("{MAX}H")
}

/// Writes the time remaining before `deadline` (on `clock`) into the request's
/// `header`: the client side of deadline propagation. The
/// [`DeadlineLayer`](super::DeadlineLayer) does this itself when
/// [`propagating`](super::DeadlineLayer::propagating).
///
/// # Errors
/// [`DeadlineExceeded`] if nothing is left: do not send the request.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// use unbreakable::deadline::Deadline;
/// use unbreakable::time::Clock;
/// use unbreakable::tower::{http::set_deadline_header, TimeoutHeader};
///
/// let clock = Clock::start();
/// let deadline = Deadline::after(clock.now(), Duration::from_secs(2));
/// tokio::time::sleep(Duration::from_millis(500)).await;
/// let mut req = http::Request::new(());
/// set_deadline_header(&mut req, &TimeoutHeader::default(), deadline, &clock).unwrap();
/// assert_eq!(req.headers()["x-request-timeout-ms"], "1500");
/// # });
/// ```
pub fn set_deadline_header<B>(
    req: &mut Request<B>,
    header: &TimeoutHeader,
    deadline: Deadline,
    clock: &Clock,
) -> Result<(), DeadlineExceeded> {
    let left = deadline.check(clock.now())?;
    header.write(req.headers_mut(), left);
    Ok(())
}

/// The request's deadline, as the [`DeadlineLayer`](super::DeadlineLayer) stored it in
/// its extensions, with the clock it is measured on.
pub fn request_deadline<B>(req: &Request<B>) -> Option<(Deadline, Clock)> {
    let deadline = req.extensions().get::<Deadline>().copied()?;
    let clock = req.extensions().get::<Clock>().copied()?;
    Some((deadline, clock))
}

/// The server's `Retry-After` at `now`, in either form: delta-seconds
/// (`Retry-After: 120`) or an HTTP-date (`Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`,
/// measured from `now`; a date already past is zero). At most [`MAX_DELAY`]; `None` if
/// absent or malformed. The pure form of [`retry_after`]: `now` is an input.
///
/// # Examples
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use http::{header::RETRY_AFTER, HeaderMap};
/// use unbreakable::tower::http::retry_after_at;
///
/// let mut h = HeaderMap::new();
/// h.insert(RETRY_AFTER, "120".parse().unwrap());
/// let now = UNIX_EPOCH + Duration::from_secs(1_445_412_470); // 07:27:50 GMT
/// assert_eq!(retry_after_at(&h, now), Some(Duration::from_secs(120)));
/// h.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
/// assert_eq!(retry_after_at(&h, now), Some(Duration::from_secs(10)));
/// ```
pub fn retry_after_at(headers: &HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let after = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(after.min(MAX_DELAY))
}

/// The server's `Retry-After` now (on the system clock): [`retry_after_at`] at
/// `SystemTime::now()`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, std::time::SystemTime::now())
}

/// Whether a request may be retried automatically: its method is idempotent by RFC 9110
/// (GET, HEAD, OPTIONS, TRACE, PUT, DELETE), or it carries an `Idempotency-Key` header
/// (the server then answers a repeat with the first outcome). A POST or PATCH without a
/// key may have done its work before the error: it is not retried.
pub fn is_retry_safe<B>(req: &Request<B>) -> bool {
    matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    ) || req.headers().contains_key(IDEMPOTENCY_KEY)
}

/// The header a client sets to make a non-idempotent request safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The [`RetryLayer`](super::RetryLayer) classifier for an HTTP client whose errors are
/// boxed (as the layers' are), on the request and its outcome:
///
/// | outcome | verdict |
/// |---|---|
/// | 429, or 503 with `Retry-After` | retry, [`Throttled`](ErrorClass::Throttled) by what the server asked |
/// | 408, 500, 502, 503, 504 | retry, [`Transient`](ErrorClass::Transient) |
/// | any other 5xx | [`Failed`](Verdict::Failed): counts against the breaker, not retried |
/// | any other response | final |
/// | [`BreakerOpen`], [`DeadlineExceeded`], [`GaveUp`] from a layer below | [`Failed`](Verdict::Failed): retrying cannot help within this request |
/// | any other error (connection refused, reset) | retry, [`Transient`](ErrorClass::Transient) |
/// | an attempt cut by the layer's attempt timeout ([`HttpRetry`]'s `on_timeout`) | retry, [`Timeout`](ErrorClass::Timeout) |
///
/// A retry verdict becomes [`Failed`](Verdict::Failed) for a request that is not
/// [`is_retry_safe`] (a POST without an `Idempotency-Key`): a 503 after a POST may have
/// done the work. Whatever is not `Final` is exactly what [`is_server_failure`] counts,
/// so a breaker in the [`RetryLayer`](super::RetryLayer) and one in a
/// [`BreakerLayer`](super::BreakerLayer) agree.
pub fn retry_verdict<B, RB>(req: &Request<B>, outcome: &Result<Response<RB>, BoxError>) -> Verdict {
    let verdict = match outcome {
        Ok(response) => response_verdict(response.status(), response.headers()),
        Err(e) if e.is::<BreakerOpen>() || e.is::<DeadlineExceeded>() || e.is::<GaveUp>() => Verdict::Failed,
        Err(_) => Verdict::Retry(ErrorClass::Transient),
    };
    match verdict {
        Verdict::Retry(_) if !is_retry_safe(req) => Verdict::Failed,
        v => v,
    }
}

/// The verdict on one HTTP answer, whatever the request (see [`retry_verdict`]).
pub fn response_verdict(status: StatusCode, headers: &HeaderMap) -> Verdict {
    let throttled = |retry_after: Duration| Verdict::Retry(ErrorClass::Throttled { retry_after });
    match (status, retry_after(headers)) {
        (StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE, Some(after)) => throttled(after),
        (
            StatusCode::TOO_MANY_REQUESTS
            | StatusCode::REQUEST_TIMEOUT
            | StatusCode::INTERNAL_SERVER_ERROR
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT,
            _,
        ) => Verdict::Retry(ErrorClass::Transient),
        (s, _) if s.is_server_error() => Verdict::Failed,
        _ => Verdict::Final,
    }
}

/// The HTTP classifier for a [`RetryLayer`](super::RetryLayer): [`retry_verdict`] on
/// each outcome, the request copied for each attempt (so its body must be `Clone`:
/// put a [`BufferBodyLayer`](super::BufferBodyLayer) above the layer for a streaming
/// body), a cut attempt resent only if the request is [retry-safe](is_retry_safe),
/// and the request's [`Deadline`] read from its extensions ([`request_deadline`]), as a
/// [`DeadlineLayer`](super::DeadlineLayer) or a handler stored it.
///
/// # Examples
/// ```
/// use unbreakable::retry::RetryPolicy;
/// use unbreakable::tower::{http::HttpRetry, RetryLayer};
///
/// let layer = RetryLayer::new(RetryPolicy::default(), HttpRetry);
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpRetry;

impl<B: Clone, RB> Classify<Request<B>, Response<RB>, BoxError> for HttpRetry {
    fn verdict(&self, req: &Request<B>, outcome: &Result<Response<RB>, BoxError>) -> Verdict {
        retry_verdict(req, outcome)
    }

    fn clone_request(&self, req: &Request<B>) -> Option<Request<B>> {
        Some(req.clone())
    }

    /// A cut attempt is retried only for a [retry-safe](is_retry_safe) request: a POST
    /// without an `Idempotency-Key` may have done its work before the timeout.
    fn on_timeout(&self, req: &Request<B>) -> Verdict {
        match is_retry_safe(req) {
            true => Verdict::Retry(ErrorClass::Timeout),
            false => Verdict::Failed,
        }
    }

    fn deadline(&self, req: &Request<B>) -> Option<(Deadline, Clock)> {
        request_deadline(req)
    }
}

/// The [`BreakerLayer`](super::BreakerLayer) predicate for HTTP: an error, a 5xx, a
/// 408 or a 429 counts against the service; any other answer (another 4xx: the
/// caller's fault, but an answer) does not.
///
/// A 429 counts (as in Microsoft's HTTP resilience handlers): the server says it is
/// overloaded for this client, and an open breaker is what stops the traffic it asked
/// to stop. It is also what the [`RetryLayer`](super::RetryLayer) with
/// [`HttpRetry`] records, so the two placements of a breaker agree.
pub fn is_server_failure<B, E>(outcome: &Result<Response<B>, E>) -> bool {
    match outcome {
        Ok(response) => {
            let status = response.status();
            status.is_server_error()
                || status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::REQUEST_TIMEOUT
        }
        Err(_) => true,
    }
}

/// The status a server answers for an error the layers made, for axum's
/// `HandleErrorLayer` or a tonic interceptor's mapping:
///
/// | error | status |
/// |---|---|
/// | [`DeadlineExceeded`], [`Elapsed`](super::Elapsed) | 504 Gateway Timeout |
/// | [`BreakerOpen`] | 503 Service Unavailable (send `Retry-After` from its `retry_after`) |
/// | [`GaveUp`] | 503 Service Unavailable, or 504 if it gave up at the deadline |
/// | [`BodyTooLarge`](super::BodyTooLarge) | 413 Content Too Large |
/// | anything else | 500 Internal Server Error |
pub fn error_status(error: &BoxError) -> StatusCode {
    if error.is::<DeadlineExceeded>() || error.is::<super::Elapsed>() {
        StatusCode::GATEWAY_TIMEOUT
    } else if error.is::<BreakerOpen>() {
        StatusCode::SERVICE_UNAVAILABLE
    } else if let Some(gave_up) = error.downcast_ref::<GaveUp>() {
        match gave_up.reason() {
            super::GiveUpReason::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        }
    } else if error.is::<super::BodyTooLarge>() {
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// Wraps an HTTP fallback so the responses it makes carry a [`FallbackServed`]
/// extension: a handler can show a "may be stale" banner, a metric can count them.
pub fn marked<B, F>(fallback: F) -> impl Fn(&BoxError) -> Response<B> + Clone + Send + Sync + 'static
where
    F: Fn(&BoxError) -> Response<B> + Clone + Send + Sync + 'static,
{
    move |error: &BoxError| {
        let mut response = fallback(error);
        response.extensions_mut().insert(FallbackServed { reason: error.to_string() });
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, retry_after: Option<&str>) -> Result<Response<()>, BoxError> {
        let mut r = Response::builder().status(status);
        if let Some(v) = retry_after {
            r = r.header(RETRY_AFTER, v);
        }
        Ok(r.body(()).unwrap())
    }

    fn get() -> Request<()> {
        Request::new(())
    }

    #[test]
    fn retries_5xx_throttles_on_retry_after_and_leaves_4xx_final() {
        let t = |s| Verdict::Retry(ErrorClass::Throttled { retry_after: Duration::from_secs(s) });
        assert_eq!(retry_verdict(&get(), &response(503, None)), Verdict::Retry(ErrorClass::Transient));
        assert_eq!(retry_verdict(&get(), &response(503, Some("2"))), t(2));
        assert_eq!(retry_verdict(&get(), &response(429, Some(" 1 "))), t(1));
        // A date long past: retry at once (and never a negative wait).
        assert_eq!(retry_verdict(&get(), &response(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"))), t(0));
        assert_eq!(retry_verdict(&get(), &response(404, None)), Verdict::Final);
        assert_eq!(retry_verdict(&get(), &response(200, Some("5"))), Verdict::Final);
        assert_eq!(retry_verdict(&get(), &response(501, None)), Verdict::Failed);
        let open: BoxError = Box::new(BreakerOpen { retry_after: Duration::from_secs(1) });
        assert_eq!(retry_verdict::<(), ()>(&get(), &Err(open)), Verdict::Failed);
        assert_eq!(
            retry_verdict::<(), ()>(&get(), &Err("connection refused".into())),
            Verdict::Retry(ErrorClass::Transient)
        );
        let post = Request::builder().method(Method::POST).body(()).unwrap();
        assert_eq!(retry_verdict(&post, &response(503, None)), Verdict::Failed);
        assert_eq!(retry_verdict(&post, &response(200, None)), Verdict::Final);
        assert!(is_server_failure(&response(502, None)));
        assert!(is_server_failure(&response(429, None)));
        assert!(!is_server_failure(&response(404, None)));
    }

    /// Bug: only the delta-seconds form was read; an HTTP-date was ignored (the
    /// client retried at once, against the server's wish).
    #[test]
    fn retry_after_reads_both_forms_against_the_given_now() {
        use std::time::{SystemTime, UNIX_EPOCH};
        let at = |v: &str, now: SystemTime| {
            let mut h = HeaderMap::new();
            h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
            retry_after_at(&h, now)
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_470); // 2015-10-21 07:27:50 GMT
        assert_eq!(at("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(at("Wednesday, 21-Oct-15 07:28:00 GMT", now), Some(Duration::from_secs(10)), "RFC 850");
        assert_eq!(at("Wed Oct 21 07:28:00 2015", now), Some(Duration::from_secs(10)), "asctime");
        assert_eq!(at("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(Duration::ZERO), "past");
        assert_eq!(at("Mon, 21 Oct 2115 07:28:00 GMT", now), Some(MAX_DELAY), "capped");
        assert_eq!(at("120", now), Some(Duration::from_secs(120)));
        assert_eq!(at("99999999999999999999999", now), Some(MAX_DELAY));
        for bad in ["-5", "1.5", "soon", ""] {
            assert_eq!(at(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn headers_round_trip_rounding_down_and_malformed_values_are_ignored() {
        let ms = TimeoutHeader::default();
        let mut h = HeaderMap::new();
        ms.write(&mut h, Duration::from_micros(1_999));
        assert_eq!(ms.read(&h), Some(Duration::from_millis(1)));
        for bad in ["-5", "1.5", "", "ten", "99999999999999999999999"] {
            h.insert(ms.name(), HeaderValue::from_str(bad).unwrap());
            assert_eq!(ms.read(&h), None, "{bad:?}");
        }
        for (d, text) in [
            (Duration::from_nanos(5), "5n"),
            (Duration::from_millis(250), "250000u"),
            (Duration::from_secs(100), "100000m"),
            (Duration::from_secs(80_000), "80000000m"),
            (Duration::from_secs(1_000_000), "1000000S"),
        ] {
            TimeoutHeader::Grpc.write(&mut h, d);
            assert_eq!(h["grpc-timeout"], text);
            assert_eq!(TimeoutHeader::Grpc.read(&h), Some(d.min(MAX_DELAY)), "read back, capped at a day");
        }
        for bad in ["1", "m", "123456789m", "5x", "1.5S", "+5S"] {
            h.insert("grpc-timeout", HeaderValue::from_str(bad).unwrap());
            assert_eq!(TimeoutHeader::Grpc.read(&h), None, "{bad:?}");
        }
        assert!(TimeoutHeader::millis("bad header").is_err());
    }

    /// Bug: a 429 opened the breaker through `Retry` (retried, so a failure) but not
    /// through `BreakerLayer` with this predicate: the two disagreed.
    #[test]
    fn the_breaker_predicate_and_the_classifier_agree() {
        for status in [200, 201, 204, 301, 400, 401, 404, 408, 409, 422, 429, 500, 501, 502, 503, 504, 505] {
            for retry_after in [None, Some("1")] {
                let r = response(status, retry_after);
                assert_eq!(
                    is_server_failure(&r),
                    retry_verdict(&get(), &r) != Verdict::Final,
                    "{status} {retry_after:?}"
                );
            }
        }
    }
}
