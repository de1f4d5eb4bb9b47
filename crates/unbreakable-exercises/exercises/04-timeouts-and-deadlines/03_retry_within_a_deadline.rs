// Exercise 04.3: make a retry loop honour the request's deadline.
//
// What to do: `fetch` retries a flaky call with a generous policy (10 retries, up to 8 s
// apart). Make it give up when the request's `deadline` passes: no attempt starts after
// it, a hanging attempt is cut at it, and no retry waits past it.
// Why it matters: a retry schedule that outlives the caller's patience does work nobody
// will read, and holds a thread while it does. The deadline is the caller's; retries
// must fit inside it.
// Chapter: 04-timeouts-and-deadlines, "Deadlines travel with the request".
// Hint: which builder method of `Retry` takes a `Deadline`, and what else does it need
//   to read the time?

use std::time::Duration;
use unbreakable::deadline::Deadline;
use unbreakable::retry::{Backoff, ErrorClass, Retry, RetryError, RetryPolicy};
use unbreakable::time::Clock;

pub async fn fetch<F, Fut>(
    clock: Clock,
    deadline: Deadline,
    op: F,
) -> Result<&'static str, RetryError<&'static str>>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<&'static str, &'static str>>,
{
    let policy = RetryPolicy::new(
        Backoff::exponential(Duration::from_millis(500))
            .with_cap(Duration::from_secs(8))
            .build()
            .expect("valid"),
        10,
    )
    .expect("valid");
    // TODO: the deadline is ignored.
    let _ = (clock, deadline);
    let mut retry = Retry::seeded(policy, 1, 0);
    retry.run(op, |_| ErrorClass::Transient).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_deadline() {
        let clock = Clock::start();
        let deadline = Deadline::after(clock.now(), Duration::from_secs(2));
        let r = fetch(clock, deadline, |_| async { Err("HTTP 503") }).await;
        assert!(matches!(r, Err(RetryError::DeadlineExceeded { .. })), "{r:?}");
        assert!(clock.now() <= Duration::from_secs(2), "returned at {:?}", clock.now());
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_attempt_is_cut_at_the_deadline() {
        let clock = Clock::start();
        let deadline = Deadline::after(clock.now(), Duration::from_secs(1));
        let r = fetch(clock, deadline, |_| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok("too late")
        })
        .await;
        assert!(matches!(r, Err(RetryError::DeadlineExceeded { .. })), "{r:?}");
        assert_eq!(clock.now(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn within_the_deadline_it_still_retries() {
        let clock = Clock::start();
        let deadline = Deadline::after(clock.now(), Duration::from_secs(2));
        let mut calls = 0;
        let r = fetch(clock, deadline, |_| {
            calls += 1;
            let ok = calls == 3;
            async move { if ok { Ok("served") } else { Err("HTTP 503") } }
        })
        .await;
        assert_eq!(r, Ok("served"));
    }
}
