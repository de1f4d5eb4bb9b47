//! The clock of the async edges.
//!
//! The pure cores never read a clock: every decision takes `now`, a [`Duration`] since an
//! origin the caller chooses (any origin, as long as every call to one state machine uses
//! the same). The async edges read time through a [`Clock`], which is
//! `tokio::time::Instant` underneath: real time in a service, virtual time under a paused
//! tokio runtime (`#[tokio::test(start_paused = true)]`, or a simulation driven by it).

use std::time::Duration;

use tokio::time::Instant;

/// A monotonic clock that reads the time since it was started.
///
/// A state machine shared between tasks must be driven by *one* clock: a handle that
/// owns a state machine (such as [`Breaker`](crate::retry::Breaker)) owns its clock too.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// use unbreakable::time::Clock;
///
/// let clock = Clock::start();
/// tokio::time::sleep(Duration::from_secs(3600)).await; // an hour, instantly when paused
/// assert_eq!(clock.now(), Duration::from_secs(3600));
/// # });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock reading zero now.
    pub fn start() -> Self {
        Self { origin: Instant::now() }
    }

    /// The time since [`start`](Clock::start).
    pub fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::start()
    }
}

/// Runs `call` on a current-thread runtime next to a task that counts its turns, and
/// calls `unblock` once the counter has had 1,000 turns while `call` was still pending:
/// proof that `call`'s wait never held the runtime's only thread. Panics (a test failure)
/// if `call` finishes first. Answers `call`'s output (tests only).
#[cfg(test)]
pub(crate) fn progresses_while<T, F>(call: F, unblock: impl FnOnce()) -> T
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime");
    rt.block_on(async {
        let ticks = Arc::new(AtomicU64::new(0));
        let counter = tokio::spawn({
            let ticks = Arc::clone(&ticks);
            async move {
                loop {
                    ticks.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                }
            }
        });
        let call = tokio::spawn(call);
        while ticks.load(Ordering::SeqCst) < 1_000 {
            assert!(
                !call.is_finished(),
                "the call finished while it should have been waiting: it blocked the runtime"
            );
            tokio::task::yield_now().await;
        }
        unblock();
        let output = call.await.expect("the call does not panic");
        counter.abort();
        output
    })
}

/// Runs `fut` on a current-thread runtime whose clock starts paused (tests only).
#[cfg(test)]
pub(crate) fn run_paused<F: std::future::Future>(fut: F) -> std::io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?;
    Ok(rt.block_on(fut))
}
