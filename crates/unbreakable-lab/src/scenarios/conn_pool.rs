//! A connection pool in front of a database (chapter 08), on the workbook's
//! [`WorkerPool`]: requests arrive (Poisson), each borrows a connection for a random hold
//! time (exponential), waits in a FIFO queue when all are busy, and gives up after
//! `max_wait` if one is set.
//!
//! [`ConnPool::widget`] is the article's widget (a pool of 5, a queue, busy / waiting /
//! completed counts and the average wait) with a burst of traffic in the middle;
//! [`ConnPool::sweep`] varies the pool size and sets each result beside Erlang C.

use std::time::Duration;

use rand_distr::Distribution;
use serde::Serialize;

use crate::error::ConfigError;
use crate::sim::{Arrivals, Latency, SimTime, WorkerPool, erlang_c, substream};

/// The experiment's settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnPool {
    /// Connections in the pool.
    pub size: u32,
    /// Requests per second outside the burst.
    pub per_second: f64,
    /// Extra requests per second during the burst (0: none).
    pub burst_per_second: f64,
    /// When the burst starts and ends.
    pub burst: (Duration, Duration),
    /// How long a request holds its connection.
    pub hold: Latency,
    /// How long a request waits for a connection before giving up (`None`: for ever).
    pub max_wait: Option<Duration>,
    /// How long traffic arrives.
    pub horizon: Duration,
}

impl ConnPool {
    /// The article's widget: a pool of 5; 30 requests/s holding a connection for 100 ms on
    /// average (3 busy, 60% of the pool), and for 5 s in the middle 30 more per second,
    /// more than 5 connections can serve (6 busy needed), so the queue grows and then
    /// drains; 30 s in all, no time-out.
    pub fn widget() -> Self {
        Self {
            size: 5,
            per_second: 30.0,
            burst_per_second: 30.0,
            burst: (Duration::from_secs(10), Duration::from_secs(15)),
            hold: Latency::Exponential { mean: Duration::from_millis(100) },
            max_wait: None,
            horizon: Duration::from_secs(30),
        }
    }

    /// Runs it with `seed`: one [`Request`] per arrival, in order of arrival.
    ///
    /// # Errors
    /// A pool size of 0, a negative rate, or an invalid hold time.
    pub fn run(&self, seed: u64) -> Result<PoolRun, ConfigError> {
        self.hold.validate()?;
        let mut pool = WorkerPool::new(self.size)?;
        let steady = Arrivals::flat(self.per_second).times(self.horizon, substream(seed, 0))?;
        let (from, to) = self.burst;
        let (burst, burst_secs) = if self.burst_per_second > 0.0 {
            let length = to.saturating_sub(from);
            let times = Arrivals::flat(self.burst_per_second).times(length, substream(seed, 1))?;
            (Some(times.map(move |t| t + from)), length.as_secs_f64())
        } else {
            (None, 0.0)
        };
        // Room for the expected count plus 4 standard deviations (it is Poisson), so that
        // the requests are allocated once.
        let expected = self.per_second * self.horizon.as_secs_f64() + self.burst_per_second * burst_secs;
        let mut requests = Vec::with_capacity((expected + 4.0 * expected.sqrt()) as usize + 16);
        let hold = self.hold.sampler();
        let mut holds = substream(seed, 2);
        let serve = |arrived| match pool.admit(arrived, hold.sample(&mut holds), self.max_wait) {
            Ok(s) => Request { arrived, start: Some(s.start), end: Some(s.end) },
            Err(_) => Request { arrived, start: None, end: None },
        };
        match burst {
            // The burst's arrivals merged in time order into the steady ones.
            Some(burst) => requests.extend(merge_sorted(steady, burst).map(serve)),
            None => requests.extend(steady.map(serve)),
        }
        Ok(PoolRun { size: self.size, horizon: self.horizon, requests })
    }

