//! Graceful degradation: when something breaks, show what you can instead of nothing.
//!
//! [`with_fallback`] is the async edge a real handler uses for one nice-to-have call: a
//! timeout, and a fallback value when the call fails or is too slow. The answer says
//! where it came from ([`Degraded`]), so a page can show a "may be stale" banner and a
//! service can count how often it degrades.
//!
//! Decide per part of a response whether it is essential (its failure fails the request)
//! or nice to have (its failure degrades it); only the nice-to-have calls go through
//! [`with_fallback`].

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;

/// Why a fallback was served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum FallbackReason {
    /// The call took longer than its timeout.
    Timeout(Duration),
    /// The call failed.
    Error(String),
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Source {
    /// The dependency answered.
    Live,
    /// The fallback, and why.
    Fallback(FallbackReason),
}

/// A value and where it came from: callers can show a "may be stale" banner, and count
/// how often they degrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Degraded<T> {
    /// The value to show.
    pub value: T,
    /// Live, or a fallback and why.
    pub source: Source,
}

impl<T> Degraded<T> {
    /// Whether this is the fallback.
    pub fn is_fallback(&self) -> bool {
        matches!(self.source, Source::Fallback(_))
    }
}

/// The async edge for one nice-to-have call: runs `call` for at most `timeout`; if it
/// fails or is too slow, answers `fallback(reason)` instead. Never returns an error: a
/// nice-to-have part must not take the page down. (An essential call has no business
/// here; let its error reach the caller.)
///
/// # Cancellation
/// On timeout `call` is dropped at its current await point.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::degrade::{with_fallback, FallbackReason, Source};
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
///
/// let recs = {
///     let broken = async { Err::<Vec<&str>, _>("recommendations: connection refused") };
///     with_fallback(Duration::from_millis(200), broken, |_| vec!["popular item"]).await
/// };
/// assert_eq!(recs.value, vec!["popular item"]);
/// assert_eq!(recs.source, Source::Fallback(FallbackReason::Error("recommendations: connection refused".into())));
/// # });
/// ```
pub async fn with_fallback<T, E, F>(
    timeout: Duration,
    call: F,
    fallback: impl FnOnce(&FallbackReason) -> T,
) -> Degraded<T>
where
    E: Display,
    F: Future<Output = Result<T, E>>,
{
    let reason = match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => return Degraded { value, source: Source::Live },
        Ok(Err(e)) => FallbackReason::Error(e.to_string()),
        Err(_) => FallbackReason::Timeout(timeout),
    };
    Degraded { value: fallback(&reason), source: Source::Fallback(reason) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::run_paused;

    #[test]
    fn a_slow_call_gets_the_fallback_at_the_timeout_on_the_paused_clock() {
        let (slow, fast, at) = run_paused(async {
            let clock = crate::time::Clock::start();
            let slow = with_fallback(
                Duration::from_millis(200),
                async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok::<_, String>("live")
                },
                |_| "fallback",
            )
            .await;
            let at = clock.now();
            let fast =
                with_fallback(Duration::from_millis(200), async { Ok::<_, String>("live") }, |_| "fallback")
                    .await;
            (slow, fast, at)
        })
        .unwrap();
        assert_eq!(slow.value, "fallback");
        assert_eq!(slow.source, Source::Fallback(FallbackReason::Timeout(Duration::from_millis(200))));
        assert_eq!(at, Duration::from_millis(200));
        assert_eq!(fast, Degraded { value: "live", source: Source::Live });
    }
}
