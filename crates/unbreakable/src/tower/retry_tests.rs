use std::sync::Mutex;
use std::sync::atomic::AtomicU32;

use tower::{ServiceExt, service_fn};

use super::*;
use crate::retry::{Backoff, BreakerConfig, Jitter, RetryQuota};
use crate::time::{Clock, run_paused};

fn policy(retries: u32, jitter: Jitter) -> RetryPolicy {
    RetryPolicy::new(
        Backoff::exponential(Duration::from_millis(100)).with_jitter(jitter).build().unwrap(),
        retries,
    )
    .unwrap()
}

/// Retries 503 and errors; anything else is final.
fn retry_503(_req: &(), r: &Result<u16, BoxError>) -> Verdict {
    match r {
        Ok(503) | Err(_) => Verdict::Retry(ErrorClass::Transient),
        Ok(429) => Verdict::Retry(ErrorClass::Throttled { retry_after: Duration::from_secs(2) }),
        Ok(_) => Verdict::Final,
    }
}

/// A service answering `answers[n]` to call `n` (the last one from then on), counting calls.
fn scripted(
    answers: Vec<Result<u16, &'static str>>,
) -> (
    impl Service<(), Response = u16, Error = BoxError, Future = impl Send> + Clone + Send + 'static,
    Arc<AtomicU32>,
) {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let answers = Arc::new(answers);
    let svc = service_fn(move |()| {
        let n = counted.fetch_add(1, Ordering::SeqCst) as usize;
        let answer = answers[n.min(answers.len() - 1)];
        async move { answer.map_err(BoxError::from) }
    });
    (svc, calls)
}

#[test]
fn retries_503_responses_then_returns_the_last_response_when_it_gives_up() {
    let (ok, ok_calls, gave_up, calls, at) = run_paused(async {
        let clock = Clock::start();
        let (svc, ok_calls) = scripted(vec![Ok(503), Err("reset"), Ok(200)]);
        let ok = RetryLayer::new(policy(3, Jitter::None), retry_503).layer(svc).oneshot(()).await.unwrap();
        let ok_calls = ok_calls.load(Ordering::SeqCst);
        let start = clock.now();
        let (svc, calls) = scripted(vec![Ok(503)]);
        let gave_up =
            RetryLayer::new(policy(3, Jitter::None), retry_503).layer(svc).oneshot(()).await.unwrap();
        (ok, ok_calls, gave_up, calls.load(Ordering::SeqCst), clock.now() - start)
    })
    .unwrap();
    assert_eq!((ok, ok_calls), (200, 3));
    assert_eq!((gave_up, calls), (503, 4), "tower's convention: the last response, not an error");
    assert_eq!(at, Duration::from_millis(100 + 200 + 400));
}

#[test]
fn a_throttled_answer_waits_what_the_server_asked() {
    let (answer, at) = run_paused(async {
        let clock = Clock::start();
        let (svc, _) = scripted(vec![Ok(429), Ok(429), Ok(200)]);
        let answer =
            RetryLayer::new(policy(3, Jitter::None), retry_503).layer(svc).oneshot(()).await.unwrap();
        (answer, clock.now())
    })
    .unwrap();
    assert_eq!((answer, at), (200, Duration::from_secs(4)));
}

#[test]
fn errors_end_in_a_typed_gave_up_and_final_errors_pass_through() {
    let (exhausted, timed_out, final_error) = run_paused(async {
        let (svc, _) = scripted(vec![Err("connection refused")]);
        let exhausted =
            RetryLayer::new(policy(2, Jitter::None), retry_503).layer(svc).oneshot(()).await.unwrap_err();

        let hang = service_fn(|()| std::future::pending::<Result<u16, BoxError>>());
        let timed_out = RetryLayer::new(policy(1, Jitter::None), retry_503)
            .with_attempt_timeout(Duration::from_millis(50))
            .unwrap()
            .layer(hang)
            .oneshot(())
            .await
            .unwrap_err();

        let (svc, calls) = scripted(vec![Err("bad request")]);
        let never = |_: &(), _: &Result<u16, BoxError>| Verdict::Final;
        let final_error =
            RetryLayer::new(policy(5, Jitter::None), never).layer(svc).oneshot(()).await.unwrap_err();
        (exhausted, timed_out, (final_error.to_string(), calls.load(Ordering::SeqCst)))
    })
    .unwrap();
    let gave_up = exhausted.downcast_ref::<GaveUp>().expect("a GaveUp");
    assert_eq!((gave_up.attempts(), gave_up.reason()), (3, GiveUpReason::Exhausted));
    assert_eq!(exhausted.to_string(), "gave up after 3 attempts (retries exhausted): connection refused");
    let timed_out = timed_out.downcast_ref::<GaveUp>().unwrap();
    assert_eq!(
        timed_out.last().and_then(|e| e.downcast_ref::<Elapsed>()),
        Some(&Elapsed { after: Duration::from_millis(50) })
    );
    assert_eq!(final_error, ("bad request".to_owned(), 1));
}

