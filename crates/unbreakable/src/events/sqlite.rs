//! A durable event store in SQLite (feature `sqlite`).
//!
//! One table, `events`: the global position is the row id, `UNIQUE (stream, version)`
//! backs the version check, and each row keeps the event's type and schema version beside
//! its JSON payload. An append is one `BEGIN IMMEDIATE` transaction: read the stream's
//! version, compare it with the expected one, insert every event, commit. The file is in
//! WAL mode with `synchronous = FULL`: an append that returned has reached the disk, and a
//! process killed at any instant leaves each append wholly there or wholly absent.
//!
//! Old events keep the shape they were written with. When an event's payload changes
//! shape, raise its [`schema_version`](super::EventType::schema_version) and register an
//! upcaster from the old version ([`SqliteEventStore::with_upcaster`]): reads pass old
//! payloads through it before decoding. Nothing stored is rewritten.
//!
//! Snapshots live in their own table through [`SqliteSnapshots`], which may share the file.

use std::marker::PhantomData;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::codec::{Upcasters, decode_snapshot, encode, encode_snapshot};
use super::recorded::check_stream;
use super::{Appended, Conflict, EventStore, EventStoreError, EventType, Expected, Recorded, SnapshotStore};

pub use super::codec::Upcaster;
pub use rusqlite;

/// How long a writer waits for another connection's lock before giving up with
/// [`EventStoreError::Busy`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    CREATE TABLE IF NOT EXISTS events (
        position   INTEGER PRIMARY KEY,
        stream     TEXT NOT NULL,
        version    INTEGER NOT NULL CHECK (version >= 1),
        event_type TEXT NOT NULL,
        schema     INTEGER NOT NULL,
        at_ms      INTEGER NOT NULL,
        data       TEXT NOT NULL,
        UNIQUE (stream, version)
    );
";

const SNAPSHOT_SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    CREATE TABLE IF NOT EXISTS snapshots (
        stream           TEXT NOT NULL,
        version          INTEGER NOT NULL,
        data             TEXT NOT NULL,
        snapshot_version INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (stream, version)
    ) WITHOUT ROWID;
";

/// Adds `snapshot_version` to a snapshot table made before it existed: its old rows get
/// version 0, which no aggregate uses, so they are ignored and the state replayed.
fn migrate_snapshots(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('snapshots') WHERE name = 'snapshot_version'",
        [],
        |r| r.get(0),
    )?;
    if !has {
        conn.execute_batch("ALTER TABLE snapshots ADD COLUMN snapshot_version INTEGER NOT NULL DEFAULT 0")?;
    }
    Ok(())
}

fn storage(e: rusqlite::Error) -> EventStoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            EventStoreError::Busy { source: Box::new(e) }
        }
        _ => EventStoreError::Storage { source: Box::new(e) },
    }
}

fn sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn unsql(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A durable event store in a SQLite file, for events of type `E`.
///
/// # Examples
/// ```
/// use serde::{Deserialize, Serialize};
/// use unbreakable::events::{EventStore, EventType, Expected};
/// use unbreakable::events::sqlite::SqliteEventStore;
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// enum Stock { Received(u32), Sold(u32) }
/// impl EventType for Stock {
///     fn event_type(&self) -> &'static str {
///         match self { Stock::Received(_) => "Received", Stock::Sold(_) => "Sold" }
///     }
/// }
///
/// let dir = std::env::temp_dir().join(format!("unbreakable-doc-events-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let mut store = SqliteEventStore::<Stock>::open(&dir.join("events.db")).unwrap();
/// store.append("sku-1", Expected::Exactly(0), vec![Stock::Received(50), Stock::Sold(3)], 0).unwrap();
/// assert!(store.append("sku-1", Expected::Exactly(0), vec![Stock::Sold(1)], 0).is_err());
/// assert_eq!(store.version("sku-1").unwrap(), 2);
/// # drop(store); std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct SqliteEventStore<E> {
    conn: Connection,
    upcasters: Upcasters,
    event: PhantomData<fn() -> E>,
}

impl<E> std::fmt::Debug for SqliteEventStore<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteEventStore")
            .field("conn", &self.conn)
            .field("upcasters", &self.upcasters.len())
            .finish_non_exhaustive()
    }
}

