//! Prints the performance figures of the README, each beside a baseline measured in the
//! same run:
//!
//! ```text
//! cargo run --release -p unbreakable-lab --no-default-features --example figures
//! ```
//!
//! 1. the discrete-event engine against tokio's paused clock, on the same workload (10,000
//!    clients retrying with full jitter against a flaky service);
//! 2. the engine's events per second against a bare event queue (the floor of the cost);
//! 3. the full contention sweep of the AWS experiment (19 client counts x 5 algorithms x
//!    100 runs), on all cores against one core;
//! 4. a million requests through the worker pool (chapters 04 and 08), against the same
//!    number of bare event-queue events;
//! 5. keyed transfers durably on SQLite against the same transfers in memory, and SQLite
//!    answering repeats (chapter 06).

use std::time::{Duration, Instant};

use unbreakable_lab::idempotency::ledger::{Ledger, MemoryLedger, Transfer};
use unbreakable_lab::idempotency::sqlite::SqliteLedger;
use unbreakable_lab::idempotency::{IdempotencyKey, Policy};
use unbreakable_lab::retry::{Backoff, Jitter, RetryPolicy};
use unbreakable_lab::scenarios::contention::{Algorithm, blog_clients, run_once, sweep};
use unbreakable_lab::scenarios::{Group, Population, Start, Strategy, paused};
use unbreakable_lab::sim::{Arrivals, EventQueue, Latency, ServiceConfig, WorkerPool, rng, substream};

const CLIENTS: u32 = 10_000;

fn service() -> ServiceConfig {
    ServiceConfig::new(Latency::LogNormal { median: Duration::from_millis(20), sigma: 0.5 })
        .with_failure_rate(0.5)
}

fn policy() -> RetryPolicy {
    RetryPolicy::new(
        Backoff::exponential(Duration::from_millis(50)).with_jitter(Jitter::Full).build().unwrap(),
        8,
    )
    .unwrap()
}

/// The workload on the discrete-event engine: (attempts, events).
fn des(seed: u64) -> (usize, u64) {
    let mut g = Group::new("clients", CLIENTS, Strategy::new("full jitter", policy()));
    g.start = Start::Uniform { from: Duration::ZERO, over: Duration::from_secs(1) };
    let run = Population {
        groups: vec![g],
        service: service(),
        timeout: Duration::from_secs(1),
        horizon: Duration::from_secs(1),
    }
    .run(seed)
    .unwrap();
    (run.recorder.len(), run.events)
}

/// The same workload as tokio tasks on a paused clock, through the async `Retry` edge.
fn tokio_paused(seed: u64) -> usize {
    paused::clients(CLIENTS, Duration::from_secs(1), service(), policy(), seed).unwrap().len()
}

/// Best of `n` timings of `f`.
fn best<T>(n: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut out = None;
    let mut best = Duration::MAX;
    for _ in 0..n {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.unwrap())
}

