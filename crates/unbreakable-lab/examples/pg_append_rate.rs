//! How many appends a second the PostgreSQL event store takes with its append lock held
//! across the lock's statement, the append and the commit, against a plain single-row
//! `INSERT` per transaction on the same server, pool and concurrency, in the same run.
//!
//! ```text
//! UNBREAKABLE_VENV=.venv cargo run --release -p unbreakable-lab --no-default-features --example pg_append_rate
//! ```
//!
//! `WRITERS` tasks each write `EACH` rows, one per commit, each to a stream of its own (so
//! no append is refused as a conflict). The private server runs on a Unix socket with
//! `fsync` off, so neither figure waits for a disk, and no network adds a round trip:
//! the ratio, not the absolute rate, is what carries over to a real deployment (where
//! every round trip the lock is held across costs a network round trip more).

use std::time::Instant;

use futures::future::try_join_all;
use unbreakable::events::postgres::{PostgresConfig, PostgresEventStore};
use unbreakable::events::testing::conformance::BankEvent;
use unbreakable::events::{AsyncEventStore, Expected};
use unbreakable_lab::servers::postgres::Postgres;

const WRITERS: u64 = 8;
const EACH: u64 = 250;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pg = Postgres::start()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (appends, inserts) = rt.block_on(async {
        let store = PostgresEventStore::<BankEvent>::connect(pg.config(), PostgresConfig::default())?;
        store.migrate().await?;
        let pool = store.pool().clone();
        pool.get().await?.batch_execute("CREATE TABLE plain (stream TEXT, n BIGINT, data TEXT)").await?;

        let t = Instant::now();
        try_join_all((0..WRITERS).map(|w| {
            let store = &store;
            async move {
                for i in 0..EACH {
                    store
                        .append(&format!("w{w}"), Expected::Exactly(i), vec![BankEvent::Deposited(1)], 0)
                        .await?;
                }
                Ok::<_, Box<dyn std::error::Error>>(())
            }
        }))
        .await?;
        let appends = (WRITERS * EACH) as f64 / t.elapsed().as_secs_f64();

        let t = Instant::now();
        try_join_all((0..WRITERS).map(|w| {
            let pool = &pool;
            async move {
                let client = pool.get().await?;
                let insert = client.prepare("INSERT INTO plain VALUES ($1, $2, $3)").await?;
                for i in 0..EACH {
                    client.execute(&insert, &[&format!("w{w}"), &(i as i64), &"{\"Deposited\":1}"]).await?;
                }
                Ok::<_, Box<dyn std::error::Error>>(())
            }
        }))
        .await?;
        let inserts = (WRITERS * EACH) as f64 / t.elapsed().as_secs_f64();
        Ok::<_, Box<dyn std::error::Error>>((appends, inserts))
    })?;
    println!("{WRITERS} writers x {EACH} rows, one per commit, PostgreSQL on a Unix socket (fsync off)");
    println!("event store appends/s:  {appends:>8.0}");
    println!("plain INSERTs/s:        {inserts:>8.0}");
    println!("ratio:                  {:>8.2}", appends / inserts);
    Ok(())
}
