//! The event store's three back ends side by side, in one run: durable appends per
//! second (one event per commit, and 100 per commit) and events read back and folded
//! per second, on SQLite and on the private PostgreSQL server, each as a ratio against
//! memory measured in the same run.
//!
//! ```text
//! UNBREAKABLE_VENV=.venv cargo run --release -p unbreakable-lab --no-default-features --example event_stores
//! ```
//!
//! Counts are fixed (bounded work); wall-clock numbers vary between machines, the ratios
//! are what to compare. PostgreSQL runs on a Unix socket on this machine, so the figures
//! leave out the network a real deployment adds to every commit.
//! The PostgreSQL store is async: it fetches a long stream in pages of at most `MAX_READ`
//! rows and returns it whole, which is folded.

use std::time::Instant;

use unbreakable::events::postgres::{PostgresConfig, PostgresEventStore};
use unbreakable::events::sqlite::SqliteEventStore;
use unbreakable::events::testing::conformance::{BankAccount, BankEvent};
use unbreakable::events::{Aggregate, AsyncEventStore, EventStore, Expected, MemoryEventStore};
use unbreakable_lab::servers::postgres::Postgres;

const READ: u64 = 200_000;
const SINGLE: u64 = 300;
const BATCHES: u64 = 100;

fn events(n: u64) -> Vec<BankEvent> {
    (0..n)
        .map(|i| {
            if i % 5 < 2 {
                BankEvent::Withdrawn(1 + (i % 7) as i64)
            } else {
                BankEvent::Deposited(1 + (i % 11) as i64)
            }
        })
        .collect()
}

/// (appends/s one per commit, events/s 100 per commit, events/s read and folded)
fn measure<S: EventStore<BankEvent>>(store: &mut S) -> Result<(f64, f64, f64), Box<dyn std::error::Error>> {
    let t = Instant::now();
    for i in 0..SINGLE {
        store.append("single", Expected::Exactly(i), vec![BankEvent::Deposited(1)], 0)?;
    }
    let single = SINGLE as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..BATCHES {
        store.append("batched", Expected::Exactly(i * 100), events(100), 0)?;
    }
    let batched = (BATCHES * 100) as f64 / t.elapsed().as_secs_f64();
    for (k, chunk) in events(READ).chunks(10_000).enumerate() {
        store.append("long", Expected::Exactly(k as u64 * 10_000), chunk.to_vec(), 0)?;
    }
    let fold = (0..3)
        .map(|_| {
            let t = Instant::now();
            let mut a = BankAccount::default();
            let n = store.visit_stream("long", 1..=u64::MAX, |r| a.apply(&r.event)).expect("read back");
            assert_eq!((n, a.movements), (READ, READ));
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    Ok((single, batched, READ as f64 / fold))
}

/// [`measure`] for an async store: the same appends and reads, awaited one at a time.
async fn measure_async<S: AsyncEventStore<BankEvent>>(
    store: &S,
) -> Result<(f64, f64, f64), Box<dyn std::error::Error>> {
    let t = Instant::now();
    for i in 0..SINGLE {
        store.append("single", Expected::Exactly(i), vec![BankEvent::Deposited(1)], 0).await?;
    }
    let single = SINGLE as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..BATCHES {
        store.append("batched", Expected::Exactly(i * 100), events(100), 0).await?;
    }
    let batched = (BATCHES * 100) as f64 / t.elapsed().as_secs_f64();
    for (k, chunk) in events(READ).chunks(10_000).enumerate() {
        store.append("long", Expected::Exactly(k as u64 * 10_000), chunk.to_vec(), 0).await?;
    }
    let mut fold = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        let mut a = BankAccount::default();
        let events = store.read_stream("long", 1..=u64::MAX).await?;
        events.iter().for_each(|r| a.apply(&r.event));
        let read = events.last().map_or(0, |last| last.version);
        assert_eq!((read, a.movements), (READ, READ));
        fold = fold.min(t.elapsed().as_secs_f64());
    }
    Ok((single, batched, READ as f64 / fold))
}

/// The PostgreSQL row: a migrated store on the private server, on a tokio runtime.
fn on_postgres(pg: &Postgres) -> Result<(f64, f64, f64), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let store = PostgresEventStore::<BankEvent>::connect(pg.config(), PostgresConfig::default())?;
        store.migrate().await?;
        measure_async(&store).await
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rows = vec![("memory", measure(&mut MemoryEventStore::new())?)];

    let dir = tempfile::tempdir()?;
    rows.push((
        "SQLite (WAL, synchronous = FULL)",
        measure(&mut SqliteEventStore::<BankEvent>::open(&dir.path().join("events.db"))?)?,
    ));

    match Postgres::start() {
        Ok(pg) => rows.push(("PostgreSQL 18 (Unix socket)", on_postgres(&pg)?)),
        Err(e) => println!("PostgreSQL left out: {e}"),
    }

    let (_, (m1, mb, mf)) = rows[0];
    println!("{:<34} {:>16} {:>18} {:>18}", "store", "1 per commit/s", "100 per commit/s", "read + fold/s");
    for (name, (single, batched, fold)) in &rows {
        println!("{name:<34} {single:>16.0} {batched:>18.0} {fold:>18.0}");
    }
    println!("as a share of memory (same run):");
    for (name, (single, batched, fold)) in &rows[1..] {
        println!(
            "{name:<34} {:>16} {:>18} {:>18}",
            format!("1/{:.0}", m1 / single),
            format!("1/{:.0}", mb / batched),
            format!("1/{:.0}", mf / fold)
        );
    }
    if rows.len() == 3 {
        let (s, p) = (rows[1].1, rows[2].1);
        println!(
            "PostgreSQL against SQLite: {:.2}x the single appends, {:.2}x the batched, {:.2}x the reads; batching 100 per commit gives {:.0}x on SQLite, {:.0}x on PostgreSQL",
            p.0 / s.0,
            p.1 / s.1,
            p.2 / s.2,
            s.1 / s.0,
            p.1 / p.0
        );
    }
    Ok(())
}
