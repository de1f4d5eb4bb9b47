//! Chapter 08's benchmarks, each as a ratio against a baseline measured in the same run:
//!
//! ```text
//! UNBREAKABLE_VENV=.venv cargo run --release -p unbreakable-lab --no-default-features --example perf
//! ```
//!
//! 1. a request that opens its own PostgreSQL connection against one that borrows from a
//!    deadpool pool (Unix socket; skipped with a line if PostgreSQL is not installed);
//! 2. compression throughput of each codec at its typical level, against copying the
//!    same bytes;
//! 3. the connection-pool simulation at 10^6 requests (goal: under 0.1 s in release);
//! 4. a deep offset page against the keyset page for the same rows, on SQLite.

use std::time::{Duration, Instant};

use unbreakable_lab::perf::compression::{Codec, measure};
use unbreakable_lab::perf::pagination::{sqlite_keyset_page, sqlite_offset_page, sqlite_products, time_it};
use unbreakable_lab::perf::payloads::Payload;
use unbreakable_lab::perf::pool::{block_on, connect_vs_pooled, quantile};
use unbreakable_lab::scenarios::conn_pool::ConnPool;
use unbreakable_lab::servers::postgres::Postgres;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Connection cost.
    match Postgres::start() {
        Ok(pg) => {
            let (fresh, pooled) = block_on(connect_vs_pooled(&pg, 500))?;
            let (f, p) = (quantile(&fresh, 0.5), quantile(&pooled, 0.5));
            println!(
                "connect per request: p50 {:.3} ms, p99 {:.3} ms; pooled: p50 {:.3} ms, p99 {:.3} ms; ratio p50 {:.1}x",
                ms(f),
                ms(quantile(&fresh, 0.99)),
                ms(p),
                ms(quantile(&pooled, 0.99)),
                f.as_secs_f64() / p.as_secs_f64()
            );
        }
        Err(e) => println!("connection cost skipped: {e}"),
    }

    // 2. Compression throughput against a copy.
    let json = Payload::List1000.json(42)?;
    let copy = time_it(50, || {
        std::hint::black_box(json.clone());
    });
    let copy_mb_s = json.len() as f64 / 1e6 / copy.as_secs_f64();
    for c in Codec::ALL {
        let m = measure(&json, c, c.typical_level(), 20)?;
        println!(
            "{:>4} level {:>2}: {:>7.1} MB/s compress ({:.0}x slower than a copy), saves {:.1}%",
            c.name(),
            m.level,
            m.compress_mb_s(),
            copy_mb_s / m.compress_mb_s(),
            m.saved() * 100.0
        );
    }

    // 3. The pool simulation at a million requests.
    let x = ConnPool {
        per_second: 1000.0,
        burst_per_second: 0.0,
        horizon: Duration::from_secs(1000),
        size: 110,
        ..ConnPool::widget()
    };
    let t = Instant::now();
    let run = x.run(1)?;
    let took = t.elapsed();
    println!(
        "pool simulation: {} requests in {:.3} s ({:.1} M requests/s)",
        run.requests.len(),
        took.as_secs_f64(),
        run.requests.len() as f64 / took.as_secs_f64() / 1e6
    );

    // 4. Deep offset against keyset.
    let n = 1_000_000;
    let db = sqlite_products(n)?;
    let page = n / 20 - 1;
    let after = (n + 1 - (page - 1) * 20) as i64;
    let off = time_it(20, || drop(sqlite_offset_page(&db, page, 20)));
    let key = time_it(20, || drop(sqlite_keyset_page(&db, Some(after), 20)));
    println!(
        "SQLite, {n} rows, page {page}: offset {:.3} ms, keyset {:.4} ms, ratio {:.0}x",
        ms(off),
        ms(key),
        off.as_secs_f64() / key.as_secs_f64()
    );
    Ok(())
}
