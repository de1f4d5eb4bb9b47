//! The same catalogue as plain CRUD, for "when CQRS is overkill": one database, reads
//! straight from the tables the writes change. No outbox, no relay, no projection, no
//! lag: a read after a write always sees it.

use rusqlite::{Connection, params};

use super::catalogue::{Hit, Query};

/// A CRUD catalogue: one table, updated in place and queried directly.
#[derive(Debug)]
pub struct Crud {
    conn: Connection,
}

impl Crud {
    /// An empty catalogue in memory.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn in_memory() -> rusqlite::Result<Self> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(
            "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category_id INTEGER NOT NULL, category TEXT NOT NULL,
                                    price_cents INTEGER NOT NULL CHECK (price_cents >= 0), stock INTEGER NOT NULL CHECK (stock >= 0));",
        )?;
        Ok(Self { conn })
    }

    /// Adds a product.
    ///
    /// # Errors
    /// SQLite errors (a duplicate id, a negative price or stock).
    pub fn add(
        &self,
        id: i64,
        name: &str,
        (category_id, category): (i64, &str),
        price_cents: i64,
        stock: i64,
    ) -> rusqlite::Result<()> {
        self.conn
            .execute(
                "INSERT INTO products VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, name, category_id, category, price_cents, stock],
            )
            .map(|_| ())
    }

    /// Changes a price; `false` if there is no such product.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn change_price(&self, id: i64, price_cents: i64) -> rusqlite::Result<bool> {
        Ok(self
            .conn
            .execute("UPDATE products SET price_cents = ?2 WHERE id = ?1", params![id, price_cents])?
            == 1)
    }

    /// The chapter's query, straight from the table.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn search(&self, q: &Query) -> rusqlite::Result<Vec<Hit>> {
        let mut s = self.conn.prepare_cached(
            "SELECT id, name, category, price_cents, stock FROM products
             WHERE (?1 IS NULL OR category_id = ?1) AND (name || ' ' || category) LIKE ?2
             ORDER BY price_cents, id LIMIT ?3",
        )?;
        let rows = s.query_map(
            params![q.category, format!("%{}%", q.term), i64::try_from(q.limit).unwrap_or(i64::MAX)],
            |r| {
                Ok(Hit {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    category: r.get(2)?,
                    price_cents: r.get(3)?,
                    stock: r.get(4)?,
                })
            },
        )?;
        rows.collect()
    }
}
