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

/// Runs `fut` on a current-thread runtime whose clock starts paused (tests only).
#[cfg(test)]
pub(crate) fn run_paused<F: std::future::Future>(fut: F) -> std::io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?;
    Ok(rt.block_on(fut))
}
