//! The connection-pool simulation of `perf` section 3 alone (10^6 requests), for
//! iterating on its speed without building and starting everything else:
//! `cargo run -p unbreakable-lab --release --no-default-features --example pool_sim`.
//! Prints the best of several runs and a fingerprint of the requests and summary, which
//! must not change when the code gets faster.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use unbreakable_lab::scenarios::conn_pool::{ConnPool, PoolRun};

/// A hash of every request's times.
fn fingerprint(run: &PoolRun) -> u64 {
    let mut h = DefaultHasher::new();
    for r in &run.requests {
        (r.arrived, r.start, r.end).hash(&mut h);
    }
    h.finish()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let x = ConnPool {
        per_second: 1000.0,
        burst_per_second: 0.0,
        horizon: Duration::from_secs(1000),
        size: 110,
        ..ConnPool::widget()
    };
    let t = Instant::now();
    let mut run = x.run(1)?;
    let first = t.elapsed();
    let mut best = Duration::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        run = x.run(1)?;
        best = best.min(t.elapsed());
    }
    println!(
        "pool simulation: {} requests, first run {:.4} s, best of 7 {:.4} s",
        run.requests.len(),
        first.as_secs_f64(),
        best.as_secs_f64()
    );
    println!("fingerprint {:016x}; {:?}", fingerprint(&run), run.summary());
    for (name, x) in [
        ("widget", ConnPool::widget()),
        (
            "widget with a 50 ms time-out",
            ConnPool { max_wait: Some(Duration::from_millis(50)), ..ConnPool::widget() },
        ),
    ] {
        let run = x.run(42)?;
        println!("{name}: fingerprint {:016x}; {:?}", fingerprint(&run), run.summary());
    }
    Ok(())
}
