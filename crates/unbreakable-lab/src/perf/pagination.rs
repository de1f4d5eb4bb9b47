//! Offset against keyset pagination, on SQLite (in memory, always available) and on a
//! real PostgreSQL: latency per page as the reader goes deeper, the query plans, and what
//! goes wrong with offsets when rows are added or removed while someone pages.
//!
//! The table is `products(id, price_cents, name)` with `id` as the primary key, and the
//! list is sorted by id, newest first (`ORDER BY id DESC`), as a feed or an admin list is.

use std::time::{Duration, Instant};

use rand::Rng;
use rusqlite::{Connection, params};
use serde::Serialize;

use super::pool::{DbError, quantile};
use crate::error::ConfigError;
use crate::sim::rng;

/// Creates `products` with `n` rows (ids 1..=n) in a new in-memory SQLite database.
///
/// # Errors
/// What SQLite reports.
pub fn sqlite_products(n: u64) -> rusqlite::Result<Connection> {
    let c = Connection::open_in_memory()?;
    c.execute_batch(
        "CREATE TABLE products (id INTEGER PRIMARY KEY, price_cents INTEGER NOT NULL, name TEXT NOT NULL);",
    )?;
    c.execute(
        "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?1)
         INSERT INTO products SELECT i, (i * 7919) % 50000 + 100, 'Product ' || i FROM g",
        params![n],
    )?;
    Ok(c)
}

/// The offset query: page `page` (from 1) of `limit`.
pub const SQLITE_OFFSET: &str =
    "SELECT id, price_cents, name FROM products ORDER BY id DESC LIMIT ?1 OFFSET ?2";
/// The keyset query: the `limit` rows after (older than) id `?2`.
pub const SQLITE_KEYSET: &str =
    "SELECT id, price_cents, name FROM products WHERE id < ?2 ORDER BY id DESC LIMIT ?1";

fn sqlite_ids(c: &Connection, sql: &str, limit: u64, arg: i64) -> rusqlite::Result<Vec<i64>> {
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map(params![limit, arg], |r| r.get::<_, i64>(0))?;
    rows.collect()
}

/// An offset page (`page` from 1).
///
/// # Errors
/// What SQLite reports.
pub fn sqlite_offset_page(c: &Connection, page: u64, limit: u64) -> rusqlite::Result<Vec<i64>> {
    sqlite_ids(c, SQLITE_OFFSET, limit, ((page.max(1) - 1) * limit) as i64)
}

/// A keyset page: the rows after `after` (`None`: the first page).
///
/// # Errors
/// What SQLite reports.
pub fn sqlite_keyset_page(c: &Connection, after: Option<i64>, limit: u64) -> rusqlite::Result<Vec<i64>> {
    sqlite_ids(c, SQLITE_KEYSET, limit, after.unwrap_or(i64::MAX))
}

/// SQLite's plans for the two queries, one line each (`EXPLAIN QUERY PLAN`).
///
/// # Errors
/// What SQLite reports.
pub fn sqlite_plans(c: &Connection) -> rusqlite::Result<(String, String)> {
    let plan = |sql: &str| -> rusqlite::Result<String> {
        let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let rows = st.query_map(params![20, 1000], |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.join("; "))
    };
    Ok((plan(SQLITE_OFFSET)?, plan(SQLITE_KEYSET)?))
}

/// Latency of one page at one depth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DepthPoint {
    /// Page number (from 1).
    pub page: u64,
    /// Median time of the offset query, ms.
    pub offset_ms: f64,
    /// Median time of the keyset query for the same rows, ms.
    pub keyset_ms: f64,
}

fn median_ms(mut f: impl FnMut() -> Result<(), DbError>, runs: u32) -> Result<f64, DbError> {
    let mut t = Vec::with_capacity(runs as usize);
    for _ in 0..runs.max(1) {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed());
    }
    Ok(quantile(&t, 0.5).as_secs_f64() * 1e3)
}

/// Times the offset and the keyset query for each page in `pages` (pages of `limit`,
/// median of `runs`), on a table whose ids are 1..=n with none missing, so page `p`'s
/// keyset starts after id `n - (p-1) * limit + 1`. Checks that both return the same rows.
///
/// # Errors
/// What SQLite reports, or two queries that disagree.
pub fn sqlite_depth(
    c: &Connection,
    n: u64,
    pages: &[u64],
    limit: u64,
    runs: u32,
) -> Result<Vec<DepthPoint>, DbError> {
    let e = |e: rusqlite::Error| DbError(format!("SQLite: {e}"));
    pages
        .iter()
        .map(|&page| {
            let after = (n + 1).saturating_sub((page - 1) * limit) as i64;
            let a = sqlite_offset_page(c, page, limit).map_err(e)?;
            let b = sqlite_keyset_page(c, Some(after), limit).map_err(e)?;
            if a != b {
                return Err(DbError(format!("page {page}: offset and keyset disagree")));
            }
            let offset_ms = median_ms(|| sqlite_offset_page(c, page, limit).map(drop).map_err(e), runs)?;
            let keyset_ms =
                median_ms(|| sqlite_keyset_page(c, Some(after), limit).map(drop).map_err(e), runs)?;
            Ok(DepthPoint { page, offset_ms, keyset_ms })
        })
        .collect()
}

