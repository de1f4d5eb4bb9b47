//! A pool that is too large, in simulation (chapter 08): a database whose cost per query
//! grows with the number of queries it runs at once.
//!
//! The database has `cores` CPUs shared equally by the queries it is running (processor
//! sharing, as an operating system shares cores between PostgreSQL's backend processes).
//! On top of that, every query running beside others costs more: with `n` queries active,
//! a query needs `f(n) = 1 + σ (n - 1) + κ n (n - 1)` times its own CPU work. `σ` is the
//! part that grows with each other query (queueing on a shared latch, a scheduler that
//! switches between more processes), `κ` the part that grows with every *pair* of
//! queries (keeping shared state coherent: locks, snapshots, caches). With `n` queries
//! running, the database completes
//!
//! ```text
//! X(n) = min(n, cores) / (cpu f(n))      queries per second
//! ```
//!
//! Up to `n = cores` that is Neil Gunther's Universal Scalability Law
//! `X(n) = λ n / (1 + σ (n - 1) + κ n (n - 1))` with `λ = 1 / cpu`, whose peak is at
//! `N* = sqrt((1 - σ) / κ)`; past the cores the numerator stops growing and only the
//! cost does. So the peak is at about `min(cores, N*)`, and with no contention at all
//! (`σ = κ = 0`) throughput rises to `cores / cpu` and stays there.
//!
//! The pool of `pool` connections caps `n`: `clients` closed-loop clients each think for
//! an exponential time (mean `think`, zero by default), ask the pool for a connection
//! (first come first served), run one query of exponential CPU work (mean `cpu`) and give
//! the connection back. [`DbContention::theory`] is the closed form of that model (a
//! machine-repairman chain with a load-dependent server) and [`DbContention::sweep`] sets
//! each simulated pool size beside it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use rand_distr::{Distribution, Exp};
use serde::Serialize;

use crate::error::ConfigError;
use crate::sim::{EventQueue, SimRng, SimTime, nearest_rank, secs, substream};

/// The most queries one run may simulate (horizon and warm-up times the fastest the
/// database can go): a bound that turns a unit mistake into an error, not a hang.
pub const MAX_QUERIES: f64 = 50e6;

/// The experiment's settings. Build it with struct-update syntax from
/// [`postgres_2_cores`](Self::postgres_2_cores); [`run`](Self::run) checks it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DbContention {
    /// CPUs of the database server.
    pub cores: u32,
    /// Mean CPU work of one query run alone (exponentially distributed).
    pub cpu: Duration,
    /// Contention: extra work per query for each other query running (USL's σ, 0 to 1).
    pub sigma: f64,
    /// Coherency: extra work per query for each pair of queries running (USL's κ, 0 or more).
    pub kappa: f64,
    /// Connections in the pool: the most queries the database runs at once.
    pub pool: u32,
    /// Clients in the closed loop.
    pub clients: u32,
    /// Mean time a client waits between an answer and its next query (exponential; zero:
    /// it asks again at once, which keeps the pool full whenever `clients >= pool`).
    pub think: Duration,
    /// Time simulated before measuring starts (the loop fills up).
    pub warmup: Duration,
    /// Time measured: queries answered inside it count.
    pub horizon: Duration,
}

impl DbContention {
    /// The real sweep of notebook 08 in simulation: 64 clients in a closed loop against a
    /// 2-core database, no think time.
    ///
    /// Where the numbers come from (the chapter's quiet run of `perf::pool::pool_size_sweep`,
    /// `CPU_QUERY` on PostgreSQL 18, 2 cores): it peaked at 2 connections with about 450
    /// queries/s, so one query is `cpu = 2 / 450 s ≈ 4.4 ms` of one core (the measured
    /// median inside the database was 4.7 ms). At 64 connections a query took 173 ms
    /// inside the database, so 64 / 0.173 s ≈ 370 queries/s: throughput fell to about
    /// 0.82 of the peak, `f(64) ≈ 1.23`. `σ = 0.002` and `κ = 2.5e-5` give
    /// `f(64) = 1 + 0.126 + 0.101 = 1.227` (about half each: the scheduler's cost of more
    /// processes, and the pairwise cost of shared state). USL's own peak would be at
    /// `N* = sqrt(0.998 / 2.5e-5) ≈ 200`, far beyond 2 cores, so the cores make the knee.
    pub fn postgres_2_cores() -> Self {
        Self {
            cores: 2,
            cpu: Duration::from_micros(4400),
            sigma: 0.002,
            kappa: 2.5e-5,
            pool: 2,
            clients: 64,
            think: Duration::ZERO,
            warmup: Duration::from_secs(1),
            horizon: Duration::from_secs(60),
        }
    }

