// Exercise 02.4: not every error deserves a retry.
//
// What to do: write `classify`, which tells the retry executor what each failure means:
// any 5xx (500, 502, 503, 504) or a 429 is worth retrying; a 503 or 429 that carries
// `Retry-After` must wait that long; a timeout is worth retrying but costs more of a retry
// budget; any other 4xx (400, 404, with or without `Retry-After`) will fail the same way
// again.
// Why it matters: retrying a 400 wastes the caller's time and the server's capacity, and
// ignoring `Retry-After` hammers a server that told you when to come back.
// Chapter: 02-retries-and-backoff, "The same policy, as a service would run it".
// Hint: which four variants does `ErrorClass` have, and which one carries a duration?

use std::time::Duration;
use unbreakable::retry::ErrorClass;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    Status { code: u16, retry_after: Option<Duration> },
    TimedOut,
}

pub fn classify(e: &HttpError) -> ErrorClass {
    match e {
        HttpError::TimedOut => ErrorClass::Timeout,
        HttpError::Status { code: 429 | 503, retry_after: Some(d) } => {
            ErrorClass::Throttled { retry_after: *d }
        }
        HttpError::Status { code, .. } if *code >= 500 || *code == 429 => ErrorClass::Transient,
        HttpError::Status { .. } => ErrorClass::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::retry::{Backoff, Retry, RetryError, RetryPolicy};
    use unbreakable::time::Clock;

    fn status(code: u16) -> HttpError {
        HttpError::Status { code, retry_after: None }
    }

    #[test]
    fn each_error_its_class() {
        assert_eq!(classify(&status(503)), ErrorClass::Transient);
        assert_eq!(classify(&status(500)), ErrorClass::Transient);
        assert_eq!(classify(&status(400)), ErrorClass::Permanent);
        assert_eq!(classify(&status(404)), ErrorClass::Permanent);
        assert_eq!(classify(&HttpError::TimedOut), ErrorClass::Timeout);
        let later = HttpError::Status { code: 429, retry_after: Some(Duration::from_secs(2)) };
        assert_eq!(classify(&later), ErrorClass::Throttled { retry_after: Duration::from_secs(2) });
    }

    #[test]
    fn the_edges_of_the_table() {
        let with = |code, secs| HttpError::Status { code, retry_after: Some(Duration::from_secs(secs)) };
        assert_eq!(classify(&with(503, 7)), ErrorClass::Throttled { retry_after: Duration::from_secs(7) });
        assert_eq!(
            classify(&status(429)),
            ErrorClass::Transient,
            "a 429 without Retry-After: back off as usual"
        );
        assert_eq!(
            classify(&with(400, 5)),
            ErrorClass::Permanent,
            "a bad request stays bad, whatever the header says"
        );
        assert_eq!(classify(&with(404, 1)), ErrorClass::Permanent);
        assert_eq!(
            classify(&with(500, 3)),
            ErrorClass::Transient,
            "Retry-After is honoured on 429 and 503 only"
        );
        for code in [502, 504, 599] {
            assert_eq!(classify(&status(code)), ErrorClass::Transient, "HTTP {code}");
        }
        for code in [401, 403, 409, 422] {
            assert_eq!(classify(&status(code)), ErrorClass::Permanent, "HTTP {code}");
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy::new(Backoff::exponential(Duration::from_millis(100)).build().unwrap(), 3).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_bad_request_is_tried_once() {
        let mut calls = 0;
        let r: Result<(), _> = Retry::seeded(policy(), 1, 0)
            .run(
                |_| {
                    calls += 1;
                    async { Err(status(400)) }
                },
                classify,
            )
            .await;
        assert_eq!(calls, 1);
        assert!(matches!(r, Err(RetryError::Permanent { attempts: 1, .. })), "{r:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured() {
        let clock = Clock::start();
        let mut calls = 0;
        let r = Retry::seeded(policy(), 1, 0)
            .run(
                |_| {
                    calls += 1;
                    let first = calls == 1;
                    async move {
                        if first {
                            Err(HttpError::Status { code: 429, retry_after: Some(Duration::from_secs(2)) })
                        } else {
                            Ok("ok")
                        }
                    }
                },
                classify,
            )
            .await;
        assert_eq!(r, Ok("ok"));
        assert_eq!(clock.now(), Duration::from_secs(2), "waited the server's 2 s, not the 100 ms backoff");
    }
}
