//! A durable event store on a PostgreSQL server (feature `postgres`), for a team that
//! outgrows one machine: the same [`EventStore`] trait and promises as the SQLite store,
//! checked by the same [`contract`](super::testing::conformance::contract).
//!
//! One table, `events`, with `UNIQUE (stream, version)` and a `position` primary key.
//! An append is one transaction that first takes a transaction-scoped advisory lock
//! (`pg_advisory_xact_lock`), so appends run one at a time: each reads the stream's
//! version and the last position, checks the expected version, inserts its events at the
//! next positions and commits. Positions therefore have no gaps and become visible in
//! order, which a subscriber reading "everything after my last position" relies on. (A
//! `bigserial` column alone would not give that: two transactions can take positions 7
//! and 8, and 8 can commit first; a reader that sees 8 and stores it never sees 7.)
//! Serialising appends caps their rate at one commit at a time, which for most services
//! is thousands per second; partitioned logs are the next step beyond that.
//!
//! Commits are durable as far as the server is (`synchronous_commit` on, its default):
//! an append that returned survives a crash of the server. Payloads are JSON text with
//! the event's type and schema version, read back through upcasters as in the SQLite
//! store. This client is blocking (the `postgres` crate): call it from a thread, or from
//! `tokio::task::spawn_blocking` in an async service, not on a runtime's own thread.

use std::marker::PhantomData;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use postgres::error::SqlState;
use postgres::{Client, NoTls};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::codec::{Upcasters, decode_snapshot, encode, encode_snapshot};
use super::recorded::check_stream;
use super::{Appended, Conflict, EventStore, EventStoreError, EventType, Expected, Recorded, SnapshotStore};

pub use postgres;

/// The advisory-lock key that serialises appends ("unbreak" in ASCII). Another
/// application on the same database that uses this key would share the lock.
pub const APPEND_LOCK_KEY: i64 = 0x0075_6e62_7265_616b;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS events (
        position   BIGINT PRIMARY KEY,
        stream     TEXT NOT NULL,
        version    BIGINT NOT NULL CHECK (version >= 1),
        event_type TEXT NOT NULL,
        schema     INTEGER NOT NULL,
        at_ms      BIGINT NOT NULL,
        data       TEXT NOT NULL,
        UNIQUE (stream, version)
    );
    CREATE TABLE IF NOT EXISTS snapshots (
        stream  TEXT NOT NULL,
        version BIGINT NOT NULL,
        data    TEXT NOT NULL,
        PRIMARY KEY (stream, version)
    );
    ALTER TABLE snapshots ADD COLUMN IF NOT EXISTS snapshot_version BIGINT NOT NULL DEFAULT 0;
";

fn storage(e: postgres::Error) -> EventStoreError {
    match e.code() {
        // Serialisation failures and deadlocks: another try may succeed.
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::LOCK_NOT_AVAILABLE =>
        {
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

/// Creates the tables if they are missing; two processes starting at once are
/// serialised by the append lock (concurrent `CREATE TABLE IF NOT EXISTS` can fail).
fn create_schema(client: &mut Client) -> Result<(), EventStoreError> {
    let mut tx = client.transaction().map_err(storage)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK_KEY]).map_err(storage)?;
    tx.batch_execute(SCHEMA).map_err(storage)?;
    tx.commit().map_err(storage)
}

/// A durable event store in a PostgreSQL database, for events of type `E`.
///
/// The client sits behind a mutex, so the store is `Send + Sync` and the trait's reads
/// can take `&self`; for parallel readers, open one store per thread.
pub struct PostgresEventStore<E> {
    client: Mutex<Client>,
    upcasters: Upcasters,
    event: PhantomData<fn() -> E>,
}

impl<E> std::fmt::Debug for PostgresEventStore<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresEventStore").field("upcasters", &self.upcasters.len()).finish_non_exhaustive()
    }
}

impl<E: Serialize + DeserializeOwned + EventType> PostgresEventStore<E> {
    /// Connects without TLS (a Unix socket or loopback: `host=/path/to/socket dir
    /// user=postgres dbname=postgres`) and creates the tables if they are missing.
    ///
    /// # Errors
    /// A connection or storage error.
    pub fn connect(params: &str) -> Result<Self, EventStoreError> {
        Self::from_client(Client::connect(params, NoTls).map_err(storage)?)
    }

    /// The store on a connected client (with TLS, pooling or settings of the
    /// service's choosing); creates the tables if they are missing.
    ///
    /// # Errors
    /// A storage error.
    pub fn from_client(mut client: Client) -> Result<Self, EventStoreError> {
        create_schema(&mut client)?;
        Ok(Self { client: Mutex::new(client), upcasters: Upcasters::default(), event: PhantomData })
    }

    /// The same store, passing payloads stored as `event_type` with schema version
    /// `from` through `upcast` (which returns the shape of version `from + 1`). Upcasters
    /// chain, as in the SQLite store.
    pub fn with_upcaster(
        mut self,
        event_type: &str,
        from: u32,
        upcast: impl Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.upcasters.insert(event_type, from, Box::new(upcast));
        self
    }