    /// Checks the settings, saying what to change.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field: zero cores, connections or clients (or more than
    /// 100,000), a CPU time of zero, `σ` outside `0..1`, a negative or non-finite `κ`, a
    /// zero horizon, or a run of more than [`MAX_QUERIES`] queries.
    pub fn validate(&self) -> Result<(), ConfigError> {
        const MOST: u32 = 100_000;
        for (field, v, what) in [
            ("cores", self.cores, "CPUs"),
            ("pool", self.pool, "connections"),
            ("clients", self.clients, "clients"),
        ] {
            if v == 0 || v > MOST {
                return Err(ConfigError::new(
                    field,
                    format!("{v} {what} is outside 1..={MOST}; use at least one"),
                ));
            }
        }
        if self.cpu.is_zero() {
            return Err(ConfigError::new(
                "cpu",
                "a query needs some CPU work: set a mean above zero, such as 4.4 ms",
            ));
        }
        if !(0.0..1.0).contains(&self.sigma) {
            return Err(ConfigError::new(
                "sigma",
                format!(
                    "σ = {} is outside 0..1 (0: no contention; 1 would make every query wait for all the others)",
                    self.sigma
                ),
            ));
        }
        if !(self.kappa.is_finite() && self.kappa >= 0.0) {
            return Err(ConfigError::new(
                "kappa",
                format!("κ = {} must be a number of 0 or more (0: no coherency cost)", self.kappa),
            ));
        }
        if self.horizon.is_zero() {
            return Err(ConfigError::new(
                "horizon",
                "nothing is measured in a horizon of zero: set a few seconds or more",
            ));
        }
        let most = (1..=self.pool.min(self.clients)).map(|n| self.usl(n)).fold(0.0, f64::max);
        let queries = most * self.warmup.saturating_add(self.horizon).as_secs_f64();
        if queries > MAX_QUERIES {
            return Err(ConfigError::new(
                "horizon",
                format!(
                    "{queries:.0} queries to simulate is more than {MAX_QUERIES:.0}: shorten `horizon` or `warmup`, or check the unit of `cpu`"
                ),
            ));
        }
        Ok(())
    }

