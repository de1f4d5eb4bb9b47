// Exercise 00.3: build a retry policy and run it.
//
// What to do: fill in `policy()` so that an operation that fails three times and then
// succeeds is served, after waiting 100 ms, 200 ms and 400 ms (no jitter), and so that a
// fourth failure would be the last one tried.
// Why it matters: a retry policy is configuration that decides how long a user waits and
// how hard a struggling dependency is hit; it should be written down, not guessed.
// Chapter: 00-start-here, "A first experiment".
// Hint: which base delay makes 100, 200, 400, and how many *retries* (not attempts) is
//   "fails three times and then succeeds, and gives up after the fourth failure"?

use std::time::Duration;
use unbreakable::retry::{Backoff, RetryPolicy};

pub fn policy() -> RetryPolicy {
    // TODO: choose the base delay and the number of retries.
    let base = Duration::from_millis(1000);
    let retries = 1;
    RetryPolicy::new(Backoff::exponential(base).build().expect("a valid backoff"), retries)
        .expect("a valid policy")
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::retry::{ErrorClass, Retry, RetryError};
    use unbreakable::time::Clock;

    async fn run(failures: u32) -> (Result<&'static str, RetryError<&'static str>>, Duration, u32) {
        let clock = Clock::start();
        let mut calls = 0;
        let r = Retry::seeded(policy(), 1, 0)
            .run(
                |_| {
                    calls += 1;
                    let ok = calls > failures;
                    async move { if ok { Ok("served") } else { Err("HTTP 503") } }
                },
                |_| ErrorClass::Transient,
            )
            .await;
        (r, clock.now(), calls)
    }

    #[tokio::test(start_paused = true)]
    async fn three_failures_then_served_after_700_ms() {
        let (r, waited, calls) = run(3).await;
        assert_eq!(r, Ok("served"));
        assert_eq!(calls, 4);
        assert_eq!(waited, Duration::from_millis(700));
    }

    #[tokio::test(start_paused = true)]
    async fn four_failures_give_up() {
        let (r, _, calls) = run(4).await;
        assert!(matches!(r, Err(RetryError::Exhausted { attempts: 4, .. })), "{r:?}");
        assert_eq!(calls, 4);
    }

    #[test]
    fn the_crate_refuses_absurd_retry_counts() {
        // Read the message: it says which field is wrong and what the limit is.
        let err = RetryPolicy::new(Backoff::immediate(), 1000).unwrap_err();
        assert_eq!(err.field, "max_retries");
        assert!(policy().max_attempts() == 4);
    }
}
