//! The simulation core.
//!
//! * **Seeded randomness** ([`rng`], [`substream`]): one `u64` seed per run, and an
//!   independent stream for every client derived from it. No global RNG anywhere.
//! * **Virtual time**: a time is a [`Duration`] since the start of the run
//!   ([`SimTime`]). Two engines share the same pattern code:
//!   * [`EventQueue`], a discrete-event queue: the fastest way to run large sweeps
//!     (millions of events per second);
//!   * [`run_paused`], a `current_thread` tokio runtime whose clock is paused, so the
//!     *same async code a service would run* (the retry executor, timeouts) runs in
//!     virtual time. About ten times slower per event than the queue, and the only
//!     way to exercise real `async` code. The benchmark `simulator` measures both.
//! * **Fault-injected services** ([`ServiceModel`]): latency distribution, failure
//!   probability, fault windows (down, hanging, erroring, slowing), limited capacity
//!   that rejects or queues, and a recovery curve after an outage.
//! * **A worker pool** ([`WorkerPool`]): bounded workers behind a FIFO queue with
//!   time-outs, checked against Erlang C.
//! * **Traffic** ([`Arrivals`]): Poisson arrivals with a flat or a daily shape.
//! * **A recorder** ([`Recorder`]): one row per attempt, turned into a polars
//!   `DataFrame` for summaries.

mod latency;
mod pool;
mod queue;
mod recorder;
mod rng;
mod runtime;
mod service;
mod traffic;

use std::time::Duration;

pub(crate) use latency::normal_cdf as latency_normal_cdf;
pub use latency::{Latency, LatencySampler};
pub use pool::{MAX_WORKERS, PoolTimeout, Slot, WorkerPool, erlang_b, erlang_c};
pub use queue::EventQueue;
pub use recorder::{Attempt, Outcome, Recorder};
pub use rng::{SimRng, rng, substream, unit};
pub use runtime::{SimClock, run_paused};
pub use service::{Capacity, Effect, FaultWindow, Overflow, Recovery, Response, ServiceConfig, ServiceModel};
pub use traffic::{ArrivalTimes, Arrivals, RateShape};

/// A point in virtual time: the time since the start of the simulation.
pub type SimTime = Duration;

/// `s` seconds as a [`Duration`] (negative or non-finite values give zero; values
/// beyond what a `Duration` holds, some 584 billion years, give `Duration::MAX`).
#[inline]
pub fn secs(s: f64) -> Duration {
    if s.is_finite() && s > 0.0 {
        Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
    } else {
        Duration::ZERO
    }
}

/// Nanoseconds of a time, saturating at `u64::MAX` (584 years): the integer clock of the
/// event queue and the worker pool.
#[inline]
pub(crate) fn nanos(t: SimTime) -> u64 {
    u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
}

/// How many bins of `bin` seconds cover `[0, horizon)`; `None` for a bin that is not a
/// positive number or more than a million bins (a likely unit mistake).
pub(crate) fn bins(bin: f64, horizon: f64) -> Option<usize> {
    let n = (horizon / bin).ceil();
    (bin > 0.0 && bin.is_finite() && n.is_finite() && (0.0..=1e6).contains(&n)).then_some(n as usize)
}

/// Counts `times` in bins of `bin` seconds from 0 to `horizon`; times at or after
/// `horizon` are not counted. A `bin` that is not a positive number, or a horizon over a
/// million bins, gives an empty vector.
pub fn count_in_bins(times: impl IntoIterator<Item = SimTime>, bin: f64, horizon: f64) -> Vec<u64> {
    let Some(n) = bins(bin, horizon) else { return Vec::new() };
    let mut counts = vec![0u64; n];
    for t in times {
        if let Some(k) = counts.get_mut((t.as_secs_f64() / bin) as usize) {
            *k += 1;
        }
    }
    counts
}

/// The `q` quantile (0 to 1, clamped) of `samples` by nearest rank: the smallest value
/// with at least a share `q` of the samples at or below it. `None` for no samples.
///
/// `q` is read as the decimal it is written as (0.07 is 7/100), so the rank is exact
/// (floating point would pick the 8th of 100 samples for 0.07).
pub fn nearest_rank<T: Copy + PartialOrd>(samples: &[T], q: f64) -> Option<T> {
    if samples.is_empty() {
        return None;
    }
    let mut v = samples.to_vec();
    v.sort_unstable_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    Some(v[rank(q, v.len()) - 1])
}

