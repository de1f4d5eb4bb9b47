//! Deadlines that travel with a request.
//!
//! A [`Deadline`] is an absolute point in time, not a timeout: every hop of a call chain
//! sees how much of the *caller's* budget is left, keeps back what it needs for its own
//! work, and passes the rest on ([`Deadline::for_downstream`]). When nothing is left it
//! fails fast instead of starting work whose answer nobody will read.
//!
//! The pure core takes `now`; [`within`] is the async edge that bounds a future by a
//! deadline with `tokio::time::timeout`, so it runs under the paused clock too.
//!
//! * [`timeouts`]: the connection timeout and the read timeout of one network call.

pub mod timeouts;

use std::future::Future;
use std::time::Duration;

use serde::Serialize;

use crate::time::Clock;

/// The deadline passed; the work was not started (or was abandoned).
///
/// ### Handling
/// Do not retry within the same request: its budget is spent. Answer the caller at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deadline exceeded at {now:?} (deadline {deadline:?})")]
pub struct DeadlineExceeded {
    /// The deadline.
    pub deadline: Duration,
    /// When it was found to have passed.
    pub now: Duration,
}

/// An absolute deadline on a [`Clock`]'s time line.
///
/// # Examples
/// A chain of services: the client gives 30 s; each service spends 5 s before calling
/// the next.
/// ```
/// use std::time::Duration;
/// use unbreakable::deadline::Deadline;
///
/// let s = Duration::from_secs;
/// let client = Deadline::after(s(0), s(30));
/// let at_b = client.for_downstream(s(5), Duration::ZERO).unwrap();   // A worked 5 s
/// assert_eq!(at_b.remaining(s(5)), s(25));
/// let at_c = at_b.for_downstream(s(10), Duration::ZERO).unwrap();    // B worked 5 s
/// assert_eq!(at_c.remaining(s(10)), s(20));
/// assert!(at_c.for_downstream(s(31), Duration::ZERO).is_err());      // too late: fail fast
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Deadline {
    at: Duration,
}

impl Deadline {
    /// A deadline at time `at`.
    pub fn at(at: Duration) -> Self {
        Self { at }
    }

    /// A deadline `budget` after `now`.
    pub fn after(now: Duration, budget: Duration) -> Self {
        Self { at: now.saturating_add(budget) }
    }

    /// When it falls.
    pub fn instant(&self) -> Duration {
        self.at
    }

    /// What is left at `now` (zero once passed; never negative).
    pub fn remaining(&self, now: Duration) -> Duration {
        self.at.saturating_sub(now)
    }

    /// Whether it has passed at `now`.
    pub fn is_expired(&self, now: Duration) -> bool {
        now >= self.at
    }

    /// The remaining budget, or an error if none is left.
    ///
    /// # Errors
    /// [`DeadlineExceeded`] at or after the deadline.
    pub fn check(&self, now: Duration) -> Result<Duration, DeadlineExceeded> {
        if self.is_expired(now) {
            Err(DeadlineExceeded { deadline: self.at, now })
        } else {
            Ok(self.remaining(now))
        }
    }

    /// The deadline to give a downstream call made at `now`, keeping back `reserve` for
    /// this hop's own work after the call returns (building the response, say). Never
    /// later than this deadline.
    ///
    /// # Errors
    /// [`DeadlineExceeded`] if nothing would be left for the downstream call: fail fast.
    pub fn for_downstream(&self, now: Duration, reserve: Duration) -> Result<Deadline, DeadlineExceeded> {
        let child = Deadline { at: self.at.saturating_sub(reserve) };
        child.check(now)?;
        Ok(child)
    }

    /// The earlier of this deadline and a local timeout of `timeout` from `now`: a hop
    /// never waits longer than its own timeout, nor than its caller's deadline.
    pub fn or_timeout(&self, now: Duration, timeout: Duration) -> Deadline {
        (*self).min(Deadline::after(now, timeout))
    }
}

/// Runs `fut` until it completes or `deadline` passes, whichever is first. Works on any
/// tokio runtime with time enabled, including a paused one (virtual time).
///
/// # Errors
/// [`DeadlineExceeded`] if the deadline passes first (the future is dropped) or had
/// already passed (the future is never polled).
///
/// # Cancellation
/// On timeout `fut` is dropped at its current await point, like `tokio::time::timeout`.
pub async fn within<F: Future>(
    deadline: Deadline,
    clock: &Clock,
    fut: F,
) -> Result<F::Output, DeadlineExceeded> {
    let left = deadline.check(clock.now())?;
    tokio::time::timeout(left, fut)
        .await
        .map_err(|_| DeadlineExceeded { deadline: deadline.instant(), now: clock.now() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::run_paused;
    use proptest::prelude::*;

    fn s(x: u64) -> Duration {
        Duration::from_secs(x)
    }

    #[test]
    fn within_fires_at_the_deadline_on_the_paused_clock() {
        let (slow, fast, late) = run_paused(async {
            let clock = Clock::start();
            let d = Deadline::after(clock.now(), s(5));
            let slow = within(d, &clock, tokio::time::sleep(s(60))).await;
            let at = clock.now();
            let fast = within(Deadline::after(clock.now(), s(5)), &clock, async { 7 }).await;
            let late = within(d, &clock, async { 8 }).await;
            (slow.map_err(|e| (e, at)), fast, late)
        })
        .unwrap();
        assert_eq!(slow, Err((DeadlineExceeded { deadline: s(5), now: s(5) }, s(5))));
        assert_eq!(fast, Ok(7));
        assert_eq!(late, Err(DeadlineExceeded { deadline: s(5), now: s(5) }));
    }

    #[test]
    fn a_local_timeout_never_extends_the_callers_deadline() {
        let d = Deadline::after(s(0), s(20));
        assert_eq!(d.or_timeout(s(10), s(30)), d);
        assert_eq!(d.or_timeout(s(10), s(5)), Deadline::at(s(15)));
    }

    proptest! {
        /// Along any chain of hops, the remaining budget never goes negative and never
        /// grows; a hop that finds nothing left fails instead of calling on.
        #[test]
        fn remaining_is_monotone_and_never_negative(
            budget in 0u64..60_000,
            hops in proptest::collection::vec((0u64..20_000, 0u64..5_000), 0..12),
        ) {
            let ms = Duration::from_millis;
            let mut now = ms(0);
            let mut d = Deadline::after(now, ms(budget));
            let mut last = d.remaining(now);
            for (work, reserve) in hops {
                now += ms(work);
                match d.for_downstream(now, ms(reserve)) {
                    Ok(child) => {
                        prop_assert!(child <= d);
                        let left = child.remaining(now);
                        prop_assert!(left > Duration::ZERO && left <= last);
                        last = left;
                        d = child;
                    }
                    Err(e) => {
                        prop_assert!(now + ms(reserve) >= d.instant());
                        prop_assert_eq!(e.now, now);
                        break;
                    }
                }
            }
        }
    }
}
