//! Replay at scale, in release: events folded per second from memory and from SQLite,
//! and durable appends per second, batched and not, each beside a baseline measured in
//! the same run.
//!
//! ```text
//! cargo run --release -p unbreakable --features sqlite --example replay_bench
//! ```
//!
//! Prints one line per measurement. Wall-clock numbers vary between runs and machines;
//! the ratios are what to compare.

use std::hint::black_box;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use unbreakable::events::sqlite::{SqliteEventStore, SqliteSnapshots};
use unbreakable::events::{
    Aggregate, EventStore, EventType, Expected, MemoryEventStore, Recorded, SnapshotStore,
};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Account {
    balance: i64,
    movements: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Ev {
    D(i64),
    W(i64),
}

impl EventType for Ev {
    fn event_type(&self) -> &'static str {
        match self {
            Ev::D(_) => "D",
            Ev::W(_) => "W",
        }
    }
}

impl Aggregate for Account {
    type Command = ();
    type Event = Ev;
    type Error = ();
    fn handle(&self, _: &()) -> Result<Vec<Ev>, ()> {
        Ok(vec![])
    }
    fn apply(&mut self, e: &Ev) {
        self.movements += 1;
        match e {
            Ev::D(n) => self.balance += n,
            Ev::W(n) => self.balance -= n,
        }
    }
}

fn events(n: usize) -> Vec<Ev> {
    // A cheap deterministic sequence (xorshift), no dependencies.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let amount = (x % 1000) as i64 + 1;
            if x % 5 < 2 { Ev::W(amount) } else { Ev::D(amount) }
        })
        .collect()
}

fn best<T>(repeats: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..repeats)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = 10_000_000;

    // Baseline: reading memory in order, as fast as this machine does (summing u64s).
    let words: Vec<u64> = (0..n as u64 * 4).collect(); // 320 MB: far larger than any cache
    let bytes = (words.len() * 8) as f64;
    let t = best(3, || words.iter().fold(0u64, |a, w| a.wrapping_add(*w)));
    let bandwidth = bytes / t;
    println!(
        "baseline: sequential read {:.1} GB/s ({} MB summed)",
        bandwidth / 1e9,
        words.len() * 8 / 1_000_000
    );
    drop(words);

    // Fold from memory.
    let mut mem = MemoryEventStore::new();
    mem.append("acct", Expected::Exactly(0), events(n), 0)?;
    let per_event = std::mem::size_of::<Recorded<Ev>>();
    let t_slice = best(5, || {
        let mut a = Account::default();
        for r in mem.stream("acct") {
            a.apply(&r.event);
        }
        a.balance
    });
    let t_visit = best(5, || {
        let mut a = Account::default();
        mem.visit_stream("acct", 1..=u64::MAX, |r| a.apply(&r.event)).map(|_| a.balance)
    });
    for (how, t) in [("slice", t_slice), ("visit_stream", t_visit)] {
        let rate = n as f64 / t;
        println!(
            "memory fold ({how}): {:.1} M events/s ({per_event} B each = {:.1} GB/s, {:.0}% of the baseline)",
            rate / 1e6,
            rate * per_event as f64 / 1e9,
            100.0 * rate * per_event as f64 / bandwidth
        );
    }
    drop(mem);

    let dir = std::env::temp_dir().join(format!("unbreakable-replay-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("events.db");
    let mut sql = SqliteEventStore::<Ev>::open(&path)?;

    // Read and fold from SQLite: one stream of 1,000,000 events.
    let m = 1_000_000;
    let t = Instant::now();
    for (k, chunk) in events(m).chunks(10_000).enumerate() {
        sql.append("acct", Expected::Exactly((k * 10_000) as u64), chunk.to_vec(), 0)?;
    }
    println!("sqlite: wrote {m} events in batches of 10,000 in {:.2} s", t.elapsed().as_secs_f64());
    let t_sql = best(3, || {
        let mut a = Account::default();
        sql.visit_stream("acct", 1..=u64::MAX, |r| a.apply(&r.event)).map(|_| a.balance)
    });
    let t_raw = best(3, || {
        let mut q = sql
            .connection()
            .prepare_cached("SELECT data FROM events WHERE stream = 'acct' ORDER BY version")
            .unwrap();
        let mut rows = q.query([]).unwrap();
        let mut bytes = 0usize;
        while let Some(r) = rows.next().unwrap() {
            bytes += r.get_ref(0).unwrap().as_str().unwrap().len();
        }
        bytes
    });
    println!(
        "sqlite read + decode + fold: {:.2} M events/s (rows alone, no decoding: {:.2} M/s; the fold is {:.0}x slower than from memory)",
        m as f64 / t_sql / 1e6,
        m as f64 / t_raw / 1e6,
        (n as f64 / t_slice) / (m as f64 / t_sql)
    );

    // Durable appends: one event per commit, and 100 per commit.
    let k = 500;
    let t1 = Instant::now();
    for i in 0..k {
        sql.append("single", Expected::Exactly(i), vec![Ev::D(1)], 0)?;
    }
    let single = k as f64 / t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    for i in 0..k {
        sql.append("batched", Expected::Exactly(i * 100), vec![Ev::D(1); 100], 0)?;
    }
    let batched = (k * 100) as f64 / t2.elapsed().as_secs_f64();
    println!(
        "sqlite durable appends: {single:.0} events/s one per commit, {batched:.0} events/s 100 per commit ({:.0}x)",
        batched / single
    );

    // The snapshot trade-off on SQLite: replaying one event vs writing one snapshot.
    let per_event_us = t_sql / m as f64 * 1e6;
    let mut snaps = SqliteSnapshots::<Account>::open(&path)?;
    let s = Account { balance: 4000, movements: 4 };
    let t3 = Instant::now();
    for v in 0..200 {
        snaps.save("acct", v, Account::SNAPSHOT_VERSION, &s)?;
    }
    let write_us = t3.elapsed().as_secs_f64() / 200.0 * 1e6;
    let read_us =
        best(200, || snaps.load("acct", 150, Account::SNAPSHOT_VERSION).map(|x| x.map(|(v, _)| v))) * 1e6;
    println!(
        "sqlite snapshot: write {write_us:.0} us (own commit), read {read_us:.1} us; replay {per_event_us:.2} us/event -> best interval sqrt(2 x write / event) = {:.0}",
        (2.0 * write_us / per_event_us).sqrt()
    );
    drop(sql);
    drop(snaps);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