/// The nearest rank `ceil(q * n)`, clamped to `1..=n`, for `n >= 1`; a `q` below 0 or
/// NaN counts as 0, above 1 as 1.
///
/// In floating point `0.07 * 100.0` is `7.000000000000001`, whose ceiling picks the 8th
/// sample. So `q` is read as the shortest decimal that converts back to it (what `{}`
/// prints, never with an exponent: `0.07`), `m / 10^d`, and the rank is
/// `ceil(m * n / 10^d)` in integers. Bounds: `m` has at most 17 significant digits
/// (`m < 10^17 < 2^57`) and `n < 2^64`, so `m * n < 2^121`; with `d <= 36`, `10^d < 2^120`.
/// A `q` in (0, 1) with more than 36 decimals has its first significant digit past the
/// 20th, so `0 < q * n < 10^-20 * 2^64 < 1` and the rank is 1.
pub(crate) fn rank(q: f64, n: usize) -> usize {
    let n = n.max(1);
    if q.is_nan() || q <= 0.0 {
        return 1;
    }
    if q >= 1.0 {
        return n;
    }
    let text = q.to_string();
    let decimals = text.split_once('.').map_or("", |(_, d)| d);
    let Ok(m) = decimals.parse::<u128>() else { return 1 };
    if decimals.len() > 36 {
        return 1;
    }
    let scale = 10u128.pow(decimals.len() as u32);
    let k = (m * n as u128).div_ceil(scale);
    usize::try_from(k).map_or(n, |k| k.clamp(1, n))
}

/// `ms` milliseconds as a [`Duration`].
pub fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(
            (nearest_rank(&v, 0.0), nearest_rank(&v, 0.5), nearest_rank(&v, 0.99), nearest_rank(&v, 1.0)),
            (Some(1.0), Some(3.0), Some(5.0), Some(5.0))
        );
        assert_eq!(nearest_rank::<u32>(&[], 0.5), None);
        assert_eq!(
            nearest_rank(&[Duration::from_millis(7), Duration::from_millis(3)], 0.5),
            Some(Duration::from_millis(3))
        );
    }

    /// Bug: the rank was `ceil(q * n)` in floating point: `0.07 * 100.0` is
    /// `7.000000000000001`, so the 0.07 quantile of 1..=100 was 8, not 7.
    #[test]
    fn rank_is_exact_for_decimal_q() {
        let hundred: Vec<u32> = (1..=100).collect();
        assert_eq!(nearest_rank(&hundred, 0.07), Some(7));
        for n in [1usize, 7, 10, 100, 1000, 12_345] {
            let v: Vec<usize> = (1..=n).collect();
            for k in 0..=1000usize {
                // q = k/1000, the f64 nearest to the decimal 0.kkk.
                let q = k as f64 / 1000.0;
                let exact = (k * n).div_ceil(1000).clamp(1, n);
                assert_eq!(nearest_rank(&v, q), Some(exact), "q = {q}, n = {n}");
            }
        }
        // Out of range, tiny and huge inputs do not panic.
        assert_eq!(rank(f64::NAN, 10), 1);
        assert_eq!(rank(-1.0, 10), 1);
        assert_eq!(rank(2.0, 10), 10);
        assert_eq!(rank(f64::MIN_POSITIVE, usize::MAX), 1);
        assert_eq!(rank(1e-19, usize::MAX), 2);
        assert_eq!(rank(0.5, usize::MAX), usize::MAX / 2 + 1);
        assert_eq!(rank(1.0 - f64::EPSILON, 0), 1);
    }

    /// Bug: `Duration::from_secs_f64` panicked on a huge sample (a log-normal with a wide
    /// sigma can draw 1e300 seconds).
    #[test]
    fn huge_or_invalid_seconds_do_not_panic() {
        assert_eq!(secs(1e300), Duration::MAX);
        assert_eq!(secs(f64::NAN), Duration::ZERO);
        assert_eq!(secs(-1.0), Duration::ZERO);
        let wide = Latency::LogNormal { median: Duration::from_secs(1), sigma: 400.0 };
        let mut r = rng(1);
        for _ in 0..1000 {
            let _ = wide.sample(&mut r);
        }
    }
}
