//! The write side: a product catalogue in SQLite, normalised, taking commands.
//!
//! Three tables, each fact stored once: `categories (id, name)`, `products (id, name,
//! category_id, price_cents)` and `inventory (product_id, stock)`. A command is checked,
//! applied to the tables and recorded as an event in the outbox, all in one
//! transaction ([`Catalogue::execute`]). [`Catalogue::execute_dual_write`] is the version
//! without an outbox, for the chapter's crash demonstration: commit, then publish.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{CqrsError, EventType, outbox};

/// The tables of the write model (the outbox's are added by [`outbox::install`]).
pub const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS categories (
        id   INTEGER PRIMARY KEY,
        name TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS products (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL,
        category_id INTEGER NOT NULL REFERENCES categories (id),
        price_cents INTEGER NOT NULL CHECK (price_cents >= 0)
    );
    CREATE INDEX IF NOT EXISTS products_category ON products (category_id);
    CREATE TABLE IF NOT EXISTS inventory (
        product_id INTEGER PRIMARY KEY REFERENCES products (id),
        stock      INTEGER NOT NULL CHECK (stock >= 0)
    );
";

/// What an admin asks the catalogue to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Add a category.
    AddCategory {
        /// Its id.
        id: i64,
        /// Its name.
        name: String,
    },
    /// Rename a category.
    RenameCategory {
        /// Its id.
        id: i64,
        /// The new name.
        name: String,
    },
    /// Add a product with its stock.
    AddProduct {
        /// Its id.
        id: i64,
        /// Its name.
        name: String,
        /// Its category (must exist).
        category_id: i64,
        /// Price in cents.
        price_cents: i64,
        /// Units in stock.
        stock: i64,
    },
    /// Change a product's price (the article's `UpdateProduct`).
    ChangePrice {
        /// The product.
        id: i64,
        /// The new price in cents.
        price_cents: i64,
    },
    /// Set a product's stock after a count or a sale.
    SetStock {
        /// The product.
        id: i64,
        /// Units in stock.
        stock: i64,
    },
}

/// What happened, as recorded in the outbox. Events name ids, not names: the write
/// side is normalised, and the projection joins names in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CatalogueEvent {
    /// A category was added.
    CategoryAdded {
        /// Its id.
        id: i64,
        /// Its name.
        name: String,
    },
    /// A category was renamed.
    CategoryRenamed {
        /// Its id.
        id: i64,
        /// The new name.
        name: String,
    },
    /// A product was added.
    ProductAdded {
        /// Its id.
        id: i64,
        /// Its name.
        name: String,
        /// Its category.
        category_id: i64,
        /// Price in cents.
        price_cents: i64,
        /// Units in stock.
        stock: i64,
    },
    /// A price changed (the article's `PriceUpdated`).
    PriceChanged {
        /// The product.
        id: i64,
        /// The new price in cents.
        price_cents: i64,
    },
    /// A stock level changed.
    StockChanged {
        /// The product.
        id: i64,
        /// Units in stock.
        stock: i64,
    },
}

impl EventType for CatalogueEvent {
    fn event_type(&self) -> &'static str {
        match self {
            CatalogueEvent::CategoryAdded { .. } => "CategoryAdded",
            CatalogueEvent::CategoryRenamed { .. } => "CategoryRenamed",
            CatalogueEvent::ProductAdded { .. } => "ProductAdded",
            CatalogueEvent::PriceChanged { .. } => "PriceChanged",
            CatalogueEvent::StockChanged { .. } => "StockChanged",
        }
    }
}

/// Why a command was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogueError {
    /// No category with this id.
    #[error("no category {0}")]
    UnknownCategory(i64),
    /// No product with this id.
    #[error("no product {0}")]
    UnknownProduct(i64),
    /// The id is taken.
    #[error("id {0} is already taken")]
    Duplicate(i64),
    /// A negative price or stock, or an empty name.
    #[error("invalid command: {0}")]
    Invalid(&'static str),
    /// The process died where a test told it to (the change was committed; its event
    /// was never published).
    #[error("crashed after the commit, before publishing")]
    Crashed,
    /// The outbox failed.
    #[error(transparent)]
    Outbox(#[from] CqrsError),
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// One search result, from either model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    /// Product id.
    pub id: i64,
    /// Product name.
    pub name: String,
    /// Category name.
    pub category: String,
    /// Price in cents.
    pub price_cents: i64,
    /// Units in stock.
    pub stock: i64,
}

/// The chapter's query: products whose "name category" text contains `term` (case
/// insensitive, ASCII), optionally in one category, cheapest first (ties by id), at
/// most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Text to look for (lowercase ASCII matches any case).
    pub term: String,
    /// Only this category.
    pub category: Option<i64>,
    /// At most this many results.
    pub limit: usize,
}