#[test]
fn a_shared_breaker_and_budget_stop_the_retries() {
    let (open, hits, budget) = run_paused(async {
        let breaker = Breaker::new(BreakerConfig { failure_threshold: 2, ..Default::default() }).unwrap();
        let (svc, calls) = scripted(vec![Err("down")]);
        let layer = RetryLayer::new(policy(5, Jitter::None), retry_503).with_breaker(breaker);
        let first = layer.layer(svc.clone()).oneshot(()).await.unwrap_err();
        let second = layer.layer(svc).oneshot(()).await.unwrap_err();
        let reasons =
            [&first, &second].map(|e| e.downcast_ref::<GaveUp>().map(|g| (g.attempts(), g.reason())));

        let (svc, _) = scripted(vec![Ok(503)]);
        let quota = Budget::new(RetryQuota::new(10, 5, 10, 1).unwrap());
        let budget = RetryLayer::new(policy(5, Jitter::None), retry_503)
            .with_budget(quota)
            .layer(svc)
            .oneshot(())
            .await;
        (reasons, calls.load(Ordering::SeqCst), budget.unwrap())
    })
    .unwrap();
    // Opened by the second attempt at 100 ms; asked again after the 200 ms wait.
    let open_5s = GiveUpReason::CircuitOpen { retry_after: Duration::from_millis(4800) };
    assert_eq!(open, [Some((2, open_5s)), Some((0, open_5s))]);
    assert_eq!(hits, 2, "the open breaker kept the second call off the service");
    assert_eq!(budget, 503, "refused by the budget after a response: that response");
}

/// Each service, and each clone of one, draws its own jitter; a seed makes the draws
/// reproducible; the default draws from the operating system.
#[test]
fn each_clone_draws_its_own_jitter() {
    type Classify = fn(&(), &Result<u16, BoxError>) -> Verdict;
    let delays = |layer: RetryLayer<Classify>| {
        run_paused(async move {
            let log = Arc::new(Mutex::new(Vec::new()));
            let seen = log.clone();
            let layer = layer.on_retry(move |e| seen.lock().unwrap().push(e.delay));
            let (svc, _) = scripted(vec![Ok(503)]);
            let first = layer.layer(svc);
            let mut per_clone = Vec::new();
            for svc in [first.clone(), first.clone(), first] {
                let _ = svc.oneshot(()).await;
                per_clone.push(std::mem::take(&mut *log.lock().unwrap()));
            }
            per_clone
        })
        .unwrap()
    };
    let classify: Classify = retry_503;
    let seeded = || RetryLayer::new(policy(6, Jitter::Full), classify).seeded(9);
    let a = delays(seeded());
    assert_eq!(a.len(), 3);
    assert!(a[0] != a[1] && a[1] != a[2] && a[0] != a[2], "{a:?}");
    assert_eq!(a, delays(seeded()), "a seed replays the same delays");
    let os = delays(RetryLayer::new(policy(6, Jitter::Full), classify));
    assert_ne!(os, delays(RetryLayer::new(policy(6, Jitter::Full), classify)));
}

#[test]
fn a_zero_attempt_timeout_is_rejected() {
    let e =
        RetryLayer::new(RetryPolicy::default(), retry_503).with_attempt_timeout(Duration::ZERO).unwrap_err();
    assert_eq!(e.field, "attempt_timeout");
}

// ---- issue 21: failing-first tests ----

use crate::deadline::{Deadline, DeadlineExceeded};
use ::http::{Method, Request, Response};

/// A service answering every request with `status` (and `Retry-After`, if given),
/// `after` the request came in, counting calls.
fn answering(
    status: u16,
    retry_after: Option<&'static str>,
    after: Duration,
) -> (
    impl Service<Request<()>, Response = Response<()>, Error = BoxError, Future = impl Send>
    + Clone
    + Send
    + 'static,
    Arc<AtomicU32>,
) {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let svc = service_fn(move |_req: Request<()>| {
        counted.fetch_add(1, Ordering::SeqCst);
        let mut r = Response::builder().status(status);
        if let Some(v) = retry_after {
            r = r.header(::http::header::RETRY_AFTER, v);
        }
        async move {
            if !after.is_zero() {
                tokio::time::sleep(after).await;
            }
            Ok::<_, BoxError>(r.body(()).unwrap())
        }
    });
    (svc, calls)
}