    /// The client, for integrity checks and the service's own tables. A client left
    /// in a failed state by a panic is still handed out: PostgreSQL rolls back an
    /// unfinished transaction when its `Transaction` is dropped.
    pub fn client(&self) -> MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends raw rows without encoding: for tests and migrations that must write an
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
        let mut client = self.client();
        let mut tx = client.transaction().map_err(storage)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK_KEY]).map_err(storage)?;
        let actual = unsql(
            tx.query_one("SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = $1", &[&stream])
                .map_err(storage)?
                .get(0),
        );
        if let Expected::Exactly(v) = expected {
            if v != actual {
                return Err(Conflict { stream: stream.to_string(), expected: v, actual }.into());
            }
        }
        let last = unsql(
            tx.query_one("SELECT COALESCE(MAX(position), 0) FROM events", &[]).map_err(storage)?.get(0),
        );
        let insert = tx
            .prepare("INSERT INTO events (position, stream, version, event_type, schema, at_ms, data) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .map_err(storage)?;
        for (k, (event_type, schema, data)) in rows.iter().enumerate() {
            let version = actual + k as u64 + 1;
            let schema = i32::try_from(*schema).unwrap_or(i32::MAX);
            tx.execute(
                &insert,
                &[&sql(last + k as u64 + 1), &stream, &sql(version), event_type, &schema, &sql(at_ms), data],
            )
            .map_err(|e| {
                if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                    // Only a writer that ignores the advisory lock could have taken this
                    // version or position: never overwrite, report a conflict.
                    Conflict { stream: stream.to_string(), expected: actual, actual: version }.into()
                } else {
                    storage(e)
                }
            })?;
        }
        tx.commit().map_err(storage)?;
        Ok(Appended {
            version: actual + rows.len() as u64,
            first_position: if rows.is_empty() { 0 } else { last + 1 },
            count: rows.len() as u64,
        })
    }

    fn recorded(&self, row: &postgres::Row, stream: Arc<str>) -> Result<Recorded<E>, EventStoreError> {
        let position = unsql(row.get("position"));
        let event_type: &str = row.get("event_type");
        let schema: i32 = row.get("schema");
        let data: &str = row.get("data");
        let event = self.upcasters.decode(position, event_type, u32::try_from(schema).unwrap_or(0), data)?;
        Ok(Recorded {
            stream,
            version: unsql(row.get("version")),
            position,
            at_ms: unsql(row.get("at_ms")),
            event,
        })
    }
}

impl<E: Serialize + DeserializeOwned + EventType> EventStore<E> for PostgresEventStore<E> {
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
        let row = self
            .client()
            .query_one("SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = $1", &[&stream])
            .map_err(storage)?;
        Ok(unsql(row.get(0)))
    }

    fn visit_stream<F: FnMut(&Recorded<E>)>(
        &self,
        stream: &str,
        versions: RangeInclusive<u64>,
        mut f: F,
    ) -> Result<u64, EventStoreError> {
        let name: Arc<str> = Arc::from(stream);
        let rows = self
            .client()
            .query(
                "SELECT position, version, event_type, schema, at_ms, data FROM events WHERE stream = $1 AND version BETWEEN $2 AND $3 ORDER BY version",
                &[&stream, &sql(*versions.start()), &sql(*versions.end())],
            )
            .map_err(storage)?;
        for row in &rows {
            f(&self.recorded(row, Arc::clone(&name))?);
        }
        Ok(rows.len() as u64)
    }

    fn read_all(&self, from: u64, limit: usize) -> Result<Vec<Recorded<E>>, EventStoreError> {
        let rows = self
            .client()
            .query(
                "SELECT position, stream, version, event_type, schema, at_ms, data FROM events WHERE position >= $1 ORDER BY position LIMIT $2",
                &[&sql(from), &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .map_err(storage)?;
        rows.iter().map(|row| self.recorded(row, Arc::from(row.get::<_, &str>("stream")))).collect()
    }
}

/// Snapshots in the same PostgreSQL database (table `snapshots`), as JSON of any
/// `S: Serialize + DeserializeOwned`.
pub struct PostgresSnapshots<S> {
    client: Mutex<Client>,
    state: PhantomData<fn() -> S>,
}

impl<S> std::fmt::Debug for PostgresSnapshots<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSnapshots").finish_non_exhaustive()
    }
}

impl<S> PostgresSnapshots<S> {
    /// Connects without TLS and creates the tables if they are missing.
    ///
    /// # Errors
    /// A connection or storage error.
    pub fn connect(params: &str) -> Result<Self, EventStoreError> {
        let mut client = Client::connect(params, NoTls).map_err(storage)?;
        create_schema(&mut client)?;
        Ok(Self { client: Mutex::new(client), state: PhantomData })
    }

    fn client(&self) -> MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S: Serialize + DeserializeOwned> SnapshotStore<S> for PostgresSnapshots<S> {
    fn save(
        &mut self,
        stream: &str,
        version: u64,
        snapshot_version: u32,
        state: &S,
    ) -> Result<(), EventStoreError> {
        let json = encode_snapshot(state)?;
        self.client()
            .execute(
                "INSERT INTO snapshots (stream, version, data, snapshot_version) VALUES ($1, $2, $3, $4) ON CONFLICT (stream, version) DO UPDATE SET data = EXCLUDED.data, snapshot_version = EXCLUDED.snapshot_version",
                &[&stream, &sql(version), &json, &i64::from(snapshot_version)],
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
        let row = self
            .client()
            .query_opt("SELECT version, data FROM snapshots WHERE stream = $1 AND version <= $2 AND snapshot_version = $3 ORDER BY version DESC LIMIT 1", &[&stream, &sql(at_most), &i64::from(snapshot_version)])
            .map_err(storage)?;
        row.map(|r| Ok((unsql(r.get(0)), decode_snapshot(r.get(1))?))).transpose()
    }
}