    /// [`run`](Self::run) for each pool size in `sizes` (no burst: steady Poisson traffic,
    /// so Erlang C applies), each with the same seed.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub fn sweep(&self, sizes: &[u32], seed: u64) -> Result<Vec<SweepPoint>, ConfigError> {
        sizes
            .iter()
            .map(|&size| {
                let steady = ConnPool { size, burst_per_second: 0.0, ..self.clone() };
                let run = steady.run(seed)?;
                let s = run.summary();
                let theory = erlang_c(self.per_second, 1.0 / self.hold.mean_secs(), size);
                Ok(SweepPoint {
                    size,
                    mean_wait_ms: s.mean_wait_ms,
                    p_wait: s.p_wait,
                    p99_wait_ms: s.p99_wait_ms,
                    mean_queue: run.mean_queue(Duration::from_millis(5)),
                    timed_out_share: s.timed_out as f64 / s.requests.max(1) as f64,
                    erlang_p_wait: theory.map(|t| t.0),
                    erlang_wait_ms: theory.map(|t| t.1 * 1e3),
                })
            })
            .collect()
    }
}

/// Two ascending sequences as one ascending sequence.
fn merge_sorted<T: Ord>(a: impl Iterator<Item = T>, b: impl Iterator<Item = T>) -> impl Iterator<Item = T> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if y < x => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}

/// One request: when it arrived, and when it held a connection (`None` if it gave up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Request {
    /// Arrival.
    pub arrived: SimTime,
    /// When it got a connection.
    pub start: Option<SimTime>,
    /// When it gave the connection back.
    pub end: Option<SimTime>,
}

impl Request {
    /// Time waiting for a connection (for one that gave up: nothing, it is not counted).
    pub fn waited(&self) -> Option<Duration> {
        self.start.map(|s| s.saturating_sub(self.arrived))
    }
}

/// What the widget shows at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Snapshot {
    /// Seconds since the start.
    pub t: f64,
    /// Connections in use.
    pub busy: u32,
    /// Requests waiting for one.
    pub waiting: u32,
    /// Requests done so far.
    pub completed: u32,
    /// Mean wait of the requests that got a connection so far, ms.
    pub avg_wait_ms: f64,
}

/// Totals of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Requests that arrived.
    pub requests: usize,
    /// Requests that gave up waiting.
    pub timed_out: usize,
    /// Share of served requests that waited at all.
    pub p_wait: f64,
    /// Mean wait of served requests, ms.
    pub mean_wait_ms: f64,
    /// 99th percentile wait, ms.
    pub p99_wait_ms: f64,
    /// Longest wait, ms.
    pub max_wait_ms: f64,
    /// Most requests waiting at once.
    pub max_queue: u32,
}

/// One pool size of a sweep, with what Erlang C predicts (`None` where the pool is too
/// small for the traffic and the queue grows without bound).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SweepPoint {
    /// Connections.
    pub size: u32,
    /// Simulated mean wait, ms.
    pub mean_wait_ms: f64,
    /// Simulated share that waited.
    pub p_wait: f64,
    /// Simulated 99th percentile wait, ms.
    pub p99_wait_ms: f64,
    /// Time-averaged number waiting (sampled every 5 ms).
    pub mean_queue: f64,
    /// Share that gave up waiting.
    pub timed_out_share: f64,
    /// Erlang C's share that waits.
    pub erlang_p_wait: Option<f64>,
    /// Erlang C's mean wait, ms.
    pub erlang_wait_ms: Option<f64>,
}

/// The requests of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolRun {
    /// Connections.
    pub size: u32,
    /// How long traffic arrived.
    pub horizon: Duration,
    /// Every request, in order of arrival.
    pub requests: Vec<Request>,
}

