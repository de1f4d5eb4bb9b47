//! Connection pooling on a real PostgreSQL: what a connection costs, and what pool size
//! does to a CPU-bound workload on this machine's cores.
//!
//! Every function here takes a started [`Postgres`] and runs on the current tokio runtime;
//! the notebook runs them with [`block_on`]. Loops are bounded by a count and a time.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::servers::postgres::Postgres;

/// A tokio runtime on this thread (the database does its work in its own processes).
///
/// # Panics
/// If the operating system refuses the runtime's timer or I/O driver.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(f)
}

/// An error from the database or the pool, as one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DbError(pub String);

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => DbError(format!("PostgreSQL: {}: {}", db.severity(), db.message())),
            None => DbError(format!("PostgreSQL: {e}")),
        }
    }
}
impl From<deadpool_postgres::PoolError> for DbError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        DbError(format!("pool: {e}"))
    }
}
impl From<crate::servers::ServerError> for DbError {
    fn from(e: crate::servers::ServerError) -> Self {
        DbError(e.to_string())
    }
}

/// The `q` quantile (0 to 1) of `samples`, nearest rank; zero for none.
pub fn quantile(samples: &[Duration], q: f64) -> Duration {
    crate::sim::nearest_rank(samples, q).unwrap_or(Duration::ZERO)
}

/// Wall times of `n` requests that each run `SELECT 1`: `.0` opening a new connection per
/// request (connect, authenticate, set up the session, query, close), `.1` borrowing a
/// connection from a warm deadpool pool of one. Interleaved, so both see the same machine.
///
/// # Errors
/// The first database or pool error.
pub async fn connect_vs_pooled(pg: &Postgres, n: u32) -> Result<(Vec<Duration>, Vec<Duration>), DbError> {
    let pool = pg.pool(1)?;
    pool.get().await?.simple_query("SELECT 1").await?; // warm: the connection exists
    let (mut fresh, mut pooled) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Instant::now();
        let client = pg.connect().await?;
        client.simple_query("SELECT 1").await?;
        drop(client);
        fresh.push(t.elapsed());
        let t = Instant::now();
        let client = pool.get().await?;
        client.simple_query("SELECT 1").await?;
        drop(client);
        pooled.push(t.elapsed());
    }
    Ok((fresh, pooled))
}

/// One pool size of [`pool_size_sweep`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SizePoint {
    /// Connections in the pool.
    pub pool: usize,
    /// Queries completed per second.
    pub per_second: f64,
    /// Median time from asking the pool to the answer (waiting for a connection included).
    pub p50_ms: f64,
    /// 99th percentile of the same.
    pub p99_ms: f64,
    /// Median time the query itself took, holding a connection (what the database sees).
    pub query_p50_ms: f64,
    /// Queries completed inside the window.
    pub queries: usize,
}

/// The CPU-bound query of the sweep: 30,000 rows generated and summed in memory, about
/// 5 ms of one core, no disk.
pub const CPU_QUERY: &str = "SELECT sum(i::bigint * i % 7) FROM generate_series(1, 30000) AS s(i)";

/// `clients` closed-loop clients (each sends the next query as soon as its last answer
/// comes back) share a deadpool pool of each size in `sizes`, for `for_each` per size.
/// PostgreSQL runs one process per connection, so the pool size is how many queries the
/// database runs at once; the machine's cores are what they share.
///
/// # Errors
/// The first database or pool error.
pub async fn pool_size_sweep(
    pg: &Postgres,
    sizes: &[usize],
    clients: usize,
    for_each: Duration,
) -> Result<Vec<SizePoint>, DbError> {
    let mut out = Vec::new();
    for &size in sizes {
        let pool = pg.pool(size)?;
        // Open every connection first, so connecting is not part of the measurement.
        let mut warm = Vec::with_capacity(size);
        for _ in 0..size {
            warm.push(pool.get().await?);
        }
        drop(warm);
        let start = Instant::now();
        let end = start + for_each;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..clients {
            let pool = pool.clone();
            tasks.spawn(async move {
                let (mut total, mut held) = (Vec::new(), Vec::new());
                // Bounded: by time, and by a count no machine reaches in the time.
                for _ in 0..100_000 {
                    if Instant::now() >= end {
                        break;
                    }
                    let t = Instant::now();
                    let conn = pool.get().await?;
                    let h = Instant::now();
                    conn.simple_query(CPU_QUERY).await?;
                    let done = Instant::now();
                    drop(conn);
                    // Only queries finished inside the window count, so the drain at
                    // the end (queries still queued) does not dilute the rate.
                    if done <= end {
                        held.push(done - h);
                        total.push(done - t);
                    }
                }
                Ok::<_, DbError>((total, held))
            });
        }
        let (mut total, mut held) = (Vec::new(), Vec::new());
        while let Some(r) = tasks.join_next().await {
            let (t, h) = r.map_err(|e| DbError(format!("a client task failed: {e}")))??;
            total.extend(t);
            held.extend(h);
        }
        let elapsed = for_each.as_secs_f64();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        out.push(SizePoint {
            pool: size,
            per_second: total.len() as f64 / elapsed,
            p50_ms: ms(quantile(&total, 0.5)),
            p99_ms: ms(quantile(&total, 0.99)),
            query_p50_ms: ms(quantile(&held, 0.5)),
            queries: total.len(),
        });
    }
    Ok(out)
}
