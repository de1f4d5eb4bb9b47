//! Lazy loading and its trap, the N+1 query pattern, on a real PostgreSQL.
//!
//! A profile page for user 1, who has `orders` orders of 3 lines each. Eager: the page
//! loads the profile and the whole order history before it shows anything. Lazy: it loads
//! the profile, and the history only when the "Orders" tab is opened. Then the tab itself,
//! loaded three ways: one query per order for its lines (N+1), one join, or one batched
//! query (`WHERE order_id = ANY($1)`).

use std::time::{Duration, Instant};

use serde::Serialize;

use super::pool::{DbError, quantile};

/// Creates users, orders and order lines: user 1 has `orders` orders, each with 3 lines.
///
/// # Errors
/// What PostgreSQL reports.
pub async fn pg_shop(client: &tokio_postgres::Client, orders: i64) -> Result<(), DbError> {
    client
        .batch_execute(
            "DROP TABLE IF EXISTS order_lines, orders, users;
             CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL, bio text NOT NULL);
             CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users, placed_at timestamptz NOT NULL, total_cents int NOT NULL);
             CREATE INDEX ON orders (user_id, placed_at DESC);
             CREATE TABLE order_lines (order_id bigint NOT NULL REFERENCES orders, line int NOT NULL, sku text NOT NULL, qty int NOT NULL, price_cents int NOT NULL, PRIMARY KEY (order_id, line));
             INSERT INTO users VALUES (1, 'Ada', 'ada@example.com', repeat('Likes hiking and coffee. ', 8));",
        )
        .await?;
    client
        .execute(
            "INSERT INTO orders SELECT g, 1, timestamptz '2024-01-01' + g * interval '37 minutes', (g * 7919) % 20000 + 500 FROM generate_series(1, $1::bigint) g",
            &[&orders],
        )
        .await?;
    client
        .batch_execute(
            "INSERT INTO order_lines SELECT o.id, l, 'SKU-' || ((o.id * l) % 5000), 1 + (o.id + l) % 3, 199 + (o.id * l) % 9000
             FROM orders o, generate_series(1, 3) l;
             ANALYZE users; ANALYZE orders; ANALYZE order_lines;",
        )
        .await?;
    Ok(())
}

const PROFILE: &str = "SELECT id, name, email, bio FROM users WHERE id = $1";
const HISTORY: &str = "SELECT o.id, o.placed_at, o.total_cents, l.line, l.sku, l.qty, l.price_cents
     FROM orders o JOIN order_lines l ON l.order_id = o.id WHERE o.user_id = $1 ORDER BY o.placed_at DESC, l.line";
const ORDER_PAGE: &str =
    "SELECT id, placed_at, total_cents FROM orders WHERE user_id = $1 ORDER BY placed_at DESC LIMIT $2";
const LINES_OF_ONE: &str =
    "SELECT order_id, line, sku, qty, price_cents FROM order_lines WHERE order_id = $1 ORDER BY line";
const LINES_OF_MANY: &str = "SELECT order_id, line, sku, qty, price_cents FROM order_lines WHERE order_id = ANY($1) ORDER BY order_id, line";
const PAGE_JOINED: &str = "SELECT o.id, o.placed_at, o.total_cents, l.line, l.sku, l.qty, l.price_cents
     FROM (SELECT * FROM orders WHERE user_id = $1 ORDER BY placed_at DESC LIMIT $2) o
     JOIN order_lines l ON l.order_id = o.id ORDER BY o.placed_at DESC, l.line";

/// Median times of the lazy-loading experiment, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Lazy {
    /// Eager first view: the profile and the whole history (rows fetched).
    pub eager_ms: f64,
    /// Lazy first view: the profile only.
    pub lazy_ms: f64,
    /// Opening the tab: the whole history.
    pub tab_ms: f64,
    /// Rows the whole history brings (orders x lines).
    pub history_rows: usize,
    /// A page of `page` orders with their lines, one query per order (1 + N queries).
    pub n_plus_one_ms: f64,
    /// The same page as one join.
    pub join_ms: f64,
    /// The same page as two queries: the orders, then all their lines with `ANY($1)`.
    pub batched_ms: f64,
    /// Orders in the page.
    pub page: i64,
}

async fn timed<F, Fut>(runs: u32, mut f: F) -> Result<Duration, DbError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize, DbError>>,
{
    let mut t = Vec::new();
    for _ in 0..runs.max(1) {
        let s = Instant::now();
        f().await?;
        t.push(s.elapsed());
    }
    Ok(quantile(&t, 0.5))
}

/// Runs every variant `runs` times on the shop [`pg_shop`] made, and checks that the three
/// ways of loading a page return the same lines.
///
/// # Errors
/// What PostgreSQL reports, or loaders that disagree.
pub async fn pg_lazy(client: &tokio_postgres::Client, page: i64, runs: u32) -> Result<Lazy, DbError> {
    let user = 1i64;
    let (profile, history) = (client.prepare(PROFILE).await?, client.prepare(HISTORY).await?);
    let (order_page, one, many, joined) = (
        client.prepare(ORDER_PAGE).await?,
        client.prepare(LINES_OF_ONE).await?,
        client.prepare(LINES_OF_MANY).await?,
        client.prepare(PAGE_JOINED).await?,
    );
    let history_rows = client.query(&history, &[&user]).await?.len();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let eager = timed(runs, || async {
        let p = client.query(&profile, &[&user]).await?;
        let h = client.query(&history, &[&user]).await?;
        Ok(p.len() + h.len())
    })
    .await?;
    let lazy = timed(runs, || async { Ok(client.query(&profile, &[&user]).await?.len()) }).await?;
    let tab = timed(runs, || async { Ok(client.query(&history, &[&user]).await?.len()) }).await?;
    let n1 = || async {
        let orders = client.query(&order_page, &[&user, &page]).await?;
        let mut lines = 0;
        for o in &orders {
            let id: i64 = o.get(0);
            lines += client.query(&one, &[&id]).await?.len();
        }
        Ok::<usize, DbError>(lines)
    };
    let batched = || async {
        let orders = client.query(&order_page, &[&user, &page]).await?;
        let ids: Vec<i64> = orders.iter().map(|o| o.get(0)).collect();
        Ok::<usize, DbError>(client.query(&many, &[&ids]).await?.len())
    };
    let join = || async { Ok::<usize, DbError>(client.query(&joined, &[&user, &page]).await?.len()) };
    let counts = (n1().await?, join().await?, batched().await?);
    if counts.0 != counts.1 || counts.1 != counts.2 {
        return Err(DbError(format!("the three loaders disagree: {counts:?} lines")));
    }
    Ok(Lazy {
        eager_ms: ms(eager),
        lazy_ms: ms(lazy),
        tab_ms: ms(tab),
        history_rows,
        n_plus_one_ms: ms(timed(runs, n1).await?),
        join_ms: ms(timed(runs, join).await?),
        batched_ms: ms(timed(runs, batched).await?),
        page,
    })
}