    /// The cost factor `f(n) = 1 + σ (n - 1) + κ n (n - 1)` with `n` queries running.
    pub fn cost(&self, n: u32) -> f64 {
        let n = f64::from(n.max(1));
        1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0)
    }

    /// Queries per second the database completes with `n` running: `min(n, cores) /
    /// (cpu f(n))`; for `n <= cores` the Universal Scalability Law. Zero for `n = 0`.
    pub fn usl(&self, n: u32) -> f64 {
        if n == 0 {
            return 0.0;
        }
        f64::from(n.min(self.cores)) / (self.cpu.as_secs_f64() * self.cost(n))
    }

    /// USL's peak `N* = sqrt((1 - σ) / κ)` (infinite for `κ = 0`: no peak, a plateau).
    pub fn usl_peak(&self) -> f64 {
        ((1.0 - self.sigma) / self.kappa).sqrt()
    }

    /// The pool size, from 1 to `most`, at which [`usl`](Self::usl) is highest (the
    /// smallest one on a tie): about `min(cores, N*)`.
    pub fn best_pool(&self, most: u32) -> u32 {
        let mut best = 1;
        for n in 2..=most.max(1) {
            if self.usl(n) > self.usl(best) * (1.0 + 1e-12) {
                best = n;
            }
        }
        best
    }

    /// What the model predicts for these settings, in the long run.
    ///
    /// With exponential think and CPU times the number of clients at the database (waiting
    /// for a connection or running) is a birth-death chain, the machine-repairman model
    /// with a load-dependent server: `k` goes up at `(clients - k) / think` and down at
    /// `usl(min(k, pool))`. Throughput is its mean completion rate; the mean times follow
    /// from Little's law. With no think time every client is always at the database, so
    /// throughput is exactly `usl(min(clients, pool))` (for any CPU-time distribution).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn theory(&self) -> Result<Theory, ConfigError> {
        self.validate()?;
        let m = self.clients;
        let z = self.think.as_secs_f64();
        // Probabilities of k = 0..=m clients at the database.
        let p: Vec<f64> = if self.think.is_zero() {
            let mut p = vec![0.0; m as usize + 1];
            p[m as usize] = 1.0;
            p
        } else {
            // In logs: (m / z)^k / prod usl can overflow for hundreds of clients.
            let mut logs = Vec::with_capacity(m as usize + 1);
            logs.push(0.0f64);
            for k in 0..m {
                let up = f64::from(m - k) / z;
                let down = self.usl((k + 1).min(self.pool));
                logs.push(logs[k as usize] + up.ln() - down.ln());
            }
            let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = logs.iter().map(|l| (l - top).exp()).collect();
            let sum: f64 = w.iter().sum();
            w.into_iter().map(|x| x / sum).collect()
        };
        let (mut x, mut running, mut waiting) = (0.0, 0.0, 0.0);
        for (k, pk) in (0u32..).zip(&p) {
            let n = k.min(self.pool);
            x += pk * self.usl(n);
            running += pk * f64::from(n);
            waiting += pk * f64::from(k - n);
        }
        Ok(Theory {
            per_second: x,
            in_db_ms: running / x * 1e3,
            wait_ms: waiting / x * 1e3,
            running,
            waiting,
        })
    }

    /// Runs it with `seed`: every query answered inside the measured window.
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn run(&self, seed: u64) -> Result<DbRun, ConfigError> {
        self.validate()?;
        let m = self.clients as usize;
        let cpu =
            Exp::new(1.0 / self.cpu.as_secs_f64()).map_err(|e| ConfigError::new("cpu", format!("{e}")))?;
        let think = (!self.think.is_zero())
            .then(|| Exp::new(1.0 / self.think.as_secs_f64()))
            .transpose()
            .map_err(|e| ConfigError::new("think", format!("{e}")))?;
        // One stream per client: its think times and its queries' CPU work.
        let mut rngs: Vec<SimRng> = (0..self.clients).map(|c| substream(seed, u64::from(c))).collect();
        let (from, to) = (self.warmup, self.warmup.saturating_add(self.horizon));
        let mut events: EventQueue<Event> = EventQueue::new();
        for (c, r) in (0u32..).zip(rngs.iter_mut()) {
            let first = think.as_ref().map_or(0.0, |t| t.sample(r));
            events.schedule(secs(first), Event::Ask(c));
        }
        let mut db = Sharing::new(self);
        let mut asked = vec![SimTime::ZERO; m];
        let mut started = vec![SimTime::ZERO; m];
        let mut free = self.pool;
        let mut queue: VecDeque<u32> = VecDeque::new();
        let mut queries = Vec::new();
        while let Some((now, ev)) = events.pop() {
            if now >= to {
                break;
            }
            let t = now.as_secs_f64();
            let epoch = db.epoch;
            match ev {
                Event::Ask(c) => {
                    asked[c as usize] = now;
                    if free > 0 {
                        free -= 1;
                        started[c as usize] = now;
                        db.start(t, cpu.sample(&mut rngs[c as usize]), c);
                    } else {
                        queue.push_back(c);
                    }
                }
                Event::Done(epoch) => {
                    if epoch != db.epoch {
                        continue; // a completion predicted before the number running changed
                    }
                    let c = db.finish(t);
                    let i = c as usize;
                    if now >= from {
                        queries.push(Query { asked: asked[i], started: started[i], done: now });
                    }
                    // The connection goes to the first client waiting, or back to the pool.
                    match queue.pop_front() {
                        Some(next) => {
                            started[next as usize] = now;
                            db.start(t, cpu.sample(&mut rngs[next as usize]), next);
                        }
                        None => free += 1,
                    }
                    let pause = think.as_ref().map_or(0.0, |z| z.sample(&mut rngs[i]));
                    events.schedule(now.saturating_add(secs(pause)), Event::Ask(c));
                }
            }
            if db.epoch != epoch {
                if let Some(at) = db.next_done() {
                    events.schedule(secs(at), Event::Done(db.epoch));
                }
            }
        }
        Ok(DbRun { pool: self.pool, horizon: self.horizon, queries })
    }

    /// [`run`](Self::run) for each pool size in `pools`, each with the same seed, beside
    /// [`theory`](Self::theory).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn sweep(&self, pools: &[u32], seed: u64) -> Result<Vec<SimPoint>, ConfigError> {
        pools
            .iter()
            .map(|&pool| {
                let x = DbContention { pool, ..self.clone() };
                Ok(SimPoint { pool, sim: x.run(seed)?.summary(), theory: x.theory()? })
            })
            .collect()
    }
}

