//! The optimistic-concurrency contention experiment of Marc Brooker's "Exponential Backoff
//! And Jitter" (AWS Architecture Blog, 2015), rebuilt on this crate's event queue.
//!
//! `N` clients each need one successful write to a single versioned row: read the
//! version, write with it; the write fails if the version moved in between. Every message
//! leg takes `|Normal(10 ms, 2 ms)|`. After a failed write a client waits one network leg
//! plus its backoff (base 5 ms, cap 2000 ms, the attempt counter starting at 1 on the
//! first failure) and reads again. Reported: total write calls and completion time (the
//! time of the last event), averaged over 100 runs.
//!
//! Besides the blog's five algorithms, [`Algorithm::Additive`] is the form most articles
//! write down, `base * 2^n + jitter` with a small random term ([`ADDITIVE_JITTER`]).

use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

use crate::error::ConfigError;
use crate::retry::{Backoff, Jitter};
use crate::sim::{EventQueue, SimRng, substream};

/// The five algorithms of the blog post, and the additive form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Algorithm {
    /// Retry at once.
    NoBackoff,
    /// Capped exponential, no jitter.
    Exponential,
    /// Full jitter.
    FullJitter,
    /// Equal jitter.
    EqualJitter,
    /// Decorrelated jitter.
    Decorrelated,
    /// Capped exponential plus a small random term: `min(cap, base * 2^n) + U(0,
    /// ADDITIVE_JITTER)`.
    Additive,
}

/// The small random term of [`Algorithm::Additive`]: one base delay (5 ms).
pub const ADDITIVE_JITTER: Duration = Duration::from_millis(5);

impl Algorithm {
    /// All six: the blog's five in its legend order, then the additive form.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::NoBackoff,
        Algorithm::Exponential,
        Algorithm::FullJitter,
        Algorithm::EqualJitter,
        Algorithm::Decorrelated,
        Algorithm::Additive,
    ];

    /// Legend name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::NoBackoff => "no backoff",
            Algorithm::Exponential => "exponential",
            Algorithm::FullJitter => "full jitter",
            Algorithm::EqualJitter => "equal jitter",
            Algorithm::Decorrelated => "decorrelated jitter",
            Algorithm::Additive => "exponential + small random",
        }
    }

    /// The backoff, with the blog's base (5 ms), cap (2 s) and counting. (For
    /// [`Additive`](Algorithm::Additive), the un-jittered part; [`run_once`] adds the
    /// random term.)
    pub fn backoff(self) -> Backoff {
        let jitter = match self {
            Algorithm::NoBackoff => return Backoff::immediate(),
            Algorithm::Exponential | Algorithm::Additive => Jitter::None,
            Algorithm::FullJitter => Jitter::Full,
            Algorithm::EqualJitter => Jitter::Equal,
            Algorithm::Decorrelated => Jitter::Decorrelated,
        };
        Backoff::exponential(Duration::from_millis(5))
            .with_cap(Duration::from_millis(2000))
            .with_jitter(jitter)
            .starting_at_exponent(1)
            .build()
            .expect("the blog's parameters are valid")
    }
}

/// One point of the sweep: the means over `runs` runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Clients.
    pub clients: u32,
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Mean write calls per run.
    pub calls: f64,
    /// Mean completion time per run, milliseconds.
    pub time_ms: f64,
    /// Queue events processed in all runs (two per write attempt; for benchmarks).
    pub events: u64,
}

/// Events at the server, the only place with shared state (the row's version). What a
/// client does on receiving an answer depends only on that answer, so each answer and the
/// request it triggers are folded into the server event that caused them: two queue
/// events per attempt instead of four messages, with the server's events in the same
/// order and at the same times as if every message were simulated.
#[derive(Debug, Clone, Copy)]
enum Msg {
    /// A read request arriving at the server.
    Read(u32),
    /// A write request, carrying the version the client read, arriving at the server.
    Write(u32, u64),
}

/// The most clients one run accepts.
pub const MAX_CLIENTS: u32 = 100_000;

