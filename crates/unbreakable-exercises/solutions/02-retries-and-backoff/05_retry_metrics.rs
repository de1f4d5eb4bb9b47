// Exercise 02.5: count your retries.
//
// What to do: make `call_with_metrics` record every retry the executor makes: the delay
// it waits before each one, in a shared list the caller reads afterwards.
// Why it matters: retries hide failures from users, and so from dashboards. A rising
// retry rate is often the first sign that a dependency is in trouble; log and count them.
// Chapter: 02-retries-and-backoff, "The same policy, as a service would run it".
// Hint: which builder method of `Retry` takes a closure called before each retry, and
//   what does the event it gets carry?

use std::sync::{Arc, Mutex};
use std::time::Duration;
use unbreakable::retry::{Backoff, ErrorClass, Retry, RetryError, RetryPolicy};

pub async fn call_with_metrics<F, Fut>(
    op: F,
    delays: Arc<Mutex<Vec<Duration>>>,
) -> Result<&'static str, RetryError<&'static str>>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<&'static str, &'static str>>,
{
    let policy =
        RetryPolicy::new(Backoff::exponential(Duration::from_millis(100)).build().expect("valid"), 4)
            .expect("valid");
    let mut retry = Retry::seeded(policy, 1, 0)
        .on_retry(move |event| delays.lock().expect("not poisoned").push(event.delay));
    retry.run(op, |_| ErrorClass::Transient).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn three_retries_three_delays() {
        let delays = Arc::new(Mutex::new(Vec::new()));
        let mut calls = 0;
        let r = call_with_metrics(
            |_| {
                calls += 1;
                let ok = calls == 4;
                async move { if ok { Ok("served") } else { Err("HTTP 503") } }
            },
            delays.clone(),
        )
        .await;
        assert_eq!(r, Ok("served"));
        let ms: Vec<u128> = delays.lock().unwrap().iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 400]);
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_no_record() {
        let delays = Arc::new(Mutex::new(Vec::new()));
        let r = call_with_metrics(|_| async { Ok("served") }, delays.clone()).await;
        assert_eq!(r, Ok("served"));
        assert!(delays.lock().unwrap().is_empty());
    }
}