/// What [`DbContention::theory`] predicts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Theory {
    /// Queries answered per second.
    pub per_second: f64,
    /// Mean time a query runs inside the database, ms.
    pub in_db_ms: f64,
    /// Mean time a client waits for a connection, ms.
    pub wait_ms: f64,
    /// Mean number of queries running.
    pub running: f64,
    /// Mean number of clients waiting for a connection.
    pub waiting: f64,
}

#[derive(Debug, Clone, Copy)]
enum Event {
    /// A client asks the pool for a connection.
    Ask(u32),
    /// The query predicted to finish first finishes, if nothing changed since (the epoch).
    Done(u64),
}

/// The database: the queries running, sharing the cores equally.
///
/// Every query running progresses at the same rate, `min(1, cores / n) / f(n)` seconds of
/// its own CPU work per second, so instead of updating each one, `done` counts the work
/// each has received since the start and a query finishes when `done` reaches the value it
/// was given at its start plus its work (the classic virtual-time trick for processor
/// sharing). The one to finish first is the top of a min-heap; each change costs
/// `O(log n)`.
struct Sharing<'a> {
    model: &'a DbContention,
    /// Work each running query has received, seconds of CPU work.
    done: f64,
    /// When `done` was last brought up to date, seconds.
    at: f64,
    /// `(value of done at which it finishes, as bits (non-negative: same order), client)`.
    running: BinaryHeap<Reverse<(u64, u32)>>,
    /// Changes whenever the number running changes, so stale predictions are ignored.
    epoch: u64,
}

impl<'a> Sharing<'a> {
    fn new(model: &'a DbContention) -> Self {
        Self { model, done: 0.0, at: 0.0, running: BinaryHeap::new(), epoch: 0 }
    }

    /// Work per running query per second with the current number running.
    fn rate(&self) -> f64 {
        let n = u32::try_from(self.running.len()).unwrap_or(u32::MAX);
        if n == 0 { 0.0 } else { f64::from(n.min(self.model.cores)) / (f64::from(n) * self.model.cost(n)) }
    }

    fn catch_up(&mut self, t: f64) {
        self.done += self.rate() * (t - self.at).max(0.0);
        self.at = t;
    }

    fn start(&mut self, t: f64, work: f64, client: u32) {
        self.catch_up(t);
        self.running.push(Reverse(((self.done + work).to_bits(), client)));
        self.epoch += 1;
    }

    /// Ends the query that finishes first and says whose it was.
    fn finish(&mut self, t: f64) -> u32 {
        self.catch_up(t);
        let Some(Reverse((end, client))) = self.running.pop() else {
            unreachable!("a completion is only predicted while a query runs");
        };
        // The event time was rounded to a nanosecond: the query is done by definition.
        self.done = self.done.max(f64::from_bits(end));
        self.epoch += 1;
        client
    }

    /// When the first query running will finish if nothing changes, seconds.
    fn next_done(&self) -> Option<f64> {
        let Reverse((end, _)) = self.running.peek()?;
        Some(self.at + (f64::from_bits(*end) - self.done).max(0.0) / self.rate())
    }
}

/// One query answered inside the measured window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Query {
    /// When its client asked the pool for a connection.
    pub asked: SimTime,
    /// When it got one and the query started.
    pub started: SimTime,
    /// When the answer came back and the connection was given back.
    pub done: SimTime,
}

/// The queries of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DbRun {
    /// Connections.
    pub pool: u32,
    /// The measured window's length.
    pub horizon: Duration,
    /// Every query answered inside it, in order of answer.
    pub queries: Vec<Query>,
}

impl DbRun {
    /// Totals.
    pub fn summary(&self) -> DbSummary {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let total: Vec<f64> = self.queries.iter().map(|q| ms(q.done - q.asked)).collect();
        let in_db: Vec<f64> = self.queries.iter().map(|q| ms(q.done - q.started)).collect();
        let n = self.queries.len().max(1) as f64;
        let pick = |v: &[f64], q: f64| nearest_rank(v, q).unwrap_or(0.0);
        DbSummary {
            queries: self.queries.len(),
            per_second: self.queries.len() as f64 / self.horizon.as_secs_f64(),
            p50_ms: pick(&total, 0.5),
            p99_ms: pick(&total, 0.99),
            in_db_mean_ms: in_db.iter().sum::<f64>() / n,
            in_db_p50_ms: pick(&in_db, 0.5),
            wait_mean_ms: self.queries.iter().map(|q| ms(q.started - q.asked)).sum::<f64>() / n,
        }
    }
}

