//! Retry budgets: limits on how much extra load retries may add.
//!
//! * [`RetryQuota`]: the token bucket of the AWS SDKs' standard retry mode.
//! * [`RetryRatio`]: Google SRE's per-client retry budget (retries at most 10% of requests).
//! * [`AdaptiveThrottle`]: Google SRE's client-side adaptive throttling.
//!
//! All three are pure: they take `now` where time matters and never sleep.

mod adaptive;
mod quota;
mod ratio;
mod window;

pub use adaptive::AdaptiveThrottle;
pub use quota::{QuotaExhausted, RetryQuota, RetryToken};
pub use ratio::RetryRatio;
pub use window::WindowedCount;
