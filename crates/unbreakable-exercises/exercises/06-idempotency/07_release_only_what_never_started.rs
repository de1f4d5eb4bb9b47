// Exercise 06.7: release a key only when nothing happened.
//
// What to do: write `handle(keys, provider, key, work)`, the server side of an idempotency
// key in front of a card charge. A key already done replays its stored answer
// (`Answer::Replayed`); a key in flight is refused (`Answer::InFlight`: retry later). A
// new key is reserved (`Slot::InFlight { until }`, `LOCK_TIMEOUT` from now on tokio's
// clock), then the request waits for a permit from `provider` (the payment provider takes
// a few charges at a time), then `work` runs and a success is stored (`Answer::Fresh`).
// When must the key be released, so that the retry runs `work` again?
//   - `work` fails with `Failure::NotStarted` (the provider refused before charging), or
//     the request's future is dropped before `work` started (the client hung up while the
//     request waited for a permit): nothing happened, release the key.
//   - `work` fails with `Failure::Unknown` (the provider timed out), or the future is
//     dropped while `work` runs (the client hung up, a timeout above the handler fired):
//     the card may have been charged. Keep the key in flight: a retry before `until` is
//     told `InFlight`; from `until` on, a retry may take the key over and run `work`.
// Why it matters: hyper and axum drop a handler when the client disconnects, which is
// exactly when the client timed out and is about to retry. Releasing the key then runs
// the charge twice; never releasing it wedges the key. Only "nothing happened" is safe to
// release at once; anything else waits for the lock timeout (and the takeover is safe only
// if the charge itself is idempotent, e.g. the same key is passed on to the provider).
// Chapter: 06-idempotency, "A repeat that arrives while the first is still running".
// Hint: a guard that holds the reservation and, in `Drop`, releases the key only if `work`
//   never started. Which line marks "started"? Could the slot it would remove belong to
//   a retry that took the key over?

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// How long a key whose outcome is unknown stays in flight.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// Reserved; a retry may take it over from `until` on.
    InFlight {
        until: Instant,
    },
    Done(String),
}

/// The key table, shared by every request.
pub type Keys = Arc<Mutex<HashMap<String, Slot>>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Nothing was charged (the provider refused the card before charging).
    NotStarted(String),
    /// The card may have been charged (no answer from the provider).
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Fresh(String),
    Replayed(String),
    InFlight,
    Failed(Failure),
}