/// Bug: one `503 Retry-After: 86400` held the request for a day per retry, whatever
/// the request's deadline or the backoff's cap.
#[test]
fn a_retry_after_past_the_deadline_or_the_cap_answers_at_once() {
    let (past_deadline, past_cap) = run_paused(async {
        let clock = Clock::start();
        let (svc, calls) = answering(503, Some("2"), Duration::ZERO);
        let mut req = Request::new(());
        req.extensions_mut().insert(Deadline::after(clock.now(), Duration::from_secs(1)));
        req.extensions_mut().insert(clock);
        let r = RetryLayer::new(policy(3, Jitter::None), super::super::http::HttpRetry)
            .layer(svc)
            .oneshot(req)
            .await
            .unwrap();
        let past_deadline = (r.status().as_u16(), calls.load(Ordering::SeqCst), clock.now());

        let start = clock.now();
        let (svc, calls) = answering(503, Some("86400"), Duration::ZERO);
        let r = RetryLayer::new(policy(3, Jitter::None), super::super::http::HttpRetry)
            .layer(svc)
            .oneshot(Request::new(()))
            .await
            .unwrap();
        (past_deadline, (r.status().as_u16(), calls.load(Ordering::SeqCst), clock.now() - start))
    })
    .unwrap();
    assert_eq!(past_deadline, (503, 1, Duration::ZERO), "the 503 and its Retry-After go upstream now");
    assert_eq!(past_cap, (503, 1, Duration::ZERO));
}

/// Bug: the HTTP classifier could not see the request, so it retried a POST's 503 (the
/// POST may have done the work).
#[test]
fn a_post_is_not_retried_unless_it_carries_an_idempotency_key() {
    let (post, keyed, put) = run_paused(async {
        let mut seen = Vec::new();
        for (method, key) in [(Method::POST, false), (Method::POST, true), (Method::PUT, false)] {
            let (svc, calls) = answering(503, None, Duration::ZERO);
            let mut req = Request::builder().method(method);
            if key {
                req = req.header("idempotency-key", "order-17");
            }
            let r = RetryLayer::new(policy(3, Jitter::None), super::super::http::HttpRetry)
                .layer(svc)
                .oneshot(req.body(()).unwrap())
                .await
                .unwrap();
            seen.push((r.status().as_u16(), calls.load(Ordering::SeqCst)));
        }
        (seen[0], seen[1], seen[2])
    })
    .unwrap();
    assert_eq!(post, (503, 1));
    assert_eq!(keyed, (503, 4));
    assert_eq!(put, (503, 4));
}

/// Bug: an outcome the classifier called final was recorded as a *success*, so a
/// backend whose calls all ran into the deadline (a hang, cut below the layer) never
/// opened the breaker, and such a half-open probe closed it.
#[test]
fn final_failures_count_against_the_layers_breaker() {
    let state = run_paused(async {
        let breaker = Breaker::new(BreakerConfig { failure_threshold: 2, ..Default::default() }).unwrap();
        let cut = service_fn(|_req: Request<()>| async {
            Err::<Response<()>, BoxError>(Box::new(DeadlineExceeded {
                deadline: Duration::ZERO,
                now: Duration::ZERO,
            }))
        });
        let layer = RetryLayer::new(policy(3, Jitter::None), super::super::http::HttpRetry)
            .with_breaker(breaker.clone());
        for _ in 0..2 {
            let _ = layer.layer(cut).oneshot(Request::new(())).await;
        }
        breaker.state()
    })
    .unwrap();
    assert_eq!(state.name(), "open");
}

/// Bug: every clone of a `RetryService` (one per connection in hyper) asked the
/// operating system for a seed, and panicked if it could not.
#[test]
fn clones_derive_their_seeds_without_asking_the_os_again() {
    let asked = run_paused(async {
        let (svc, _) = scripted(vec![Ok(200)]);
        let before = crate::retry::OS_SEEDS.with(|n| n.get());
        let first = RetryLayer::new(policy(3, Jitter::Full), retry_503).layer(svc);
        let clones: Vec<_> = (0..100).map(|_| first.clone()).collect();
        for c in clones {
            assert_eq!(c.oneshot(()).await.unwrap(), 200);
        }
        crate::retry::OS_SEEDS.with(|n| n.get()) - before
    })
    .unwrap();
    assert!(asked <= 1, "asked the OS {asked} times");
}

/// Retries everything, but cannot copy a request (a streaming body).
struct NoCopies;