impl<E: Serialize + DeserializeOwned + EventType> SqliteEventStore<E> {
    /// Opens (or creates) the store in the SQLite file at `path`.
    ///
    /// # Errors
    /// A file SQLite cannot open or write.
    pub fn open(path: &Path) -> Result<Self, EventStoreError> {
        Self::from_connection(Connection::open(path).map_err(storage)?)
    }

    /// The store on an open connection (which the service may also use for its own
    /// tables, such as a transactional outbox): sets WAL, `synchronous = FULL` and a busy
    /// timeout of [`BUSY_TIMEOUT`], and creates the table if it is missing.
    ///
    /// # Errors
    /// A storage error.
    pub fn from_connection(conn: Connection) -> Result<Self, EventStoreError> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(storage)?;
        conn.execute_batch(SCHEMA).map_err(storage)?;
        Ok(Self { conn, upcasters: Upcasters::default(), event: PhantomData })
    }

    /// The same store, passing payloads stored as `event_type` with schema version
    /// `from` through `upcast` (which returns the shape of version `from + 1`). Upcasters
    /// chain: a version-1 payload goes through 1 -> 2, then 2 -> 3 if registered.
    pub fn with_upcaster(
        mut self,
        event_type: &str,
        from: u32,
        upcast: impl Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.upcasters.insert(event_type, from, Box::new(upcast));
        self
    }

    /// The connection, for integrity checks and the service's own tables.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Appends raw rows without decoding: for tests and migrations that must write an
    /// old schema version. Same checks as [`EventStore::append`].
    ///
    /// # Errors
    /// As [`EventStore::append`].
    pub fn append_raw(
        &mut self,
        stream: &str,
        expected: Expected,
        rows: &[(&str, u32, &str)],
        at_ms: u64,
    ) -> Result<Appended, EventStoreError> {
        check_stream(stream)?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(storage)?;
        let actual: u64 = unsql(
            tx.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?1",
                params![stream],
                |r| r.get(0),
            )
            .map_err(storage)?,
        );
        if let Expected::Exactly(v) = expected {
            if v != actual {
                return Err(Conflict { stream: stream.to_string(), expected: v, actual }.into());
            }
        }
        let mut first_position = 0;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO events (stream, version, event_type, schema, at_ms, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .map_err(storage)?;
            for (k, (event_type, schema, data)) in rows.iter().enumerate() {
                let version = actual + k as u64 + 1;
                insert.execute(params![stream, sql(version), event_type, schema, sql(at_ms), data]).map_err(
                    |e| {
                        if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
                            // The transaction holds the write lock: no other writer can
                            // have taken this version. A constraint of a changed schema
                            // (a trigger, a check) refused it: nothing is written, and a
                            // retry fails the same way.
                            EventStoreError::Storage {
                                source: format!(
                                    "{e}: a constraint of the `events` table refused version {version} of `{stream}` (the table was changed outside this store); nothing was written"
                                )
                                .into(),
                            }
                        } else {
                            storage(e)
                        }
                    },
                )?;
                if k == 0 {
                    first_position = unsql(tx.last_insert_rowid());
                }
            }
        }
        tx.commit().map_err(storage)?;
        Ok(Appended { version: actual + rows.len() as u64, first_position, count: rows.len() as u64 })
    }
}

impl<E: Serialize + DeserializeOwned + EventType> EventStore<E> for SqliteEventStore<E> {
    fn append(
        &mut self,
        stream: &str,
        expected: Expected,
        events: Vec<E>,
        at_ms: u64,
    ) -> Result<Appended, EventStoreError> {
        let encoded = encode(&events)?;
        let rows: Vec<(&str, u32, &str)> = encoded.iter().map(|(t, s, j)| (*t, *s, j.as_str())).collect();
        self.append_raw(stream, expected, &rows, at_ms)
    }

