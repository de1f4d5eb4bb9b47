use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use super::{SimTime, nanos};
use crate::error::ConfigError;

/// A request waited too long for a free worker and left the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no worker free in time: it would have started after waiting {would_wait:?}")]
pub struct PoolTimeout {
    /// How long it would have had to wait.
    pub would_wait: Duration,
}

/// When an admitted request holds a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// When a worker takes it (arrival plus time in the queue).
    pub start: SimTime,
    /// When the worker is free again.
    pub end: SimTime,
}

impl Slot {
    /// Time spent waiting in the queue.
    pub fn waited(&self, arrived: SimTime) -> Duration {
        self.start.saturating_sub(arrived)
    }
}

/// The most workers a pool may have.
pub const MAX_WORKERS: u32 = 1_000_000;

/// A bounded pool of identical workers (threads, connections) in front of a first-in
/// first-out queue: the queueing resource of the workbook (a service's thread pool in
/// chapter 04, a connection pool in chapter 08).
///
/// It is a pure model: a request arriving at `now` that needs a worker for `service`
/// learns at once when it will start, because with FIFO order and known service times the
/// start is the earliest time any worker is free. A request that would wait longer than
/// its `max_wait` leaves the queue without ever taking a worker, so it does not delay
/// anyone behind it. State is one time per worker; each request costs `O(log workers)`.
///
/// Requests must be offered in order of arrival (a time earlier than the previous one is
/// treated as arriving together with it).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable_lab::sim::WorkerPool;
///
/// let ms = Duration::from_millis;
/// let mut pool = WorkerPool::new(2).unwrap();
/// let a = pool.admit(ms(0), ms(100), None).unwrap();
/// let b = pool.admit(ms(0), ms(100), None).unwrap();
/// let c = pool.admit(ms(10), ms(100), None).unwrap(); // waits for the first free worker
/// assert_eq!((a.start, b.start, c.start), (ms(0), ms(0), ms(100)));
/// assert!(pool.admit(ms(20), ms(100), Some(ms(50))).is_err()); // would wait 80 ms
/// ```
#[derive(Debug, Clone)]
pub struct WorkerPool {
    /// When each worker is next free, in nanoseconds (a min-heap).
    free_at: BinaryHeap<Reverse<u64>>,
    last_arrival: u64,
    admitted: u64,
    timed_out: u64,
}

impl WorkerPool {
    /// A pool of `workers` idle workers.
    ///
    /// # Errors
    /// Zero workers, or more than [`MAX_WORKERS`].
    pub fn new(workers: u32) -> Result<Self, ConfigError> {
        if workers == 0 || workers > MAX_WORKERS {
            return Err(ConfigError::new(
                "workers",
                format!("{workers} workers is outside 1..={MAX_WORKERS}; a pool needs at least one"),
            ));
        }
        Ok(Self {
            free_at: (0..workers).map(|_| Reverse(0)).collect(),
            last_arrival: 0,
            admitted: 0,
            timed_out: 0,
        })
    }

    /// Offers a request arriving at `now` that needs a worker for `service`, and gives up
    /// if it would wait longer than `max_wait` (`None`: waits as long as it takes).
    ///
    /// # Errors
    /// [`PoolTimeout`] if it would wait longer than `max_wait`; the pool is unchanged.
    pub fn admit(
        &mut self,
        now: SimTime,
        service: Duration,
        max_wait: Option<Duration>,
    ) -> Result<Slot, PoolTimeout> {
        self.admit_with(now, max_wait, |_| service)
    }

    /// As [`admit`](Self::admit), for work whose length depends on when it starts (a
    /// call that hangs if it starts during an outage): `service(start)` gives it.
    ///
    /// # Errors
    /// [`PoolTimeout`] if it would wait longer than `max_wait`; the pool is unchanged and
    /// `service` is not called.
    pub fn admit_with(
        &mut self,
        now: SimTime,
        max_wait: Option<Duration>,
        service: impl FnOnce(SimTime) -> Duration,
    ) -> Result<Slot, PoolTimeout> {
        let now = nanos(now).max(self.last_arrival);
        self.last_arrival = now;
        let Some(mut first) = self.free_at.peek_mut() else {
            unreachable!("a pool always has at least one worker");
        };
        let start = first.0.max(now);
        let wait = Duration::from_nanos(start - now);
        if max_wait.is_some_and(|m| wait > m) {
            drop(first);
            self.timed_out += 1;
            return Err(PoolTimeout { would_wait: wait });
        }
        let end = start.saturating_add(nanos(service(Duration::from_nanos(start))));
        first.0 = end;
        drop(first);
        self.admitted += 1;
        Ok(Slot { start: Duration::from_nanos(start), end: Duration::from_nanos(end) })
    }

    /// Workers busy at `now` (counting those still serving requests admitted earlier).
    pub fn busy(&self, now: SimTime) -> usize {
        let now = nanos(now);
        self.free_at.iter().filter(|r| r.0 > now).count()
    }