/// The write model on a SQLite connection.
#[derive(Debug)]
pub struct Catalogue {
    conn: Connection,
}

fn check(c: &Command) -> Result<(), CatalogueError> {
    match c {
        Command::AddCategory { name, .. } | Command::RenameCategory { name, .. }
            if name.trim().is_empty() =>
        {
            Err(CatalogueError::Invalid("empty name"))
        }
        Command::AddProduct { name, .. } if name.trim().is_empty() => {
            Err(CatalogueError::Invalid("empty name"))
        }
        Command::AddProduct { price_cents, stock, .. } if *price_cents < 0 || *stock < 0 => {
            Err(CatalogueError::Invalid("negative price or stock"))
        }
        Command::ChangePrice { price_cents, .. } if *price_cents < 0 => {
            Err(CatalogueError::Invalid("negative price"))
        }
        Command::SetStock { stock, .. } if *stock < 0 => Err(CatalogueError::Invalid("negative stock")),
        _ => Ok(()),
    }
}

fn exists(tx: &Connection, table: &str, id: i64) -> rusqlite::Result<bool> {
    let key = if table == "inventory" { "product_id" } else { "id" };
    tx.prepare_cached(&format!("SELECT 1 FROM {table} WHERE {key} = ?1"))?
        .query_row(params![id], |_| Ok(()))
        .optional()
        .map(|o| o.is_some())
}