/// Totals of one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DbSummary {
    /// Queries answered in the window.
    pub queries: usize,
    /// Queries answered per second.
    pub per_second: f64,
    /// Median time from asking the pool to the answer, ms.
    pub p50_ms: f64,
    /// 99th percentile of the same, ms.
    pub p99_ms: f64,
    /// Mean time inside the database, ms.
    pub in_db_mean_ms: f64,
    /// Median time inside the database, ms.
    pub in_db_p50_ms: f64,
    /// Mean wait for a connection, ms.
    pub wait_mean_ms: f64,
}

/// One pool size of [`DbContention::sweep`]: the simulation beside the closed form.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SimPoint {
    /// Connections in the pool.
    pub pool: u32,
    /// What the simulation measured.
    pub sim: DbSummary,
    /// What the closed form predicts.
    pub theory: Theory,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_name_the_field() {
        let ok = DbContention::postgres_2_cores();
        let field = |x: DbContention| x.run(1).unwrap_err().field;
        assert_eq!(field(DbContention { cores: 0, ..ok.clone() }), "cores");
        assert_eq!(field(DbContention { pool: 0, ..ok.clone() }), "pool");
        assert_eq!(field(DbContention { clients: 0, ..ok.clone() }), "clients");
        assert_eq!(field(DbContention { cpu: Duration::ZERO, ..ok.clone() }), "cpu");
        assert_eq!(field(DbContention { sigma: 1.0, ..ok.clone() }), "sigma");
        assert_eq!(field(DbContention { sigma: f64::NAN, ..ok.clone() }), "sigma");
        assert_eq!(field(DbContention { kappa: -1e-3, ..ok.clone() }), "kappa");
        assert_eq!(field(DbContention { horizon: Duration::ZERO, ..ok.clone() }), "horizon");
        let huge = DbContention { cpu: Duration::from_nanos(1), ..ok.clone() };
        assert!(huge.run(1).unwrap_err().message.contains("shorten"));
        assert_eq!(field(DbContention { warmup: Duration::MAX, ..ok.clone() }), "horizon");
        // Extreme but valid: clients that think for ever send one query each at most.
        let idle = DbContention { think: Duration::MAX, horizon: Duration::from_secs(1), ..ok.clone() };
        assert!(idle.run(1).unwrap().queries.is_empty() && idle.theory().unwrap().per_second < 1e-6);
    }

    #[test]
    fn same_seed_same_queries_and_the_pool_caps_the_database() {
        let x = DbContention {
            pool: 4,
            clients: 8,
            horizon: Duration::from_secs(2),
            ..DbContention::postgres_2_cores()
        };
        let a = x.run(7).unwrap();
        assert_eq!(a, x.run(7).unwrap());
        assert_ne!(a, x.run(8).unwrap());
        // Never more than 4 queries inside the database at once.
        let mut edges: Vec<(SimTime, i32)> =
            a.queries.iter().flat_map(|q| [(q.started, 1), (q.done, -1)]).collect();
        edges.sort_unstable_by_key(|e| (e.0, e.1));
        let mut n = 0;
        for (_, d) in edges {
            n += d;
            assert!(n <= 4);
        }
        assert!(a.queries.iter().all(|q| q.asked <= q.started && q.started < q.done));
    }

    #[test]
    fn the_closed_form_peaks_at_min_cores_and_n_star() {
        let x = DbContention { cores: 64, sigma: 0.02, kappa: 0.02, ..DbContention::postgres_2_cores() };
        assert!((x.usl_peak() - 7.0).abs() < 1e-9);
        assert_eq!(x.best_pool(64), 7);
        assert_eq!(DbContention { cores: 4, ..x.clone() }.best_pool(64), 4);
        assert_eq!(DbContention::postgres_2_cores().best_pool(64), 2);
        let flat = DbContention { sigma: 0.0, kappa: 0.0, ..x };
        assert!((flat.usl(200) - flat.usl(64)).abs() < 1e-9);
    }
}
