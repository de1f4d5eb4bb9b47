// Exercise 00.3: build a retry policy from what it must survive.
//
// What to do: write `policy_for(outage, user_waits)`: a retry policy with exponential
// backoff from 100 ms, doubling, capped at 2 s, without jitter, and the fewest retries
// whose waits add up to at least `outage`, so that a request that starts when the outage
// does is still served after it. If those waits add up to more than the user will wait
// (`user_waits`), there is no such policy: return an error that says both durations and
// what to change. The tests run your policy against a failing operation on a paused clock.
// Why it matters: a retry policy is configuration that decides how long a user waits and
// how hard a struggling dependency is hit; it should follow from numbers you know (how
// long your outages last, how long your users wait), not be guessed.
// Chapter: 00-start-here, "A first experiment".
// Hint: the n-th retry waits min(2 s, 100 ms * 2^n); add them up until the sum reaches
//   the outage. `RetryPolicy::new(backoff, retries)` takes retries, not attempts.

use std::time::Duration;
use unbreakable::retry::{Backoff, RetryPolicy};

pub fn policy_for(outage: Duration, user_waits: Duration) -> Result<RetryPolicy, String> {
    let backoff = Backoff::exponential(Duration::from_millis(100))
        .with_cap(Duration::from_secs(2))
        .build()
        .expect("a valid backoff");
    let (mut retries, mut waited) = (0u32, Duration::ZERO);
    while waited < outage {
        waited += backoff.delay(retries, Duration::ZERO, 0.0);
        retries += 1;
    }
    if waited > user_waits {
        return Err(format!(
            "outlasting a {outage:?} outage takes {retries} retries and {waited:?} of waiting, but users wait \
             {user_waits:?}: plan for a shorter outage or serve a fallback"
        ));
    }
    RetryPolicy::new(backoff, retries).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::retry::{ErrorClass, Retry, RetryError};
    use unbreakable::time::Clock;

    /// Runs an operation that fails `failures` times through `policy`: (result, time
    /// waited, calls).
    async fn run(
        policy: RetryPolicy,
        failures: u32,
    ) -> (Result<&'static str, RetryError<&'static str>>, Duration, u32) {
        let clock = Clock::start();
        let mut calls = 0;
        let r = Retry::seeded(policy, 1, 0)
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

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[tokio::test(start_paused = true)]
    async fn a_600_ms_outage_takes_three_retries() {
        // 100 + 200 + 400 = 700 ms >= 600 ms; two retries wait only 300 ms.
        let policy = policy_for(ms(600), ms(1000)).unwrap();
        assert_eq!(policy.max_attempts(), 4);
        let (r, waited, calls) = run(policy, 3).await;
        assert_eq!((r, waited, calls), (Ok("served"), ms(700), 4));
        let (r, _, calls) = run(policy, 4).await;
        assert!(matches!(r, Err(RetryError::Exhausted { attempts: 4, .. })), "{r:?}");
        assert_eq!(calls, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn other_outages() {
        for (outage, retries) in [(0, 0), (100, 1), (101, 2), (1500, 4), (3100, 5), (3101, 6), (9000, 8)] {
            let p = policy_for(ms(outage), Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("{outage} ms: {e}"));
            assert_eq!(p.max_attempts(), retries + 1, "a {outage} ms outage");
        }
        // The cap: 100 ms to 1.6 s, then 2 s each: 3.1 s after 5 retries, 5.1 s after 6.
        let (r, waited, _) = run(policy_for(ms(5000), Duration::from_secs(60)).unwrap(), 6).await;
        assert_eq!((r, waited), (Ok("served"), ms(5100)));
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_longer_than_users_wait_has_no_policy() {
        let e = policy_for(Duration::from_secs(5), Duration::from_secs(3)).unwrap_err();
        assert!(e.contains("5s") && e.contains("3s"), "name both durations: {e}");
        // Exactly as long as users wait is fine.
        assert!(policy_for(ms(700), ms(700)).is_ok());
        assert!(policy_for(ms(701), ms(1400)).is_err(), "701 ms needs 1.5 s of waiting");
    }
}