/// Checks `c` against the tables and applies it on `tx`; returns the event. Used inside
/// a transaction by both write paths.
fn change(tx: &Connection, c: &Command) -> Result<CatalogueEvent, CatalogueError> {
    check(c)?;
    Ok(match c.clone() {
        Command::AddCategory { id, name } => {
            if exists(tx, "categories", id)? {
                return Err(CatalogueError::Duplicate(id));
            }
            tx.prepare_cached("INSERT INTO categories (id, name) VALUES (?1, ?2)")?
                .execute(params![id, name])?;
            CatalogueEvent::CategoryAdded { id, name }
        }
        Command::RenameCategory { id, name } => {
            if tx
                .prepare_cached("UPDATE categories SET name = ?2 WHERE id = ?1")?
                .execute(params![id, name])?
                == 0
            {
                return Err(CatalogueError::UnknownCategory(id));
            }
            CatalogueEvent::CategoryRenamed { id, name }
        }
        Command::AddProduct { id, name, category_id, price_cents, stock } => {
            if !exists(tx, "categories", category_id)? {
                return Err(CatalogueError::UnknownCategory(category_id));
            }
            if exists(tx, "products", id)? {
                return Err(CatalogueError::Duplicate(id));
            }
            tx.prepare_cached(
                "INSERT INTO products (id, name, category_id, price_cents) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, name, category_id, price_cents])?;
            tx.prepare_cached("INSERT INTO inventory (product_id, stock) VALUES (?1, ?2)")?
                .execute(params![id, stock])?;
            CatalogueEvent::ProductAdded { id, name, category_id, price_cents, stock }
        }
        Command::ChangePrice { id, price_cents } => {
            if tx
                .prepare_cached("UPDATE products SET price_cents = ?2 WHERE id = ?1")?
                .execute(params![id, price_cents])?
                == 0
            {
                return Err(CatalogueError::UnknownProduct(id));
            }
            CatalogueEvent::PriceChanged { id, price_cents }
        }
        Command::SetStock { id, stock } => {
            if tx
                .prepare_cached("UPDATE inventory SET stock = ?2 WHERE product_id = ?1")?
                .execute(params![id, stock])?
                == 0
            {
                return Err(CatalogueError::UnknownProduct(id));
            }
            CatalogueEvent::StockChanged { id, stock }
        }
    })
}

/// The write side's version of the query in one category: a join of the three tables on
/// every search. `?1` is the category, read through the index `products_category`.
///
/// It is a separate statement from [`SEARCH_ALL_SQL`] because SQLite plans a statement
/// once for every value of its parameters: a single `(?1 IS NULL OR p.category_id = ?1)`
/// cannot use the index and scans every product even when a category is given.
pub const SEARCH_SQL: &str = "
    SELECT p.id, p.name, c.name, p.price_cents, i.stock
    FROM products p
    JOIN categories c ON c.id = p.category_id
    JOIN inventory i ON i.product_id = p.id
    WHERE p.category_id = ?1
      AND (p.name || ' ' || c.name) LIKE ?2 ESCAPE '\\'
    ORDER BY p.price_cents, p.id
    LIMIT ?3";

/// The write side's version of the query in every category (`?1` is NULL and unused).
pub const SEARCH_ALL_SQL: &str = "
    SELECT p.id, p.name, c.name, p.price_cents, i.stock
    FROM products p
    JOIN categories c ON c.id = p.category_id
    JOIN inventory i ON i.product_id = p.id
    WHERE ?1 IS NULL
      AND (p.name || ' ' || c.name) LIKE ?2 ESCAPE '\\'
    ORDER BY p.price_cents, p.id
    LIMIT ?3";

/// The statement for a search: [`SEARCH_SQL`] in one category, [`SEARCH_ALL_SQL`] in all.
#[must_use]
pub fn search_sql(category: Option<i64>) -> (&'static str, Option<i64>) {
    (if category.is_some() { SEARCH_SQL } else { SEARCH_ALL_SQL }, category)
}

impl Catalogue {
    /// The catalogue on a connection: WAL, `synchronous = FULL`, and the tables
    /// (write model and outbox) created if missing.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn on(conn: Connection) -> Result<Self, CatalogueError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
        conn.execute_batch(SCHEMA)?;
        outbox::install(&conn)?;
        Ok(Self { conn })
    }

    /// A catalogue in memory (tests, small examples).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn in_memory() -> Result<Self, CatalogueError> {
        Self::on(Connection::open_in_memory()?)
    }

    /// The catalogue in the SQLite file at `path` (created if missing).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn open(path: &Path) -> Result<Self, CatalogueError> {
        Self::on(Connection::open(path)?)
    }

    /// The connection (the relay and projections read the outbox through it).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Runs a command: checks it, changes the tables and records its event in the
    /// outbox, in one transaction. Returns the event's outbox position.
    ///
    /// # Errors
    /// A refused command (nothing is written); SQLite errors.
    pub fn execute(&mut self, c: &Command, at_ms: u64) -> Result<u64, CatalogueError> {
        let tx = self.conn.transaction()?;
        let event = change(&tx, c)?;
        let position = outbox::record(&tx, &event, at_ms)?;
        tx.commit()?;
        Ok(position)
    }

    /// Runs many commands in one transaction (a bulk load); stops at the first refused
    /// one, keeping nothing. Returns how many were run.
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub fn execute_all(
        &mut self,
        commands: impl IntoIterator<Item = Command>,
        at_ms: u64,
    ) -> Result<u64, CatalogueError> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        for c in commands {
            let event = change(&tx, &c)?;
            outbox::record(&tx, &event, at_ms)?;
            n += 1;
        }
        tx.commit()?;
        Ok(n)
    }

    /// The same command **without** an outbox: commit the change, then hand the event to
    /// `publish` (a broker). With `crash_after_commit` the process "dies" between the two:
    /// the change is committed and the event is gone for good.
    ///
    /// # Errors
    /// [`CatalogueError::Crashed`] for the injected crash; as [`execute`](Self::execute).
    pub fn execute_dual_write(
        &mut self,
        c: &Command,
        crash_after_commit: bool,
        mut publish: impl FnMut(CatalogueEvent),
    ) -> Result<(), CatalogueError> {
        let tx = self.conn.transaction()?;
        let event = change(&tx, c)?;
        tx.commit()?;
        if crash_after_commit {
            return Err(CatalogueError::Crashed);
        }
        publish(event);
        Ok(())
    }

    /// The query as a join on the write model ([`SEARCH_SQL`] in one category,
    /// [`SEARCH_ALL_SQL`] in all).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn search(&self, q: &Query) -> Result<Vec<Hit>, CatalogueError> {
        let pattern = format!("%{}%", q.term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let (sql, category) = search_sql(q.category);
        let mut s = self.conn.prepare_cached(sql)?;
        let rows =
            s.query_map(params![category, pattern, i64::try_from(q.limit).unwrap_or(i64::MAX)], |r| {
                Ok(Hit {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    category: r.get(2)?,
                    price_cents: r.get(3)?,
                    stock: r.get(4)?,
                })
            })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every product, joined, by id: what the read model must converge to.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn all(&self) -> Result<Vec<Hit>, CatalogueError> {
        let mut s = self.conn.prepare_cached(
            "SELECT p.id, p.name, c.name, p.price_cents, i.stock FROM products p JOIN categories c ON c.id = p.category_id JOIN inventory i ON i.product_id = p.id ORDER BY p.id",
        )?;
        let rows = s.query_map([], |r| {
            Ok(Hit {
                id: r.get(0)?,
                name: r.get(1)?,
                category: r.get(2)?,
                price_cents: r.get(3)?,
                stock: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Rows in a table (`categories`, `products`, `inventory` or `outbox`).
    ///
    /// # Errors
    /// SQLite errors, or [`CatalogueError::Invalid`] for another table name.
    pub fn count(&self, table: &str) -> Result<u64, CatalogueError> {
        if !["categories", "products", "inventory", "outbox"].contains(&table) {
            return Err(CatalogueError::Invalid("no such table"));
        }
        let n: i64 = self.conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// The article's catalogue: two categories and its three products (Mechanical Keyboard
/// $149, category 1, stock 45; Wireless Mouse $79, category 1, stock 120; USB-C Hub $49,
/// category 2, stock 0). The article gives no category names; these are ours.
pub fn article_commands() -> Vec<Command> {
    vec![
        Command::AddCategory { id: 1, name: "Input Devices".into() },
        Command::AddCategory { id: 2, name: "Adapters".into() },
        Command::AddProduct {
            id: 1,
            name: "Mechanical Keyboard".into(),
            category_id: 1,
            price_cents: 14_900,
            stock: 45,
        },
        Command::AddProduct {
            id: 2,
            name: "Wireless Mouse".into(),
            category_id: 1,
            price_cents: 7_900,
            stock: 120,
        },
        Command::AddProduct { id: 3, name: "USB-C Hub".into(), category_id: 2, price_cents: 4_900, stock: 0 },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_write_tables_and_outbox_together() {
        let mut c = Catalogue::in_memory().unwrap();
        for cmd in article_commands() {
            c.execute(&cmd, 0).unwrap();
        }
        assert_eq!((c.count("products").unwrap(), c.count("outbox").unwrap()), (3, 5));
        assert!(matches!(
            c.execute(&Command::ChangePrice { id: 9, price_cents: 1 }, 0),
            Err(CatalogueError::UnknownProduct(9))
        ));
        assert_eq!(c.count("outbox").unwrap(), 5, "a refused command records nothing");
        let hits = c.search(&Query { term: "input".into(), category: Some(1), limit: 20 }).unwrap();
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![2, 1], "cheapest first");
    }

    /// The plan SQLite chooses for a statement, one line per step.
    fn plan(c: &Catalogue, sql: &str, category: Option<i64>) -> String {
        let mut s = c.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = s
            .query_map(params![category, "%a%", 20], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows.join("\n")
    }

    #[test]
    fn a_search_in_one_category_reads_it_through_the_category_index() {
        let c = Catalogue::in_memory().unwrap();
        let (sql, _) = search_sql(Some(1));
        let p = plan(&c, sql, Some(1));
        assert!(p.contains("USING INDEX products_category"), "{p}");
        let (sql, _) = search_sql(None);
        assert!(plan(&c, sql, None).contains("SCAN p"));
    }
}