impl PoolRun {
    /// The widget's counters every `step`, from 0 to the horizon. `O(requests)` per
    /// snapshot: meant for hundreds of snapshots, not millions.
    pub fn timeline(&self, step: Duration) -> Vec<Snapshot> {
        let steps = (self.horizon.as_nanos() / step.as_nanos().max(1)) as u32;
        (0..=steps)
            .map(|k| {
                let t = step * k;
                let (mut busy, mut waiting, mut completed, mut waited, mut started) =
                    (0, 0, 0, Duration::ZERO, 0u32);
                for r in self.requests.iter().take_while(|r| r.arrived <= t) {
                    match (r.start, r.end) {
                        (Some(s), Some(_)) if s > t => waiting += 1,
                        (Some(s), Some(e)) => {
                            started += 1;
                            waited += s - r.arrived;
                            if e > t { busy += 1 } else { completed += 1 }
                        }
                        _ => {}
                    }
                }
                let avg = if started == 0 { 0.0 } else { waited.as_secs_f64() * 1e3 / f64::from(started) };
                Snapshot { t: t.as_secs_f64(), busy, waiting, completed, avg_wait_ms: avg }
            })
            .collect()
    }

    /// +1 when a request starts waiting, -1 when it gets its connection, sorted by time
    /// (at equal times the -1 first).
    fn queue_events(&self) -> Vec<(SimTime, i64)> {
        let mut events: Vec<(SimTime, i64)> = Vec::with_capacity(self.requests.len() * 2);
        for r in &self.requests {
            if let Some(s) = r.start.filter(|&s| s > r.arrived) {
                events.push((r.arrived, 1));
                events.push((s, -1));
            }
        }
        events.sort_unstable();
        events
    }

    /// Time-averaged number of requests waiting, sampled every `step` over the horizon.
    pub fn mean_queue(&self, step: Duration) -> f64 {
        let events = self.queue_events();
        let steps = (self.horizon.as_nanos() / step.as_nanos().max(1)) as u32;
        let (mut i, mut q, mut sum) = (0, 0i64, 0i64);
        for k in 0..steps {
            let t = step * k;
            while i < events.len() && events[i].0 <= t {
                q += events[i].1;
                i += 1;
            }
            sum += q;
        }
        sum as f64 / f64::from(steps.max(1))
    }

    /// The most requests waiting at once.
    pub fn max_queue(&self) -> u32 {
        let (mut q, mut most) = (0i64, 0i64);
        for (_, d) in self.queue_events() {
            q += d;
            most = most.max(q);
        }
        most as u32
    }

    /// Totals.
    pub fn summary(&self) -> Summary {
        let mut waits: Vec<Duration> = self.requests.iter().filter_map(Request::waited).collect();
        let served = waits.len().max(1) as f64;
        let mean = waits.iter().map(Duration::as_secs_f64).sum::<f64>() / served * 1e3;
        let p_wait = waits.iter().filter(|w| !w.is_zero()).count() as f64 / served;
        waits.sort_unstable();
        let pick = |q: f64| {
            waits
                .get(((q * waits.len() as f64).ceil() as usize).saturating_sub(1))
                .map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        let max_queue = self.max_queue();
        Summary {
            requests: self.requests.len(),
            timed_out: self.requests.iter().filter(|r| r.start.is_none()).count(),
            p_wait,
            mean_wait_ms: mean,
            p99_wait_ms: pick(0.99),
            max_wait_ms: waits.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            max_queue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widget_never_exceeds_the_pool_and_drains_after_the_burst() {
        let run = ConnPool::widget().run(42).unwrap();
        let tl = run.timeline(Duration::from_millis(100));
        assert!(tl.iter().all(|s| s.busy <= 5));
        let during = tl.iter().filter(|s| (10.0..15.0).contains(&s.t)).map(|s| s.waiting).max().unwrap();
        let before = tl.iter().filter(|s| s.t < 10.0).map(|s| s.waiting).max().unwrap();
        assert!(during > before, "the burst builds a queue: {during} vs {before}");
        assert_eq!(tl.last().unwrap().waiting, 0, "drained by the end");
        assert_eq!(run, ConnPool::widget().run(42).unwrap());
    }

    #[test]
    fn a_time_out_caps_the_wait() {
        let x = ConnPool { max_wait: Some(Duration::from_millis(50)), ..ConnPool::widget() };
        let s = x.run(1).unwrap().summary();
        assert!(s.timed_out > 0 && s.max_wait_ms <= 50.0, "{s:?}");
        assert!(ConnPool { size: 0, ..ConnPool::widget() }.run(1).is_err());
    }
}