/// One run with `clients` clients: `(write calls, completion time, events)`. The
/// completion time is when the last successful write's answer reaches its client.
pub fn run_once(clients: u32, algorithm: Algorithm, rng: &mut SimRng) -> (u64, Duration, u64) {
    let net: Normal<f64> = Normal::new(10.0, 2.0).expect("valid normal");
    // One network leg: |N(10 ms, 2 ms)|, in whole nanoseconds.
    let leg = |r: &mut SimRng| Duration::from_nanos((net.sample(r).abs() * 1e6) as u64);
    let backoff = algorithm.backoff();
    let jittered = !matches!(algorithm, Algorithm::NoBackoff | Algorithm::Exponential);
    let mut q = EventQueue::new();
    let mut attempts = vec![0u32; clients as usize];
    let mut previous = vec![Duration::from_millis(5); clients as usize];
    for c in 0..clients {
        let d = leg(rng);
        q.schedule(d, Msg::Read(c));
    }
    let (mut version, mut calls, mut done) = (0u64, 0u64, Duration::ZERO);
    while let Some((now, msg)) = q.pop() {
        match msg {
            // The version travels back to the client, which sends its write at once.
            Msg::Read(c) => {
                let back = leg(rng);
                let out = leg(rng);
                q.schedule_in(back + out, Msg::Write(c, version));
            }
            Msg::Write(c, v) => {
                calls += 1;
                let back = leg(rng);
                if v == version {
                    version += 1;
                    done = done.max(now + back);
                } else {
                    // The failure reaches the client, which backs off, then reads again.
                    let i = c as usize;
                    attempts[i] += 1;
                    let u = if jittered { rng.random::<f64>() } else { 0.0 };
                    let wait = match algorithm {
                        Algorithm::Additive => {
                            backoff.delay(attempts[i] - 1, previous[i], 0.0) + ADDITIVE_JITTER.mul_f64(u)
                        }
                        _ => backoff.delay(attempts[i] - 1, previous[i], u),
                    };
                    previous[i] = wait;
                    let out = leg(rng);
                    q.schedule_in(back + wait + out, Msg::Read(c));
                }
            }
        }
    }
    (calls, done, q.processed())
}

/// Runs `runs` runs for every client count in `clients` and every algorithm. Run `r` at
/// `N` clients uses stream `r` of a seed derived from `seed` and `N`, the same for every
/// algorithm. Client counts are spread over the machine's cores; the result does not
/// depend on how many there are.
///
/// # Errors
/// Zero runs, or a client count of 0 or above [`MAX_CLIENTS`].
pub fn sweep(clients: &[u32], runs: u32, seed: u64) -> Result<Vec<Point>, ConfigError> {
    if runs == 0 {
        return Err(ConfigError::new("runs", "at least one run per point is needed (the blog uses 100)"));
    }
    if let Some(&bad) = clients.iter().find(|&&n| n == 0 || n > MAX_CLIENTS) {
        return Err(ConfigError::new("clients", format!("{bad} clients is outside 1..={MAX_CLIENTS}")));
    }
    let point = |n: u32, a: Algorithm| {
        let (mut calls, mut time, mut events) = (0u64, 0.0f64, 0u64);
        for r in 0..runs {
            let mut rng = substream(seed ^ (u64::from(n) << 32), u64::from(r));
            let (c, t, e) = run_once(n, a, &mut rng);
            calls += c;
            time += t.as_secs_f64() * 1e3;
            events += e;
        }
        Point {
            clients: n,
            algorithm: a,
            calls: calls as f64 / f64::from(runs),
            time_ms: time / f64::from(runs),
            events,
        }
    };
    let jobs: Vec<(u32, Algorithm)> = clients.iter().flat_map(|&n| Algorithm::ALL.map(|a| (n, a))).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len().max(1));
    let mut out = vec![None; jobs.len()];
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let jobs = &jobs;
                let point = &point;
                s.spawn(move || {
                    jobs.iter()
                        .enumerate()
                        .skip(t)
                        .step_by(threads)
                        .map(|(i, &(n, a))| (i, point(n, a)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (i, p) in h.join().expect("a sweep thread panicked") {
                out[i] = Some(p);
            }
        }
    });
    Ok(out.into_iter().flatten().collect())
}

/// The blog's client counts: 10, 20, ..., 190.
pub fn blog_clients() -> Vec<u32> {
    (1..=19).map(|k| k * 10).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_writes_once() {
        let (calls, t, _) = run_once(1, Algorithm::FullJitter, &mut substream(1, 0));
        assert_eq!(calls, 1);
        // Four legs of about 10 ms.
        assert!(t > Duration::from_millis(25) && t < Duration::from_millis(55), "{t:?}");
    }

    #[test]
    fn without_backoff_work_grows_with_the_square_of_clients() {
        // The blog: "the total amount of work done by the system increases with N^2".
        // Doubling N should multiply the calls by about 4 (2 if it grew linearly).
        let mean = |n| {
            (0..20).map(|r| run_once(n, Algorithm::NoBackoff, &mut substream(3, r)).0).sum::<u64>() as f64
                / 20.0
        };
        let (a, b, c) = (mean(25), mean(50), mean(100));
        for ratio in [b / a, c / b] {
            assert!((2.8..5.0).contains(&ratio), "doubling N multiplied calls by {ratio}");
        }
    }

    #[test]
    fn rejects_nonsense() {
        assert!(sweep(&[10], 0, 1).is_err());
        assert!(sweep(&[0], 1, 1).is_err());
    }
}
