// Exercise 03.7: a probe that is cancelled must give its slot back.
//
// What to do: `Permit` is permission from a circuit breaker to send one request. Write
// its `Drop`: a permit dropped without `finish` (its call was cancelled: a timeout above
// it fired, the client went away, a `select!` took another branch) records nothing but
// gives a half-open probe slot back. Then write `call_within(shared, timeout, op)`: take
// a permit, race `op` against `timeout` with `tokio::select!`, and report the outcome.
// Why it matters: in half-open the breaker lets one probe through and refuses everything
// else until the probe answers. A probe whose future is dropped never answers: if its
// slot is not given back, the breaker refuses every request for ever, long after the
// dependency recovered. Cancellation is an ordinary outcome in async Rust; every guard
// has to handle it in `Drop`.
// Chapter: 03-circuit-breakers-and-budgets, "The breaker a service shares".
// Hint: which method of `CircuitBreaker` is for a call that ended without an outcome?
//   `finish` must take the admission out of the permit (`Option::take`) so that `Drop`
//   does not record the same call twice.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use unbreakable::retry::{Admission, BreakerOpen, CircuitBreaker};
use unbreakable::time::Clock;

/// A breaker shared between tasks, with the clock it reads.
#[derive(Clone)]
pub struct Shared {
    pub breaker: Arc<Mutex<CircuitBreaker>>,
    pub clock: Clock,
}

pub struct Permit {
    shared: Shared,
    admission: Option<Admission>,
}

impl Permit {
    pub fn acquire(shared: &Shared) -> Result<Permit, BreakerOpen> {
        let admission = shared.breaker.lock().unwrap().try_acquire(shared.clock.now())?;
        Ok(Permit { shared: shared.clone(), admission: Some(admission) })
    }

    /// The call answered: `ok` says whether it succeeded.
    pub fn finish(mut self, ok: bool) {
        if let Some(a) = self.admission.take() {
            let now = self.shared.clock.now();
            let mut b = self.shared.breaker.lock().unwrap();
            if ok { b.on_success(a, now) } else { b.on_failure(a, now) }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum CallError<E> {
    Open,
    TimedOut,
    Failed(E),
}

impl Drop for Permit {
    fn drop(&mut self) {
        // Still holding the admission: the call ended without an outcome.
        if let Some(a) = self.admission.take() {
            let now = self.shared.clock.now();
            if let Ok(mut b) = self.shared.breaker.lock() {
                b.on_cancel(a, now);
            }
        }
    }
}

pub async fn call_within<T, E, F>(shared: &Shared, timeout: Duration, op: F) -> Result<T, CallError<E>>
where
    F: Future<Output = Result<T, E>>,
{
    let permit = Permit::acquire(shared).map_err(|_| CallError::Open)?;
    tokio::select! {
        r = op => match r {
            Ok(v) => {
                permit.finish(true);
                Ok(v)
            }
            Err(e) => {
                permit.finish(false);
                Err(CallError::Failed(e))
            }
        },
        _ = tokio::time::sleep(timeout) => {
            // The dependency did not answer in time: that says something about it.
            permit.finish(false);
            Err(CallError::TimedOut)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::sleep;
    use unbreakable::retry::{BreakerConfig, BreakerState};

    fn shared() -> Shared {
        let config =
            BreakerConfig { failure_threshold: 2, cool_down: Duration::from_secs(5), ..Default::default() };
        Shared { breaker: Arc::new(Mutex::new(config.build().unwrap())), clock: Clock::start() }
    }

    async fn fail() -> Result<(), &'static str> {
        Err("503")
    }

    async fn hang() -> Result<(), &'static str> {
        sleep(Duration::from_secs(3600)).await;
        Ok(())
    }

    /// Opens the breaker and waits out the cool-down: the next call is a probe.
    async fn half_open_soon(s: &Shared) {
        for _ in 0..2 {
            assert_eq!(call_within(s, Duration::from_secs(1), fail()).await, Err(CallError::Failed("503")));
        }
        assert_eq!(call_within(s, Duration::from_secs(1), fail()).await, Err(CallError::Open));
        sleep(Duration::from_secs(5)).await;
    }

    fn state(s: &Shared) -> &'static str {
        s.breaker.lock().unwrap().state().name()
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_call_is_cut_by_the_timeout_and_counts_as_a_failure() {
        let s = shared();
        let start = tokio::time::Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(60),
            call_within(&s, Duration::from_millis(300), hang()),
        )
        .await
        .expect("still waiting after 60 s: race the call against the timeout");
        assert_eq!(r, Err(CallError::TimedOut));
        assert_eq!(start.elapsed(), Duration::from_millis(300));
        // A second timeout reaches the threshold of 2.
        let _ = call_within(&s, Duration::from_millis(300), hang()).await;
        assert_eq!(state(&s), "open");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_probe_gives_its_slot_back() {
        let s = shared();
        half_open_soon(&s).await;
        // The probe goes out, and the caller gives up on it first (dropping its future).
        let gave_up = tokio::time::timeout(
            Duration::from_millis(100),
            call_within(&s, Duration::from_secs(10), hang()),
        )
        .await;
        assert!(gave_up.is_err(), "the caller's own timeout fired first");
        assert!(
            matches!(s.breaker.lock().unwrap().state(), BreakerState::HalfOpen { in_flight: 0, .. }),
            "the slot is free"
        );
        // So the next request can probe, and its success closes the breaker.
        assert_eq!(call_within(&s, Duration::from_secs(1), async { Ok::<_, &str>(7) }).await, Ok(7));
        assert_eq!(state(&s), "closed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_permit_dropped_unused_records_nothing() {
        let s = shared();
        half_open_soon(&s).await;
        let p = Permit::acquire(&s).unwrap();
        assert!(Permit::acquire(&s).is_err(), "one probe at a time");
        drop(p);
        let p = Permit::acquire(&s).expect("the dropped probe's slot is free again");
        p.finish(true);
        assert_eq!(state(&s), "closed");
        // Finished permits are not recorded twice: two failures, one of them finished,
        // the other dropped, leave the closed breaker one failure short of opening.
        Permit::acquire(&s).unwrap().finish(false);
        drop(Permit::acquire(&s).unwrap());
        assert_eq!(state(&s), "closed");
    }
}
