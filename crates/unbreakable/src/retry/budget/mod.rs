//! Retry budgets: limits on how much extra load retries may add.
//!
//! * [`RetryQuota`]: the token bucket of the AWS SDKs' standard retry mode.
//! * [`RetryRatio`]: Google SRE's per-client retry budget (retries at most 10% of requests).
//! * [`AdaptiveThrottle`]: Google SRE's client-side adaptive throttling.
//!
//! All three are pure: they take `now` where time matters and never sleep. All three
//! implement [`RetryBudget`], the one interface the retry executor
//! ([`Retry::with_budget`](super::Retry::with_budget)) needs, so they are interchangeable.

mod adaptive;
mod quota;
mod ratio;
mod shared;
mod window;

pub use adaptive::AdaptiveThrottle;
pub use quota::{QuotaExhausted, RetryQuota, RetryToken};
pub use ratio::RetryRatio;
pub use shared::Budget;
pub(crate) use shared::SharedBudget;
pub use window::{MAX_BUCKETS, WindowedCount};

use std::time::Duration;

/// A limit on the extra load retries add: what the retry executor asks before each
/// request and each retry, and tells after each outcome.
///
/// This is tower's `Budget` (`deposit` / `withdraw`) with time and outcomes made explicit,
/// so the AWS quota, the SRE retry ratio and adaptive throttling fit behind one trait.
/// Every method is pure: `now` is the time since an origin of the caller's choosing,
/// and `draw` a uniform number in `[0, 1)` for budgets that decide at random.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::retry::{RetryBudget, RetryQuota, RetryRatio};
///
/// let budgets: Vec<Box<dyn RetryBudget>> = vec![Box::new(RetryQuota::default()), Box::new(RetryRatio::default())];
/// for mut b in budgets {
///     let now = Duration::ZERO;
///     assert!(b.admit(now, 0.5));
///     b.on_outcome(now, true, None);
/// }
/// ```
pub trait RetryBudget: Send {
    /// Whether a *new* request (a first try) may be sent at `now`. Budgets that only
    /// limit retries always say yes; adaptive throttling drops some locally.
    fn admit(&mut self, now: Duration, draw: f64) -> bool;

    /// Asks to spend on a retry at `now`, after a failure that was a timeout or not.
    /// `None` refuses: the budget is spent, give the error to the caller.
    fn withdraw(&mut self, now: Duration, after_timeout: bool, draw: f64) -> Option<RetryToken>;

    /// An attempt ended at `now`: `success` if the server served it; `token`, what the
    /// retry that made this attempt took (`None` for a first try).
    fn on_outcome(&mut self, now: Duration, success: bool, token: Option<RetryToken>);

    /// An attempt ended at `now` in an answer that retrying cannot change (a 4xx: an
    /// error classified [`Permanent`](super::ErrorClass::Permanent)). The server *served*
    /// it: adaptive throttling counts it as accepted, because only overload answers
    /// (throttling, 5xx, timeouts) are rejections; the quota refunds nothing, since it was
    /// no success. The default does nothing.
    fn on_answered(&mut self, now: Duration, token: Option<RetryToken>) {
        let _ = (now, token);
    }
}

impl RetryBudget for RetryQuota {
    fn admit(&mut self, _now: Duration, _draw: f64) -> bool {
        true
    }

    fn withdraw(&mut self, _now: Duration, after_timeout: bool, _draw: f64) -> Option<RetryToken> {
        self.try_acquire(after_timeout).ok()
    }

    fn on_outcome(&mut self, _now: Duration, success: bool, token: Option<RetryToken>) {
        if success {
            self.on_success(token);
        }
    }
}

impl RetryBudget for RetryRatio {
    fn admit(&mut self, now: Duration, _draw: f64) -> bool {
        self.record_request(now);
        true
    }

    fn withdraw(&mut self, now: Duration, _after_timeout: bool, _draw: f64) -> Option<RetryToken> {
        self.try_retry(now).then_some(RetryToken::FREE)
    }

    fn on_outcome(&mut self, _now: Duration, _success: bool, _token: Option<RetryToken>) {}
}

impl RetryBudget for AdaptiveThrottle {
    fn admit(&mut self, now: Duration, draw: f64) -> bool {
        self.should_send(now, draw)
    }

    /// Every attempt, retries included, goes through the throttle: the SRE formula counts
    /// all requests the client sends.
    fn withdraw(&mut self, now: Duration, _after_timeout: bool, draw: f64) -> Option<RetryToken> {
        self.should_send(now, draw).then_some(RetryToken::FREE)
    }

    fn on_outcome(&mut self, now: Duration, success: bool, _token: Option<RetryToken>) {
        if success {
            self.record_accept(now);
        }
    }

    fn on_answered(&mut self, now: Duration, _token: Option<RetryToken>) {
        self.record_accept(now);
    }
}