    fn version(&self, stream: &str) -> Result<u64, EventStoreError> {
        let v: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?1",
                params![stream],
                |r| r.get(0),
            )
            .map_err(storage)?;
        Ok(unsql(v))
    }

    fn visit_stream<F: FnMut(&Recorded<E>)>(
        &self,
        stream: &str,
        versions: RangeInclusive<u64>,
        mut f: F,
    ) -> Result<u64, EventStoreError> {
        let name: Arc<str> = Arc::from(stream);
        let mut q = self
            .conn
            .prepare_cached("SELECT position, version, event_type, schema, at_ms, data FROM events WHERE stream = ?1 AND version BETWEEN ?2 AND ?3 ORDER BY version")
            .map_err(storage)?;
        let mut rows =
            q.query(params![stream, sql(*versions.start()), sql(*versions.end())]).map_err(storage)?;
        let mut n = 0;
        while let Some(row) = rows.next().map_err(storage)? {
            let position = unsql(row.get(0).map_err(storage)?);
            let event_type: &str =
                row.get_ref(2).and_then(|v| v.as_str().map_err(Into::into)).map_err(storage)?;
            let schema: u32 = row.get(3).map_err(storage)?;
            let data: &str = row.get_ref(5).and_then(|v| v.as_str().map_err(Into::into)).map_err(storage)?;
            let event = self.upcasters.decode(position, event_type, schema, data)?;
            f(&Recorded {
                stream: Arc::clone(&name),
                version: unsql(row.get(1).map_err(storage)?),
                position,
                at_ms: unsql(row.get(4).map_err(storage)?),
                event,
            });
            n += 1;
        }
        Ok(n)
    }

    fn read_all(&self, from: u64, limit: usize) -> Result<Vec<Recorded<E>>, EventStoreError> {
        let mut q = self
            .conn
            .prepare_cached("SELECT position, stream, version, event_type, schema, at_ms, data FROM events WHERE position >= ?1 ORDER BY position LIMIT ?2")
            .map_err(storage)?;
        let mut rows =
            q.query(params![sql(from), i64::try_from(limit).unwrap_or(i64::MAX)]).map_err(storage)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(storage)? {
            let position = unsql(row.get(0).map_err(storage)?);
            let stream: String = row.get(1).map_err(storage)?;
            let event_type: String = row.get(3).map_err(storage)?;
            let schema: u32 = row.get(4).map_err(storage)?;
            let data: String = row.get(6).map_err(storage)?;
            let event = self.upcasters.decode(position, &event_type, schema, &data)?;
            out.push(Recorded {
                stream: Arc::from(stream),
                version: unsql(row.get(2).map_err(storage)?),
                position,
                at_ms: unsql(row.get(5).map_err(storage)?),
                event,
            });
        }
        Ok(out)
    }
}

/// Snapshots in a SQLite file (its own table; the file may be the event store's), as
/// JSON of any `S: Serialize + DeserializeOwned`, each with the snapshot version of the
/// fold that produced it (`snapshots (stream, version, data, snapshot_version)`).
pub struct SqliteSnapshots<S> {
    conn: Connection,
    state: PhantomData<fn() -> S>,
}

impl<S> std::fmt::Debug for SqliteSnapshots<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSnapshots").field("conn", &self.conn).finish_non_exhaustive()
    }
}

impl<S> SqliteSnapshots<S> {
    /// Opens (or creates) the snapshot table in the SQLite file at `path`.
    ///
    /// # Errors
    /// A file SQLite cannot open or write.
    pub fn open(path: &Path) -> Result<Self, EventStoreError> {
        let conn = Connection::open(path).map_err(storage)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(storage)?;
        conn.execute_batch(SNAPSHOT_SCHEMA).map_err(storage)?;
        migrate_snapshots(&conn).map_err(storage)?;
        Ok(Self { conn, state: PhantomData })
    }
}

impl<S: Serialize + DeserializeOwned> SnapshotStore<S> for SqliteSnapshots<S> {
    fn save(
        &mut self,
        stream: &str,
        version: u64,
        snapshot_version: u32,
        state: &S,
    ) -> Result<(), EventStoreError> {
        let json = encode_snapshot(state)?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO snapshots (stream, version, data, snapshot_version) VALUES (?1, ?2, ?3, ?4)",
                params![stream, sql(version), json, snapshot_version],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn load(
        &self,
        stream: &str,
        at_most: u64,
        snapshot_version: u32,
    ) -> Result<Option<(u64, S)>, EventStoreError> {
        let row: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT version, data FROM snapshots WHERE stream = ?1 AND version <= ?2 AND snapshot_version = ?3 ORDER BY version DESC LIMIT 1",
                params![stream, sql(at_most), snapshot_version],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(storage)?;
        row.map(|(v, json)| Ok((unsql(v), decode_snapshot(&json)?))).transpose()
    }
}

#[cfg(test)]
mod tests;