    /// Requests admitted so far.
    pub fn admitted(&self) -> u64 {
        self.admitted
    }

    /// Requests that gave up waiting so far.
    pub fn timed_out(&self) -> u64 {
        self.timed_out
    }
}

/// Erlang C: in an M/M/c queue (Poisson arrivals at `lambda` per second, exponential
/// service at `mu` per second per worker, `c` workers), the probability that a request
/// has to wait, and the mean wait in seconds. `None` if the queue is unstable
/// (`lambda >= c * mu`).
pub fn erlang_c(lambda: f64, mu: f64, c: u32) -> Option<(f64, f64)> {
    let a = lambda / mu;
    let c_f = f64::from(c);
    if !(lambda > 0.0 && mu > 0.0 && c > 0 && a < c_f) {
        return None;
    }
    // Sum a^k / k! for k < c, in a numerically stable running product.
    let (mut term, mut sum) = (1.0f64, 0.0f64);
    for k in 0..c {
        if k > 0 {
            term *= a / f64::from(k);
        }
        sum += term;
    }
    let last = term * a / c_f; // a^c / c!
    let tail = last * c_f / (c_f - a);
    let p_wait = tail / (sum + tail);
    Some((p_wait, p_wait / (c_f * mu - lambda)))
}

/// Erlang B: the share of requests turned away by `c` workers with no queue, when the
/// offered load is `a` erlangs (arrival rate times mean holding time). It holds for any
/// holding-time distribution, which is what makes it a fair check of a bimodal one.
/// `None` for a load that is not a positive number or zero workers.
pub fn erlang_b(c: u32, a: f64) -> Option<f64> {
    if !(a.is_finite() && a > 0.0 && c > 0) {
        return None;
    }
    // B(0) = 1; B(k) = a B(k-1) / (k + a B(k-1)): stable for thousands of workers.
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Arrivals, Latency, rng};

    #[test]
    fn erlang_b_known_values() {
        // One worker: B = a / (1 + a). Two workers, a = 1: B = (1/2) / (1 + 1 + 1/2) = 0.2.
        assert!((erlang_b(1, 3.0).unwrap() - 0.75).abs() < 1e-12);
        assert!((erlang_b(2, 1.0).unwrap() - 0.2).abs() < 1e-12);
        assert_eq!(erlang_b(0, 1.0), None);
    }

    #[test]
    fn matches_erlang_c() {
        // 8 workers, 100 ms mean service (mu = 10/s), 64 requests/s: 80% busy.
        let (lambda, mu, c) = (64.0, 10.0, 8);
        let mut r = rng(11);
        let arrivals = Arrivals::flat(lambda).sample(Duration::from_secs(20_000), &mut r).unwrap();
        let service = Latency::Exponential { mean: Duration::from_millis(100) };
        let mut pool = WorkerPool::new(c).unwrap();
        let (mut waited, mut total) = (0usize, 0.0f64);
        for &t in &arrivals {
            let s = pool.admit(t, service.sample(&mut r), None).unwrap();
            let w = s.waited(t).as_secs_f64();
            total += w;
            waited += usize::from(w > 0.0);
        }
        let n = arrivals.len() as f64;
        let (p, wq) = erlang_c(lambda, mu, c).unwrap();
        // About 1.28 M requests; queueing output is autocorrelated, so allow 3% on the
        // share that waits and 5% on the mean wait.
        assert!((waited as f64 / n - p).abs() < 0.03 * p, "P(wait) {} vs {p}", waited as f64 / n);
        assert!((total / n - wq).abs() < 0.05 * wq, "mean wait {} vs {wq}", total / n);
    }

    #[test]
    fn erlang_c_known_value() {
        // 2 workers, a = 1: P(wait) = 1/3, Wq = (1/3) / (2 - 1) / mu.
        let (p, w) = erlang_c(1.0, 1.0, 2).unwrap();
        assert!((p - 1.0 / 3.0).abs() < 1e-12 && (w - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(erlang_c(2.0, 1.0, 2), None);
    }

    #[test]
    fn giving_up_leaves_no_trace_and_bad_sizes_are_rejected() {
        let ms = Duration::from_millis;
        let mut p = WorkerPool::new(1).unwrap();
        p.admit(ms(0), ms(1000), None).unwrap();
        assert_eq!(p.admit(ms(1), ms(10), Some(ms(5))), Err(PoolTimeout { would_wait: ms(999) }));
        // The one that gave up did not hold the worker: the next starts at 1000 ms.
        assert_eq!(p.admit(ms(2), ms(10), None).unwrap().start, ms(1000));
        assert_eq!((p.admitted(), p.timed_out(), p.busy(ms(500))), (2, 1, 1));
        assert!(WorkerPool::new(0).is_err());
    }
}