impl Classify<(), u16, BoxError> for NoCopies {
    fn verdict(&self, _req: &(), _outcome: &Result<u16, BoxError>) -> Verdict {
        Verdict::Retry(ErrorClass::Transient)
    }
    fn clone_request(&self, _req: &()) -> Option<()> {
        None
    }
}

/// A request the classifier cannot copy (a streaming body) is sent once, as it is, and
/// its outcome is final: never a second attempt with a missing or empty body.
#[test]
fn a_request_that_cannot_be_copied_is_sent_once() {
    let (answer, calls) = run_paused(async {
        let (svc, calls) = scripted(vec![Ok(503)]);
        let answer = RetryLayer::new(policy(3, Jitter::None), NoCopies).layer(svc).oneshot(()).await.unwrap();
        (answer, calls.load(Ordering::SeqCst))
    })
    .unwrap();
    assert_eq!((answer, calls), (503, 1));
}

// ---- review of issue 21: failing-first tests ----

/// Bug: an attempt cut by the attempt timeout was retried without asking the
/// classifier, so a POST without a key (the upstream charged, then answered late) was
/// sent again.
#[test]
fn an_attempt_timeout_does_not_resend_a_post() {
    let (post, get) = run_paused(async {
        let mut seen = Vec::new();
        for method in [Method::POST, Method::GET] {
            let (svc, calls) = answering(200, None, Duration::from_secs(3));
            let req = Request::builder().method(method).uri("/charge").body(()).unwrap();
            let e = RetryLayer::new(policy(2, Jitter::None), super::super::http::HttpRetry)
                .with_attempt_timeout(Duration::from_secs(2))
                .unwrap()
                .layer(svc)
                .oneshot(req)
                .await
                .unwrap_err();
            let elapsed = e
                .downcast_ref::<Elapsed>()
                .or_else(|| e.downcast_ref::<GaveUp>().and_then(|g| g.last()?.downcast_ref::<Elapsed>()))
                .copied();
            seen.push((calls.load(Ordering::SeqCst), e.is::<Elapsed>(), elapsed));
        }
        (seen[0], seen[1])
    })
    .unwrap();
    let cut = Some(Elapsed { after: Duration::from_secs(2) });
    assert_eq!(post, (1, true, cut), "sent once; the timeout is the error");
    assert_eq!(get, (3, false, cut), "a GET is retried, then gives up with the timeout");
}

/// Bug: a request that cannot be copied, cut by the attempt timeout, was "retried"
/// with no request: the breaker recorded a success for a call that never went out and
/// the caller got `GaveUp` with no error.
#[test]
fn a_request_that_cannot_be_copied_gives_up_on_a_timeout_with_the_timeout() {
    let (e, calls, state) = run_paused(async {
        // Two failures open it: one call's cut attempt must not be followed by a success.
        let breaker = Breaker::new(BreakerConfig { failure_threshold: 2, ..Default::default() }).unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        let hang = service_fn(move |()| {
            counted.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Result<u16, BoxError>>()
        });
        let layer = RetryLayer::new(policy(3, Jitter::None), NoCopies)
            .with_breaker(breaker.clone())
            .with_attempt_timeout(Duration::from_millis(50))
            .unwrap();
        let e = layer.layer(hang.clone()).oneshot(()).await.unwrap_err();
        let _ = layer.layer(hang).oneshot(()).await;
        (e, calls.load(Ordering::SeqCst), breaker.state())
    })
    .unwrap();
    assert_eq!(e.downcast_ref::<Elapsed>(), Some(&Elapsed { after: Duration::from_millis(50) }), "{e}");
    assert_eq!((calls, state.name()), (2, "open"), "one call each, both failures");
}

/// Bug: a `Failed` verdict (a POST's 503) counted as accepted for adaptive
/// throttling, so a write-heavy client facing an overloaded backend never throttled.
#[test]
fn failed_verdicts_are_rejections_for_adaptive_throttling() {
    let p = run_paused(async {
        let throttle = Budget::new(crate::retry::AdaptiveThrottle::default());
        let layer = RetryLayer::new(policy(3, Jitter::None), super::super::http::HttpRetry)
            .with_budget(throttle.clone());
        for _ in 0..200 {
            let (svc, _) = answering(503, None, Duration::ZERO);
            let req = Request::builder().method(Method::POST).body(()).unwrap();
            let _ = layer.layer(svc).oneshot(req).await;
        }
        throttle.lock().reject_probability(Duration::ZERO)
    })
    .unwrap();
    assert!(p > 0.5, "reject probability {p}");
}
