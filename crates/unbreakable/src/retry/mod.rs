//! Retries with exponential backoff and jitter, max retries, circuit breaking and retry
//! budgets.
//!
//! The pure cores:
//!
//! * [`Backoff`]: a validated policy whose [`delays`](Backoff::delays) are an
//!   `Iterator<Item = Duration>` (none, constant, exponential, full / equal /
//!   decorrelated jitter);
//! * [`RetryPolicy`]: a backoff plus a maximum number of retries;
//! * [`CircuitBreaker`]: closed / open / half-open, driven by `now` and outcomes;
//! * [`budget`]: the AWS token bucket, the SRE retry ratio and adaptive throttling,
//!   behind one trait, [`RetryBudget`].
//!
//! The async edges:
//!
//! * [`Retry`] runs any async operation with those rules, sleeping with `tokio::time`,
//!   so the same code runs in a service and, under a paused clock, in simulation: an
//!   error classifier, a hook on each retry, the server's `Retry-After`, an overall
//!   [`Deadline`](crate::deadline::Deadline) and a per-attempt timeout;
//! * [`Breaker`] and [`Budget`] are the breaker and a budget as handles shared between
//!   tasks, each with its own clock.

mod backoff;
pub mod breaker;
pub mod budget;
mod execute;
mod policy;

pub use backoff::{Backoff, DEFAULT_CAP, Delays, ExponentialBuilder, Jitter, MAX_DELAY};
pub use breaker::{
    Admission, Breaker, BreakerConfig, BreakerError, BreakerOpen, BreakerPermit, BreakerState, CircuitBreaker,
};
pub use budget::{AdaptiveThrottle, Budget, QuotaExhausted, RetryBudget, RetryQuota, RetryRatio, RetryToken};
#[cfg(feature = "tower")]
pub(crate) use execute::Judged;
pub use execute::{ErrorClass, Failure, Retry, RetryError, RetryEvent};
pub use policy::{MAX_RETRIES, RetryPolicy};

use rand::{SeedableRng, TryRngCore};

/// The random generator that draws jitter: ChaCha8, whose output for a given seed is the
/// same on every platform and release.
pub type JitterRng = rand_chacha::ChaCha8Rng;

/// A jitter generator seeded from the operating system: what a service should use, so
/// that replicas started from the same code draw *different* delays.
///
/// It never panics: if the operating system's generator fails (no `getrandom`, a
/// sandbox that forbids it), the seed is hashed from the wall clock, the process id, a
/// per-process counter and a stack address, which still differ between replicas and
/// between calls. The jitter only has to be *different*, not secret.
pub fn os_rng() -> JitterRng {
    JitterRng::from_seed(os_seed())
}

/// A 32-byte seed from the operating system, or the [`os_rng`] fallback if that fails.
pub(crate) fn os_seed() -> [u8; 32] {
    #[cfg(test)]
    OS_SEEDS.with(|n| n.set(n.get() + 1));
    let mut seed = [0u8; 32];
    match rand::rngs::OsRng.try_fill_bytes(&mut seed) {
        Ok(()) => seed,
        Err(_) => fallback_seed(),
    }
}

#[cfg(test)]
thread_local! {
    /// How many times this thread asked the operating system for a seed.
    pub(crate) static OS_SEEDS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A seed that cannot fail: SHA-256 of the wall clock, the process id, the thread, a
/// per-process counter and a stack address.
fn fallback_seed() -> [u8; 32] {
    use sha2::{Digest, Sha256};
    use std::hash::{Hash, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut h = Sha256::new();
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    h.update(since_epoch.as_nanos().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(CALLS.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let local = 0u8;
    h.update((std::ptr::addr_of!(local) as usize).to_le_bytes());
    let mut thread = std::collections::hash_map::DefaultHasher::new();
    std::thread::current().id().hash(&mut thread);
    h.update(thread.finish().to_le_bytes());
    h.finalize().into()
}

/// A jitter generator for stream `stream` of `seed`: reproducible, for simulations and
/// tests. Never copy a fixed seed into a service: every replica would draw the same
/// delays and retry in step, the herd that jitter exists to break up.
pub fn seeded_rng(seed: u64, stream: u64) -> JitterRng {
    let mut r = JitterRng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// The expected number of attempts when each fails independently with probability `p`
/// and up to `n` retries are made: `(1 - p^(n+1)) / (1 - p)` (and `n + 1` when `p = 1`).
///
/// # Examples
/// ```
/// let e = unbreakable::retry::expected_attempts(0.5, 3);
/// assert!((e - 1.875).abs() < 1e-12); // 1 + 0.5 + 0.25 + 0.125
/// // Any number of retries, without overflow: the series tends to 1 / (1 - p) = 2.
/// assert!((unbreakable::retry::expected_attempts(0.5, u32::MAX) - 2.0).abs() < 1e-12);
/// ```
pub fn expected_attempts(p: f64, n: u32) -> f64 {
    if (1.0 - p).abs() < 1e-15 {
        return f64::from(n) + 1.0;
    }
    // `n as i32 + 1` overflowed for n >= i32::MAX; such n fall back to `powf`.
    let tail = match i32::try_from(n).ok().and_then(|n| n.checked_add(1)) {
        Some(e) => p.powi(e),
        None => p.powf(f64::from(n) + 1.0),
    };
    (1.0 - tail) / (1.0 - p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// The fallback used when the operating system's generator fails: it cannot panic,
    /// and two calls (two replicas, two executors) draw different seeds.
    #[test]
    fn the_fallback_seed_cannot_fail_and_differs_between_calls() {
        let (a, b) = (fallback_seed(), fallback_seed());
        assert_ne!(a, b);
        let (mut x, mut y) = (JitterRng::from_seed(a), JitterRng::from_seed(b));
        assert_ne!(x.random::<u64>(), y.random::<u64>());
    }
}