pub async fn handle<F>(keys: &Keys, provider: &Semaphore, key: &str, work: F) -> Answer
where
    F: Future<Output = Result<String, Failure>>,
{
    let until = Instant::now() + LOCK_TIMEOUT;
    {
        let mut table = keys.lock().unwrap();
        match table.get(key) {
            Some(Slot::Done(answer)) => return Answer::Replayed(answer.clone()),
            Some(Slot::InFlight { .. }) => return Answer::InFlight,
            None => {
                table.insert(key.to_string(), Slot::InFlight { until });
            }
        }
    }
    let Ok(_permit) = provider.acquire().await else {
        return Answer::Failed(Failure::NotStarted("the provider is closed".into()));
    };
    // TODO: every failure, and every drop at an `.await`, leaves the key in flight for
    // ever. Which of them may release it, and when may a retry take it over?
    match work.await {
        Ok(answer) => {
            keys.lock().unwrap().insert(key.to_string(), Slot::Done(answer.clone()));
            Answer::Fresh(answer)
        }
        Err(e) => Answer::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::time::{advance, sleep, timeout};

    /// A provider that charges at once and answers after 100 ms, counting the charges.
    fn pay(charges: &Arc<AtomicU32>, cents: u32) -> impl Future<Output = Result<String, Failure>> + use<> {
        let charges = charges.clone();
        async move {
            charges.fetch_add(1, Ordering::SeqCst);
            sleep(Duration::from_millis(100)).await;
            Ok(format!("paid {cents}"))
        }
    }

    fn provider() -> Semaphore {
        Semaphore::new(4)
    }

    fn slot(keys: &Keys, key: &str) -> Option<Slot> {
        keys.lock().unwrap().get(key).cloned()
    }

    #[tokio::test(start_paused = true)]
    async fn done_keys_replay() {
        let (keys, provider, charges) = (Keys::default(), provider(), Arc::default());
        assert_eq!(
            handle(&keys, &provider, "k1", pay(&charges, 500)).await,
            Answer::Fresh("paid 500".into())
        );
        assert_eq!(
            handle(&keys, &provider, "k1", pay(&charges, 500)).await,
            Answer::Replayed("paid 500".into())
        );
        assert_eq!(
            handle(&keys, &provider, "k2", pay(&charges, 700)).await,
            Answer::Fresh("paid 700".into())
        );
        assert_eq!(charges.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeat_while_the_first_runs_is_refused() {
        let (keys, provider, charges) = (Keys::default(), provider(), Arc::default());
        let (first, second) = tokio::join!(handle(&keys, &provider, "k1", pay(&charges, 500)), async {
            sleep(Duration::from_millis(10)).await;
            handle(&keys, &provider, "k1", pay(&charges, 500)).await
        });
        assert_eq!((first, second), (Answer::Fresh("paid 500".into()), Answer::InFlight));
        assert_eq!(charges.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeat_while_the_first_waits_for_the_provider_is_refused() {
        let (keys, provider, charges) = (Keys::default(), Semaphore::new(1), Arc::default());
        let busy = provider.acquire().await.unwrap();
        let (first, second) = tokio::join!(handle(&keys, &provider, "k1", pay(&charges, 500)), async {
            sleep(Duration::from_millis(10)).await;
            let second = handle(&keys, &provider, "k1", pay(&charges, 500)).await;
            drop(busy);
            second
        });
        assert_eq!(
            (first, second),
            (Answer::Fresh("paid 500".into()), Answer::InFlight),
            "reserve, then wait"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_that_charged_nothing_releases_the_key() {
        let (keys, provider, charges) = (Keys::default(), provider(), Arc::default());
        let refused = async { Err::<String, _>(Failure::NotStarted("card expired".into())) };
        let answer = handle(&keys, &provider, "k1", refused).await;
        assert_eq!(answer, Answer::Failed(Failure::NotStarted("card expired".into())));
        assert_eq!(slot(&keys, "k1"), None, "nothing was charged: the key is released");
        assert_eq!(
            handle(&keys, &provider, "k1", pay(&charges, 500)).await,
            Answer::Fresh("paid 500".into())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_outcome_keeps_the_key_until_its_lock_timeout() {
        let (keys, provider, charges) = (Keys::default(), provider(), Arc::<AtomicU32>::default());
        let reserved = Instant::now();
        let c = charges.clone();
        let charged_then_lost = async move {
            c.fetch_add(1, Ordering::SeqCst);
            sleep(Duration::from_millis(100)).await;
            Err::<String, _>(Failure::Unknown("no answer from the provider".into()))
        };
        let answer = handle(&keys, &provider, "k1", charged_then_lost).await;
        assert_eq!(answer, Answer::Failed(Failure::Unknown("no answer from the provider".into())));
        assert_eq!(slot(&keys, "k1"), Some(Slot::InFlight { until: reserved + LOCK_TIMEOUT }));
        // The client retries at once, and again just before the lock timeout: refused.
        assert_eq!(handle(&keys, &provider, "k1", pay(&charges, 500)).await, Answer::InFlight);
        advance(LOCK_TIMEOUT - Duration::from_millis(101)).await;
        assert_eq!(handle(&keys, &provider, "k1", pay(&charges, 500)).await, Answer::InFlight);
        assert_eq!(charges.load(Ordering::SeqCst), 1, "charged once");
        // From the lock timeout on, a retry takes the key over.
        advance(Duration::from_millis(1)).await;
        assert_eq!(
            handle(&keys, &provider, "k1", pay(&charges, 500)).await,
            Answer::Fresh("paid 500".into())
        );
        assert_eq!(
            handle(&keys, &provider, "k1", pay(&charges, 500)).await,
            Answer::Replayed("paid 500".into())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_dropped_before_work_started_releases_its_key() {
        let (keys, provider, charges) = (Keys::default(), Semaphore::new(1), Arc::default());
        let busy = provider.acquire().await.unwrap();
        // The client gives up after 50 ms, while the request waits for the provider.
        let cut =
            timeout(Duration::from_millis(50), handle(&keys, &provider, "k1", pay(&charges, 500))).await;
        assert!(cut.is_err());
        assert_eq!(slot(&keys, "k1"), None, "nothing was charged: the key is released");
        drop(busy);
        assert_eq!(
            handle(&keys, &provider, "k1", pay(&charges, 500)).await,
            Answer::Fresh("paid 500".into())
        );
        assert_eq!(charges.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_dropped_mid_charge_keeps_its_key_until_its_lock_timeout() {
        let (keys, provider, charges) = (Keys::default(), provider(), Arc::default());
        let reserved = Instant::now();
        // The client gives up after 50 ms: the card is charged, the answer never comes.
        let cut =
            timeout(Duration::from_millis(50), handle(&keys, &provider, "k1", pay(&charges, 500))).await;
        assert!(cut.is_err());
        assert_eq!(
            slot(&keys, "k1"),
            Some(Slot::InFlight { until: reserved + LOCK_TIMEOUT }),
            "kept in flight"
        );
        assert_eq!(
            handle(&keys, &provider, "k1", pay(&charges, 500)).await,
            Answer::InFlight,
            "the retry is refused"
        );
        assert_eq!(charges.load(Ordering::SeqCst), 1, "charged once");
        advance(LOCK_TIMEOUT).await;
        assert_eq!(
            handle(&keys, &provider, "k1", pay(&charges, 500)).await,
            Answer::Fresh("paid 500".into())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_request_never_releases_a_key_a_retry_took_over() {
        let (keys, provider, charges) = (Keys::default(), Semaphore::new(1), Arc::default());
        let busy = provider.acquire().await.unwrap();
        // The first request waits for the provider past its lock timeout ...
        let mut first = Box::pin(handle(&keys, &provider, "k1", pay(&charges, 500)));
        assert!(timeout(LOCK_TIMEOUT + Duration::from_secs(1), &mut first).await.is_err());
        // ... a retry takes the key over and waits too ...
        let mut retry = Box::pin(handle(&keys, &provider, "k1", pay(&charges, 500)));
        assert!(
            timeout(Duration::from_millis(10), &mut retry).await.is_err(),
            "past the first one's lock timeout, the retry takes the key over"
        );
        let taken = slot(&keys, "k1");
        // ... then the first one's client hangs up. Nothing of it started, but the key is
        // the retry's now: releasing it would let a third copy charge beside the retry.
        drop(first);
        assert_eq!(slot(&keys, "k1"), taken, "the retry's reservation stands");
        assert_eq!(handle(&keys, &provider, "k1", pay(&charges, 500)).await, Answer::InFlight);
        drop(busy);
        assert_eq!(retry.await, Answer::Fresh("paid 500".into()));
        assert_eq!(charges.load(Ordering::SeqCst), 1, "charged once");
    }
}