/// What a reader saw paging through a list that changed under them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// Rows shown twice.
    pub duplicates: u32,
    /// Rows that were in the list all along, inside the stretch the reader covered, and
    /// never shown.
    pub skipped: u32,
    /// Rows shown.
    pub shown: u32,
}

/// The drift experiment's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Churn {
    /// Rows at the start.
    pub rows: u64,
    /// Pages the reader reads.
    pub pages: u32,
    /// Rows per page.
    pub limit: u64,
    /// New rows added (at the top, newest first) between two page reads.
    pub inserts_per_page: u32,
    /// Rows deleted (anywhere, at random) between two page reads.
    pub deletes_per_page: u32,
}

impl Default for Churn {
    /// 2,000 rows, 20 pages of 20, 3 new and 1 deleted between pages.
    fn default() -> Self {
        Self { rows: 2000, pages: 20, limit: 20, inserts_per_page: 3, deletes_per_page: 1 }
    }
}

impl Churn {
    /// A reader pages through the list with offsets (`keyset = false`) or with a cursor,
    /// while other users insert and delete between page reads; the same changes, drawn
    /// from `seed`, either way. Deterministic: SQLite in memory, no clock.
    ///
    /// # Errors
    /// Zero pages or a zero limit, or what SQLite reports.
    pub fn run(&self, keyset: bool, seed: u64) -> Result<Drift, crate::Error> {
        if self.pages == 0 || self.limit == 0 {
            return Err(ConfigError::new("pages", "read at least one page of at least one row").into());
        }
        let sql = |e: rusqlite::Error| crate::Error::Io(std::io::Error::other(format!("SQLite: {e}")));
        let c = sqlite_products(self.rows).map_err(sql)?;
        let mut r = rng(seed);
        let mut next_id = self.rows as i64 + 1;
        let mut deleted = std::collections::HashSet::new();
        let mut seen = std::collections::HashMap::<i64, u32>::new();
        let mut last = None;
        for page in 1..=u64::from(self.pages) {
            let ids = if keyset {
                sqlite_keyset_page(&c, last, self.limit)
            } else {
                sqlite_offset_page(&c, page, self.limit)
            }
            .map_err(sql)?;
            for &id in &ids {
                *seen.entry(id).or_default() += 1;
            }
            last = ids.last().copied().or(last);
            for _ in 0..self.inserts_per_page {
                c.execute("INSERT INTO products VALUES (?1, 100, 'new')", params![next_id]).map_err(sql)?;
                next_id += 1;
            }
            for _ in 0..self.deletes_per_page {
                let id = r.random_range(1..next_id);
                c.execute("DELETE FROM products WHERE id = ?1", params![id]).map_err(sql)?;
                deleted.insert(id);
            }
        }
        let lowest = seen.keys().copied().min().unwrap_or(i64::MAX);
        let skipped =
            (lowest..=self.rows as i64).filter(|id| !deleted.contains(id) && !seen.contains_key(id)).count();
        Ok(Drift {
            duplicates: seen.values().map(|&k| k - 1).sum(),
            skipped: skipped as u32,
            shown: seen.values().sum(),
        })
    }
}

/// Creates `products` with `n` rows on PostgreSQL (dropping an older one) and analyses it.
///
/// # Errors
/// What PostgreSQL reports.
pub async fn pg_products(client: &tokio_postgres::Client, n: i64) -> Result<(), DbError> {
    client
        .batch_execute("DROP TABLE IF EXISTS products; CREATE TABLE products (id bigint PRIMARY KEY, price_cents int NOT NULL, name text NOT NULL);")
        .await?;
    client
        .execute(
            "INSERT INTO products SELECT g, (g * 7919) % 50000 + 100, 'Product ' || g FROM generate_series(1, $1::bigint) g",
            &[&n],
        )
        .await?;
    client.batch_execute("ANALYZE products").await?;
    Ok(())
}