fn main() {
    println!("unbreakable performance figures (best of 5 unless stated; release build)\n");

    let (t_des, (a_des, ev)) = best(5, || des(1));
    let (t_tok, a_tok) = best(5, || tokio_paused(1));
    let des_rate = a_des as f64 / t_des.as_secs_f64();
    let tok_rate = a_tok as f64 / t_tok.as_secs_f64();
    println!("1. engines on the same workload ({CLIENTS} clients, full jitter, 50% failures)");
    println!(
        "   discrete-event queue : {a_des:>7} attempts in {:>8.2} ms = {:>12.0} attempts/s",
        t_des.as_secs_f64() * 1e3,
        des_rate
    );
    println!(
        "   tokio paused clock   : {a_tok:>7} attempts in {:>8.2} ms = {:>12.0} attempts/s",
        t_tok.as_secs_f64() * 1e3,
        tok_rate
    );
    println!("   ratio                : the event queue is {:.1}x faster per attempt\n", des_rate / tok_rate);

    let n = 2_000_000u64;
    let (t_raw, _) = best(5, || {
        let mut q = EventQueue::new();
        for i in 0..1000u64 {
            q.schedule(Duration::from_micros(i), i);
        }
        while let Some((t, e)) = q.pop() {
            if q.processed() + (q.len() as u64) < n {
                q.schedule(t + Duration::from_micros(1000 + e % 7), e);
            }
        }
        q.processed()
    });
    let raw_rate = n as f64 / t_raw.as_secs_f64();
    let ev_rate = ev as f64 / t_des.as_secs_f64();
    println!("2. simulator events per second");
    println!("   bare event queue (1000 pending)  : {raw_rate:>12.0} events/s");
    println!(
        "   population engine (whole model)  : {ev_rate:>12.0} events/s = {:.2} of the bare queue\n",
        ev_rate / raw_rate
    );

    let clients = blog_clients();
    let (t_par, points) = best(3, || sweep(&clients, 100, 42).unwrap());
    let events: u64 = points.iter().map(|p| p.events).sum();
    let (t_one, _) = best(1, || {
        let mut e = 0;
        for &n in &clients {
            for a in Algorithm::ALL {
                for r in 0..100 {
                    e += run_once(n, a, &mut substream(42 ^ (u64::from(n) << 32), r)).2;
                }
            }
        }
        e
    });
    println!("3. the AWS contention sweep (19 client counts x 5 algorithms x 100 runs, {events} events)");
    println!(
        "   all cores ({}) : {:>7.3} s = {:>12.0} events/s",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        t_par.as_secs_f64(),
        events as f64 / t_par.as_secs_f64()
    );
    println!(
        "   one core      : {:>7.3} s (speed-up {:.2}x)",
        t_one.as_secs_f64(),
        t_one.as_secs_f64() / t_par.as_secs_f64()
    );

    let mut r = rng(7);
    let arrivals = Arrivals::flat(64.0).sample(Duration::from_secs(15_625), &mut r).unwrap();
    let service: Vec<Duration> = (0..arrivals.len())
        .map(|_| Latency::Exponential { mean: Duration::from_millis(100) }.sample(&mut r))
        .collect();
    let (t_pool, waited) = best(5, || {
        let mut pool = WorkerPool::new(8).unwrap();
        arrivals
            .iter()
            .zip(&service)
            .filter(|(t, s)| pool.admit(**t, **s, None).is_ok_and(|slot| slot.start > **t))
            .count()
    });
    let per_req = t_pool.as_secs_f64() / arrivals.len() as f64;
    println!("\n4. worker pool: {} requests, 8 workers, 80% busy ({} waited)", arrivals.len(), waited);
    println!(
        "   {:>7.3} s = {:>12.0} requests/s = {:.2}x the time of one bare queue event each",
        t_pool.as_secs_f64(),
        1.0 / per_req,
        per_req * raw_rate
    );

    // 5. Keyed transfers: in memory, durably on SQLite, and SQLite answering repeats.
    const TRANSFERS: usize = 2_000;
    let keys: Vec<IdempotencyKey> =
        (0..TRANSFERS).map(|i| IdempotencyKey::new("acct", format!("k{i}")).expect("a valid key")).collect();
    let pay = Transfer::new("a", "b", 1).expect("a valid transfer");
    let accounts = [("a", 1_000_000_000), ("b", 0)];
    let (t_mem, _) = best(5, || {
        let mut l = MemoryLedger::new(&accounts, Policy::default()).expect("valid accounts");
        keys.iter().filter(|k| l.transfer(Some(k), &pay, Duration::ZERO).is_ok()).count()
    });
    let dir = std::env::temp_dir().join(format!("unbreakable-figures-{}", std::process::id()));
    let (t_sql, mut ledger) = best(3, || {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let mut l =
            SqliteLedger::open(&dir.join("ledger.db"), &accounts, Policy::default()).expect("a ledger");
        for k in &keys {
            l.transfer(Some(k), &pay, Duration::ZERO).expect("a transfer");
        }
        l
    });
    let (t_replay, _) = best(3, || {
        keys.iter()
            .filter(|k| ledger.transfer(Some(k), &pay, Duration::ZERO).is_ok_and(|a| a.replayed))
            .count()
    });
    let _ = std::fs::remove_dir_all(&dir);
    let rate = |t: Duration| TRANSFERS as f64 / t.as_secs_f64();
    println!("\n5. keyed transfers ({TRANSFERS}, each its own transaction)");
    println!("   in memory (MemoryLedger)                    : {:>12.0} transfers/s", rate(t_mem));
    println!(
        "   SQLite, WAL, synchronous = FULL             : {:>12.0} transfers/s = {:.4} of in memory",
        rate(t_sql),
        t_mem.as_secs_f64() / t_sql.as_secs_f64()
    );
    println!(
        "   SQLite answering repeats from the key table : {:>12.0} transfers/s = {:.1}x a first execution",
        rate(t_replay),
        t_sql.as_secs_f64() / t_replay.as_secs_f64()
    );
}
