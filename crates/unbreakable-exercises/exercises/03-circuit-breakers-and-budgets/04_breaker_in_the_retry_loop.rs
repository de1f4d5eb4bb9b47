// Exercise 03.4: stop retrying against a service that keeps failing.
//
// What to do: make `charge` share `breaker` between requests, so that once the payment
// provider has failed five times in a row, later requests are refused at once instead of
// being sent (and retried).
// Why it matters: backoff alone still sends every client's retries to a service that is
// down. A breaker shared by every request turns them into fast, local refusals, and gives
// the service room to recover.
// Chapter: 03-circuit-breakers-and-budgets, "The breaker a service shares".
// Hint: which builder method of `Retry` takes a `Breaker`, and why does it need a clone?

use std::time::Duration;
use unbreakable::retry::{Backoff, Breaker, ErrorClass, Retry, RetryError, RetryPolicy};

pub async fn charge<F, Fut>(breaker: &Breaker, provider: F) -> Result<&'static str, RetryError<u16>>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<&'static str, u16>>,
{
    let policy =
        RetryPolicy::new(Backoff::exponential(Duration::from_millis(100)).build().expect("valid"), 2)
            .expect("valid");
    // TODO: guard every attempt with the shared breaker.
    let _ = breaker;
    let mut retry = Retry::seeded(policy, 1, 0);
    retry.run(provider, |_| ErrorClass::Transient).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use unbreakable::retry::BreakerConfig;

    #[tokio::test(start_paused = true)]
    async fn after_five_failures_requests_are_refused_without_being_sent() {
        let breaker = Breaker::new(BreakerConfig::default()).unwrap();
        let sent = AtomicU32::new(0);
        let provider = |_| {
            sent.fetch_add(1, Ordering::SeqCst);
            async { Err::<&str, u16>(503) }
        };
        let first = charge(&breaker, provider).await; // 3 attempts
        let second = charge(&breaker, provider).await; // 2 more, then the breaker opens
        assert!(matches!(first, Err(RetryError::Exhausted { attempts: 3, .. })), "{first:?}");
        assert!(matches!(second, Err(RetryError::CircuitOpen { .. })), "{second:?}");
        assert_eq!(sent.load(Ordering::SeqCst), 5);
        for _ in 0..10 {
            let r = charge(&breaker, provider).await;
            assert!(matches!(r, Err(RetryError::CircuitOpen { attempts: 0, .. })), "{r:?}");
        }
        assert_eq!(sent.load(Ordering::SeqCst), 5, "nothing more reached the provider");
    }
}