/// The PostgreSQL offset query.
pub const PG_OFFSET: &str = "SELECT id, price_cents, name FROM products ORDER BY id DESC LIMIT $1 OFFSET $2";
/// The PostgreSQL keyset query.
pub const PG_KEYSET: &str =
    "SELECT id, price_cents, name FROM products WHERE id < $2 ORDER BY id DESC LIMIT $1";

/// As [`sqlite_depth`], on PostgreSQL (prepared statements, so planning is not timed).
///
/// # Errors
/// What PostgreSQL reports, or two queries that disagree.
pub async fn pg_depth(
    client: &tokio_postgres::Client,
    n: i64,
    pages: &[i64],
    limit: i64,
    runs: u32,
) -> Result<Vec<DepthPoint>, DbError> {
    let (off, key) = (client.prepare(PG_OFFSET).await?, client.prepare(PG_KEYSET).await?);
    let mut out = Vec::new();
    for &page in pages {
        let (offset, after) = ((page - 1) * limit, n + 1 - (page - 1) * limit);
        let ids =
            |rows: Vec<tokio_postgres::Row>| rows.iter().map(|r| r.get::<_, i64>(0)).collect::<Vec<_>>();
        if ids(client.query(&off, &[&limit, &offset]).await?)
            != ids(client.query(&key, &[&limit, &after]).await?)
        {
            return Err(DbError(format!("page {page}: offset and keyset disagree")));
        }
        let time = |stmt: &tokio_postgres::Statement, arg: i64| {
            let stmt = stmt.clone();
            async move {
                let mut t = Vec::new();
                for _ in 0..runs.max(1) {
                    let s = Instant::now();
                    client.query(&stmt, &[&limit, &arg]).await?;
                    t.push(s.elapsed());
                }
                Ok::<f64, DbError>(quantile(&t, 0.5).as_secs_f64() * 1e3)
            }
        };
        let offset_ms = time(&off, offset).await?;
        let keyset_ms = time(&key, after).await?;
        out.push(DepthPoint { page: page as u64, offset_ms, keyset_ms });
    }
    Ok(out)
}

/// PostgreSQL's `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF)` of both queries at `page`.
///
/// # Errors
/// What PostgreSQL reports.
pub async fn pg_plans(
    client: &tokio_postgres::Client,
    n: i64,
    page: i64,
    limit: i64,
) -> Result<(String, String), DbError> {
    let explain = |sql: String| async move {
        let rows = client
            .simple_query(&format!("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}"))
            .await?;
        let lines: Vec<String> = rows
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .collect();
        Ok::<String, DbError>(lines.join("\n"))
    };
    let offset = (page - 1) * limit;
    let after = n + 1 - offset;
    let a = explain(format!(
        "SELECT id, price_cents, name FROM products ORDER BY id DESC LIMIT {limit} OFFSET {offset}"
    ))
    .await?;
    let b = explain(format!(
        "SELECT id, price_cents, name FROM products WHERE id < {after} ORDER BY id DESC LIMIT {limit}"
    ))
    .await?;
    Ok((a, b))
}

/// Median of a closure's time over `runs`, for notebook cells.
pub fn time_it(runs: u32, mut f: impl FnMut()) -> Duration {
    let mut t = Vec::new();
    for _ in 0..runs.max(1) {
        let s = Instant::now();
        f();
        t.push(s.elapsed());
    }
    quantile(&t, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_and_keyset_agree_on_a_still_table_and_plans_differ() {
        let c = sqlite_products(1000).unwrap();
        let pts = sqlite_depth(&c, 1000, &[1, 10, 50], 20, 1).unwrap();
        assert_eq!(pts.len(), 3);
        assert_eq!(sqlite_keyset_page(&c, None, 3).unwrap(), vec![1000, 999, 998]);
        let (off, key) = sqlite_plans(&c).unwrap();
        assert!(key.contains("INTEGER PRIMARY KEY") || key.contains("rowid"), "{key}");
        assert!(off.contains("SCAN"), "{off}");
    }

    #[test]
    fn offsets_duplicate_and_skip_under_churn_and_cursors_do_neither() {
        let x = Churn::default();
        let off = x.run(false, 7).unwrap();
        let key = x.run(true, 7).unwrap();
        assert!(off.duplicates > 0, "{off:?}");
        assert_eq!((key.duplicates, key.skipped), (0, 0), "{key:?}");
        // Only deletions: offsets skip instead.
        let del = Churn { inserts_per_page: 0, deletes_per_page: 5, ..x }.run(false, 7).unwrap();
        assert!(del.skipped > 0 && del.duplicates == 0, "{del:?}");
        assert_eq!(off, x.run(false, 7).unwrap());
    }
}
